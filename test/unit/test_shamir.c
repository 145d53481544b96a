/*
 * test_shamir.c - Shamir splits rebuild from every k-subset of their shares.
 *
 * make unit  (or: gcc -O2 -Wall -Wextra -Isrc test/unit/test_shamir.c src/shamir.c
 *	src/gf256.c src/field_p.c src/random.c -lsodium -lcrypto -o /tmp/t && /tmp/t)
 *
 * GF(2^8): random byte strings of many lengths (up to past the length at which the
 * split switches to non-temporal stores, and into share buffers at odd addresses)
 * are split with several (k, n) under every kernel the CPU can run; every k-subset
 * of the shares rebuilds the secret with shamir_lagrange_gf256 and
 * shamir_combine_gf256, and rebuilds each missing share as well.  k-1 shares do
 * not give the secret, and two splits of one secret differ.  F_l: the same with
 * shamir_split_fp and shamir_combine_fp.  Also: the keystream a split draws its
 * coefficients from is not repeated by a forked child.
 */
#include "math/field_p.h"
#include "math/gf256.h"
#include "math/random.h"
#include "math/shamir.h"
#include "unit.h"

#include <sodium.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXN	SHARE_POINTS_MAX
#define LARGE_LEN ((size_t) 9 << 20)	/* 5 shares of it outgrow the cache: nt stores */

typedef struct kn
{
	int			k;
	int			n;
} kn;

/* (k, n) pairs whose k-subsets are few enough to try all */
static const kn configs[] = {
	{1, 1}, {1, 3}, {2, 2}, {2, 3}, {3, 5}, {4, 7}, {5, 5}, {8, 10}, {2, 20}, {10, 12},
	{255, 255}
};

#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

static const size_t lengths[] = {
	0, 1, 15, 16, 17, 31, 33, 100, 255, 1000, 4095, 32768, 32769, 70001
};

#define NLENGTHS (sizeof(lengths) / sizeof(lengths[0]))

/* first k-subset of 0..n-1 in lexicographic order */
static void
subset_first(int *idx, int k)
{
	int			i;

	for (i = 0; i < k; i++)
		idx[i] = i;
}

/* next k-subset; 0 after the last */
static int
subset_next(int *idx, int k, int n)
{
	int			i = k - 1;

	while (i >= 0 && idx[i] == n - k + i)
		i--;
	if (i < 0)
		return 0;
	idx[i]++;
	for (i++; i < k; i++)
		idx[i] = idx[i - 1] + 1;
	return 1;
}

/* n distinct nonzero x-coordinates: 1..n, or spread over 1..255 when odd_xs */
static void
make_xs(uint8_t *xs, int n, int odd_xs)
{
	int			i;

	for (i = 0; i < n; i++)
		xs[i] = odd_xs ? (uint8_t) (255 - (i * 37) % 255) : (uint8_t) (i + 1);
}

/* the share at x = at, rebuilt from the shares idx[0..m-1] */
static void
rebuild_gf256(uint8_t *out, size_t len, const uint8_t *xs, uint8_t *const *shares,
			  const int *idx, int m, uint8_t at)
{
	uint8_t		sub_xs[MAXN];
	uint8_t		lambda[MAXN];
	const uint8_t *ys[MAXN];
	int			i;

	for (i = 0; i < m; i++)
	{
		sub_xs[i] = xs[idx[i]];
		ys[i] = shares[idx[i]];
	}
	shamir_lagrange_gf256(sub_xs, m, at, lambda);
	shamir_combine_gf256(out, len, m, lambda, ys);
}

/*
 * Split secret (len bytes) with k of n into share buffers at address offset
 * `misalign`, and check every k-subset.  Returns the number of failed checks, and
 * reports the first of them.
 */
