/*
 * fuzz_secret_record.c - libFuzzer target for the parser of secret records
 * (secret_record.h), which a holder reads from any authenticated peer.
 *
 * Properties: no crash or out-of-bounds access; every accepted record lies inside
 * the buffer, has 2 <= k <= n, ascending non-zero holders, names of allowed length
 * and writes back to the very bytes it was parsed from; a refusal says why.
 *
 * make build/fuzz_secret_record && ./build/fuzz_secret_record -runs=200000
 */
#include <stdlib.h>
#include <string.h>

#include "share/secret_record.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
dup_name(const char *s, size_t len)
{
	char	   *d = malloc(len + 1);

	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	uint8_t    *copy = malloc(size ? size : 1);
	size_t		off = 1;
	SecretRecord r;

	memcpy(copy, data, size);
	err[0] = 0;
	if (!secret_record_format_ok(copy, size, err, sizeof(err)))
	{
		if (err[0] == 0)
			abort();
		free(copy);
		return 0;
	}
	for (;;)
	{
		size_t		start = off;
		SecretRecord w;
		const char **g;
		uint8_t    *out;

		if (!secret_record_next(copy, size, &off, &r, err, sizeof(err)))
		{
			if (off != start)
				abort();
			break;
		}
		if (off <= start || off > size || r.k < 2 || r.n < r.k ||
			r.owner_len < 1 || r.owner_len > SECRET_RECORD_MAX_ROLE)
			abort();
		for (int i = 1; i < r.n; i++)
			if (r.holders[i] <= r.holders[i - 1])
				abort();
		/* written back, the record is the bytes it came from */
		w = r;
		w.owner = dup_name(r.owner, r.owner_len);
		w.type = dup_name(r.type, r.type_len);
		g = malloc(sizeof(char *) * (r.ngrantees + 1));
		for (int i = 0; i < r.ngrantees; i++)
		{
			const char *s;
			size_t		l;

			secret_record_grantee(&r, i, &s, &l);
			g[i] = dup_name(s, l);
		}
		w.grantees = g;
		if (secret_record_size(&w) != off - start)
			abort();
		out = malloc(off - start);
		if (secret_record_write(out, &w) != off - start || memcmp(out, copy + start, off - start) != 0)
			abort();
		free(out);
		for (int i = 0; i < r.ngrantees; i++)
			free((void *) g[i]);
		free(g);
		free((void *) w.owner);
		free((void *) w.type);
	}
	free(copy);
	return 0;
}
