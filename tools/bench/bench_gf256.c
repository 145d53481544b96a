/*
 * bench_gf256.c - throughput of the GF(2^8) region kernels and of a k=3, n=5 split.
 *
 * make build/bench_gf256 && build/bench_gf256
 *
 * For each kernel the CPU supports (forced with gf256_use_kernel):
 *	mul_xor		gf256_region_mul_xor on a 16 KiB region (in cache) and on 64 MiB
 *				(streams from memory), GB/s of region.
 *	eval		gf256_region_eval of 3 rows (a degree-2 polynomial, as for k=3) into a
 *				16 KiB region, GB/s of region.
 *	split		the real shamir_split_gf256, k=3 n=5, randomness included, GB/s of
 *				secret: a 64 KiB secret (five 64 KiB shares stay in cache) and a
 *				64 MiB secret into five full-length 64 MiB shares (memory traffic:
 *				1 read + 5 writes per secret byte).
 *	randomness	ssn_random_bytes (a fresh key per request) and a random stream.
 * The last line is the headline: the 64 MiB split with the default (best) kernel.
 * GB here means 10^9 bytes.  Each figure is the best of REPEAT runs of at least
 * MIN_SECONDS each, since a shared machine adds noise only one way.
 */
#include "math/gf256.h"
#include "math/random.h"
#include "math/shamir.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMALL	(16 * 1024)
#define LARGE	((size_t) 64 * 1024 * 1024)
#define SPLIT_SMALL (64 * 1024)
#define NSHARES 5
#define K		3
#define MIN_SECONDS 0.3			/* each run lasts at least this long */
#define REPEAT	3

typedef enum bench_op
{
	BENCH_MUL_XOR,
	BENCH_EVAL,
	BENCH_SPLIT,
	BENCH_RANDOM,
	BENCH_STREAM
} bench_op;

/* what one bench_op works on */
typedef struct bench_args
{
	uint8_t    *dst;
	const uint8_t *src;
	const uint8_t *const *rows;
	uint8_t    *const *shares;
	ssn_random_stream *stream;
	size_t		len;
} bench_args;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	/* touch every page now, so page faults stay out of the timings */
	memset(p, 0x5A, n);
	return p;
}

static void
run_op(bench_op op, const bench_args *a, unsigned int c)
{
	static const uint8_t xs[NSHARES] = {1, 2, 3, 4, 5};

	switch (op)
	{
		case BENCH_MUL_XOR:
			gf256_region_mul_xor(a->dst, (uint8_t) c, a->src, a->len);
			break;
		case BENCH_EVAL:
			gf256_region_eval(a->dst, (uint8_t) c, a->rows, K, a->len);
			break;
		case BENCH_SPLIT:
			shamir_split_gf256(a->src, a->len, K - 1, NSHARES, xs, a->shares);
			break;
		case BENCH_RANDOM:
			ssn_random_bytes(a->dst, a->len);
			break;
		case BENCH_STREAM:
			ssn_random_stream_next(a->stream, a->dst, a->len);
			break;
	}
}

/* GB/s of a->len bytes per operation, best of REPEAT runs */
static double
bench(bench_op op, const bench_args *a)
{
	double		best = 0;
	unsigned int c = 0x8E;
	int			r;

	for (r = 0; r < REPEAT; r++)
	{
		double		start = now(),
					elapsed;
		size_t		done = 0;

		do
		{
			run_op(op, a, c);
			c = (c * 5 + 1) & 0xFF; /* vary c; no c is faster than another */
			done += a->len;
			elapsed = now() - start;
		} while (elapsed < MIN_SECONDS);
		if (done / elapsed / 1e9 > best)
			best = done / elapsed / 1e9;
	}
	return best;
}

int
main(void)
{
	const char *const *names = gf256_kernel_names();
	const char *best_kernel;
	uint8_t    *small_dst,
			   *small_src,
			   *large_dst,
			   *large_src,
			   *secret;
	uint8_t    *shares[NSHARES];
	const uint8_t *rows[K];
	bench_args	a;
	ssn_random_stream stream;
	double		headline = 0;
	int			i;

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	best_kernel = gf256_kernel_name();

	small_dst = xmalloc(SMALL);
	small_src = xmalloc(K * SMALL);
	large_dst = xmalloc(LARGE);
	large_src = xmalloc(LARGE);
	secret = xmalloc(LARGE);
	for (i = 0; i < NSHARES; i++)
		shares[i] = xmalloc(LARGE);
	ssn_random_bytes(secret, LARGE);
	ssn_random_bytes(small_src, K * SMALL);
	for (i = 0; i < K; i++)
		rows[i] = small_src + (size_t) i * SMALL;

	printf("default kernel: %s; GB/s, best of %d; split k=%d n=%d with randomness, "
		   "GB/s of secret\n", best_kernel, REPEAT, K, NSHARES);
	printf("%-9s %8s %8s %8s | %8s %8s\n", "", "mul_xor", "mul_xor", "eval", "split",
		   "split");
	printf("%-9s %8s %8s %8s | %8s %8s\n", "kernel", "16 KiB", "64 MiB", "16 KiB",
		   "64 KiB", "64 MiB");
	for (i = 0; names[i] != NULL; i++)
	{
		double		split_large;

		if (!gf256_use_kernel(names[i]))
		{
			printf("%-9s skipped: not supported by this CPU\n", names[i]);
			continue;
		}
		memset(&a, 0, sizeof(a));
		a.dst = small_dst;
		a.src = small_src;
		a.len = SMALL;
		printf("%-9s %8.2f", names[i], bench(BENCH_MUL_XOR, &a));
		fflush(stdout);
		a.dst = large_dst;
		a.src = large_src;
		a.len = LARGE;
		printf(" %8.2f", bench(BENCH_MUL_XOR, &a));
		fflush(stdout);
		a.dst = small_dst;
		a.rows = rows;
		a.len = SMALL;
		printf(" %8.2f |", bench(BENCH_EVAL, &a));
		fflush(stdout);
		a.src = secret;
		a.shares = shares;
		a.len = SPLIT_SMALL;
		printf(" %8.2f", bench(BENCH_SPLIT, &a));
		fflush(stdout);
		a.len = LARGE;
		split_large = bench(BENCH_SPLIT, &a);
		printf(" %8.2f\n", split_large);
		fflush(stdout);
		if (strcmp(names[i], best_kernel) == 0)
			headline = split_large;
	}

	/*
	 * randomness alone: single requests, each under a fresh key, and a stream read
	 * in the 64 KiB pieces a k=3 split draws per 32 KiB block
	 */
	memset(&a, 0, sizeof(a));
	a.dst = small_dst;
	a.len = SMALL;
	printf("randomness: ssn_random_bytes(16 KiB) %.2f GB/s", bench(BENCH_RANDOM, &a));
	ssn_random_stream_init(&stream);
	a.dst = large_dst;
	a.stream = &stream;
	a.len = 64 * 1024;
	printf(", ssn_random_stream_next(64 KiB) %.2f GB/s\n", bench(BENCH_STREAM, &a));
	ssn_random_stream_free(&stream);

	printf("shamir_split_gf256 k=%d n=%d, 64 MiB secret into %d full-length shares, "
		   "randomness included, kernel %s: %.2f GB/s of secret\n",
		   K, NSHARES, NSHARES, best_kernel, headline);

	for (i = 0; i < NSHARES; i++)
		free(shares[i]);
	free(secret);
	free(large_src);
	free(large_dst);
	free(small_src);
	free(small_dst);
	return 0;
}
