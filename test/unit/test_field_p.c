/*
 * test_field_p.c - unit tests for field_p.c, cross-checked against libsodium's
 * independent crypto_core_ristretto255_scalar_* implementation (same field, same
 * 32-byte little-endian canonical encoding).
 *
 * gcc -O2 -Wall -Wextra -Isrc test/unit/test_field_p.c src/field_p.c src/random.c -lsodium -lcrypto -o /tmp/test_field_p && /tmp/test_field_p
 */
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "math/field_p.h"
#include "unit.h"

#define NRAND 100000
#define NDRAW 200000
#define BATCH_M 97

typedef uint8_t bytes32[FP_BYTES];

/* l, little-endian */
static const bytes32 L_BYTES = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0x10
};

static bytes32 edge[32];
static int	nedge;

static bytes32 l_minus_1,
			half,						/* (l-1)/2 */
			half_plus_1;				/* (l+1)/2 */

/* a += v (mod 2^256), v small signed */
static void
add_small(bytes32 a, int v)
{
	int			carry = v;
	int			i;

	for (i = 0; i < FP_BYTES && carry != 0; i++)
	{
		int			s = a[i] + carry;

		a[i] = (uint8_t) (s & 0xff);
		carry = s >> 8;			/* arithmetic shift: floor division */
	}
}

static void
shr1(bytes32 r, const bytes32 a)
{
	int			i;

	for (i = 0; i < FP_BYTES; i++)
		r[i] = (uint8_t) ((a[i] >> 1) | (i + 1 < FP_BYTES ? a[i + 1] << 7 : 0));
}

/* compare as little-endian integers */
static int
cmp_le(const bytes32 a, const bytes32 b)
{
	int			i;

	for (i = FP_BYTES - 1; i >= 0; i--)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static void
limbs_to_bytes(bytes32 out, const uint64_t v[4])
{
	int			i,
				j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 8; j++)
			out[8 * i + j] = (uint8_t) (v[i] >> (8 * j));
}

static void
hex(char *buf, const bytes32 a)
{
	int			i;

	for (i = 0; i < FP_BYTES; i++)
		sprintf(buf + 2 * i, "%02x", a[FP_BYTES - 1 - i]);
}

static void
add_edge(const bytes32 a)
{
	memcpy(edge[nedge++], a, FP_BYTES);
}

static void
setup_edges(void)
{
	bytes32		x;
	uint64_t	limbs[4];
	int			i;

	memcpy(l_minus_1, L_BYTES, FP_BYTES);
	add_small(l_minus_1, -1);
	shr1(half, l_minus_1);
	memcpy(half_plus_1, half, FP_BYTES);
	add_small(half_plus_1, 1);

	memset(x, 0, FP_BYTES);
	add_edge(x);				/* 0 */
	x[0] = 1;
	add_edge(x);				/* 1 */
	x[0] = 2;
	add_edge(x);				/* 2 */
	add_edge(l_minus_1);
	memcpy(x, l_minus_1, FP_BYTES);
	add_small(x, -1);
	add_edge(x);				/* l-2 */
	add_edge(half);
	add_edge(half_plus_1);
	memcpy(x, half, FP_BYTES);
	add_small(x, -1);
	add_edge(x);				/* (l-3)/2 */

	/* around 2^252 */
	memset(x, 0, FP_BYTES);
	x[31] = 0x10;
	add_edge(x);				/* 2^252 */
	add_small(x, 1);
	add_edge(x);				/* 2^252 + 1 */
	add_small(x, -2);
	add_edge(x);				/* 2^252 - 1: all-ones limbs, top limb 0x0fff.. */
	add_small(x, -1);
	add_edge(x);				/* 2^252 - 2 */

	/* all-ones limbs below the top */
	for (i = 1; i <= 3; i++)
	{
		memset(x, 0, FP_BYTES);
		memset(x, 0xff, 8 * i);
		add_edge(x);			/* 2^64i - 1 */
	}
	/* all-ones limb in each position */
	for (i = 0; i < 3; i++)
	{
		memset(x, 0, FP_BYTES);
		memset(x + 8 * i, 0xff, 8);
		add_edge(x);
	}
	/* every limb set, largest canonical such pattern */
	limbs[0] = limbs[1] = limbs[2] = UINT64_MAX;
	limbs[3] = UINT64_C(0x0fffffffffffffff);
	limbs_to_bytes(x, limbs);
	add_edge(x);
	/* R mod l and R^2 mod l */
	memset(x, 0, FP_BYTES);
	{
		uint8_t		wide[64] = {0};

		wide[32] = 1;
		crypto_core_ristretto255_scalar_reduce(x, wide);
	}
	add_edge(x);
	crypto_core_ristretto255_scalar_mul(x, x, x);
	add_edge(x);
}

