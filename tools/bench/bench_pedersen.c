/*
 * bench_pedersen.c - timings for pedersen.c and commitment.c, with the libsodium
 * primitives they are made of, in microseconds per operation (the best of a few
 * rounds, to see past other load on the machine).
 *
 * make build/bench_pedersen && ./build/bench_pedersen
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/commit_pool.h"
#include "crypto/commitment.h"
#include "crypto/pedersen.h"

#define ROUNDS 5
#define ROUND_US 200000.0		/* ~0.2 s per round */
#define M 1000					/* shares in a batch, secrets in an opening check */
#define KMAX 5

static volatile int sink;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

typedef void (*bench_fn) (long iters);

/* us per operation: each round runs enough iterations for ~ROUND_US; best round */
static double
run_timed(bench_fn fn, long ops_per_iter)
{
	long		iters = 1;
	double		best = 1e300;
	double		t0,
				dt;
	int			r;

	for (;;)
	{
		t0 = now_us();
		fn(iters);
		dt = now_us() - t0;
		if (dt >= ROUND_US / 4)
			break;
		iters *= 4;
	}
	iters = (long) (iters * (ROUND_US / dt)) + 1;
	for (r = 0; r < ROUNDS; r++)
	{
		t0 = now_us();
		fn(iters);
		dt = (now_us() - t0) / ((double) iters * ops_per_iter);
		if (dt < best)
			best = dt;
	}
	return best;
}

/* ---- libsodium primitives ---- */

static uint8_t pa[32],
			pb[32],
			sa[32];

static void
b_is_valid(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += crypto_core_ristretto255_is_valid_point(pa);
}

static void
b_add(long iters)
{
	uint8_t		r[32];

	for (long i = 0; i < iters; i++)
		sink += crypto_core_ristretto255_add(r, pa, pb);
}

static void
b_mul(long iters)
{
	uint8_t		r[32];

	for (long i = 0; i < iters; i++)
		sink += crypto_scalarmult_ristretto255(r, sa, pa);
}

static void
b_mul_base(long iters)
{
	uint8_t		r[32];

	for (long i = 0; i < iters; i++)
		sink += crypto_scalarmult_ristretto255_base(r, sa);
}

/* ---- Pedersen ---- */

typedef struct Sharing
{
	int			k;
	fp_t		a[KMAX];
	fp_t		b[KMAX];
	uint8_t		points[KMAX * 32];
} Sharing;

static Sharing one[KMAX + 1];	/* one sharing for each k */
static Sharing many[M];			/* k = 3 */
static PedersenShare batch_distinct[M];	/* one share of each of M sharings */
static PedersenShare batch_grouped[M];	/* 5 shares of each of M/5 sharings */
static const uint8_t *c0[M];
static fp_t open_s[M],
			open_t[M];

static void
new_sharing(Sharing *s, int k)
{
	s->k = k;
	for (int i = 0; i < k; i++)
		fp_random(&s->a[i]);
	pedersen_commit_poly(s->points, s->b, s->a, k);
}

static void
make_share(PedersenShare *p, const Sharing *s, uint8_t x)
{
	p->points = s->points;
	p->k = s->k;
	p->x = x;
	pedersen_eval(&p->y, s->a, s->k, x);
	pedersen_eval(&p->t, s->b, s->k, x);
}

static void
b_commit3(long iters)
{
	uint8_t		pts[3 * 32];
	fp_t		blind[3];

	for (long i = 0; i < iters; i++)
		pedersen_commit_poly(pts, blind, one[3].a, 3);
	sink += pts[0];
}

/*
 * a k = 3 sharing's commitments with the commit pool's units ready: what the storing
 * thread itself still does (the threads' work overlaps on other cores)
 */
