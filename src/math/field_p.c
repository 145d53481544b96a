/*
 * field_p.c - arithmetic in F_l, l = 2^252 + 27742317777372353535851937790883648493.
 * See field_p.h.
 *
 * Elements are a*R mod l with R = 2^256, in four little-endian 64-bit limbs, always
 * < l.  Products use CIOS Montgomery multiplication; since l < 2^253 the running
 * value stays below 2l < 2^254 and one masked subtraction at the end suffices.
 *
 * SQL integers and numerics are encoded as signed values: v >= 0 is v, v < 0 is
 * l - |v|, and |v| must not exceed (l-1)/2, so every field element decodes back to
 * exactly one signed value (above (l-1)/2 means negative, magnitude l - x).
 */
#include "math/field_p.h"

#include <sodium.h>
#include <string.h>

#include "math/random.h"

typedef unsigned __int128 u128;

/* l, little-endian limbs */
#define L0 UINT64_C(0x5812631a5cf5d3ed)
#define L1 UINT64_C(0x14def9dea2f79cd6)
#define L2 UINT64_C(0x0000000000000000)
#define L3 UINT64_C(0x1000000000000000)

static const uint64_t L[4] = {L0, L1, L2, L3};

/* -l^-1 mod 2^64 */
#define N0 UINT64_C(0xd2b51da312547e1b)

/* R^2 mod l, to enter Montgomery form */
static const uint64_t R2[4] = {
	UINT64_C(0xa40611e3449c0f01), UINT64_C(0xd00e1ba768859347),
	UINT64_C(0xceec73d217f5be65), UINT64_C(0x0399411b7c309a3d)
};

/* (l-1)/2, the largest magnitude of a signed value */
static const uint64_t HALF[4] = {
	UINT64_C(0x2c09318d2e7ae9f6), UINT64_C(0x0a6f7cef517bce6b),
	UINT64_C(0x0000000000000000), UINT64_C(0x0800000000000000)
};

/* l - 2, the Fermat inversion exponent (public) */
static const uint64_t LM2[4] = {
	UINT64_C(0x5812631a5cf5d3eb), UINT64_C(0x14def9dea2f79cd6),
	UINT64_C(0x0000000000000000), UINT64_C(0x1000000000000000)
};

static const uint64_t ONE[4] = {1, 0, 0, 0};

const fp_t	fp_zero = {{0, 0, 0, 0}};

/* R mod l */
const fp_t	fp_one = {{
		UINT64_C(0xd6ec31748d98951d), UINT64_C(0xc6ef5bf4737dcf70),
		UINT64_C(0xfffffffffffffffe), UINT64_C(0x0fffffffffffffff)
}};

/* Keep the compiler from turning mask arithmetic back into branches. */
static inline uint64_t
value_barrier(uint64_t x)
{
	__asm__("" : "+r"(x));
	return x;
}

/* all-ones if bit is 1, zero if 0 (bit must be 0 or 1) */
static inline uint64_t
bit_to_mask(uint64_t bit)
{
	return value_barrier(0 - bit);
}

/* r = mask ? a : b, limb-wise */
static inline void
select4(uint64_t r[4], uint64_t mask, const uint64_t a[4], const uint64_t b[4])
{
	r[0] = (a[0] & mask) | (b[0] & ~mask);
	r[1] = (a[1] & mask) | (b[1] & ~mask);
	r[2] = (a[2] & mask) | (b[2] & ~mask);
	r[3] = (a[3] & mask) | (b[3] & ~mask);
}

/* d = a - b; returns the final borrow (1 if a < b) */
static inline uint64_t
sub4(uint64_t d[4], const uint64_t a[4], const uint64_t b[4])
{
	u128		c;

	c = (u128) a[0] - b[0];
	d[0] = (uint64_t) c;
	c = (u128) a[1] - b[1] - ((uint64_t) (c >> 64) & 1);
	d[1] = (uint64_t) c;
	c = (u128) a[2] - b[2] - ((uint64_t) (c >> 64) & 1);
	d[2] = (uint64_t) c;
	c = (u128) a[3] - b[3] - ((uint64_t) (c >> 64) & 1);
	d[3] = (uint64_t) c;
	return (uint64_t) (c >> 64) & 1;
}

