/*
 * fuzz_share_join.c - libFuzzer target for share_batch_join(), which rebuilds a
 * received batch from the clear and the secret part of a version 2 envelope
 * (after its MAC verified, but a faulty peer can still send anything).
 *
 * Input: 2 bytes (little-endian) saying how many of the rest are the clear part,
 * then the clear part, then the secret part.  Property: joining never crashes or
 * writes beyond share_batch_join_bound(); a batch it accepts is valid and splits
 * back into exactly the parts it was joined from.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "share/share_batch.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	size_t		clen,
				slen,
				cap,
				jlen,
				c2,
				s2;
	uint8_t    *clear,
			   *secret,
			   *joined,
			   *ca,
			   *sa;

	if (sodium_init() < 0)
		abort();
	if (size < 2)
		return 0;
	clen = (size_t) data[0] | ((size_t) data[1] << 8);
	if (clen > size - 2)
		clen = size - 2;
	slen = size - 2 - clen;
	/* exact-size copies: a read past either part is caught */
	clear = malloc(clen ? clen : 1);
	secret = malloc(slen ? slen : 1);
	memcpy(clear, data + 2, clen);
	memcpy(secret, data + 2 + clen, slen);
	cap = share_batch_join_bound(clen, slen);
	joined = malloc(cap);
	if (share_batch_join(clear, clen, secret, slen, joined, &jlen, err, sizeof(err)))
	{
		if (jlen > cap)
			abort();
		ca = malloc(jlen ? jlen : 1);
		sa = malloc(jlen ? jlen : 1);
		if (!share_batch_split(joined, jlen, ca, &c2, sa, &s2, err, sizeof(err)) ||
			c2 != clen || s2 != slen || memcmp(ca, clear, clen) != 0 || memcmp(sa, secret, slen) != 0)
			abort();
		free(ca);
		free(sa);
	}
	free(joined);
	free(secret);
	free(clear);
	return 0;
}
