/*
 * fuzz_share_text.c - libFuzzer target for the ssn_share text parser.
 *
 * Property: the parser never crashes or reads out of bounds, and whatever it
 * accepts is a valid share whose text form is exactly the input (one text per
 * share).  Built by `make build/fuzz_share_text` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "share/share_format.h"

/* the parser allocates through a callback: keep every block and free them after */
static void *blocks[8];
static int	nblocks;

static void *
arena_alloc(size_t size)
{
	void	   *p = malloc(size);

	if (p == NULL || nblocks == (int) (sizeof(blocks) / sizeof(blocks[0])))
		abort();
	blocks[nblocks++] = p;
	return p;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	size_t		len;
	uint8_t    *bin;
	ShareHeader h;

	if (sodium_init() < 0)
		abort();
	nblocks = 0;
	bin = share_from_text((const char *) data, size, &len, arena_alloc, err, sizeof(err));
	if (bin != NULL)
	{
		size_t		tlen = share_text_len(bin, len);
		char	   *text = arena_alloc(tlen + 1);

		if (!share_validate(bin, len, &h, err, sizeof(err)))
			abort();
		share_to_text(text, bin, len);
		if (strlen(text) != tlen || tlen != size || memcmp(text, data, size) != 0)
			abort();
	}
	else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();				/* every rejection says why, in a terminated string */
	while (nblocks > 0)
		free(blocks[--nblocks]);
	return 0;
}
