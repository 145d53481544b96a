/*
 * fuzz_base64_ct.c - libFuzzer target for the base64 decoder of key material
 * (base64_ct.h), which reads a KME's replies.
 *
 * Properties: no crash or out-of-bounds access; the input is accepted as the
 * base64 of n bytes (n from its first byte) exactly when libsodium's decoder
 * accepts it as n bytes, with the same bytes, unless it holds a byte above 0x7f
 * (libsodium 1.0.18 reads some of them as '/'; base64_ct refuses them all); what
 * is accepted encodes back to the same characters.
 *
 * make build/fuzz_base64_ct && ./build/fuzz_base64_ct -runs=200000
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/base64_ct.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		n,
				len,
				got = 0;
	char	   *s;
	uint8_t    *ours,
			   *theirs;
	int			a,
				b;

	if (size < 1)
		return 0;
	n = data[0];
	len = size - 1;
	s = malloc(len + 1);
	memcpy(s, data + 1, len);
	ours = malloc(n + 1);
	theirs = malloc(n + 1);
	a = base64_ct_decode(ours, n, s, len) == 0;
	b = sodium_base642bin(theirs, n, s, len, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
		got == n;
	for (size_t i = 0; i < len && b; i++)
		b = (uint8_t) s[i] < 0x80;
	if (a != b || (a && memcmp(ours, theirs, n) != 0))
		abort();
	if (a)
	{
		char	   *back = malloc(BASE64_CT_LEN(n) + 1);

		base64_ct_encode(back, ours, n);
		if (BASE64_CT_LEN(n) != len || memcmp(back, s, len) != 0)
			abort();
		free(back);
	}
	free(s);
	free(ours);
	free(theirs);
	return 0;
}
