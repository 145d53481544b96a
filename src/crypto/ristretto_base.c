/*
 * ristretto_base.c - constant-time fixed-base multiplication over ristretto255
 * (see ristretto_base.h).
 *
 * A table holds, for i = 0..63, the multiples 1..8 of 16^i P in affine Niels form
 * (y + x, y - x, 2 d x y).  A scalar is recoded into 64 signed digits in [-8, 8);
 * each digit's multiple is picked by reading all eight entries (no index depends
 * on the scalar), negated by a mask and added with the mixed form of the complete
 * addition.  The table's point is the one representative of P of prime order,
 * so every sum is the prime-order representative of the result; it is made
 * affine by an inversion before it is encoded, so the encoding, which branches,
 * sees only the (public) point itself, nothing of how it was reached.
 */
#include "crypto/ristretto_base.h"
#include "crypto/ristretto_point.h"

#include <stdlib.h>

#include <sodium.h>

/* test/ct: the scalars are secret (undefined to valgrind) until the sum is affine */
#ifdef SSN_CT_TEST
#include <valgrind/memcheck.h>
#define DECLASSIFY(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define DECLASSIFY(p, n) ((void) 0)
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BASE_AVX2
#endif

#define BASE_WINDOWS 64
#define BASE_BATCH 16			/* sums made affine with one inversion */
#define BASE_ENTRIES 8

typedef struct
{
	fe			ypx,
				ymx,
				xy2d;
} niels;

_Static_assert(sizeof(RistrettoAddend) == sizeof(niels), "a RistrettoAddend holds a niels point");

struct RistrettoBaseTable
{
	niels		t[BASE_WINDOWS][BASE_ENTRIES];
};

/* r = a where mask is all ones, unchanged where it is zero */
static inline void
fe_cmov(fe *r, const fe *a, uint64_t mask)
{
	for (int i = 0; i < 5; i++)
		r->v[i] ^= mask & (r->v[i] ^ a->v[i]);
}

/* 1/z = z^(p-2) = (z^((p-5)/8))^8 z^3 (0 for 0) */
static void
fe_invert(fe *r, const fe *z)
{
	fe			t,
				z3;

	fe_pow22523(&t, z);
	fe_sqn(&t, &t, 3);
	fe_sq(&z3, z);
	fe_mul(&z3, &z3, z);
	fe_mul(r, &t, &z3);
}

static void
niels_of(niels *n, const ge *p)
{
	fe			zi,
				x,
				y;

	fe_invert(&zi, &p->Z);
	fe_mul(&x, &p->X, &zi);
	fe_mul(&y, &p->Y, &zi);
	fe_add(&n->ypx, &y, &x);
	fe_sub(&n->ymx, &y, &x);
	fe_mul(&n->xy2d, &x, &y);
	fe_mul(&n->xy2d, &n->xy2d, &fe_d2);
}

/* r = a + b, b affine (the complete formula of ge_add with Z2 = 1) */
static inline void
ge_madd(ge *r, const ge *a, const niels *b)
{
	fe			A,
				B,
				C,
				D;

	fe_sub(&A, &a->Y, &a->X);
	fe_mul(&A, &A, &b->ymx);
	fe_add(&B, &a->Y, &a->X);
	fe_mul(&B, &B, &b->ypx);
	fe_mul(&C, &a->T, &b->xy2d);
	fe_add(&D, &a->Z, &a->Z);
	ge_add_finish(r, &A, &B, &C, &D);
}

/*
 * 3l + 1 (l the group order, l = 1 mod 4): a decoded point P_l + T (T of order
 * dividing 4) times it is P_l + 4 T = P_l.
 */
static const uint8_t to_prime_order[32] = {
	0xc8, 0x7b, 0xe1, 0x16, 0x4f, 0x29, 0x37, 0x08, 0x83, 0xd6, 0xe6, 0xe8, 0x9b, 0xed, 0x9c, 0x3e,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30
};

