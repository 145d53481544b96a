/*
 * ristretto_point.h - field (mod 2^255 - 19) and point arithmetic of ristretto255,
 * shared by ristretto_msm.c (variable-time, public data only) and
 * ristretto_base.c (constant-time, secret scalars).
 *
 * Field elements in five 51-bit limbs; points in extended twisted Edwards
 * coordinates (X:Y:Z:T), a = -1, added with the complete unified formulas
 * (Hisil-Wong-Carter-Dawson 2008); decoding and encoding follow RFC 9496
 * section 4.3.  The field operations are constant-time; decoding, encoding and
 * the predicates branch on their input (use them on public values).
 *
 * Plain C (no PostgreSQL headers).
 */
#ifndef SSN_RISTRETTO_POINT_H
#define SSN_RISTRETTO_POINT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

typedef struct
{
	uint64_t	v[5];
} fe;

typedef struct
{
	fe			X,
				Y,
				Z,
				T;
} ge;

#define MASK51 ((((uint64_t) 1) << 51) - 1)

static const fe fe_one = {{1, 0, 0, 0, 0}};
static const fe fe_d = {{929955233495203, 466365720129213, 1662059464998953, 2033849074728123, 1442794654840575}};
static const fe fe_d2 = {{1859910466990425, 932731440258426, 1072319116312658, 1815898335770999, 633789495995903}};
static const fe fe_sqrtm1 = {{1718705420411056, 234908883556509, 2233514472574048, 2117202627021982, 765476049583133}};
static const fe fe_invsqrt_a_minus_d = {{278908739862762, 821645201101625, 8113234426968, 1777959178193151, 2118520810568447}};

static inline void
fe_carry(fe *r)
{
	uint64_t	c;

	for (int i = 0; i < 4; i++)
	{
		c = r->v[i] >> 51;
		r->v[i] &= MASK51;
		r->v[i + 1] += c;
	}
	c = r->v[4] >> 51;
	r->v[4] &= MASK51;
	r->v[0] += c * 19;
	c = r->v[0] >> 51;
	r->v[0] &= MASK51;
	r->v[1] += c;
}

static inline void
fe_add(fe *r, const fe *a, const fe *b)
{
	for (int i = 0; i < 5; i++)
		r->v[i] = a->v[i] + b->v[i];
	fe_carry(r);
}

/* a - b, with 4p added so that no limb goes negative */
static inline void
fe_sub(fe *r, const fe *a, const fe *b)
{
	r->v[0] = a->v[0] + 0x1FFFFFFFFFFFB4 - b->v[0];
	for (int i = 1; i < 5; i++)
		r->v[i] = a->v[i] + 0x1FFFFFFFFFFFFC - b->v[i];
	fe_carry(r);
}

static inline void
fe_neg(fe *r, const fe *a)
{
	fe			z = {{0}};

	fe_sub(r, &z, a);
}

/* the five 102-bit column sums of a product, carried into limbs */
static inline void
fe_reduce_wide(fe *r, u128 t0, u128 t1, u128 t2, u128 t3, u128 t4)
{
	uint64_t	c;

	t1 += (uint64_t) (t0 >> 51);
	r->v[0] = (uint64_t) t0 & MASK51;
	t2 += (uint64_t) (t1 >> 51);
	r->v[1] = (uint64_t) t1 & MASK51;
	t3 += (uint64_t) (t2 >> 51);
	r->v[2] = (uint64_t) t2 & MASK51;
	t4 += (uint64_t) (t3 >> 51);
	r->v[3] = (uint64_t) t3 & MASK51;
	c = (uint64_t) (t4 >> 51);
	r->v[4] = (uint64_t) t4 & MASK51;
	r->v[0] += c * 19;
	c = r->v[0] >> 51;
	r->v[0] &= MASK51;
	r->v[1] += c;
}

