/*
 * fuzz_check_record.c - libFuzzer target for check_record_parse(), which reads the
 * check records of byte-string secrets from disk (ssn.secret.check_record).
 *
 * Properties: no crash or out-of-bounds access; an accepted record has exactly 160
 * bytes, version 1, 2 <= k <= n, zero reserved bytes and its pointers inside the
 * buffer; a refusal says why; a digest comparison of any bytes answers.
 *
 * make build/fuzz_check_record && ./build/fuzz_check_record -runs=200000
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/check_record.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile bool fuzz_sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	CheckRecord r;
	uint8_t    *copy;

	if (sodium_init() < 0)
		abort();
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	err[0] = 0;
	if (!check_record_parse(&r, copy, size, err, sizeof(err)))
	{
		if (err[0] == 0)
			abort();
	}
	else
	{
		if (size != CHECK_RECORD_SIZE || r.version != CHECK_RECORD_VERSION || r.k < 2 || r.n < r.k ||
			copy[4] | copy[5] | copy[6] | copy[7] ||
			r.data != copy || r.signer != copy + 32 || r.digest != copy + 64 ||
			r.signature != copy + CHECK_RECORD_SIGNED)
			abort();
		fuzz_sink = check_record_signature_ok(&r);
		fuzz_sink = check_record_matches(&r, copy, size);
	}
	free(copy);
	return 0;
}
