/*
 * fuzz_key_id_list.c - libFuzzer target for the key ID list parser
 * (key_id_list.h), which a node reads from an authenticated peer.
 *
 * Properties: no crash or out-of-bounds access; a refusal says why; an accepted
 * list writes back to exactly the bytes it was parsed from.
 *
 * make build/fuzz_key_id_list && ./build/fuzz_key_id_list -runs=200000
 */
#include <stdlib.h>
#include <string.h>

#include "qkd/key_id_list.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static KeyIdText ids[KEY_ID_LIST_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *copy = malloc(size ? size : 1);
	uint8_t    *out;
	const char *ptrs[KEY_ID_LIST_MAX];
	uint32_t	bits;
	uint64_t	gen;
	int			n;
	char		err[256];

	memcpy(copy, data, size);
	err[0] = 0;
	if (!key_id_list_parse(copy, size, &bits, &gen, &n, ids, err, sizeof(err)))
	{
		if (err[0] == 0)
			abort();
		free(copy);
		return 0;
	}
	for (int i = 0; i < n; i++)
		ptrs[i] = ids[i];
	if (key_id_list_size(ptrs, n) != size)
		abort();
	out = malloc(size);
	if (key_id_list_write(out, bits, gen, ptrs, n) != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	free(copy);
	return 0;
}
