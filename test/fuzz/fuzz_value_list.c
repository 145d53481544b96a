/*
 * fuzz_value_list.c - libFuzzer target for the value list parser (value_list.h),
 * which an SSA reads from an authenticated data owner and a client from its SSA.
 *
 * Properties: no crash or out-of-bounds access; every accepted list lies inside
 * the buffer and writes back to the very bytes it was parsed from; a refusal says
 * why.
 *
 * make build/fuzz_value_list && ./build/fuzz_value_list -runs=200000
 */
#include <stdlib.h>
#include <string.h>

#include "share/value_list.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *copy = malloc(size ? size : 1);
	uint8_t    *out = malloc(size + 64);
	ValueListHead h;
	size_t		off,
				o;
	char		err[256];
	bool		ok;

	memcpy(copy, data, size);
	err[0] = 0;
	ok = value_list_get_head(copy, size, &h, &off, err, sizeof(err));
	if (!ok && err[0] == 0)
		abort();
	if (ok)
	{
		o = value_list_put_head(out, &h);
		if (o != off || memcmp(out, copy, off) != 0)
			abort();
		for (uint32_t i = 0; ok && i < h.count; i++)
		{
			const uint8_t *v;
			uint32_t	vl;
			bool		isnull;

			err[0] = 0;
			ok = value_list_get_value(copy, size, &off, &v, &vl, &isnull, err, sizeof(err));
			if (!ok && err[0] == 0)
				abort();
			if (ok)
			{
				if (v < copy || v + vl > copy + size || off > size)
					abort();
				o += value_list_put_value(out + o, v, vl, isnull);
				if (o != off || memcmp(out, copy, off) != 0)
					abort();
			}
		}
		if (ok)
			(void) value_list_get_end(size, off, err, sizeof(err));
	}
	free(copy);
	free(out);
	return 0;
}