static double
share_poly_pooled_us(void)
{
	enum
	{
		CALLS = 20
	};
	uint8_t		pts[3 * 32];
	fp_t		c[3],
				blind[3];
	double		best = 1e300;

	if (!pedersen_pool_start(1))
		return -1;
	for (int r = 0; r < ROUNDS; r++)
	{
		double		t0;

		while (commit_pool_ready(COMMIT_UNIT_PAIR) < 2 * CALLS || commit_pool_ready(COMMIT_UNIT_BLIND) < CALLS)
		{
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
		t0 = now_us();
		for (int i = 0; i < CALLS; i++)
		{
			c[0] = one[3].a[0];
			pedersen_share_poly(pts, c, blind, 3);
		}
		t0 = (now_us() - t0) / CALLS;
		if (t0 < best)
			best = t0;
	}
	commit_pool_stop();
	sink += pts[0];
	return best;
}

static int	verify_k;
static PedersenShare verify_share;

static void
b_verify(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += pedersen_verify_share(verify_share.points, verify_share.k, verify_share.x,
									  &verify_share.y, &verify_share.t);
}

static void
b_batch_distinct(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += pedersen_verify_batch(batch_distinct, M);
}

static void
b_batch_grouped(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += pedersen_verify_batch(batch_grouped, M);
}

static void
b_openings(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += pedersen_verify_openings(M, c0, open_s, open_t);
}

static void
b_zero_sharing(long iters)
{
	fp_t		c[3],
				b[3];
	uint8_t		d[3 * 32];

	for (long i = 0; i < iters; i++)
		pedersen_zero_sharing(c, b, d, 3);
	sink += d[0];
}

/* ---- records ---- */

static uint8_t pk[32],
			sk[64],
			id[16],
			rec[COMMIT_RECORD_SIZE(3)];

static void
b_sign(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += (int) commit_record_build(rec, 3, (uint32_t) i, id, 0, one[3].points, sk);
}

static void
b_record_verify(long iters)
{
	for (long i = 0; i < iters; i++)
		sink += commit_record_verify(rec, sizeof(rec));
}

int
main(void)
{
	int			i,
				k;

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	crypto_core_ristretto255_random(pa);
	crypto_core_ristretto255_random(pb);
	crypto_core_ristretto255_scalar_random(sa);
	for (k = 1; k <= KMAX; k++)
		new_sharing(&one[k], k);
	for (i = 0; i < M; i++)
	{
		new_sharing(&many[i], 3);
		make_share(&batch_distinct[i], &many[i], (uint8_t) (1 + i % 5));
		make_share(&batch_grouped[i], &many[i / 5], (uint8_t) (1 + i % 5));
		c0[i] = many[i].points;
		open_s[i] = many[i].a[0];
		open_t[i] = many[i].b[0];
	}
	if (!pedersen_verify_batch(batch_distinct, M) || !pedersen_verify_batch(batch_grouped, M) ||
		!pedersen_verify_openings(M, c0, open_s, open_t))
	{
		fprintf(stderr, "bench data does not verify\n");
		return 1;
	}
	memset(id, 0x42, sizeof(id));
	crypto_sign_keypair(pk, sk);
	commit_record_build(rec, 3, 1, id, 0, one[3].points, sk);

	printf("libsodium %s, microseconds per operation (best of %d rounds)\n",
		   sodium_version_string(), ROUNDS);
	printf("  ristretto255 is_valid_point            %8.1f\n", run_timed(b_is_valid, 1));
	printf("  ristretto255 add                       %8.1f\n", run_timed(b_add, 1));
	printf("  ristretto255 scalarmult (variable)     %8.1f\n", run_timed(b_mul, 1));
	printf("  ristretto255 scalarmult_base           %8.1f\n", run_timed(b_mul_base, 1));
	printf("pedersen\n");
	printf("  commit k=3 polynomial                  %8.1f\n", run_timed(b_commit3, 1));
	printf("  zero-sharing k=3 (draw and commit)     %8.1f\n", run_timed(b_zero_sharing, 1));
	printf("  k=3 sharing with the commit pool's units ready, the storing thread's part %8.1f\n",
		   share_poly_pooled_us());
	for (verify_k = 1; verify_k <= KMAX; verify_k++)
	{
		/* x = 3: a multiplication by x like any other x but 1 */
		make_share(&verify_share, &one[verify_k], 3);
		printf("  verify one share k=%d                   %8.1f\n", verify_k,
			   run_timed(b_verify, 1));
	}
	printf("  batch verify k=3, %d shares of %d sharings, per share %8.1f\n",
		   M, M, run_timed(b_batch_distinct, M));
	printf("  batch verify k=3, %d shares of %d sharings,  per share %8.1f\n",
		   M, M / 5, run_timed(b_batch_grouped, M));
	printf("  opening check, %d secrets, per secret %8.1f\n", M, run_timed(b_openings, M));
	printf("commitment records (k=3, %zu bytes)\n", sizeof(rec));
	printf("  build and sign (Ed25519)               %8.1f\n", run_timed(b_sign, 1));
	printf("  parse and verify (Ed25519)             %8.1f\n", run_timed(b_record_verify, 1));
	return 0;
}
