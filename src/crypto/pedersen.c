/*
 * pedersen.c - Pedersen commitments over ristretto255; see pedersen.h.
 *
 * Costs (libsodium 1.0.18, which has no multi-scalar multiplication and exposes
 * points only as encodings): a variable-base multiplication ~66 us, a base-point
 * one ~22 us, an addition ~19 us (it decodes two points and encodes one, each a
 * field exponentiation), a validity check ~6 us.  Additions are thus not
 * cheap enough for hand-made multi-scalar methods (Pippenger, double-and-add by the
 * small x) to beat one multiplication per point; Horner over the points
 * ((C_{k-1} x + C_{k-2}) x + ...) and the sum of x^i C_i cost the same (k-1
 * multiplications and additions), and the latter serves the batch check as well,
 * where the scalars are sums over several shares of one sharing: a batch costs one
 * multiplication and addition per distinct commitment point, plus one commitment
 * for the weighted sums of y and t.
 *
 * Encodings: libsodium 1.0.18 ignores bit 255 of a ristretto255 encoding (its
 * canonicity check masks it), so P and P with that bit set both decode; RFC 9496
 * requires the bit to be 0, and every untrusted point here is checked for it.
 *
 * Identity: crypto_scalarmult_ristretto255{,_base} return -1 when the product is
 * the identity (after writing its encoding, 32 zero bytes), and the former also for
 * an invalid input point.  crypto_core_ristretto255_is_valid_point and _add accept
 * the identity.  Products with public scalars and untrusted points tell the two
 * cases apart by checking the point.  Products with secret scalars on the fixed
 * generators (commitments s G + t H, zero-commitment checks t H) do not use
 * libsodium: ristretto_base.c adds precomputed multiples of G and H picked in
 * constant time, about three times faster than libsodium's two multiplications
 * and one addition, with the same encodings.
 */
#include "crypto/pedersen.h"
#include "crypto/commit_pool.h"
#include "crypto/ristretto_base.h"
#include "crypto/ristretto_msm.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "math/random.h"
#include "math/shamir.h"

#define PT PEDERSEN_POINT_BYTES
/* from this many commitments on, the multi-scalar multiplication is faster */
#define MSM_MIN_POINTS 4

static const char h_tag[] = "ssn/pedersen/H/v1";

static uint8_t gen_h[PT];		/* H */
static RistrettoBaseTable *table_g;	/* multiples of G and of H */
static RistrettoBaseTable *table_h;
static bool gen_ready;

/* results of libsodium calls that cannot fail on the points we give them */
static inline void
must(int rc)
{
	if (rc != 0)
		abort();
}

static void
generators_init(void)
{
	static const uint8_t one[FP_BYTES] = {1};
	uint8_t		hash[crypto_hash_sha512_BYTES];
	uint8_t		g[PT];

	if (gen_ready)
		return;
	must(crypto_hash_sha512(hash, (const uint8_t *) h_tag, sizeof(h_tag) - 1));
	must(crypto_core_ristretto255_from_hash(gen_h, hash));
	must(crypto_scalarmult_ristretto255_base(g, one));
	/* fixed-base tables for commitments (built once per process, about 5 ms) */
	table_g = ristretto_base_table(g);
	table_h = ristretto_base_table(gen_h);
	if (table_g == NULL || table_h == NULL)
		abort();
	gen_ready = true;
}

const uint8_t *
pedersen_generator_h(void)
{
	generators_init();
	return gen_h;
}

/* out = s G + t H, constant-time in s and t (fixed-base tables, ristretto_base.c) */
static void
commit_one(uint8_t out[PT], const fp_t *s, const fp_t *t)
{
	uint8_t		sb[FP_BYTES],
				tb[FP_BYTES];

	fp_to_bytes(sb, s);
	fp_to_bytes(tb, t);
	ristretto_base_mul2(out, table_g, sb, table_h, tb);
	sodium_memzero(sb, sizeof(sb));
	sodium_memzero(tb, sizeof(tb));
}

/* bit 255 clear: the part of canonicity libsodium 1.0.18 does not check */
static inline bool
top_bit_clear(const uint8_t *p)
{
	return (p[PT - 1] & 0x80) == 0;
}

/*
 * acc (+)= e P for a public scalar e and an untrusted point P; *have says whether
 * acc holds a term yet.  False if P is not a valid encoding.
 */
