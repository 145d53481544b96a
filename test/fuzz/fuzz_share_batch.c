/*
 * fuzz_share_batch.c - libFuzzer target for share_batch_next(), the parser of the
 * plaintext of a channel message (after its MAC verified, but a faulty peer can
 * still send anything).
 *
 * Property: parsing never crashes or reads out of bounds; the shares it accepts,
 * framed again, give back exactly the bytes they were parsed from.
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
	uint8_t    *copy = malloc(size ? size : 1);
	uint8_t    *again = malloc(size + SHARE_BATCH_PREFIX);
	size_t		off = 0;

	if (sodium_init() < 0)
		abort();
	memcpy(copy, data, size);
	for (;;)
	{
		size_t		start = off,
					slen,
					n;
		const uint8_t *s;
		ShareHeader h;

		if (!share_batch_next(copy, size, &off, &s, &slen, &h, err, sizeof(err)))
			break;
		if (off <= start || s < copy + start || s + slen != copy + off)
			abort();
		n = share_batch_put(again, s, slen);
		if (n != off - start || memcmp(again, copy + start, n) != 0)
			abort();
	}
	if (err[0] == '\0' && off != size)
		abort();
	free(again);
	free(copy);
	return 0;
}