static void
decode(fp_t *r, const bytes32 a)
{
	if (!fp_from_bytes(r, a))
	{
		fprintf(stderr, "unexpected reject\n");
		exit(2);
	}
}

/*
 * Constants in field_p.c are private literals; check them by their effect against
 * values recomputed with libsodium.  fp_one must be R mod l; from_bytes(x) computes
 * x*R^2/R, so from_bytes(R mod l) exposes R^2 mod l (this also exercises N0).
 */
static void
test_constants(void)
{
	uint8_t		wide[64] = {0};
	bytes32		r,
				r2,
				got;
	fp_t		x;
	int			i;

	wide[32] = 1;
	crypto_core_ristretto255_scalar_reduce(r, wide);
	crypto_core_ristretto255_scalar_mul(r2, r, r);

	limbs_to_bytes(got, fp_one.v);
	CHECK(memcmp(got, r, FP_BYTES) == 0, "fp_one is not R mod l");
	for (i = 0; i < 4; i++)
		CHECK(fp_zero.v[i] == 0, "fp_zero limb %d", i);

	decode(&x, r);
	limbs_to_bytes(got, x.v);
	CHECK(memcmp(got, r2, FP_BYTES) == 0, "R^2 mod l literal is wrong");

	fp_from_u64(&x, 1);
	CHECK(fp_equal(&x, &fp_one), "fp_from_u64(1) != fp_one");
	fp_to_bytes(got, &fp_one);
	CHECK(got[0] == 1 && sodium_is_zero(got + 1, FP_BYTES - 1),
		  "fp_one does not encode as 1");
	fp_to_bytes(got, &fp_zero);
	CHECK(sodium_is_zero(got, FP_BYTES), "fp_zero does not encode as 0");

	/* (l-1)/2 recomputed: 2*half + 1 == l */
	memcpy(got, half, FP_BYTES);
	crypto_core_ristretto255_scalar_add(got, got, half);
	add_small(got, 1);
	CHECK(memcmp(got, L_BYTES, FP_BYTES) == 0, "(l-1)/2 wrong");
}

enum op
{
	OP_ADD, OP_SUB, OP_MUL, OP_NEG, OP_INV
};

static const char *const op_name[] = {"add", "sub", "mul", "neg", "inv"};

/* one operation on encoded values, ours and libsodium's; returns 1 on match */
static int
check_op(enum op op, const bytes32 a, const bytes32 b)
{
	fp_t		x,
				y,
				z;
	bytes32		ours,
				ref;

	decode(&x, a);
	decode(&y, b);
	switch (op)
	{
		case OP_ADD:
			fp_add(&z, &x, &y);
			crypto_core_ristretto255_scalar_add(ref, a, b);
			break;
		case OP_SUB:
			fp_sub(&z, &x, &y);
			crypto_core_ristretto255_scalar_sub(ref, a, b);
			break;
		case OP_MUL:
			fp_mul(&z, &x, &y);
			crypto_core_ristretto255_scalar_mul(ref, a, b);
			break;
		case OP_NEG:
			fp_neg(&z, &x);
			crypto_core_ristretto255_scalar_negate(ref, a);
			break;
		case OP_INV:
			fp_inv(&z, &x);
			if (crypto_core_ristretto255_scalar_invert(ref, a) != 0)
				memset(ref, 0, FP_BYTES);	/* libsodium refuses 0; ours maps 0 to 0 */
			break;
	}
	fp_to_bytes(ours, &z);
	if (memcmp(ours, ref, FP_BYTES) != 0)
	{
		char		ha[65],
					hb[65],
					ho[65],
					hr[65];

		hex(ha, a);
		hex(hb, b);
		hex(ho, ours);
		hex(hr, ref);
		fprintf(stderr, "%s(%s, %s): got %s want %s\n", op_name[op], ha, hb, ho, hr);
		return 0;
	}
	/* aliasing: r == a */
	if (op != OP_NEG && op != OP_INV)
	{
		fp_t		w = x;

		if (op == OP_ADD)
			fp_add(&w, &w, &y);
		else if (op == OP_SUB)
			fp_sub(&w, &w, &y);
		else
			fp_mul(&w, &w, &y);
		if (!fp_equal(&w, &z))
			return 0;
	}
	return 1;
}

