/*
 * shamir.c - Shamir secret sharing; see shamir.h.
 *
 * Byte strings are processed in blocks so that the random coefficients of a block
 * stay in cache while all n shares are evaluated from them (Horner's rule, one
 * fused region kernel call per share, writing each share byte once).  The
 * coefficients of a whole value come from one keystream under a fresh key, and
 * are wiped when the split is done.
 */
#include "math/shamir.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "math/gf256.h"
#include "math/random.h"

/*
 * The random coefficients of a block live in one buffer per process, allocated on
 * first use with sodium_malloc (locked in memory, guard pages) and wiped after
 * every split: a sodium_malloc per split costs ~40 us of system calls, more than
 * splitting 40 KB.  A block holds COEF_BYTES / degree bytes of secret, at most
 * BLOCK_MAX, so that its coefficients and secret stay in the L2 cache.
 */
#define COEF_BYTES (64 * 1024)
#define BLOCK_MAX (32 * 1024)

static uint8_t *coef_buf;

/*
 * When the n shares together outgrow the L3 cache, they are written with
 * non-temporal stores: storing past the caches saves reading each line in first
 * (64 MiB, k=3, n=5: +8%).  Below that, the caches win (1 MiB: -15%).
 */
#define NT_MIN_OUTPUT ((size_t) 32 << 20)

void
shamir_lagrange_gf256(const uint8_t *xs, int m, uint8_t at, uint8_t *lambda)
{
	int			i,
				j;

	for (i = 0; i < m; i++)
	{
		uint8_t		num = 1,
					den = 1;

		for (j = 0; j < m; j++)
		{
			if (j == i)
				continue;
			/* (at - x_j) / (x_i - x_j); subtraction is XOR */
			num = gf256_mul(num, at ^ xs[j]);
			den = gf256_mul(den, xs[i] ^ xs[j]);
		}
		lambda[i] = gf256_mul(num, gf256_inv(den));
	}
}

void
shamir_lagrange_fp(const uint8_t *xs, int m, uint8_t at, fp_t *lambda)
{
	fp_t		fx[SHARE_POINTS_MAX];
	fp_t		num[SHARE_POINTS_MAX];
	fp_t		den[SHARE_POINTS_MAX];
	fp_t		tmp[SHARE_POINTS_MAX];
	fp_t		fat,
				d;
	int			i,
				j;

	fp_from_u64(&fat, at);
	for (i = 0; i < m; i++)
		fp_from_u64(&fx[i], xs[i]);
	for (i = 0; i < m; i++)
	{
		num[i] = fp_one;
		den[i] = fp_one;
		for (j = 0; j < m; j++)
		{
			if (j == i)
				continue;
			fp_sub(&d, &fat, &fx[j]);
			fp_mul(&num[i], &num[i], &d);
			fp_sub(&d, &fx[i], &fx[j]);
			fp_mul(&den[i], &den[i], &d);
		}
	}
	/* one inversion for all denominators */
	fp_batch_inv(den, den, m, tmp);
	for (i = 0; i < m; i++)
		fp_mul(&lambda[i], &num[i], &den[i]);
}

void
shamir_split_gf256(const uint8_t *secret, size_t len, int degree,
				   int n, const uint8_t *xs, uint8_t *const *shares)
{
	const uint8_t *rows[SHARE_POINTS_MAX + 1];
	ssn_random_stream rs;
	size_t		block;
	size_t		off;
	int			nt = len >= NT_MIN_OUTPUT / (size_t) (n > 0 ? n : 1);
	int			i,
				j;

	if (coef_buf == NULL)
	{
		coef_buf = sodium_malloc(COEF_BYTES);
		if (coef_buf == NULL)
			abort();
	}
	/* a multiple of 64 bytes keeps the blocks of a share on the same cache-line phase */
	block = degree > 0 ? COEF_BYTES / (size_t) degree : BLOCK_MAX;
	block = block > BLOCK_MAX ? BLOCK_MAX : block & ~(size_t) 63;

	ssn_random_stream_init(&rs);	/* one fresh key for this value */
	for (off = 0; off < len; off += block)
	{
		size_t		b = len - off < block ? len - off : block;

		/* rows: the secret is the constant term, then degree random coefficients */
		ssn_random_stream_next(&rs, coef_buf, b * (size_t) degree);
		rows[0] = secret + off;
		for (j = 1; j <= degree; j++)
			rows[j] = coef_buf + (size_t) (j - 1) * b;
		for (i = 0; i < n; i++)
		{
			if (nt)
				gf256_region_eval_nt(shares[i] + off, xs[i], rows, degree + 1, b);
			else
				gf256_region_eval(shares[i] + off, xs[i], rows, degree + 1, b);
		}
	}
	ssn_random_stream_free(&rs);
	sodium_memzero(coef_buf, (len < block ? len : block) * (size_t) degree);
}

void
shamir_combine_gf256(uint8_t *out, size_t len, int m,
					 const uint8_t *lambda, const uint8_t *const *ys)
{
	int			i;

	memset(out, 0, len);
	for (i = 0; i < m; i++)
		gf256_region_muladd(out, lambda[i], ys[i], len);
}

void
shamir_split_fp(const fp_t *secret, int degree, int n,
				const uint8_t *xs, fp_t *shares)
{
	fp_t		coef[SHARE_POINTS_MAX];
	fp_t		fx;
	int			i,
				j;

	for (j = 0; j < degree; j++)
		fp_random(&coef[j]);
	for (i = 0; i < n; i++)
	{
		/* from 0, so that degree 0 (no coefficients) gives the secret itself */
		fp_t		y = fp_zero;

		fp_from_u64(&fx, xs[i]);
		for (j = degree - 1; j >= 0; j--)
		{
			fp_add(&y, &y, &coef[j]);
			fp_mul(&y, &y, &fx);
		}
		fp_add(&shares[i], &y, secret);
		sodium_memzero(&y, sizeof(y));
	}
	sodium_memzero(coef, sizeof(fp_t) * (size_t) degree);
}

void
shamir_combine_fp(fp_t *out, int m, const fp_t *lambda, const fp_t *ys)
{
	fp_t		acc = fp_zero,
				t;
	int			i;

	for (i = 0; i < m; i++)
	{
		fp_mul(&t, &lambda[i], &ys[i]);
		fp_add(&acc, &acc, &t);
	}
	*out = acc;
	sodium_memzero(&acc, sizeof(acc));
	sodium_memzero(&t, sizeof(t));
}
