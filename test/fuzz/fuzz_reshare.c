/*
 * fuzz_reshare.c - libFuzzer target for the re-sharing request parser
 * (reshare_format.c: what an SSA, or any ssn_peer login, sends a helper).
 *
 * Properties: parsing never crashes or reads out of bounds; items lie inside
 * the buffer, end exactly where the next begins, and satisfy the format's rules.
 */
#include <stdlib.h>
#include <string.h>

#include "lifecycle/reshare_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[128];
	char		name[RESHARE_NAME_MAX + 1];
	int			xf;
	size_t		off;
	ReshareItem it;

	if (!reshare_request_header(data, size, name, &xf, &off, err, sizeof(err)))
	{
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (off > size || strlen(name) < 1 || xf < 1 || xf > 255)
		abort();
	for (;;)
	{
		size_t		before = off;

		if (!reshare_request_next(data, size, &off, xf, &it, err, sizeof(err)))
			break;
		if (off <= before || off > size || it.id != data + before ||
			it.seed_b + RESHARE_SEED_BYTES != data + off || it.k < 1)
			abort();
		for (int i = 0; i < it.k; i++)
			if (it.xs[i] == 0 || it.xs[i] == xf)
				abort();
	}
	if (err[0] == '\0' && off != size)
		abort();
	return 0;
}