/* d = a - l; returns the final borrow (1 if a < l) */
static inline uint64_t
sub_l(uint64_t d[4], const uint64_t a[4])
{
	return sub4(d, a, L);
}

/* r = t mod l for t < 2l */
static inline void
reduce_once(uint64_t r[4], const uint64_t t[4])
{
	uint64_t	d[4];
	uint64_t	lt = sub_l(d, t);

	select4(r, bit_to_mask(lt), t, d);
}

/*
 * One CIOS round: t = (t + a*bi + m*l) / 2^64 with m chosen to clear the low limb.
 * With t < 2l on entry the sum fits in five limbs and t < 2l again on exit.  The
 * products by L2 = 0 and L3 = 2^60 fold into shifts.
 */
#define MONT_ROUND(bi) \
	do { \
		uint64_t	b_ = (bi); \
		uint64_t	t4_, \
					m_; \
		u128		c_; \
		c_ = (u128) a0 * b_ + t0; \
		t0 = (uint64_t) c_; \
		c_ = (u128) a1 * b_ + t1 + (uint64_t) (c_ >> 64); \
		t1 = (uint64_t) c_; \
		c_ = (u128) a2 * b_ + t2 + (uint64_t) (c_ >> 64); \
		t2 = (uint64_t) c_; \
		c_ = (u128) a3 * b_ + t3 + (uint64_t) (c_ >> 64); \
		t3 = (uint64_t) c_; \
		t4_ = (uint64_t) (c_ >> 64); \
		m_ = t0 * N0; \
		c_ = (u128) m_ * L0 + t0; \
		c_ = (u128) m_ * L1 + t1 + (uint64_t) (c_ >> 64); \
		t0 = (uint64_t) c_; \
		c_ = (u128) m_ * L2 + t2 + (uint64_t) (c_ >> 64); \
		t1 = (uint64_t) c_; \
		c_ = (u128) m_ * L3 + t3 + (uint64_t) (c_ >> 64); \
		t2 = (uint64_t) c_; \
		t3 = t4_ + (uint64_t) (c_ >> 64); \
	} while (0)

/* r = a*b/R mod l, for a, b < l; r may alias a or b */
static inline void
mont_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
	uint64_t	a0 = a[0],
				a1 = a[1],
				a2 = a[2],
				a3 = a[3];
	uint64_t	t0 = 0,
				t1 = 0,
				t2 = 0,
				t3 = 0;
	uint64_t	t[4];

	MONT_ROUND(b[0]);
	MONT_ROUND(b[1]);
	MONT_ROUND(b[2]);
	MONT_ROUND(b[3]);
	t[0] = t0;
	t[1] = t1;
	t[2] = t2;
	t[3] = t3;
	reduce_once(r, t);
}

/* byte-order independent; gcc turns these into plain loads and stores */
static inline uint64_t
load64_le(const uint8_t *p)
{
	return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 |
		(uint64_t) p[3] << 24 | (uint64_t) p[4] << 32 | (uint64_t) p[5] << 40 |
		(uint64_t) p[6] << 48 | (uint64_t) p[7] << 56;
}

static inline void
store64_le(uint8_t *p, uint64_t x)
{
	p[0] = (uint8_t) x;
	p[1] = (uint8_t) (x >> 8);
	p[2] = (uint8_t) (x >> 16);
	p[3] = (uint8_t) (x >> 24);
	p[4] = (uint8_t) (x >> 32);
	p[5] = (uint8_t) (x >> 40);
	p[6] = (uint8_t) (x >> 48);
	p[7] = (uint8_t) (x >> 56);
}

static inline void
load_le(uint64_t r[4], const uint8_t in[FP_BYTES])
{
	r[0] = load64_le(in);
	r[1] = load64_le(in + 8);
	r[2] = load64_le(in + 16);
	r[3] = load64_le(in + 24);
}