static void
test_ops(void)
{
	enum op		op;
	int			i,
				j,
				bad;
	bytes32		a,
				b;

	for (op = OP_ADD; op <= OP_INV; op++)
	{
		/* all pairs of edge values */
		bad = 0;
		for (i = 0; i < nedge; i++)
			for (j = 0; j < nedge; j++)
				bad += !check_op(op, edge[i], edge[j]);
		CHECK(bad == 0, "%s: %d edge mismatches", op_name[op], bad);

		/* edge values against random ones */
		bad = 0;
		for (i = 0; i < nedge; i++)
			for (j = 0; j < 200; j++)
			{
				crypto_core_ristretto255_scalar_random(b);
				bad += !check_op(op, edge[i], b);
				bad += !check_op(op, b, edge[i]);
			}
		CHECK(bad == 0, "%s: %d edge/random mismatches", op_name[op], bad);

		bad = 0;
		for (i = 0; i < NRAND; i++)
		{
			crypto_core_ristretto255_scalar_random(a);
			crypto_core_ristretto255_scalar_random(b);
			bad += !check_op(op, a, b);
			if (bad > 10)
				break;
		}
		CHECK(bad == 0, "%s: %d random mismatches", op_name[op], bad);
	}
}

static void
test_algebra(void)
{
	fp_t		x,
				y,
				z;
	bytes32		a;
	int			i,
				bad = 0;

	for (i = 0; i < NRAND / 10; i++)
	{
		crypto_core_ristretto255_scalar_random(a);
		decode(&x, a);
		fp_inv(&y, &x);
		fp_mul(&z, &x, &y);
		bad += !fp_equal(&z, &fp_one);
		fp_neg(&y, &x);
		fp_add(&z, &x, &y);
		bad += !fp_is_zero(&z);
		fp_sub(&z, &x, &x);
		bad += !fp_is_zero(&z);
		fp_mul(&z, &x, &fp_one);
		bad += !fp_equal(&z, &x);
		fp_mul(&z, &x, &fp_zero);
		bad += !fp_is_zero(&z);
	}
	CHECK(bad == 0, "algebra: %d failures", bad);

	fp_inv(&x, &fp_zero);
	CHECK(fp_is_zero(&x), "fp_inv(0) != 0");
	fp_neg(&x, &fp_zero);
	CHECK(fp_is_zero(&x), "-0 != 0");
	CHECK(fp_is_zero(&fp_zero), "is_zero(0)");
	CHECK(!fp_is_zero(&fp_one), "is_zero(1)");
	CHECK(fp_equal(&fp_one, &fp_one), "equal(1,1)");
	CHECK(!fp_equal(&fp_one, &fp_zero), "equal(1,0)");

	/* is_zero / equal on single differing limbs and bits */
	bad = 0;
	for (i = 0; i < 256; i++)
	{
		memset(&x, 0, sizeof(x));
		x.v[i / 64] = UINT64_C(1) << (i % 64);
		bad += fp_is_zero(&x);
		bad += fp_equal(&x, &fp_zero);
		y = x;
		bad += !fp_equal(&x, &y);
	}
	CHECK(bad == 0, "is_zero/equal bit patterns: %d failures", bad);
}

static void
test_batch_inv(void)
{
	fp_t		a[BATCH_M],
				r[BATCH_M],
				tmp[BATCH_M],
				want;
	bytes32		b;
	int			i,
				m,
				bad = 0;

	for (m = 1; m <= BATCH_M; m += 8)
	{
		for (i = 0; i < m; i++)
		{
			do
				crypto_core_ristretto255_scalar_random(b);
			while (sodium_is_zero(b, FP_BYTES));
			decode(&a[i], b);
		}
		fp_batch_inv(r, a, m, tmp);
		for (i = 0; i < m; i++)
		{
			fp_inv(&want, &a[i]);
			bad += !fp_equal(&r[i], &want);
		}
		/* in place */
		fp_batch_inv(a, a, m, tmp);
		for (i = 0; i < m; i++)
			bad += !fp_equal(&a[i], &r[i]);
	}
	CHECK(bad == 0, "batch_inv: %d mismatches", bad);
}