static int
check_split_gf256(const char *kname, const uint8_t *secret, size_t len, int k, int n,
				  int odd_xs, int misalign)
{
	uint8_t		xs[MAXN];
	uint8_t    *bufs[MAXN];
	uint8_t    *shares[MAXN];
	uint8_t    *out = malloc(len + 1);
	uint8_t    *again = malloc(len + 1);
	int			idx[MAXN];
	int			i,
				subsets = 0,
				bad = 0;

	if (out == NULL || again == NULL)
		abort();
	make_xs(xs, n, odd_xs);
	for (i = 0; i < n; i++)
	{
		bufs[i] = malloc(len + 64);
		if (bufs[i] == NULL)
			abort();
		shares[i] = bufs[i] + (misalign + i) % 64;
	}
	shamir_split_gf256(secret, len, k - 1, n, xs, shares);

	/* every k-subset rebuilds the secret, and the first share it lacks */
	subset_first(idx, k);
	do
	{
		subsets++;
		rebuild_gf256(out, len, xs, shares, idx, k, 0);
		if (memcmp(out, secret, len) != 0)
		{
			if (bad++ == 0)
				CHECK(0, "%s len=%zu k=%d n=%d: subset #%d (first x=%d) does not rebuild "
					  "the secret", kname, len, k, n, subsets, xs[idx[0]]);
		}
		if (k < n && (subsets < 50 || subsets % 97 == 0))
		{
			int			missing = 0,
						j;

			/* idx is sorted: the first index not in it */
			for (j = 0; j < k && idx[j] == missing; j++)
				missing++;
			rebuild_gf256(out, len, xs, shares, idx, k, xs[missing]);
			if (memcmp(out, shares[missing], len) != 0 && bad++ == 0)
				CHECK(0, "%s len=%zu k=%d n=%d: subset #%d does not rebuild share x=%d",
					  kname, len, k, n, subsets, xs[missing]);
		}
	} while (subset_next(idx, k, n));

	/* k-1 shares are no good; for 16 bytes or more, equality has odds 2^-128 */
	if (k >= 2 && len >= 16)
	{
		subset_first(idx, k - 1);
		rebuild_gf256(out, len, xs, shares, idx, k - 1, 0);
		if (memcmp(out, secret, len) == 0 && bad++ == 0)
			CHECK(0, "%s len=%zu k=%d n=%d: %d shares rebuild the secret", kname, len, k,
				  n, k - 1);
		/* fresh coefficients: splitting again gives other shares */
		memcpy(again, shares[0], len);
		shamir_split_gf256(secret, len, k - 1, n, xs, shares);
		if (memcmp(again, shares[0], len) == 0 && bad++ == 0)
			CHECK(0, "%s len=%zu k=%d n=%d: two splits gave the same share", kname, len,
				  k, n);
	}
	/* degree 0: every share is the secret itself */
	if (k == 1)
		for (i = 0; i < n; i++)
			if (memcmp(shares[i], secret, len) != 0 && bad++ == 0)
				CHECK(0, "%s len=%zu k=1: share %d is not the secret", kname, len, i);

	for (i = 0; i < n; i++)
		free(bufs[i]);
	free(again);
	free(out);
	return bad;
}

static void
test_split_gf256(void)
{
	const char *const *names = gf256_kernel_names();
	uint8_t    *secret = malloc(LARGE_LEN);
	int			kern;

	if (secret == NULL)
		abort();
	for (kern = 0; names[kern] != NULL; kern++)
	{
		size_t		c,
					l;
		int			bad = 0,
					cases = 0;

		if (!gf256_use_kernel(names[kern]))
		{
			printf("shamir: kernel %s skipped: not supported by this CPU\n", names[kern]);
			continue;
		}
		for (c = 0; c < NCONFIGS; c++)
			for (l = 0; l < NLENGTHS; l++)
			{
				/* k = n = 255 costs 255 * 255 row passes: short lengths do */
				if (configs[c].k > 100 && lengths[l] > 1000)
					continue;
				ssn_random_bytes(secret, lengths[l]);
				bad += check_split_gf256(names[kern], secret, lengths[l], configs[c].k,
										 configs[c].n, (int) (l & 1), (int) (c + l));
				cases++;
			}
		/* long enough for non-temporal stores, shares at odd addresses */
		ssn_random_bytes(secret, LARGE_LEN);
		bad += check_split_gf256(names[kern], secret, LARGE_LEN, 3, 5, 0, 3);
		bad += check_split_gf256(names[kern], secret, LARGE_LEN - 13, 2, 5, 1, 0);
		cases += 2;
		CHECK(bad == 0, "kernel %s: %d of %d splits failed", names[kern], bad, cases);
		printf("shamir: kernel %s: %d splits checked\n", names[kern], cases);
	}
	free(secret);
}

/* F_l: one element split k of n; every k-subset rebuilds it */
static int
check_split_fp(const fp_t *secret, int k, int n, int odd_xs)
{
	uint8_t		xs[MAXN];
	uint8_t		sub_xs[MAXN];
	fp_t		shares[MAXN];
	fp_t		ys[MAXN];
	fp_t		lambda[MAXN];
	fp_t		out;
	fp_t		first;
	int			idx[MAXN];
	int			i,
				bad = 0;

	make_xs(xs, n, odd_xs);
	shamir_split_fp(secret, k - 1, n, xs, shares);
	subset_first(idx, k);
	do
	{
		for (i = 0; i < k; i++)
		{
			sub_xs[i] = xs[idx[i]];
			ys[i] = shares[idx[i]];
		}
		shamir_lagrange_fp(sub_xs, k, 0, lambda);
		shamir_combine_fp(&out, k, lambda, ys);
		if (!fp_equal(&out, secret))
			bad++;
		/* rebuild the share at the first x outside the subset */
		if (k < n)
		{
			int			missing = 0,
						j;

			for (j = 0; j < k && idx[j] == missing; j++)
				missing++;
			shamir_lagrange_fp(sub_xs, k, xs[missing], lambda);
			shamir_combine_fp(&out, k, lambda, ys);
			if (!fp_equal(&out, &shares[missing]))
				bad++;
		}
	} while (subset_next(idx, k, n));

	if (k >= 2)
	{
		/* k-1 shares: a random element, the secret with odds 1/l */
		for (i = 0; i < k - 1; i++)
		{
			sub_xs[i] = xs[i];
			ys[i] = shares[i];
		}
		shamir_lagrange_fp(sub_xs, k - 1, 0, lambda);
		shamir_combine_fp(&out, k - 1, lambda, ys);
		if (fp_equal(&out, secret))
			bad++;
		first = shares[0];
		shamir_split_fp(secret, k - 1, n, xs, shares);
		if (fp_equal(&first, &shares[0]))
			bad++;
	}
	return bad;
}

