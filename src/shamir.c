/*
 * shamir.c - Shamir secret sharing; see shamir.h.
 *
 * Byte strings are processed in blocks so that the random coefficients of a block
 * stay in cache while all n shares are evaluated from them (Horner's rule, one
 * region kernel call per coefficient and share), and are wiped right after.
 */
#include "shamir.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "gf256.h"
#include "random.h"

/* bytes of secret per block; the coefficients of a block take degree times that */
#define GF256_BLOCK 8192

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
	uint8_t    *rnd;
	size_t		block = GF256_BLOCK;
	size_t		off;

	rnd = sodium_malloc(block * (size_t) degree);
	if (rnd == NULL)
		abort();

	for (off = 0; off < len; off += block)
	{
		size_t		b = len - off < block ? len - off : block;
		int			i,
					j;

		ssn_random_bytes(rnd, b * (size_t) degree);
		for (i = 0; i < n; i++)
		{
			uint8_t    *y = shares[i] + off;

			/* Horner: y = a_d; y = y*x + a_{j}; ...; y = y*x + s */
			memcpy(y, rnd + (size_t) (degree - 1) * b, b);
			for (j = degree - 2; j >= 0; j--)
				gf256_region_mul_xor(y, xs[i], rnd + (size_t) j * b, b);
			gf256_region_mul_xor(y, xs[i], secret + off, b);
		}
	}
	sodium_free(rnd);			/* sodium_free wipes */
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
		fp_t		y = coef[degree - 1];

		fp_from_u64(&fx, xs[i]);
		for (j = degree - 2; j >= 0; j--)
		{
			fp_mul(&y, &y, &fx);
			fp_add(&y, &y, &coef[j]);
		}
		fp_mul(&y, &y, &fx);
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