static bool
accumulate(uint8_t acc[PT], bool *have, const uint8_t *p, const fp_t *e)
{
	uint8_t		term[PT],
				eb[FP_BYTES];

	if (!top_bit_clear(p))
		return false;
	if (fp_equal(e, &fp_one))
	{
		if (!crypto_core_ristretto255_is_valid_point(p))
			return false;
		memcpy(term, p, PT);
	}
	else
	{
		fp_to_bytes(eb, e);
		if (crypto_scalarmult_ristretto255(term, eb, p) != 0)
		{
			/* an invalid point, or the product is the identity */
			if (!crypto_core_ristretto255_is_valid_point(p))
				return false;
			memset(term, 0, PT);
		}
	}
	if (!*have)
	{
		memcpy(acc, term, PT);
		*have = true;
	}
	else if (crypto_core_ristretto255_add(acc, acc, term) != 0)
		return false;
	return true;
}

void
pedersen_eval(fp_t *r, const fp_t *coeffs, int k, uint8_t x)
{
	fp_t		fx,
				acc = fp_zero;
	int			i;

	fp_from_u64(&fx, x);
	for (i = k - 1; i >= 0; i--)
	{
		fp_mul(&acc, &acc, &fx);
		fp_add(&acc, &acc, &coeffs[i]);
	}
	*r = acc;
	sodium_memzero(&acc, sizeof(acc));
}

void
pedersen_commit_with_blind(uint8_t *points, const fp_t *coeffs, const fp_t *blind, int k)
{
	uint8_t		sb[SHARE_POINTS_MAX * FP_BYTES],
				tb[SHARE_POINTS_MAX * FP_BYTES];

	generators_init();
	for (int i = 0; i < k; i++)
	{
		fp_to_bytes(sb + i * FP_BYTES, &coeffs[i]);
		fp_to_bytes(tb + i * FP_BYTES, &blind[i]);
	}
	ristretto_base_mul2_many(points, table_g, sb, table_h, tb, k);
	sodium_memzero(sb, (size_t) k * FP_BYTES);
	sodium_memzero(tb, (size_t) k * FP_BYTES);
}

void
pedersen_commit_poly(uint8_t *points, fp_t *blind, const fp_t *coeffs, int k)
{
	int			i;

	for (i = 0; i < k; i++)
		fp_random(&blind[i]);
	pedersen_commit_with_blind(points, coeffs, blind, k);
}

bool
pedersen_pool_start(int threads)
{
	generators_init();
	return commit_pool_start(threads, table_g, table_h);
}

void
pedersen_share_poly(uint8_t *points, fp_t *coeffs, fp_t *blind, int k)
{
	CommitUnit	u[SHARE_POINTS_MAX];
	CommitUnit	c0;
	int			got,
				own;

	generators_init();
	got = k > 1 ? commit_pool_take(COMMIT_UNIT_PAIR, u, k - 1) : 0;
	own = k - got;				/* coefficients 0 .. own - 1 made here */
	if (own == 1 && commit_pool_take(COMMIT_UNIT_BLIND, &c0, 1) == 1)
	{
		/* C_0 = s G + b H: b H is the blinding unit's */
		uint8_t		s[FP_BYTES];

		fp_to_bytes(s, &coeffs[0]);
		ristretto_base_mul_add(points, table_g, s, &c0.sum, 1);
		blind[0] = c0.b;
		sodium_memzero(s, sizeof(s));
		sodium_memzero(&c0, sizeof(c0));
	}
	else
	{
		for (int i = 1; i < own; i++)
			fp_random(&coeffs[i]);
		pedersen_commit_poly(points, blind, coeffs, own);
	}
	for (int i = own; i < k; i++)
	{
		coeffs[i] = u[i - own].a;
		blind[i] = u[i - own].b;
		memcpy(points + (size_t) i * PT, u[i - own].point, PT);
	}
	sodium_memzero(u, sizeof(CommitUnit) * (size_t) got);
}

bool
pedersen_verify_share(const uint8_t *points, int k, uint8_t x,
					  const fp_t *y, const fp_t *t)
{
	uint8_t		lhs[PT],
				rhs[PT];
	fp_t		e,
				fx;
	bool		have = false;
	bool		ok;
	int			i;

	if (points == NULL || k < 1 || k > SHARE_POINTS_MAX || x == 0)
		return false;
	generators_init();

	/* rhs = sum x^i C_i */
	fp_from_u64(&fx, x);
	e = fp_one;
	for (i = 0; i < k; i++)
	{
		if (!accumulate(rhs, &have, points + (size_t) i * PT, &e))
			return false;
		fp_mul(&e, &e, &fx);
	}
	commit_one(lhs, y, t);
	ok = crypto_verify_32(lhs, rhs) == 0;
	sodium_memzero(lhs, sizeof(lhs));
	return ok;
}

