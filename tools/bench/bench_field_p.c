/*
 * bench_field_p.c - timings for field_p.c, with libsodium's scalar multiplication
 * for comparison, and the per-value cost of a k=3, n=5 split and combine.
 *
 * gcc -O2 -Wall -Wextra -Isrc tools/bench/bench_field_p.c src/field_p.c src/random.c -lsodium -lcrypto -o /tmp/bench_field_p && /tmp/bench_field_p
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "math/field_p.h"

#define K 3
#define N 5
#define RING 1024				/* values cycled through by split/combine */
#define TARGET_NS 500000000.0	/* ~0.5 s per item */

static volatile uint64_t sink;

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t
fold(const fp_t *x)
{
	return x->v[0] ^ x->v[1] ^ x->v[2] ^ x->v[3];
}

/*
 * Each benchmark runs `iters` operations and returns; run_timed() grows iters until
 * a run takes ~TARGET_NS and reports ns per operation of that last run.
 */
typedef void (*bench_fn) (long iters);

static double
run_timed(bench_fn fn)
{
	long		iters = 1000;
	double		t0,
				dt;

	for (;;)
	{
		t0 = now_ns();
		fn(iters);
		dt = now_ns() - t0;
		if (dt >= TARGET_NS)
			return dt / iters;
		if (dt < TARGET_NS / 100)
			iters *= 10;
		else
			iters = (long) (iters * (TARGET_NS * 1.05 / dt));
	}
}

static fp_t ga,
			gb;

static void
bench_mul(long iters)
{
	fp_t		x = ga;
	long		i;

	/* dependent chain: latency, as in Horner */
	for (i = 0; i < iters; i++)
		fp_mul(&x, &x, &gb);
	sink ^= fold(&x);
}

static void
bench_add(long iters)
{
	fp_t		x = ga;
	long		i;

	for (i = 0; i < iters; i++)
		fp_add(&x, &x, &gb);
	sink ^= fold(&x);
}

static void
bench_inv(long iters)
{
	fp_t		x = ga;
	long		i;

	for (i = 0; i < iters; i++)
		fp_inv(&x, &x);
	sink ^= fold(&x);
}

static void
bench_random(long iters)
{
	fp_t		x;
	long		i;

	for (i = 0; i < iters; i++)
	{
		fp_random(&x);
		sink ^= x.v[0];
	}
}

static uint8_t sa[FP_BYTES],
			sb[FP_BYTES];

static void
bench_sodium_mul(long iters)
{
	uint8_t		x[FP_BYTES];
	long		i;

	memcpy(x, sa, FP_BYTES);
	for (i = 0; i < iters; i++)
		crypto_core_ristretto255_scalar_mul(x, x, sb);
	sink ^= x[0];
}

/* split / combine state */
static int64_t values[RING];
static fp_t xs[N];				/* x = 1..N in the field */
static fp_t lagrange[K];		/* coefficients at 0 for x = 1..K */
static uint8_t shares[RING][N][FP_BYTES];

static void
bench_split(long iters)
{
	long		i;
	int			j;

	for (i = 0; i < iters; i++)
	{
		int			idx = (int) (i % RING);
		fp_t		s,
					c1,
					c2,
					y;

		fp_from_i64(&s, values[idx]);
		fp_random(&c1);
		fp_random(&c2);
		for (j = 0; j < N; j++)
		{
			/* Horner: (c2 x + c1) x + s */
			fp_mul(&y, &c2, &xs[j]);
			fp_add(&y, &y, &c1);
			fp_mul(&y, &y, &xs[j]);
			fp_add(&y, &y, &s);
			fp_to_bytes(shares[idx][j], &y);
		}
	}
	sink ^= shares[(iters - 1) % RING][N - 1][0];
}

static long combine_bad;

static void
bench_combine(long iters)
{
	long		i;
	int			j;

	for (i = 0; i < iters; i++)
	{
		int			idx = (int) (i % RING);
		fp_t		y,
					acc,
					t;
		uint8_t		mag[FP_BYTES];
		bool		neg;
		bool		ok = true;
		uint64_t	u = 0;

		for (j = 0; j < K; j++)
		{
			ok &= fp_from_bytes(&y, shares[idx][j]);
			if (j == 0)
				fp_mul(&acc, &y, &lagrange[0]);
			else
			{
				fp_mul(&t, &y, &lagrange[j]);
				fp_add(&acc, &acc, &t);
			}
		}
		fp_to_signed(mag, &neg, &acc);
		for (j = 7; j >= 0; j--)
			u = (u << 8) | mag[j];
		if (!ok || (neg ? (int64_t) (0 - u) : (int64_t) u) != values[idx])
			combine_bad++;
	}
	sink ^= (uint64_t) combine_bad;
}

static void
setup(void)
{
	uint8_t		b[FP_BYTES];
	fp_t		num,
				den,
				t;
	int			i,
				j;

	crypto_core_ristretto255_scalar_random(b);
	fp_from_bytes(&ga, b);
	crypto_core_ristretto255_scalar_random(b);
	fp_from_bytes(&gb, b);
	crypto_core_ristretto255_scalar_random(sa);
	crypto_core_ristretto255_scalar_random(sb);

	for (i = 0; i < RING; i++)
	{
		randombytes_buf(&values[i], sizeof(values[i]));
		values[i] >>= i % 64;
	}
	for (j = 0; j < N; j++)
		fp_from_u64(&xs[j], (uint64_t) j + 1);

	/* lambda_i = prod_{m != i} x_m / (x_m - x_i), once per share set */
	for (i = 0; i < K; i++)
	{
		num = fp_one;
		den = fp_one;
		for (j = 0; j < K; j++)
		{
			if (j == i)
				continue;
			fp_mul(&num, &num, &xs[j]);
			fp_sub(&t, &xs[j], &xs[i]);
			fp_mul(&den, &den, &t);
		}
		fp_inv(&den, &den);
		fp_mul(&lagrange[i], &num, &den);
	}
}

int
main(void)
{
	double		ns;

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	setup();

	ns = run_timed(bench_mul);
	printf("fp_mul: %.1f ns (%.0f ops/s)\n", ns, 1e9 / ns);
	printf("fp_add: %.1f ns\n", run_timed(bench_add));
	printf("fp_inv: %.1f ns\n", run_timed(bench_inv));
	printf("fp_random: %.1f ns\n", run_timed(bench_random));
	ns = run_timed(bench_sodium_mul);
	printf("crypto_core_ristretto255_scalar_mul: %.1f ns (%.0f ops/s)\n", ns, 1e9 / ns);

	ns = run_timed(bench_split);
	printf("prime split k=%d n=%d: %.0f values/s\n", K, N, 1e9 / ns);
	ns = run_timed(bench_combine);
	printf("prime combine k=%d: %.0f values/s\n", K, 1e9 / ns);
	if (combine_bad)
	{
		fprintf(stderr, "combine: %ld wrong results\n", combine_bad);
		return 1;
	}
	return 0;
}
