/*
 * ct_commitment.c - run under valgrind's memcheck (make ct): the secrets of a
 * Pedersen sharing (coefficients, blinding values) are marked undefined, so any
 * branch or memory index that depends on them is reported as an error.  Covers
 * the fixed-base multiplication (ristretto_base.c), the commitment of a
 * polynomial, the evaluation of shares and the field element encoding.  The
 * commitment points are public: the multiplication declares its affine sum
 * defined (DECLASSIFY) before it is encoded.
 */
#include <sodium.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#include "crypto/commit_pool.h"
#include "crypto/pedersen.h"
#include "crypto/ristretto_base.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

int
main(void)
{
	uint8_t		g[32],
				h[32],
				hash[64],
				one[32] = {1},
				a[32],
				b[32],
				out[32],
				points[3 * 32];
	fp_t		coeffs[3],
				blind[3],
				y,
				t;
	RistrettoBaseTable *tg,
			   *th;

	if (sodium_init() < 0)
		return 2;
	crypto_scalarmult_ristretto255_base(g, one);
	crypto_hash_sha512(hash, (const uint8_t *) "ct H", 4);
	crypto_core_ristretto255_from_hash(h, hash);
	tg = ristretto_base_table(g);
	th = ristretto_base_table(h);
	if (tg == NULL || th == NULL)
		return 2;

	/* both table reads: AVX2 (this CPU has it) and portable */
	for (int i = 0; i < 8; i++)
	{
		ristretto_base_use_portable(i >= 4);
		crypto_core_ristretto255_scalar_random(a);
		crypto_core_ristretto255_scalar_random(b);
		if (i % 4 == 1)
			memset(a, 0, sizeof(a));	/* a zero secret takes the same path */
		SECRET(a, sizeof(a));
		SECRET(b, sizeof(b));
		ristretto_base_mul2(out, tg, a, th, b);
		PUBLIC(out, sizeof(out));
	}
	ristretto_base_use_portable(false);

	/* a secret point kept, never encoded (b H of a blinding unit), then added: a G + b H */
	for (int i = 0; i < 2; i++)
	{
		RistrettoAddend keep;

		crypto_core_ristretto255_scalar_random(a);
		crypto_core_ristretto255_scalar_random(b);
		SECRET(a, sizeof(a));
		SECRET(b, sizeof(b));
		ristretto_base_mul_keep(NULL, &keep, th, b, 1);
		ristretto_base_mul_add(out, tg, a, &keep, 1);
		PUBLIC(out, sizeof(out));
	}

	for (int i = 0; i < 3; i++)
	{
		fp_random(&coeffs[i]);
		fp_random(&blind[i]);
	}
	SECRET(coeffs, sizeof(coeffs));
	SECRET(blind, sizeof(blind));
	pedersen_commit_with_blind(points, coeffs, blind, 3);
	for (uint8_t x = 1; x <= 5; x++)
	{
		uint8_t		yb[FP_BYTES];

		pedersen_eval(&y, coeffs, 3, x);
		pedersen_eval(&t, blind, 3, x);
		fp_to_bytes(yb, &y);
	}

	/* with units made ahead: C_0 = s G + (b H), the higher ones as made */
	if (!pedersen_pool_start(1))
		return 2;
	for (int w = 0; w < 20000 && (commit_pool_ready(COMMIT_UNIT_PAIR) < 8 ||
								   commit_pool_ready(COMMIT_UNIT_BLIND) < 8); w++)
		usleep(1000);
	if (commit_pool_ready(COMMIT_UNIT_PAIR) < 8 || commit_pool_ready(COMMIT_UNIT_BLIND) < 8)
		return 2;
	for (int i = 0; i < 2; i++)
	{
		fp_random(&coeffs[0]);
		SECRET(coeffs, sizeof(coeffs[0]));
		pedersen_share_poly(points, coeffs, blind, 3);
		PUBLIC(points, sizeof(points));
		for (uint8_t x = 1; x <= 5; x++)
		{
			pedersen_eval(&y, coeffs, 3, x);
			pedersen_eval(&t, blind, 3, x);
		}
	}
	commit_pool_stop();
	return 0;
}