RistrettoBaseTable *
ristretto_base_table(const uint8_t p[32])
{
	RistrettoBaseTable *tab;
	ge			b,
				acc,
				dec;

	if (!ge_decode(&dec, p))
		return NULL;
	/* public data: plain double-and-add */
	ge_identity(&b);
	for (int bit = 255; bit >= 0; bit--)
	{
		ge_add(&b, &b, &b);
		if ((to_prime_order[bit / 8] >> (bit % 8)) & 1)
			ge_add(&b, &b, &dec);
	}
	tab = malloc(sizeof(RistrettoBaseTable));
	if (tab == NULL)
		return NULL;
	for (int i = 0; i < BASE_WINDOWS; i++)
	{
		acc = b;
		for (int j = 0; j < BASE_ENTRIES; j++)
		{
			niels_of(&tab->t[i][j], &acc);
			ge_add(&acc, &acc, &b);
		}
		for (int d = 0; d < 4; d++)
			ge_add(&b, &b, &b);
	}
	return tab;
}

/* r = -r where neg is 1: swap y + x and y - x, negate 2 d x y */
static inline void
niels_cneg(niels *r, uint32_t neg)
{
	niels		m;

	m.ypx = r->ymx;
	m.ymx = r->ypx;
	fe_neg(&m.xy2d, &r->xy2d);
	fe_cmov(&r->ypx, &m.ypx, -(uint64_t) neg);
	fe_cmov(&r->ymx, &m.ymx, -(uint64_t) neg);
	fe_cmov(&r->xy2d, &m.xy2d, -(uint64_t) neg);
	sodium_memzero(&m, sizeof(m));
}

/* all ones where entry j + 1 is |e|'s, else zero */
static inline uint64_t
digit_mask(int32_t mag, int j)
{
	return -(uint64_t) ((((uint32_t) mag ^ (uint32_t) (j + 1)) - 1) >> 31);
}

/* the entry for digit e in [-8, 8) of one window, read without a secret index */
static inline void
select_digit(niels *r, const niels row[BASE_ENTRIES], int32_t e)
{
	uint32_t	neg = (uint32_t) e >> 31;
	int32_t		mag = e * (1 - 2 * (int32_t) neg);

	memset(r, 0, sizeof(*r));
	r->ypx.v[0] = 1;			/* the identity: (1, 1, 0) */
	r->ymx.v[0] = 1;
	for (int j = 0; j < BASE_ENTRIES; j++)
	{
		uint64_t	mask = digit_mask(mag, j);

		fe_cmov(&r->ypx, &row[j].ypx, mask);
		fe_cmov(&r->ymx, &row[j].ymx, mask);
		fe_cmov(&r->xy2d, &row[j].xy2d, mask);
	}
	niels_cneg(r, neg);
}

#ifdef BASE_AVX2
/* the same with 256-bit masks: an entry is 15 words, read as 4 + 4 + 4 + 2 + 1 */
__attribute__((target("avx2")))
static inline void
select_digit_avx2(niels *r, const niels row[BASE_ENTRIES], int32_t e)
{
	uint32_t	neg = (uint32_t) e >> 31;
	int32_t		mag = e * (1 - 2 * (int32_t) neg);
	uint64_t   *w = (uint64_t *) r;
	__m256i		a0 = _mm256_set_epi64x(0, 0, 0, 1),	/* the identity: (1, 1, 0) */
				a1 = _mm256_set_epi64x(0, 0, 1, 0),
				a2 = _mm256_setzero_si256();
	__m128i		a3 = _mm_setzero_si128();
	uint64_t	a4 = 0;

	for (int j = 0; j < BASE_ENTRIES; j++)
	{
		uint64_t	mask = digit_mask(mag, j);
		__m256i		m = _mm256_set1_epi64x((long long) mask);
		const uint64_t *src = (const uint64_t *) &row[j];

		a0 = _mm256_xor_si256(a0, _mm256_and_si256(m, _mm256_xor_si256(a0, _mm256_loadu_si256((const __m256i *) src))));
		a1 = _mm256_xor_si256(a1, _mm256_and_si256(m, _mm256_xor_si256(a1, _mm256_loadu_si256((const __m256i *) (src + 4)))));
		a2 = _mm256_xor_si256(a2, _mm256_and_si256(m, _mm256_xor_si256(a2, _mm256_loadu_si256((const __m256i *) (src + 8)))));
		a3 = _mm_xor_si128(a3, _mm_and_si128(_mm256_castsi256_si128(m),
											 _mm_xor_si128(a3, _mm_loadu_si128((const __m128i *) (src + 12)))));
		a4 ^= mask & (a4 ^ src[14]);
	}
	_mm256_storeu_si256((__m256i *) w, a0);
	_mm256_storeu_si256((__m256i *) (w + 4), a1);
	_mm256_storeu_si256((__m256i *) (w + 8), a2);
	_mm_storeu_si128((__m128i *) (w + 12), a3);
	w[14] = a4;
	niels_cneg(r, neg);
}
#endif

