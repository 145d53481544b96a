/*
 * test_ristretto_msm.c - the multi-scalar multiplication against libsodium's
 * own point arithmetic: decoding and encoding every kind of point, sums of
 * many products, the identity, and refusal of non-canonical encodings.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ristretto_msm.h"
#include "unit.h"

/* sum s_i P_i with libsodium alone (scalars widened to 32 bytes) */
static void
reference(uint8_t out[32], const uint8_t *const *pts, const uint8_t (*sc)[16], size_t m)
{
	memset(out, 0, 32);
	for (size_t i = 0; i < m; i++)
	{
		uint8_t		s[32] = {0},
					t[32];

		memcpy(s, sc[i], 16);
		if (crypto_scalarmult_ristretto255(t, s, pts[i]) != 0)
			memset(t, 0, 32);
		if (i == 0)
			memcpy(out, t, 32);
		else
			crypto_core_ristretto255_add(out, out, t);
	}
}

static void
check_sum(size_t m, int zero_scalars)
{
	uint8_t    *store = malloc(32 * m + 1);
	const uint8_t **pts = malloc(sizeof(uint8_t *) * m + 1);
	uint8_t		(*sc)[16] = malloc(16 * m + 1);
	uint8_t		got[32],
				want[32];

	for (size_t i = 0; i < m; i++)
	{
		crypto_core_ristretto255_random(store + 32 * i);
		pts[i] = store + 32 * i;
		randombytes_buf(sc[i], 16);
		if (zero_scalars && i % 3 == 0)
			memset(sc[i], 0, 16);
	}
	CHECK(ristretto_msm128(got, pts, (const uint8_t (*)[16]) sc, m), "%s", "ristretto_msm128(got, pts, (const uint8_t (*)[16]) sc, m)");
	reference(want, pts, (const uint8_t (*)[16]) sc, m);
	CHECK(memcmp(got, want, 32) == 0, "%s", "memcmp(got, want, 32) == 0");
	free(store);
	free(pts);
	free(sc);
}

/*
 * 32-byte scalars (top bit clear, as libsodium's scalarmult reads them) against
 * libsodium: all ones (every signed digit carries), random, and ones in a low
 * byte only (the windows above are skipped)
 */
static void
check_wide(size_t m, int kind)
{
	uint8_t    *store = malloc(32 * m + 1);
	const uint8_t **pts = malloc(sizeof(uint8_t *) * m + 1);
	uint8_t    *sc = malloc(32 * m + 1);
	uint8_t		got[32],
				want[32] = {0};

	for (size_t i = 0; i < m; i++)
	{
		uint8_t		t[32];

		crypto_core_ristretto255_random(store + 32 * i);
		pts[i] = store + 32 * i;
		if (kind == 0)
			memset(sc + 32 * i, 0xff, 32);
		else if (kind == 1)
			randombytes_buf(sc + 32 * i, 32);
		else
		{
			memset(sc + 32 * i, 0, 32);
			sc[32 * i + 2] = (uint8_t) (i * 37 % 255 + 1);
		}
		sc[32 * i + 31] &= 0x7f;
		CHECK(crypto_scalarmult_ristretto255(t, sc + 32 * i, pts[i]) == 0, "libsodium s * P (kind %d, m %zu, i %zu)", kind, m, i);
		if (i == 0)
			memcpy(want, t, 32);
		else
			crypto_core_ristretto255_add(want, want, t);
	}
	CHECK(ristretto_msm(got, pts, sc, 32, m), "ristretto_msm of %zu points, 32-byte scalars", m);
	CHECK(memcmp(got, want, 32) == 0, "the sum of %zu products with 32-byte scalars (kind %d) is libsodium's", m, kind);
	free(store);
	free(pts);
	free(sc);
}

int
main(void)
{
	uint8_t		p[32],
				out[32],
				one[16] = {1},
				two[16] = {2};
	const uint8_t *pp[2];
	uint8_t		sc[2][16];

	if (sodium_init() < 0)
		return 1;

	/* one point times 1 comes back as itself: decode + encode round trip */
	for (int i = 0; i < 2000; i++)
	{
		crypto_core_ristretto255_random(p);
		pp[0] = p;
		memcpy(sc[0], one, 16);
		CHECK(ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
		CHECK(memcmp(out, p, 32) == 0, "%s", "memcmp(out, p, 32) == 0");
	}
	/* the base point, 2P = P + P */
	crypto_scalarmult_ristretto255_base(p, (uint8_t[32]) {1});
	pp[0] = p;
	memcpy(sc[0], two, 16);
	CHECK(ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
	{
		uint8_t		want[32];

		crypto_core_ristretto255_add(want, p, p);
		CHECK(memcmp(out, want, 32) == 0, "%s", "memcmp(out, want, 32) == 0");
	}
	/* P + (-P) is the identity: 32 zero bytes */
	{
		uint8_t		neg[32],
					zero[32] = {0};
		uint8_t		minus1[32];

		crypto_core_ristretto255_scalar_negate(minus1, (uint8_t[32]) {1});
		CHECK(crypto_scalarmult_ristretto255(neg, minus1, p) == 0, "-P");
		pp[0] = p;
		pp[1] = neg;
		memcpy(sc[0], one, 16);
		memcpy(sc[1], one, 16);
		CHECK(ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 2), "%s", "ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 2)");
		CHECK(memcmp(out, zero, 32) == 0, "%s", "memcmp(out, zero, 32) == 0");
		/* the identity as an input */
		pp[0] = zero;
		CHECK(ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
		CHECK(memcmp(out, zero, 32) == 0, "%s", "memcmp(out, zero, 32) == 0");
	}
	/* sums of many products, every window size */
	check_sum(1, 0);
	check_sum(7, 1);
	check_sum(40, 0);
	check_sum(300, 1);
	check_sum(3000, 0);
	check_sum(20000, 0);
	for (int kind = 0; kind < 3; kind++)
		for (size_t m = 1; m <= 600; m = m * 5 + 1)
			check_wide(m, kind);
	/* non-canonical encodings are refused: top bit, s >= p, negative s, random bytes */
	crypto_core_ristretto255_random(p);
	pp[0] = p;
	memcpy(sc[0], one, 16);
	{
		uint8_t		bad[32];

		memcpy(bad, p, 32);
		bad[31] |= 0x80;
		pp[0] = bad;
		CHECK(!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
		memset(bad, 0xff, 32);
		bad[31] = 0x7f;
		CHECK(!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
		memcpy(bad, p, 32);
		bad[0] |= 1;
		CHECK(!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1), "%s", "!ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1)");
		for (int i = 0; i < 2000; i++)
		{
			randombytes_buf(bad, 32);
			pp[0] = bad;
			CHECK(ristretto_msm128(out, pp, (const uint8_t (*)[16]) sc, 1) ==
				  (crypto_core_ristretto255_is_valid_point(bad) && !(bad[31] & 0x80)),
				  "random bytes are accepted exactly when libsodium accepts them");
		}
	}
	return unit_finish("ristretto_msm");
}
