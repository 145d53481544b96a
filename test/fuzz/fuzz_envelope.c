/*
 * fuzz_envelope.c - libFuzzer target for envelope_parse() and envelope_open(), the
 * first code that touches bytes arriving from another node.
 *
 * Property: no crash or out-of-bounds access; every accepted header's fields lie
 * inside the buffer; a message that was not sealed with the key stream never opens.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/envelope.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	EnvelopeView v;
	uint8_t    *copy;

	if (sodium_init() < 0)
		abort();
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (envelope_parse(copy, size, &v, err, sizeof(err)))
	{
		size_t		kslen = envelope_key_bytes(v.len);
		uint8_t    *ks = calloc(1, kslen);
		uint8_t    *out = malloc(v.len ? v.len : 1);
		const uint8_t *id;
		size_t		idlen;
		int			k;

		for (k = 0; k < v.nkeys; k++)
		{
			envelope_key_id(&v, k, &id, &idlen);
			if (id < copy || id + idlen > copy + size || idlen == 0)
				abort();
		}
		if (v.ciphertext + v.len + 16 != copy + size)
			abort();
		/* with an all-zero key the Poly1305 tag of anything is 0: only an all-zero tag
		 * may open, so anything else opening would be a verification bug */
		if (envelope_open(&v, ks, kslen, out))
		{
			static const uint8_t zero[16];

			if (memcmp(v.tag, zero, 16) != 0)
				abort();
		}
		free(ks);
		free(out);
	}
	free(copy);
	return 0;
}