static inline void
store_le(uint8_t out[FP_BYTES], const uint64_t a[4])
{
	store64_le(out, a[0]);
	store64_le(out + 8, a[1]);
	store64_le(out + 16, a[2]);
	store64_le(out + 24, a[3]);
}

static inline void
and_mask4(uint64_t x[4], uint64_t mask)
{
	x[0] &= mask;
	x[1] &= mask;
	x[2] &= mask;
	x[3] &= mask;
}

/* r = mask ? -a : a */
static inline void
cond_neg(fp_t *r, const fp_t *a, uint64_t mask)
{
	fp_t		n;

	fp_neg(&n, a);
	select4(r->v, mask, n.v, a->v);
}

bool
fp_from_bytes(fp_t *r, const uint8_t in[FP_BYTES])
{
	uint64_t	x[4];
	uint64_t	d[4];
	uint64_t	ok;

	load_le(x, in);
	ok = sub_l(d, x);			/* borrow means x < l */
	and_mask4(x, bit_to_mask(ok));
	mont_mul(r->v, x, R2);
	return (bool) ok;
}

void
fp_to_bytes(uint8_t out[FP_BYTES], const fp_t *a)
{
	uint64_t	x[4];

	mont_mul(x, a->v, ONE);
	store_le(out, x);
}

void
fp_from_u64(fp_t *r, uint64_t v)
{
	uint64_t	x[4] = {v, 0, 0, 0};

	mont_mul(r->v, x, R2);
}

void
fp_from_i64(fp_t *r, int64_t v)
{
	uint64_t	u = (uint64_t) v;
	uint64_t	neg = bit_to_mask(u >> 63);
	fp_t		m;

	/* |v| as unsigned, which also covers INT64_MIN */
	fp_from_u64(&m, (u ^ neg) - neg);
	cond_neg(r, &m, neg);
}

bool
fp_from_signed(fp_t *r, const uint8_t mag[FP_BYTES], bool negative)
{
	uint64_t	x[4];
	uint64_t	d[4];
	uint64_t	ok;
	fp_t		m;

	load_le(x, mag);
	ok = 1 ^ sub4(d, HALF, x);	/* no borrow means x <= (l-1)/2 */
	and_mask4(x, bit_to_mask(ok));
	mont_mul(m.v, x, R2);
	cond_neg(r, &m, bit_to_mask((uint64_t) negative & 1));
	return (bool) ok;
}

void
fp_to_signed(uint8_t mag[FP_BYTES], bool *negative, const fp_t *a)
{
	uint64_t	x[4];
	uint64_t	n[4];
	uint64_t	d[4];
	uint64_t	neg;

	mont_mul(x, a->v, ONE);
	neg = sub4(d, HALF, x);		/* borrow means x > (l-1)/2 */
	sub4(n, L, x);
	select4(x, bit_to_mask(neg), n, x);
	store_le(mag, x);
	*negative = (bool) neg;
}

void
fp_add(fp_t *r, const fp_t *a, const fp_t *b)
{
	uint64_t	s[4];
	u128		c;

	/* a + b < 2l < 2^254: no carry out of the top limb */
	c = (u128) a->v[0] + b->v[0];
	s[0] = (uint64_t) c;
	c = (u128) a->v[1] + b->v[1] + (uint64_t) (c >> 64);
	s[1] = (uint64_t) c;
	c = (u128) a->v[2] + b->v[2] + (uint64_t) (c >> 64);
	s[2] = (uint64_t) c;
	s[3] = a->v[3] + b->v[3] + (uint64_t) (c >> 64);
	reduce_once(r->v, s);
}

void
fp_sub(fp_t *r, const fp_t *a, const fp_t *b)
{
	uint64_t	d[4];
	uint64_t	mask;
	u128		c;

	/* on borrow add l back; the final carry out is the borrow and is dropped */
	mask = bit_to_mask(sub4(d, a->v, b->v));
	c = (u128) d[0] + (L0 & mask);
	r->v[0] = (uint64_t) c;
	c = (u128) d[1] + (L1 & mask) + (uint64_t) (c >> 64);
	r->v[1] = (uint64_t) c;
	c = (u128) d[2] + (L2 & mask) + (uint64_t) (c >> 64);
	r->v[2] = (uint64_t) c;
	r->v[3] = d[3] + (L3 & mask) + (uint64_t) (c >> 64);
}