/* a 128-bit random weight; nonzero except with probability 2^-128 */
static void
random_weight(fp_t *rho)
{
	uint8_t		b[FP_BYTES] = {0};

	ssn_random_bytes(b, 16);	/* pooled: one per share checked */
	(void) fp_from_bytes(rho, b);	/* < 2^128 < l: always canonical */
	sodium_memzero(b, sizeof(b));
}

/* order shares by their commitments, so that shares of one sharing are adjacent */
static int
share_points_cmp(const void *a, const void *b)
{
	const PedersenShare *sa = *(const PedersenShare *const *) a;
	const PedersenShare *sb = *(const PedersenShare *const *) b;

	if (sa->k != sb->k)
		return sa->k < sb->k ? -1 : 1;
	if (sa->points == sb->points)
		return 0;
	return memcmp(sa->points, sb->points, (size_t) sa->k * PT);
}

bool
pedersen_verify_batch(const PedersenShare *s, int m)
{
	const PedersenShare **ord;
	fp_t		e[SHARE_POINTS_MAX];
	fp_t		sum_y = fp_zero,
				sum_t = fp_zero,
				rho,
				p,
				fx,
				tmp;
	uint8_t		lhs[PT],
				rhs[PT];
	bool		have = false;
	bool		ok = false;
	int			g,
				j,
				i;
	const uint8_t **mpts = NULL;
	uint8_t    *msc = NULL;
	size_t		npts = 0;

	if (m == 0)
		return true;
	if (m < 0 || s == NULL)
		return false;
	for (j = 0; j < m; j++)
		if (s[j].points == NULL || s[j].k < 1 || s[j].k > SHARE_POINTS_MAX || s[j].x == 0)
			return false;

	ord = malloc(sizeof(*ord) * (size_t) m);
	if (ord == NULL)
	{
		/* no memory to sort: check one by one */
		for (j = 0; j < m; j++)
			if (!pedersen_verify_share(s[j].points, s[j].k, s[j].x, &s[j].y, &s[j].t))
				return false;
		return true;
	}
	for (j = 0; j < m; j++)
		ord[j] = &s[j];
	qsort(ord, (size_t) m, sizeof(*ord), share_points_cmp);
	generators_init();

	/* the public side as one multi-scalar multiplication: the points and their scalars */
	{
		size_t		total = 0;

		for (j = 0; j < m; j++)
			total += (size_t) s[j].k;
		if (total >= MSM_MIN_POINTS)
		{
			mpts = malloc(sizeof(uint8_t *) * total);
			msc = malloc(total * FP_BYTES);
		}
	}
	for (g = 0; g < m; g = j)
	{
		int			k = ord[g]->k;

		/* e_i = sum rho_j x_j^i over the shares j of this sharing */
		for (i = 0; i < k; i++)
			e[i] = fp_zero;
		for (j = g; j < m && share_points_cmp(&ord[g], &ord[j]) == 0; j++)
		{
			random_weight(&rho);
			fp_mul(&tmp, &rho, &ord[j]->y);
			fp_add(&sum_y, &sum_y, &tmp);
			fp_mul(&tmp, &rho, &ord[j]->t);
			fp_add(&sum_t, &sum_t, &tmp);
			fp_from_u64(&fx, ord[j]->x);
			p = rho;
			for (i = 0; i < k; i++)
			{
				fp_add(&e[i], &e[i], &p);
				fp_mul(&p, &p, &fx);
			}
		}
		for (i = 0; i < k; i++)
		{
			if (mpts && msc)
			{
				mpts[npts] = ord[g]->points + (size_t) i * PT;
				fp_to_bytes(msc + npts * FP_BYTES, &e[i]);
				npts++;
			}
			else if (!accumulate(rhs, &have, ord[g]->points + (size_t) i * PT, &e[i]))
				goto done;
		}
	}
	if (mpts && msc && !ristretto_msm(rhs, mpts, msc, FP_BYTES, npts))
		goto done;
	commit_one(lhs, &sum_y, &sum_t);
	ok = crypto_verify_32(lhs, rhs) == 0;

done:
	free(ord);
	free(mpts);
	free(msc);
	sodium_memzero(&sum_y, sizeof(sum_y));
	sodium_memzero(&sum_t, sizeof(sum_t));
	sodium_memzero(&tmp, sizeof(tmp));
	sodium_memzero(lhs, sizeof(lhs));
	return ok;
}