/* 64 signed radix-16 digits in [-8, 8), the last one small */
static void
recode(int32_t e[BASE_WINDOWS], const uint8_t s[32])
{
	int32_t		carry = 0;

	for (int i = 0; i < 32; i++)
	{
		e[2 * i] = s[i] & 15;
		e[2 * i + 1] = (s[i] >> 4) & 15;
	}
	for (int i = 0; i < BASE_WINDOWS - 1; i++)
	{
		e[i] += carry;
		carry = (e[i] + 8) >> 4;
		e[i] -= carry * 16;
	}
	e[BASE_WINDOWS - 1] += carry;
}

/* acc = a A (+ b B where tb is not NULL) (+ P where add is not NULL), in projective coordinates */
static inline __attribute__((always_inline)) void
accumulate_with(void (*select) (niels *, const niels *, int32_t), ge *acc,
				const RistrettoBaseTable *ta, const uint8_t a[32],
				const RistrettoBaseTable *tb, const uint8_t *b, const niels *add)
{
	int32_t		ea[BASE_WINDOWS],
				eb[BASE_WINDOWS];
	niels		n;

	recode(ea, a);
	if (tb != NULL)
		recode(eb, b);
	ge_identity(acc);
	if (add != NULL)
		ge_madd(acc, acc, add);
	for (int i = 0; i < BASE_WINDOWS; i++)
	{
		select(&n, ta->t[i], ea[i]);
		ge_madd(acc, acc, &n);
		if (tb != NULL)
		{
			select(&n, tb->t[i], eb[i]);
			ge_madd(acc, acc, &n);
		}
	}
	sodium_memzero(ea, sizeof(ea));
	sodium_memzero(eb, sizeof(eb));
	sodium_memzero(&n, sizeof(n));
}

static void
accumulate_portable(ge *acc, const RistrettoBaseTable *ta, const uint8_t a[32],
					const RistrettoBaseTable *tb, const uint8_t *b, const niels *add)
{
	accumulate_with(select_digit, acc, ta, a, tb, b, add);
}

#ifdef BASE_AVX2
__attribute__((target("avx2")))
static void
accumulate_avx2(ge *acc, const RistrettoBaseTable *ta, const uint8_t a[32],
				const RistrettoBaseTable *tb, const uint8_t *b, const niels *add)
{
	accumulate_with(select_digit_avx2, acc, ta, a, tb, b, add);
}
#endif

static bool portable_only = false;

void
ristretto_base_use_portable(bool on)
{
	portable_only = on;
}

/* the table reads with AVX2 where the CPU has it, else the portable ones */
static void
accumulate(ge *acc, const RistrettoBaseTable *ta, const uint8_t a[32],
		   const RistrettoBaseTable *tb, const uint8_t *b, const niels *add)
{
#ifdef BASE_AVX2
	if (!portable_only && __builtin_cpu_supports("avx2"))
	{
		accumulate_avx2(acc, ta, a, tb, b, add);
		return;
	}
#endif
	accumulate_portable(acc, ta, a, tb, b, add);
}

/*
 * p made affine with zi = 1/Z; keep (if not NULL) receives it in the form an
 * addition takes; out (if not NULL) its encoding, which branches: only a public
 * point (a commitment) is encoded, a point kept secret (a blinding b H) is not
 */
