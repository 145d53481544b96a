/*
 * fuzz_share_binary.c - libFuzzer target for share_validate(), the check every
 * binary share passes (COPY BINARY, the network, every stored value in use).
 *
 * Property: validation never crashes or reads out of bounds; an accepted share
 * survives the trip through its text form byte for byte.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "share/share_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	ShareHeader h;
	uint8_t    *copy;

	if (sodium_init() < 0)
		abort();
	/* an exact-size heap copy so that ASan sees any overread */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (share_validate(copy, size, &h, err, sizeof(err)))
	{
		size_t		tlen = share_text_len(copy, size);
		char	   *text = malloc(tlen + 1);
		size_t		len2;
		uint8_t    *back;

		share_to_text(text, copy, size);
		back = share_from_text(text, tlen, &len2, malloc, err, sizeof(err));
		if (back == NULL || len2 != size || memcmp(back, copy, size) != 0)
			abort();
		free(back);
		free(text);
	}
	free(copy);
	return 0;
}