void
fp_neg(fp_t *r, const fp_t *a)
{
	fp_sub(r, &fp_zero, a);
}

void
fp_mul(fp_t *r, const fp_t *a, const fp_t *b)
{
	mont_mul(r->v, a->v, b->v);
}

void
fp_inv(fp_t *r, const fp_t *a)
{
	fp_t		tab[16];
	fp_t		acc;
	int			i,
				k;

	/* fixed 4-bit window over the public exponent l - 2, top nibble first */
	tab[0] = fp_one;
	tab[1] = *a;
	for (i = 2; i < 16; i++)
		mont_mul(tab[i].v, tab[i - 1].v, a->v);

	acc = tab[LM2[3] >> 60];
	for (i = 62; i >= 0; i--)
	{
		unsigned	nib = (unsigned) (LM2[i / 16] >> (4 * (i % 16))) & 0xf;

		for (k = 0; k < 4; k++)
			mont_mul(acc.v, acc.v, acc.v);
		if (nib != 0)
			mont_mul(acc.v, acc.v, tab[nib].v);
	}
	*r = acc;
	sodium_memzero(tab, sizeof(tab));
	sodium_memzero(&acc, sizeof(acc));
}

void
fp_batch_inv(fp_t *r, const fp_t *a, int m, fp_t *tmp)
{
	fp_t		inv;
	fp_t		ai;
	int			i;

	if (m <= 0)
		return;

	/* tmp[i] = a[0] * ... * a[i] */
	tmp[0] = a[0];
	for (i = 1; i < m; i++)
		fp_mul(&tmp[i], &tmp[i - 1], &a[i]);

	fp_inv(&inv, &tmp[m - 1]);
	for (i = m - 1; i > 0; i--)
	{
		ai = a[i];				/* r may alias a */
		fp_mul(&r[i], &inv, &tmp[i - 1]);
		fp_mul(&inv, &inv, &ai);
	}
	r[0] = inv;
	sodium_memzero(tmp, (size_t) m * sizeof(fp_t));
	sodium_memzero(&inv, sizeof(inv));
	sodium_memzero(&ai, sizeof(ai));
}

bool
fp_is_zero(const fp_t *a)
{
	uint64_t	x = a->v[0] | a->v[1] | a->v[2] | a->v[3];

	return (bool) (1 ^ (value_barrier(x | (0 - x)) >> 63));
}

bool
fp_equal(const fp_t *a, const fp_t *b)
{
	uint64_t	x = (a->v[0] ^ b->v[0]) | (a->v[1] ^ b->v[1]) |
		(a->v[2] ^ b->v[2]) | (a->v[3] ^ b->v[3]);

	return (bool) (1 ^ (value_barrier(x | (0 - x)) >> 63));
}

void
fp_random(fp_t *r)
{
	fp_random_from(r, ssn_random_bytes);
}

void
fp_random_from(fp_t *r, void (*fill) (void *buf, size_t len))
{
	uint8_t		buf[2 * FP_BYTES];
	uint64_t	x[4];
	uint64_t	d[4];
	int			i;

	/*
	 * Each 253-bit candidate is < l with probability ~1/2.  An accepted candidate
	 * is used directly as the Montgomery representation: x -> x/R is a bijection
	 * on [0, l), so the element is still uniform, and no conversion is needed.
	 */
	for (;;)
	{
		fill(buf, sizeof(buf));
		for (i = 0; i < 2; i++)
		{
			buf[FP_BYTES * i + FP_BYTES - 1] &= 0x1f;
			load_le(x, buf + FP_BYTES * i);
			if (sub_l(d, x))
			{
				memcpy(r->v, x, sizeof(x));
				sodium_memzero(buf, sizeof(buf));
				sodium_memzero(x, sizeof(x));
				sodium_memzero(d, sizeof(d));
				return;
			}
		}
	}
}