static void
encode_affine(uint8_t *out, niels *keep, ge *p, const fe *zi)
{
	fe_mul(&p->X, &p->X, zi);
	fe_mul(&p->Y, &p->Y, zi);
	p->Z = fe_one;
	fe_mul(&p->T, &p->X, &p->Y);
	if (keep != NULL)
	{
		fe_add(&keep->ypx, &p->Y, &p->X);
		fe_sub(&keep->ymx, &p->Y, &p->X);
		fe_mul(&keep->xy2d, &p->T, &fe_d2);
	}
	if (out != NULL)
	{
		DECLASSIFY(p, sizeof(*p));
		ge_encode(out, p);
	}
}

/* out[j] = a_j A (+ b_j B) (+ add_j), m of them, made affine in batches sharing one inversion */
static void
mul_many(uint8_t *out, niels *keep, const RistrettoBaseTable *ta, const uint8_t *a,
		 const RistrettoBaseTable *tb, const uint8_t *b, const niels *add, int m)
{
	ge			acc[BASE_BATCH];
	fe			prod[BASE_BATCH],
				inv,
				zi;

	for (int off = 0; off < m; off += BASE_BATCH)
	{
		int			c = m - off < BASE_BATCH ? m - off : BASE_BATCH;

		for (int j = 0; j < c; j++)
			accumulate(&acc[j], ta, a + 32 * (off + j), tb, tb != NULL ? b + 32 * (off + j) : NULL,
					   add != NULL ? &add[off + j] : NULL);
		/* one inversion for all (Montgomery): 1/Z_j = prod_{j-1} / prod_j */
		prod[0] = acc[0].Z;
		for (int j = 1; j < c; j++)
			fe_mul(&prod[j], &prod[j - 1], &acc[j].Z);
		fe_invert(&inv, &prod[c - 1]);
		for (int j = c - 1; j > 0; j--)
		{
			fe_mul(&zi, &inv, &prod[j - 1]);
			fe_mul(&inv, &inv, &acc[j].Z);
			encode_affine(out != NULL ? out + 32 * (off + j) : NULL, keep != NULL ? &keep[off + j] : NULL,
						  &acc[j], &zi);
		}
		encode_affine(out != NULL ? out + 32 * off : NULL, keep != NULL ? &keep[off] : NULL, &acc[0], &inv);
	}
	sodium_memzero(acc, sizeof(acc));
	sodium_memzero(prod, sizeof(prod));
	sodium_memzero(&inv, sizeof(inv));
	sodium_memzero(&zi, sizeof(zi));
}

void
ristretto_base_mul2_many(uint8_t *out, const RistrettoBaseTable *ta, const uint8_t *a,
						 const RistrettoBaseTable *tb, const uint8_t *b, int m)
{
	mul_many(out, NULL, ta, a, tb, b, NULL, m);
}

void
ristretto_base_mul2_keep(uint8_t *out, RistrettoAddend *keep, const RistrettoBaseTable *ta,
						 const uint8_t *a, const RistrettoBaseTable *tb, const uint8_t *b, int m)
{
	mul_many(out, (niels *) keep, ta, a, tb, b, NULL, m);
}

void
ristretto_base_mul_keep(uint8_t *out, RistrettoAddend *keep, const RistrettoBaseTable *ta,
						const uint8_t *a, int m)
{
	mul_many(out, (niels *) keep, ta, a, NULL, NULL, NULL, m);
}

void
ristretto_base_mul_add(uint8_t *out, const RistrettoBaseTable *ta, const uint8_t *a,
					   const RistrettoAddend *p, int m)
{
	mul_many(out, NULL, ta, a, NULL, NULL, (const niels *) p, m);
}

void
ristretto_base_mul2(uint8_t out[32], const RistrettoBaseTable *ta, const uint8_t a[32],
					const RistrettoBaseTable *tb, const uint8_t b[32])
{
	ristretto_base_mul2_many(out, ta, a, tb, b, 1);
}
