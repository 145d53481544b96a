/*
 * bench_gf256.c - throughput of the GF(2^8) region kernels and of a k=3, n=5 split.
 *
 * gcc -O2 -Wall -Wextra -Isrc tools/bench/bench_gf256.c src/gf256.c src/random.c -lsodium -lcrypto -o /tmp/bench_gf256 && /tmp/bench_gf256
 *
 * For each kernel the CPU supports:
 *	mul_xor			gf256_region_mul_xor on a 16 KiB region (in cache) and on 64 MiB
 *					(streams from memory), GB/s of region.
 *	split k=3 n=5	a 64 MiB secret in 16 KiB blocks; per block 2 random coefficient
 *					rows from ssn_random_bytes(), then for x = 1..5: share = coef2;
 *					share = x*share ^ coef1; share = x*share ^ secret.  GB/s of secret,
 *					with the randomness and without it (coefficients left as they are).
 *					Measured twice: shares written to five 64 MiB outputs, as a real
 *					split must (memory traffic: 1 read + 5 writes per secret byte), and
 *					shares written to five 16 KiB block buffers that stay in cache, as
 *					if each block were sent on at once (compute and randomness only).
 * GB here means 10^9 bytes.  Each figure is the best of REPEAT runs of at least
 * MIN_SECONDS each, since a shared machine adds noise only one way.
 */
#include "gf256.h"
#include "random.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMALL	(16 * 1024)
#define LARGE	((size_t) 64 * 1024 * 1024)
#define BLOCK	(16 * 1024)
#define NSHARES 5
#define MIN_SECONDS 0.3			/* each run lasts at least this long */
#define REPEAT	3

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

/* GB/s of gf256_region_mul_xor over len bytes, best of REPEAT runs */
static double
bench_mul_xor(uint8_t *dst, const uint8_t *src, size_t len)
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
			gf256_region_mul_xor(dst, (uint8_t) c, src, len);
			c = (c * 5 + 1) & 0xFF; /* vary c; no c is faster than another */
			done += len;
			elapsed = now() - start;
		} while (elapsed < MIN_SECONDS);
		if (done / elapsed / 1e9 > best)
			best = done / elapsed / 1e9;
	}
	return best;
}

/*
 * One split pass over the whole secret; shares[x - 1] receives share x, at the
 * block's offset when whole_shares, else always at its start (a block buffer).
 * Without fresh_random the coefficient rows are whatever coef holds already.
 */
static void
split_pass(uint8_t *const *shares, int whole_shares, const uint8_t *secret, size_t len,
		   uint8_t *coef, int fresh_random)
{
	size_t		off;
	int			x;

	for (off = 0; off < len; off += BLOCK)
	{
		size_t		n = len - off < BLOCK ? len - off : BLOCK;
		uint8_t    *coef1 = coef;
		uint8_t    *coef2 = coef + BLOCK;

		if (fresh_random)
			ssn_random_bytes(coef, 2 * (size_t) BLOCK);
		for (x = 1; x <= NSHARES; x++)
		{
			uint8_t    *share = shares[x - 1] + (whole_shares ? off : 0);

			/* Horner: ((coef2 * x) + coef1) * x + secret */
			memcpy(share, coef2, n);
			gf256_region_mul_xor(share, (uint8_t) x, coef1, n);
			gf256_region_mul_xor(share, (uint8_t) x, secret + off, n);
		}
	}
}

/* GB/s of secret for split passes, best of REPEAT runs */
static double
bench_split(uint8_t *const *shares, int whole_shares, const uint8_t *secret, size_t len,
			uint8_t *coef, int fresh_random)
{
	double		best = 0;
	int			r;

	for (r = 0; r < REPEAT; r++)
	{
		double		start = now(),
					elapsed;
		size_t		done = 0;

		do
		{
			split_pass(shares, whole_shares, secret, len, coef, fresh_random);
			done += len;
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
	uint8_t    *small_dst,
			   *small_src,
			   *large_dst,
			   *large_src,
			   *secret,
			   *coef;
	uint8_t    *shares[NSHARES];
	int			i;

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}

	small_dst = xmalloc(SMALL);
	small_src = xmalloc(SMALL);
	large_dst = xmalloc(LARGE);
	large_src = xmalloc(LARGE);
	secret = xmalloc(LARGE);
	coef = xmalloc(2 * BLOCK);
	for (i = 0; i < NSHARES; i++)
		shares[i] = xmalloc(LARGE);
	ssn_random_bytes(secret, LARGE);
	ssn_random_bytes(coef, 2 * BLOCK);

	printf("default kernel: %s; GB/s, best of %d; split in GB/s of secret\n",
		   gf256_kernel_name(), REPEAT);
	printf("%-9s %8s %8s | %-27s | %-27s\n", "", "mul_xor", "mul_xor",
		   "split, 64 MiB shares", "split, 16 KiB share blocks");
	printf("%-9s %8s %8s | %13s %13s | %13s %13s\n", "kernel", "16 KiB", "64 MiB",
		   "+random", "-random", "+random", "-random");
	for (i = 0; names[i] != NULL; i++)
	{
		if (!gf256_use_kernel(names[i]))
		{
			printf("%-9s skipped: not supported by this CPU\n", names[i]);
			continue;
		}
		printf("%-9s %8.2f", names[i], bench_mul_xor(small_dst, small_src, SMALL));
		fflush(stdout);
		printf(" %8.2f |", bench_mul_xor(large_dst, large_src, LARGE));
		fflush(stdout);
		printf(" %13.2f", bench_split(shares, 1, secret, LARGE, coef, 1));
		fflush(stdout);
		printf(" %13.2f |", bench_split(shares, 1, secret, LARGE, coef, 0));
		fflush(stdout);
		printf(" %13.2f", bench_split(shares, 0, secret, LARGE, coef, 1));
		fflush(stdout);
		printf(" %13.2f\n", bench_split(shares, 0, secret, LARGE, coef, 0));
		fflush(stdout);
	}

	/* randomness alone, the same 32 KiB requests as the split makes */
	{
		double		best = 0;
		int			r;

		for (r = 0; r < REPEAT; r++)
		{
			double		start = now(),
						elapsed;
			size_t		done = 0;

			do
			{
				ssn_random_bytes(coef, 2 * (size_t) BLOCK);
				done += 2 * (size_t) BLOCK;
				elapsed = now() - start;
			} while (elapsed < MIN_SECONDS);
			if (done / elapsed / 1e9 > best)
				best = done / elapsed / 1e9;
		}
		printf("ssn_random_bytes(32 KiB): %.2f GB/s of randomness "
			   "(%.2f us per 16 KiB block of secret)\n", best,
			   2.0 * BLOCK / best / 1e3);
	}

	for (i = 0; i < NSHARES; i++)
		free(shares[i]);
	free(coef);
	free(secret);
	free(large_src);
	free(large_dst);
	free(small_src);
	free(small_dst);
	return 0;
}