static void
test_from_bytes(void)
{
	bytes32		x;
	fp_t		r;
	int			i,
				bad = 0;

	/* canonical values round-trip */
	for (i = 0; i < nedge; i++)
	{
		bytes32		back;

		if (!fp_from_bytes(&r, edge[i]))
		{
			bad++;
			continue;
		}
		fp_to_bytes(back, &r);
		bad += memcmp(back, edge[i], FP_BYTES) != 0;
	}
	CHECK(bad == 0, "from_bytes canonical: %d failures", bad);

#define REJECT(what) \
	do { \
		memset(&r, 0x55, sizeof(r)); \
		CHECK(!fp_from_bytes(&r, x), "accepted %s", what); \
		CHECK(fp_is_zero(&r), "%s: *r not zeroed", what); \
	} while (0)

	memcpy(x, L_BYTES, FP_BYTES);
	REJECT("l");
	add_small(x, 1);
	REJECT("l+1");
	memset(x, 0xff, FP_BYTES);
	REJECT("2^256-1");
	for (i = 253; i < 256; i++)
	{
		memset(x, 0, FP_BYTES);
		x[i / 8] |= (uint8_t) (1 << (i % 8));
		REJECT("2^253+ bit");
		x[0] = 1;
		REJECT("2^253+ bit | 1");
	}
	memset(x, 0, FP_BYTES);
	x[31] = 0x1f;
	REJECT("0x1f << 248");
	/* 2l */
	{
		int			carry = 0;

		for (i = 0; i < FP_BYTES; i++)
		{
			int			s = L_BYTES[i] * 2 + carry;

			x[i] = (uint8_t) s;
			carry = s >> 8;
		}
	}
	REJECT("2l");

	/* random non-canonical values with bits 252.. set */
	bad = 0;
	for (i = 0; i < 10000; i++)
	{
		randombytes_buf(x, FP_BYTES);
		if (cmp_le(x, L_BYTES) < 0)
			continue;
		memset(&r, 0x55, sizeof(r));
		bad += fp_from_bytes(&r, x);
		bad += !fp_is_zero(&r);
	}
	CHECK(bad == 0, "random non-canonical: %d accepted", bad);
#undef REJECT
}