static inline void
fe_mul(fe *r, const fe *a, const fe *b)
{
	const uint64_t *x = a->v,
			   *y = b->v;
	uint64_t	y1_19 = y[1] * 19,
				y2_19 = y[2] * 19,
				y3_19 = y[3] * 19,
				y4_19 = y[4] * 19;
	u128		t0,
				t1,
				t2,
				t3,
				t4;

	t0 = (u128) x[0] * y[0] + (u128) x[1] * y4_19 + (u128) x[2] * y3_19 + (u128) x[3] * y2_19 + (u128) x[4] * y1_19;
	t1 = (u128) x[0] * y[1] + (u128) x[1] * y[0] + (u128) x[2] * y4_19 + (u128) x[3] * y3_19 + (u128) x[4] * y2_19;
	t2 = (u128) x[0] * y[2] + (u128) x[1] * y[1] + (u128) x[2] * y[0] + (u128) x[3] * y4_19 + (u128) x[4] * y3_19;
	t3 = (u128) x[0] * y[3] + (u128) x[1] * y[2] + (u128) x[2] * y[1] + (u128) x[3] * y[0] + (u128) x[4] * y4_19;
	t4 = (u128) x[0] * y[4] + (u128) x[1] * y[3] + (u128) x[2] * y[2] + (u128) x[3] * y[1] + (u128) x[4] * y[0];

	fe_reduce_wide(r, t0, t1, t2, t3, t4);
}

/* a^2 with 15 limb products instead of 25 (the inversions and square roots are mostly squarings) */
static inline void
fe_sq(fe *r, const fe *a)
{
	const uint64_t *x = a->v;
	uint64_t	x0_2 = 2 * x[0],
				x1_2 = 2 * x[1],
				x1_38 = 38 * x[1],
				x2_38 = 38 * x[2],
				x3_38 = 38 * x[3],
				x3_19 = 19 * x[3],
				x4_19 = 19 * x[4];
	u128		t0,
				t1,
				t2,
				t3,
				t4;

	t0 = (u128) x[0] * x[0] + (u128) x1_38 * x[4] + (u128) x2_38 * x[3];
	t1 = (u128) x0_2 * x[1] + (u128) x2_38 * x[4] + (u128) x3_19 * x[3];
	t2 = (u128) x0_2 * x[2] + (u128) x[1] * x[1] + (u128) x3_38 * x[4];
	t3 = (u128) x0_2 * x[3] + (u128) x1_2 * x[2] + (u128) x4_19 * x[4];
	t4 = (u128) x0_2 * x[4] + (u128) x1_2 * x[3] + (u128) x[2] * x[2];

	fe_reduce_wide(r, t0, t1, t2, t3, t4);
}

static inline void
fe_sqn(fe *r, const fe *a, int n)
{
	fe_sq(r, a);
	while (--n > 0)
		fe_sq(r, r);
}

/* canonical little-endian bytes */
static inline void
fe_tobytes(uint8_t out[32], const fe *a)
{
	fe			t = *a;
	uint64_t	q,
				c;

	fe_carry(&t);
	fe_carry(&t);
	/* t < 2^255 + small: subtract p if t >= p */
	q = (t.v[0] + 19) >> 51;
	q = (t.v[1] + q) >> 51;
	q = (t.v[2] + q) >> 51;
	q = (t.v[3] + q) >> 51;
	q = (t.v[4] + q) >> 51;
	t.v[0] += 19 * q;
	c = t.v[0] >> 51;
	t.v[0] &= MASK51;
	t.v[1] += c;
	c = t.v[1] >> 51;
	t.v[1] &= MASK51;
	t.v[2] += c;
	c = t.v[2] >> 51;
	t.v[2] &= MASK51;
	t.v[3] += c;
	c = t.v[3] >> 51;
	t.v[3] &= MASK51;
	t.v[4] += c;
	t.v[4] &= MASK51;
	for (int i = 0; i < 32; i++)
	{
		int			bit = i * 8;
		int			limb = bit / 51,
					off = bit % 51;
		uint64_t	b = t.v[limb] >> off;

		if (off > 43 && limb < 4)
			b |= t.v[limb + 1] << (51 - off);
		out[i] = (uint8_t) b;
	}
}

