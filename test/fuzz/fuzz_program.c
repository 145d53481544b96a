/*
 * fuzz_program.c - libFuzzer target for program_check() and expr_decode(), the
 * parsers of what an SSA asks a shareholder to compute (ssn.channel_compute,
 * channel_materialize, channel_reshare: any ssn_peer login can send anything).
 *
 * Properties: parsing never crashes or reads out of bounds; a program that checks
 * out reads back group by group and row by row to its exact end; every row it
 * accepts encodes again to exactly the bytes it was read from.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "share/secret_expr.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	uint32_t	ngroups;
	uint64_t	nrows,
				seen = 0;
	ProgramReader r;
	const uint8_t *gid;
	uint32_t	rows;
	SecretExpr	e;
	uint8_t		again[EXPR_MAX_BYTES];
	size_t		used;

	if (sodium_init() < 0)
		abort();
	/* a lone expression */
	if (expr_decode(data, size, &used, &e, err, sizeof(err)))
	{
		if (used > size || expr_encoded_len(&e) > EXPR_MAX_BYTES)
			abort();
		(void) expr_encode(again, &e);
	}
	if (!program_check(data, size, &ngroups, &nrows, err, sizeof(err)))
		return 0;
	if (!program_begin(&r, data, size, err, sizeof(err)))
		abort();
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
		for (uint32_t i = 0; i < rows; i++)
		{
			size_t		start = r.off;
			size_t		n;

			if (!program_next_row(&r, &e, err, sizeof(err)))
				abort();
			n = expr_encode(again, &e);
			/* canonical coefficient 1 may be spelled out: only lengths that shrink are allowed */
			if (n > r.off - start)
				abort();
			seen++;
		}
	if (err[0] || seen != nrows || r.off != size || r.group != ngroups)
		abort();
	return 0;
}
