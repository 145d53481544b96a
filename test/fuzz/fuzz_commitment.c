/*
 * fuzz_commitment.c - libFuzzer target for commit_record_parse() and
 * commit_record_verify(), which take commitment records from other nodes and disk,
 * and for the point handling of pedersen.c on the points such a record carries.
 *
 * Properties: no crash or out-of-bounds access; an accepted record has exactly
 * 128 + 32k bytes, version 1, k >= 1, zero reserved bytes, and its pointers inside
 * the buffer; only a parsed record verifies; a failed point addition leaves its
 * accumulator unchanged, and a successful one saw only canonical encodings.
 *
 * make build/fuzz_commitment && ./build/fuzz_commitment -runs=200000 test/fuzz/corpus/commitment
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/commitment.h"
#include "crypto/pedersen.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a few point operations per input, to keep the fuzzer fast */
#define FUZZ_POINTS_K_MAX 3

static volatile bool fuzz_sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256];
	CommitRecord r;
	uint8_t    *copy;
	bool		parsed;
	bool		verified;

	if (sodium_init() < 0)
		abort();
	/* an exact-size copy, so that ASan sees any read past the end */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	err[0] = 0;
	parsed = commit_record_parse(&r, copy, size, err, sizeof(err));
	verified = commit_record_verify(copy, size);
	if (verified && !parsed)
		abort();
	if (!parsed)
	{
		if (err[0] == 0)
			abort();			/* a refusal always says why */
		if (commit_record_signature_ok(&r))
			abort();
	}
	else
	{
		if (r.k < 1 || r.k > COMMIT_RECORD_K_MAX || size != COMMIT_RECORD_SIZE(r.k) ||
			r.version != COMMIT_RECORD_VERSION || copy[2] != 0 || copy[3] != 0 ||
			r.data != copy || r.signer != copy + 32 || r.points != copy + 64 ||
			r.signature + COMMIT_RECORD_SIG != copy + size ||
			r.signed_len != size - COMMIT_RECORD_SIG)
			abort();
		if (commit_record_signature_ok(&r) != verified)
			abort();

		if (r.k <= FUZZ_POINTS_K_MAX)
		{
			uint8_t		acc[FUZZ_POINTS_K_MAX * 32];
			uint8_t		before[FUZZ_POINTS_K_MAX * 32];
			size_t		n = (size_t) r.k * 32;
			uint8_t		yb[FP_BYTES];
			fp_t		y,
						t;
			int			i;

			memcpy(acc, r.points, n);
			memcpy(before, acc, n);
			if (pedersen_points_add(acc, r.points, r.k))
			{
				for (i = 0; i < r.k; i++)
					if ((r.points[32 * i + 31] & 0x80) ||
						!crypto_core_ristretto255_is_valid_point(r.points + 32 * i))
						abort();
			}
			else if (memcmp(acc, before, n) != 0)
				abort();

			/* the share (x, id as y, 0) against the points: any answer, no crash */
			memset(yb, 0, sizeof(yb));
			memcpy(yb, r.id, COMMIT_RECORD_ID_SIZE);
			(void) fp_from_bytes(&y, yb);
			t = fp_zero;
			fuzz_sink = pedersen_verify_share(r.points, r.k, (uint8_t) (copy[4] | 1), &y, &t);
		}
	}
	free(copy);
	return 0;
}