/* the low 255 bits of 32 bytes (the caller checks canonical form) */
static inline void
fe_frombytes(fe *r, const uint8_t in[32])
{
	uint64_t	w[4];

	for (int i = 0; i < 4; i++)
	{
		w[i] = 0;
		for (int j = 7; j >= 0; j--)
			w[i] = (w[i] << 8) | in[i * 8 + j];
	}
	r->v[0] = w[0] & MASK51;
	r->v[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
	r->v[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
	r->v[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
	r->v[4] = (w[3] >> 12) & MASK51;
}

static inline bool
fe_is_negative(const fe *a)
{
	uint8_t		b[32];

	fe_tobytes(b, a);
	return b[0] & 1;
}

static inline bool
fe_is_zero(const fe *a)
{
	uint8_t		b[32],
				z = 0;

	fe_tobytes(b, a);
	for (int i = 0; i < 32; i++)
		z |= b[i];
	return z == 0;
}

static inline bool
fe_equal(const fe *a, const fe *b)
{
	fe			d;

	fe_sub(&d, a, b);
	return fe_is_zero(&d);
}

static inline void
fe_abs(fe *r, const fe *a)
{
	if (fe_is_negative(a))
		fe_neg(r, a);
	else
		*r = *a;
}

/* z^((p-5)/8) = z^(2^252 - 3) */
static inline void
fe_pow22523(fe *r, const fe *z)
{
	fe			t0,
				t1,
				t2;

	fe_sq(&t0, z);				/* 2 */
	fe_sqn(&t1, &t0, 2);		/* 8 */
	fe_mul(&t1, z, &t1);		/* 9 */
	fe_mul(&t0, &t0, &t1);		/* 11 */
	fe_sq(&t0, &t0);			/* 22 */
	fe_mul(&t0, &t1, &t0);		/* 2^5 - 1 */
	fe_sqn(&t1, &t0, 5);
	fe_mul(&t0, &t1, &t0);		/* 2^10 - 1 */
	fe_sqn(&t1, &t0, 10);
	fe_mul(&t1, &t1, &t0);		/* 2^20 - 1 */
	fe_sqn(&t2, &t1, 20);
	fe_mul(&t1, &t2, &t1);		/* 2^40 - 1 */
	fe_sqn(&t1, &t1, 10);
	fe_mul(&t0, &t1, &t0);		/* 2^50 - 1 */
	fe_sqn(&t1, &t0, 50);
	fe_mul(&t1, &t1, &t0);		/* 2^100 - 1 */
	fe_sqn(&t2, &t1, 100);
	fe_mul(&t1, &t2, &t1);		/* 2^200 - 1 */
	fe_sqn(&t1, &t1, 50);
	fe_mul(&t0, &t1, &t0);		/* 2^250 - 1 */
	fe_sqn(&t0, &t0, 2);		/* 2^252 - 4 */
	fe_mul(r, &t0, z);			/* 2^252 - 3 */
}

/* RFC 9496 SQRT_RATIO_M1: r = sqrt(u/v) if it exists (non-negative); whether it did */
static inline bool
fe_sqrt_ratio_m1(fe *r, const fe *u, const fe *v)
{
	fe			v3,
				v7,
				t,
				check,
				nu,
				nui;
	bool		correct,
				flipped,
				flipped_i;

	fe_sq(&v3, v);
	fe_mul(&v3, &v3, v);		/* v^3 */
	fe_sq(&v7, &v3);
	fe_mul(&v7, &v7, v);		/* v^7 */
	fe_mul(&t, u, &v7);
	fe_pow22523(&t, &t);
	fe_mul(&t, &t, &v3);
	fe_mul(&t, &t, u);			/* (u v^3) (u v^7)^((p-5)/8) */
	fe_sq(&check, &t);
	fe_mul(&check, &check, v);
	fe_neg(&nu, u);
	fe_mul(&nui, &nu, &fe_sqrtm1);
	correct = fe_equal(&check, u);
	flipped = fe_equal(&check, &nu);
	flipped_i = fe_equal(&check, &nui);
	if (flipped || flipped_i)
		fe_mul(&t, &t, &fe_sqrtm1);
	fe_abs(r, &t);
	return correct || flipped;
}

static inline bool
ge_decode(ge *p, const uint8_t in[32])
{
	fe			s,
				ss,
				u1,
				u2,
				u2sq,
				v,
				inv,
				denx,
				deny,
				t;
	uint8_t		back[32];

	fe_frombytes(&s, in);
	fe_tobytes(back, &s);
	/* canonical (s < p, top bit clear) and non-negative */
	if (memcmp(back, in, 32) != 0 || (in[0] & 1))
		return false;
	fe_sq(&ss, &s);
	fe_sub(&u1, &fe_one, &ss);
	fe_add(&u2, &fe_one, &ss);
	fe_sq(&u2sq, &u2);
	fe_sq(&t, &u1);
	fe_mul(&t, &t, &fe_d);
	fe_neg(&t, &t);
	fe_sub(&v, &t, &u2sq);		/* -(d u1^2) - u2^2 */
	fe_mul(&t, &v, &u2sq);
	if (!fe_sqrt_ratio_m1(&inv, &fe_one, &t))
		return false;
	fe_mul(&denx, &inv, &u2);
	fe_mul(&deny, &inv, &denx);
	fe_mul(&deny, &deny, &v);
	fe_add(&t, &s, &s);
	fe_mul(&t, &t, &denx);
	fe_abs(&p->X, &t);
	fe_mul(&p->Y, &u1, &deny);
	p->Z = fe_one;
	fe_mul(&p->T, &p->X, &p->Y);
	if (fe_is_negative(&p->T) || fe_is_zero(&p->Y))
		return false;
	return true;
}

static inline void
ge_encode(uint8_t out[32], const ge *p)
{
	fe			u1,
				u2,
				t,
				inv,
				den1,
				den2,
				zinv,
				ix,
				iy,
				x,
				y,
				deninv,
				s;

	fe_add(&u1, &p->Z, &p->Y);
	fe_sub(&t, &p->Z, &p->Y);
	fe_mul(&u1, &u1, &t);
	fe_mul(&u2, &p->X, &p->Y);
	fe_sq(&t, &u2);
	fe_mul(&t, &t, &u1);
	(void) fe_sqrt_ratio_m1(&inv, &fe_one, &t);
	fe_mul(&den1, &inv, &u1);
	fe_mul(&den2, &inv, &u2);
	fe_mul(&zinv, &den1, &den2);
	fe_mul(&zinv, &zinv, &p->T);
	fe_mul(&ix, &p->X, &fe_sqrtm1);
	fe_mul(&iy, &p->Y, &fe_sqrtm1);
	fe_mul(&t, &p->T, &zinv);
	if (fe_is_negative(&t))
	{
		x = iy;
		y = ix;
		fe_mul(&deninv, &den1, &fe_invsqrt_a_minus_d);
	}
	else
	{
		x = p->X;
		y = p->Y;
		deninv = den2;
	}
	fe_mul(&t, &x, &zinv);
	if (fe_is_negative(&t))
		fe_neg(&y, &y);
	fe_sub(&s, &p->Z, &y);
	fe_mul(&s, &s, &deninv);
	fe_abs(&s, &s);
	fe_tobytes(out, &s);
}

static inline void
ge_identity(ge *p)
{
	memset(p, 0, sizeof(*p));
	p->Y = fe_one;
	p->Z = fe_one;
}

/* the end of the complete addition, from A = (Y1-X1)(Y2-X2), B = (Y1+X1)(Y2+X2), C = 2d T1 T2, D = 2 Z1 Z2 */
static inline void
ge_add_finish(ge *r, const fe *A, const fe *B, const fe *C, const fe *D)
{
	fe			E,
				F,
				G,
				H;

	fe_sub(&E, B, A);
	fe_sub(&F, D, C);
	fe_add(&G, D, C);
	fe_add(&H, B, A);
	fe_mul(&r->X, &E, &F);
	fe_mul(&r->Y, &G, &H);
	fe_mul(&r->T, &E, &H);
	fe_mul(&r->Z, &F, &G);
}

/* r = a + b (complete for a = -1, d non-square: also doubles) */
static inline void
ge_add(ge *r, const ge *a, const ge *b)
{
	fe			A,
				B,
				C,
				D,
				t;

	fe_sub(&A, &a->Y, &a->X);
	fe_sub(&t, &b->Y, &b->X);
	fe_mul(&A, &A, &t);
	fe_add(&B, &a->Y, &a->X);
	fe_add(&t, &b->Y, &b->X);
	fe_mul(&B, &B, &t);
	fe_mul(&C, &a->T, &fe_d2);
	fe_mul(&C, &C, &b->T);
	fe_mul(&D, &a->Z, &b->Z);
	fe_add(&D, &D, &D);
	ge_add_finish(r, &A, &B, &C, &D);
}

#endif							/* SSN_RISTRETTO_POINT_H */
