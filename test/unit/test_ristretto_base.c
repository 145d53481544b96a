/*
 * test_ristretto_base.c - the constant-time fixed-base a A + b B against
 * libsodium's own multiplications: random, zero, one, l - 1 and large scalars,
 * a = b, points with a torsion-carrying representative, and a refused encoding.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ristretto_base.h"
#include "unit.h"

/* a A + b B with libsodium alone */
static void
reference(uint8_t out[32], const uint8_t A[32], const uint8_t a[32], const uint8_t B[32], const uint8_t b[32])
{
	uint8_t		p[32],
				q[32];

	if (crypto_scalarmult_ristretto255(p, a, A) != 0)
		memset(p, 0, 32);
	if (crypto_scalarmult_ristretto255(q, b, B) != 0)
		memset(q, 0, 32);
	crypto_core_ristretto255_add(out, p, q);
}

static int
check(const RistrettoBaseTable *ta, const uint8_t A[32], const uint8_t a[32],
	  const RistrettoBaseTable *tb, const uint8_t B[32], const uint8_t b[32])
{
	uint8_t		got[32],
				want[32];

	ristretto_base_mul2(got, ta, a, tb, b);
	reference(want, A, a, B, b);
	return memcmp(got, want, 32) == 0;
}

static void
run_checks(const uint8_t G[32], const uint8_t H[32], const RistrettoBaseTable *tg, const RistrettoBaseTable *th)
{
	uint8_t		one[32] = {1},
				zero[32] = {0},
				lm1[32],
				a[32],
				b[32];
	int			ok;

	CHECK(tg != NULL && th != NULL, "%s", "tables of G and H");

	ok = 1;
	for (int i = 0; i < 2000; i++)
	{
		crypto_core_ristretto255_scalar_random(a);
		crypto_core_ristretto255_scalar_random(b);
		ok &= check(tg, G, a, th, H, b);
	}
	CHECK(ok, "%s", "2000 random a G + b H equal libsodium's");

	/* l - 1 = -1 */
	crypto_core_ristretto255_scalar_negate(lm1, one);
	CHECK(check(tg, G, zero, th, H, zero), "%s", "0 G + 0 H: the identity");
	{
		uint8_t		got[32];

		ristretto_base_mul2(got, tg, zero, th, zero);
		CHECK(sodium_is_zero(got, 32), "%s", "the identity encodes as 32 zero bytes");
	}
	CHECK(check(tg, G, one, th, H, zero), "%s", "1 G + 0 H = G");
	CHECK(check(tg, G, zero, th, H, one), "%s", "0 G + 1 H = H");
	CHECK(check(tg, G, lm1, th, H, lm1), "%s", "(l-1) G + (l-1) H");
	CHECK(check(tg, G, lm1, th, H, one), "%s", "(l-1) G + 1 H");
	{
		uint8_t		got[32];

		/* a G + (-a) G = identity, with both tables of G */
		crypto_core_ristretto255_scalar_random(a);
		crypto_core_ristretto255_scalar_negate(b, a);
		ristretto_base_mul2(got, tg, a, tg, b);
		CHECK(sodium_is_zero(got, 32), "%s", "a G + (-a) G is the identity");
	}
	/* every digit pattern: scalars of repeated nibbles 0..f (below 2^253) */
	ok = 1;
	for (int v = 0; v < 16; v++)
	{
		memset(a, v * 0x11, 32);
		a[31] &= 0x0f;
		memset(b, (15 - v) * 0x11, 32);
		b[31] &= 0x0f;
		ok &= check(tg, G, a, th, H, b);
	}
	CHECK(ok, "%s", "nibble patterns 0x00..0xff (top byte below 0x10)");
	/* many at once (one inversion per sixteen): the same as one by one, across the boundary */
	ok = 1;
	for (int m = 1; m <= 20; m += (m < 3 ? 1 : 7))
	{
		uint8_t		as[20 * 32],
					bs[20 * 32],
					outs[20 * 32];

		for (int i = 0; i < m; i++)
		{
			crypto_core_ristretto255_scalar_random(as + 32 * i);
			crypto_core_ristretto255_scalar_random(bs + 32 * i);
		}
		if (m > 2)
			memset(as + 32, 0, 64);	/* identities among them */
		ristretto_base_mul2_many(outs, tg, as, th, bs, m);
		for (int i = 0; i < m; i++)
		{
			uint8_t		want[32];

			reference(want, G, as + 32 * i, H, bs + 32 * i);
			ok &= memcmp(outs + 32 * i, want, 32) == 0;
		}
	}
	CHECK(ok, "%s", "ristretto_base_mul2_many of 1, 2, 3, 10 and 17 pairs");
	/* kept results added later: c G + (a G + b H) = (a + c) G + b H */
	ok = 1;
	for (int m = 1; m <= 20; m += (m < 3 ? 1 : 7))
	{
		uint8_t		as[20 * 32],
					bs[20 * 32],
					cs[20 * 32],
					outs[20 * 32],
					keep_outs[20 * 32],
					sums[20 * 32];
		RistrettoAddend keep[20];

		for (int i = 0; i < m; i++)
		{
			crypto_core_ristretto255_scalar_random(as + 32 * i);
			crypto_core_ristretto255_scalar_random(bs + 32 * i);
			crypto_core_ristretto255_scalar_random(cs + 32 * i);
		}
		if (m > 2)
		{
			memset(as + 32, 0, 64);	/* identities kept */
			memset(bs + 32, 0, 32);
			memcpy(cs + 64, as + 64, 32);	/* c = -a: the sum is b H */
			crypto_core_ristretto255_scalar_negate(cs + 64, cs + 64);
		}
		ristretto_base_mul2_many(outs, tg, as, th, bs, m);
		ristretto_base_mul2_keep(keep_outs, keep, tg, as, th, bs, m);
		ok &= memcmp(outs, keep_outs, 32 * (size_t) m) == 0;
		ristretto_base_mul_add(sums, tg, cs, keep, m);
		for (int i = 0; i < m; i++)
		{
			uint8_t		ac[32],
						want[32];

			crypto_core_ristretto255_scalar_add(ac, as + 32 * i, cs + 32 * i);
			reference(want, G, ac, H, bs + 32 * i);
			ok &= memcmp(sums + 32 * i, want, 32) == 0;
		}
	}
	CHECK(ok, "%s", "kept results: the same encodings, and c G added to them, 1 to 17 at once");
	/* one table alone, kept: b H, then c G + b H */
	ok = 1;
	for (int m = 1; m <= 20; m += 19)
	{
		uint8_t		bs[20 * 32],
					cs[20 * 32],
					outs[20 * 32],
					sums[20 * 32];
		RistrettoAddend keep[20];

		for (int i = 0; i < m; i++)
		{
			crypto_core_ristretto255_scalar_random(bs + 32 * i);
			crypto_core_ristretto255_scalar_random(cs + 32 * i);
		}
		ristretto_base_mul_keep(outs, keep, th, bs, m);
		{
			RistrettoAddend unencoded[20];

			/* kept without their encodings: the same addends */
			ristretto_base_mul_keep(NULL, unencoded, th, bs, m);
			ok &= memcmp(unencoded, keep, sizeof(RistrettoAddend) * (size_t) m) == 0;
		}
		ristretto_base_mul_add(sums, tg, cs, keep, m);
		for (int i = 0; i < m; i++)
		{
			uint8_t		want[32];

			reference(want, G, zero, H, bs + 32 * i);
			ok &= memcmp(outs + 32 * i, want, 32) == 0;
			reference(want, G, cs + 32 * i, H, bs + 32 * i);
			ok &= memcmp(sums + 32 * i, want, 32) == 0;
		}
	}
	CHECK(ok, "%s", "one table kept (b H), then c G added: 1 and 20 at once");
	/* random points: decoded representatives may carry torsion */
	ok = 1;
	for (int i = 0; i < 50; i++)
	{
		uint8_t		P[32],
					Q[32];
		RistrettoBaseTable *tp,
				   *tq;

		crypto_core_ristretto255_random(P);
		crypto_core_ristretto255_random(Q);
		tp = ristretto_base_table(P);
		tq = ristretto_base_table(Q);
		crypto_core_ristretto255_scalar_random(a);
		crypto_core_ristretto255_scalar_random(b);
		ok &= tp != NULL && tq != NULL && check(tp, P, a, tq, Q, b);
		free(tp);
		free(tq);
	}
	CHECK(ok, "%s", "50 random pairs of points");
	{
		uint8_t		bad[32];

		memset(bad, 0xff, 32);
		CHECK(ristretto_base_table(bad) == NULL, "%s", "a non-canonical encoding is refused");
	}
}

int
main(void)
{
	uint8_t		G[32],
				H[32],
				hash[64],
				one[32] = {1};
	RistrettoBaseTable *tg,
			   *th;

	if (sodium_init() < 0)
		return 1;
	crypto_scalarmult_ristretto255_base(G, one);
	crypto_hash_sha512(hash, (const uint8_t *) "test H", 6);
	crypto_core_ristretto255_from_hash(H, hash);
	tg = ristretto_base_table(G);
	th = ristretto_base_table(H);
	/* the AVX2 table reads (where the CPU has them), then the portable ones */
	run_checks(G, H, tg, th);
	ristretto_base_use_portable(true);
	run_checks(G, H, tg, th);
	free(tg);
	free(th);
	return unit_finish("ristretto_base");
}