static void
test_split_fp(void)
{
	fp_t		secrets[6];
	size_t		c;
	int			s,
				cases = 0;

	secrets[0] = fp_zero;
	secrets[1] = fp_one;
	fp_from_i64(&secrets[2], -1);
	fp_from_i64(&secrets[3], INT64_MIN);
	fp_random(&secrets[4]);
	fp_random(&secrets[5]);
	for (c = 0; c < NCONFIGS; c++)
		for (s = 0; s < 6; s++)
		{
			int			b = check_split_fp(&secrets[s], configs[c].k, configs[c].n,
										   s & 1);

			CHECK(b == 0, "fp k=%d n=%d secret #%d: %d checks failed", configs[c].k,
				  configs[c].n, s, b);
			cases++;
		}
	printf("shamir: prime field: %d splits checked\n", cases);
}

typedef void (*draw_fn) (void *arg, uint8_t *buf, size_t len);

/*
 * Fork; the child draws len bytes, the parent then draws as many: do they
 * differ?  Each side goes on from the state the fork left.
 */
static void
check_child_differs(draw_fn draw, void *arg, size_t len, const char *what)
{
	uint8_t		a[64],
				b[64];
	int			fd[2];
	pid_t		pid;
	int			status;

	if (pipe(fd) != 0)
	{
		CHECK(0, "pipe failed");
		return;
	}
	pid = fork();
	if (pid == 0)
	{
		ssize_t		w;

		draw(arg, a, len);
		w = write(fd[1], a, len);
		_exit(w == (ssize_t) len ? 0 : 1);
	}
	CHECK(pid > 0, "fork failed");
	draw(arg, b, len);
	if (pid > 0)
	{
		CHECK(read(fd[0], a, len) == (ssize_t) len, "no bytes from the child");
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0, "child failed");
		CHECK(memcmp(a, b, len) != 0, what);
	}
	close(fd[0]);
	close(fd[1]);
}

static void
draw_stream(void *arg, uint8_t *buf, size_t len)
{
	ssn_random_stream_next((ssn_random_stream *) arg, buf, len);
}

static void
draw_pool(void *arg, uint8_t *buf, size_t len)
{
	(void) arg;
	ssn_random_bytes(buf, len);
}

/*
 * A stream read on in a forked child must not give the bytes the parent gets, and
 * two streams, or two pieces of one, differ.
 */
static void
test_random_stream(void)
{
	ssn_random_stream s,
				t;
	uint8_t		a[64],
				b[64],
				zero[64];

	memset(zero, 0, sizeof(zero));
	ssn_random_stream_init(&s);
	ssn_random_stream_init(&t);
	ssn_random_stream_next(&s, a, sizeof(a));
	ssn_random_stream_next(&t, b, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0, "two streams gave the same bytes");
	CHECK(memcmp(a, zero, sizeof(a)) != 0, "stream gave zeros");
	ssn_random_stream_next(&s, b, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0, "a stream repeated itself");
	ssn_random_stream_free(&t);
	check_child_differs(draw_stream, &s, 64, "a forked child got the keystream its parent got");
	ssn_random_stream_free(&s);
}

/*
 * The pool of small requests, read on in a forked child, must not give the bytes
 * the parent gets next: the child's pool is wiped at fork(), not when it asks
 * getpid().
 */
static void
test_random_pool(void)
{
	uint8_t		a[32];

	ssn_random_bytes(a, sizeof(a));		/* the pool holds bytes now */
	check_child_differs(draw_pool, NULL, 32, "a forked child got the pooled bytes its parent got");
}

int
main(void)
{
	if (sodium_init() < 0)
	{
		printf("shamir: sodium_init failed\n");
		return 1;
	}
	test_random_stream();
	test_random_pool();
	test_split_fp();
	test_split_gf256();
	return unit_finish("shamir");
}