bool
pedersen_verify_openings(int m, const uint8_t *const *c0, const fp_t *s, const fp_t *t)
{
	fp_t		sum_s = fp_zero,
				sum_t = fp_zero,
				rho,
				tmp;
	uint8_t		lhs[PT],
				rhs[PT];
	bool		have = false;
	bool		ok = false;
	int			j;

	if (m == 0)
		return true;
	if (m < 0 || c0 == NULL)
		return false;
	generators_init();
	if (m >= MSM_MIN_POINTS)
	{
		/* many commitments: one multi-scalar multiplication of the public side */
		uint8_t		(*w)[RISTRETTO_MSM_SCALAR_BYTES] = malloc((size_t) m * RISTRETTO_MSM_SCALAR_BYTES);
		bool		msm_ok;

		if (w == NULL)
			goto done;
		for (j = 0; j < m; j++)
		{
			uint8_t		b[FP_BYTES] = {0};

			if (c0[j] == NULL)
			{
				free(w);
				goto done;
			}
			if (j == 0)
				b[0] = 1;
			else
				ssn_random_bytes(b, RISTRETTO_MSM_SCALAR_BYTES);
			memcpy(w[j], b, RISTRETTO_MSM_SCALAR_BYTES);
			(void) fp_from_bytes(&rho, b);
			fp_mul(&tmp, &rho, &s[j]);
			fp_add(&sum_s, &sum_s, &tmp);
			fp_mul(&tmp, &rho, &t[j]);
			fp_add(&sum_t, &sum_t, &tmp);
		}
		msm_ok = ristretto_msm128(rhs, c0, (const uint8_t (*)[RISTRETTO_MSM_SCALAR_BYTES]) w, (size_t) m);
		free(w);
		if (!msm_ok)
			goto done;
	}
	else
		for (j = 0; j < m; j++)
		{
			if (c0[j] == NULL)
				goto done;
			/* the first weight may be 1: any error left is still multiplied by chance */
			if (j == 0)
				rho = fp_one;
			else
				random_weight(&rho);
			fp_mul(&tmp, &rho, &s[j]);
			fp_add(&sum_s, &sum_s, &tmp);
			fp_mul(&tmp, &rho, &t[j]);
			fp_add(&sum_t, &sum_t, &tmp);
			if (!accumulate(rhs, &have, c0[j], &rho))
				goto done;
		}
	commit_one(lhs, &sum_s, &sum_t);
	ok = crypto_verify_32(lhs, rhs) == 0;

done:
	sodium_memzero(&sum_s, sizeof(sum_s));
	sodium_memzero(&sum_t, sizeof(sum_t));
	sodium_memzero(&tmp, sizeof(tmp));
	sodium_memzero(lhs, sizeof(lhs));
	return ok;
}

bool
pedersen_points_add(uint8_t *acc, const uint8_t *d, int k)
{
	uint8_t		sum[SHARE_POINTS_MAX * PT];
	int			i;

	if (k < 0 || k > SHARE_POINTS_MAX)
		return false;
	for (i = 0; i < k; i++)
		if (!top_bit_clear(acc + (size_t) i * PT) || !top_bit_clear(d + (size_t) i * PT) ||
			crypto_core_ristretto255_add(sum + (size_t) i * PT, acc + (size_t) i * PT,
										 d + (size_t) i * PT) != 0)
			return false;
	memcpy(acc, sum, (size_t) k * PT);
	return true;
}

void
pedersen_zero_sharing(fp_t *coeffs, fp_t *blind, uint8_t *points, int k)
{
	if (k < 1)
		return;
	coeffs[0] = fp_zero;
	pedersen_share_poly(points, coeffs, blind, k);
}

bool
pedersen_is_zero_commitment(const uint8_t *d0, const fp_t *blind0)
{
	static const uint8_t zero[FP_BYTES] = {0};
	uint8_t		b[FP_BYTES],
				q[PT];
	bool		ok;

	generators_init();
	fp_to_bytes(b, blind0);
	ristretto_base_mul2(q, table_g, zero, table_h, b);
	ok = crypto_verify_32(q, d0) == 0;
	sodium_memzero(b, sizeof(b));
	return ok;
}