static void
test_signed(void)
{
	static const int64_t special[] = {
		0, 1, -1, 2, -2, 255, -256, INT32_MAX, INT32_MIN,
		INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
		(int64_t) 1 << 62, -((int64_t) 1 << 62)
	};
	bytes32		mag,
				enc,
				ref;
	bool		neg;
	fp_t		x,
				y;
	int			i,
				bad = 0;

	for (i = 0; i < (int) (sizeof(special) / sizeof(special[0])) + NRAND; i++)
	{
		int64_t		v;
		uint64_t	u;
		int			k;

		if (i < (int) (sizeof(special) / sizeof(special[0])))
			v = special[i];
		else
		{
			randombytes_buf(&v, sizeof(v));
			if (i & 1)
				v >>= (i >> 1) % 64;	/* small magnitudes too */
		}
		fp_from_i64(&x, v);

		/* compare with libsodium: |v| or l - |v| */
		u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
		memset(mag, 0, FP_BYTES);
		for (k = 0; k < 8; k++)
			mag[k] = (uint8_t) (u >> (8 * k));
		if (v < 0)
			crypto_core_ristretto255_scalar_negate(ref, mag);
		else
			memcpy(ref, mag, FP_BYTES);
		fp_to_bytes(enc, &x);
		bad += memcmp(enc, ref, FP_BYTES) != 0;

		/* from_signed agrees with from_i64 */
		bad += !fp_from_signed(&y, mag, v < 0);
		bad += !fp_equal(&x, &y);

		/* and decodes back */
		fp_to_signed(enc, &neg, &x);
		bad += memcmp(enc, mag, FP_BYTES) != 0;
		bad += neg != (v < 0);
		if (bad && i < 20)
			fprintf(stderr, "signed failure at v=%" PRId64 "\n", v);
	}
	CHECK(bad == 0, "i64/signed round trips: %d failures", bad);

	/* INT64_MIN explicitly: magnitude 2^63, negative */
	fp_from_i64(&x, INT64_MIN);
	fp_to_signed(mag, &neg, &x);
	CHECK(neg && mag[7] == 0x80 && sodium_is_zero(mag, 7) &&
		  sodium_is_zero(mag + 8, FP_BYTES - 8), "INT64_MIN");

	/* -0 is 0, positive */
	memset(mag, 0, FP_BYTES);
	CHECK(fp_from_signed(&x, mag, true) && fp_is_zero(&x), "-0");
	fp_to_signed(enc, &neg, &fp_zero);
	CHECK(!neg && sodium_is_zero(enc, FP_BYTES), "to_signed(0)");

	/* +-(l-1)/2 accepted and round-trip; -(l-1)/2 is (l+1)/2 */
	CHECK(fp_from_signed(&x, half, false), "+(l-1)/2 rejected");
	fp_to_bytes(enc, &x);
	CHECK(memcmp(enc, half, FP_BYTES) == 0, "+(l-1)/2 value");
	fp_to_signed(enc, &neg, &x);
	CHECK(!neg && memcmp(enc, half, FP_BYTES) == 0, "+(l-1)/2 decode");

	CHECK(fp_from_signed(&x, half, true), "-(l-1)/2 rejected");
	fp_to_bytes(enc, &x);
	CHECK(memcmp(enc, half_plus_1, FP_BYTES) == 0, "-(l-1)/2 value");
	fp_to_signed(enc, &neg, &x);
	CHECK(neg && memcmp(enc, half, FP_BYTES) == 0, "-(l-1)/2 decode");

	/* magnitudes above (l-1)/2 rejected, *r zeroed */
	memset(&x, 0x55, sizeof(x));
	CHECK(!fp_from_signed(&x, half_plus_1, false) && fp_is_zero(&x), "+(l+1)/2 accepted");
	memset(&x, 0x55, sizeof(x));
	CHECK(!fp_from_signed(&x, half_plus_1, true) && fp_is_zero(&x), "-(l+1)/2 accepted");
	CHECK(!fp_from_signed(&x, l_minus_1, false), "l-1 accepted");
	CHECK(!fp_from_signed(&x, L_BYTES, true), "l accepted");
	memset(mag, 0xff, FP_BYTES);
	CHECK(!fp_from_signed(&x, mag, false), "2^256-1 accepted");
	memset(mag, 0, FP_BYTES);
	mag[31] = 0x10;
	CHECK(!fp_from_signed(&x, mag, false), "2^252 accepted");
	mag[31] = 0x08;
	CHECK(fp_from_signed(&x, mag, true), "2^251 rejected");	/* (l-1)/2 ~ 2^251 + 2^124 */
	mag[16] = 0x01;
	CHECK(!fp_from_signed(&x, mag, true), "2^251 + 2^128 accepted");

	/* to_signed over random elements: value == +mag or l - mag, mag <= (l-1)/2 */
	bad = 0;
	for (i = 0; i < NRAND / 10; i++)
	{
		crypto_core_ristretto255_scalar_random(ref);
		decode(&x, ref);
		fp_to_signed(mag, &neg, &x);
		bad += cmp_le(mag, half) > 0;
		bad += neg != (cmp_le(ref, half) > 0);
		if (neg)
			crypto_core_ristretto255_scalar_negate(enc, mag);
		else
			memcpy(enc, mag, FP_BYTES);
		bad += memcmp(enc, ref, FP_BYTES) != 0;
		bad += !fp_from_signed(&y, mag, neg);
		bad += !fp_equal(&x, &y);
	}
	CHECK(bad == 0, "to_signed random: %d failures", bad);
}

static void
test_random(void)
{
	long		count[256] = {0};
	double		chi2 = 0,
				expect = NDRAW / 16.0;
	bytes32		enc,
				limbs;
	fp_t		x;
	int			i,
				bad = 0,
				over = 0;

	for (i = 0; i < NDRAW; i++)
	{
		fp_random(&x);
		limbs_to_bytes(limbs, x.v);
		bad += cmp_le(limbs, L_BYTES) >= 0;		/* stored form canonical */
		fp_to_bytes(enc, &x);
		bad += cmp_le(enc, L_BYTES) >= 0;
		count[enc[31]]++;
	}
	CHECK(bad == 0, "random: %d non-canonical outputs", bad);

	for (i = 17; i < 256; i++)
		over += count[i];
	CHECK(over == 0, "random: %d top bytes above 16", over);

	/* 16 cells of ~2^248/l each; 16 itself has probability ~2^-127 */
	for (i = 0; i < 16; i++)
		chi2 += (count[i] - expect) * (count[i] - expect) / expect;
	chi2 += count[16];
	/* 15 degrees of freedom: 60 is p ~ 1e-7 */
	CHECK(chi2 < 60.0, "random: top-byte chi-square %.1f", chi2);
}

int
main(void)
{
	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 2;
	}
	setup_edges();
	test_constants();
	test_ops();
	test_algebra();
	test_batch_inv();
	test_from_bytes();
	test_signed();
	test_random();
	return unit_finish("field_p");
}
