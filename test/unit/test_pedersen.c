/*
 * test_pedersen.c - unit tests for pedersen.c: shares verify against the
 * commitments of their sharing and nothing else does, singly and in batches;
 * opening checks; renewal by a zero-sharing; invalid encodings; the generator H.
 *
 * make build/test_pedersen && ./build/test_pedersen
 */
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "crypto/commit_pool.h"
#include "crypto/pedersen.h"
#include "math/shamir.h"
#include "unit.h"

#define KMAX 5
#define PT PEDERSEN_POINT_BYTES

/* SHA-512("ssn/pedersen/H/v1") mapped by crypto_core_ristretto255_from_hash */
static const char *H_HEX = "f25e3c39ec44da1f7a718e2edb5aa4abf3520423b88bd65c41ab2d5d04eb5116";

/* a sharing with its commitments */
typedef struct Sharing
{
	int			k;
	fp_t		a[KMAX];
	fp_t		b[KMAX];
	uint8_t		points[KMAX * PT];
} Sharing;

static void
new_sharing(Sharing *s, int k)
{
	int			i;

	s->k = k;
	for (i = 0; i < k; i++)
		fp_random(&s->a[i]);
	pedersen_commit_poly(s->points, s->b, s->a, k);
}

static void
share_at(const Sharing *s, uint8_t x, fp_t *y, fp_t *t)
{
	pedersen_eval(y, s->a, s->k, x);
	pedersen_eval(t, s->b, s->k, x);
}

static bool
verify_at(const Sharing *s, uint8_t x)
{
	fp_t		y,
				t;

	share_at(s, x, &y, &t);
	return pedersen_verify_share(s->points, s->k, x, &y, &t);
}

static void
test_generator(void)
{
	uint8_t		hash[crypto_hash_sha512_BYTES];
	uint8_t		h[PT];
	char		hex[2 * PT + 1];
	const uint8_t *gh = pedersen_generator_h();

	sodium_bin2hex(hex, sizeof(hex), gh, PT);
	CHECK(strcmp(hex, H_HEX) == 0, "H = %s, expected %s", hex, H_HEX);
	crypto_hash_sha512(hash, (const uint8_t *) "ssn/pedersen/H/v1", 17);
	crypto_core_ristretto255_from_hash(h, hash);
	CHECK(memcmp(h, gh, PT) == 0, "H is not from_hash(SHA-512(tag))");
	CHECK(pedersen_generator_h() == gh, "H is not cached");
	CHECK(crypto_core_ristretto255_is_valid_point(gh), "H is not a valid point");
}

static void
test_eval(void)
{
	fp_t		c[KMAX],
				r,
				want,
				fx,
				p,
				t;
	int			k,
				i,
				x;

	for (k = 1; k <= KMAX; k++)
	{
		for (i = 0; i < k; i++)
			fp_random(&c[i]);
		for (x = 0; x < 256; x += 51)
		{
			fp_from_u64(&fx, (uint64_t) x);
			want = fp_zero;
			p = fp_one;
			for (i = 0; i < k; i++)
			{
				fp_mul(&t, &c[i], &p);
				fp_add(&want, &want, &t);
				fp_mul(&p, &p, &fx);
			}
			pedersen_eval(&r, c, k, (uint8_t) x);
			CHECK(fp_equal(&r, &want), "eval k=%d x=%d", k, x);
		}
	}
}

static void
test_commit(void)
{
	fp_t		a[2],
				b[2];
	uint8_t		pts[2 * PT],
				want[PT],
				sa[FP_BYTES],
				sb[FP_BYTES],
				p[PT],
				q[PT];

	/* C = aG + bH against libsodium directly */
	fp_random(&a[0]);
	fp_random(&b[0]);
	fp_from_u64(&a[1], 0);		/* a secret 0 */
	fp_random(&b[1]);
	pedersen_commit_with_blind(pts, a, b, 2);
	fp_to_bytes(sa, &a[0]);
	fp_to_bytes(sb, &b[0]);
	CHECK(crypto_scalarmult_ristretto255_base(p, sa) == 0 &&
		  crypto_scalarmult_ristretto255(q, sb, pedersen_generator_h()) == 0 &&
		  crypto_core_ristretto255_add(want, p, q) == 0 &&
		  memcmp(want, pts, PT) == 0, "C_0 != aG + bH");
	fp_to_bytes(sb, &b[1]);
	CHECK(crypto_scalarmult_ristretto255(q, sb, pedersen_generator_h()) == 0 &&
		  memcmp(q, pts + PT, PT) == 0, "commitment to 0 != bH");

	/* all-zero coefficients and blinds: the identity, which verifies (y = t = 0) */
	a[0] = a[1] = b[0] = b[1] = fp_zero;
	pedersen_commit_with_blind(pts, a, b, 2);
	memset(want, 0, PT);
	CHECK(memcmp(pts, want, PT) == 0 && memcmp(pts + PT, want, PT) == 0,
		  "commitment of zeros is not the identity");
	CHECK(pedersen_verify_share(pts, 2, 7, &fp_zero, &fp_zero), "identity sharing");
	CHECK(!pedersen_verify_share(pts, 2, 7, &fp_one, &fp_zero), "identity sharing, y=1");

	/* a secret G-part only (blind 0): aG */
	fp_from_u64(&a[0], 5);
	b[0] = fp_zero;
	pedersen_commit_with_blind(pts, a, b, 1);
	fp_to_bytes(sa, &a[0]);
	CHECK(crypto_scalarmult_ristretto255_base(want, sa) == 0 && memcmp(want, pts, PT) == 0,
		  "blind 0: C != aG");

	/* the blinds are fresh */
	{
		Sharing		s1,
					s2;

		memset(&s1, 0, sizeof(s1));
		new_sharing(&s1, 2);
		s2 = s1;
		pedersen_commit_poly(s2.points, s2.b, s2.a, 2);
		CHECK(memcmp(s1.points, s2.points, 2 * PT) != 0 && !fp_equal(&s1.b[0], &s2.b[0]),
			  "two commitments of one polynomial are equal");
	}
}

static void
test_verify_share(void)
{
	static const uint8_t xs[] = {1, 2, 3, 5, 17, 100, 128, 200, 254, 255};
	Sharing		s;
	fp_t		y,
				t,
				y1,
				t1;
	int			k,
				i;
	uint8_t		saved[PT];

	for (k = 1; k <= KMAX; k++)
	{
		new_sharing(&s, k);
		for (i = 0; i < (int) sizeof(xs); i++)
			CHECK(verify_at(&s, xs[i]), "valid share k=%d x=%d", k, xs[i]);

		share_at(&s, 9, &y, &t);
		fp_add(&y1, &y, &fp_one);
		CHECK(!pedersen_verify_share(s.points, k, 9, &y1, &t), "y+1 verifies, k=%d", k);
		fp_add(&t1, &t, &fp_one);
		CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t1), "t+1 verifies, k=%d", k);
		fp_sub(&y1, &y, &fp_one);
		CHECK(!pedersen_verify_share(s.points, k, 9, &y1, &t), "y-1 verifies, k=%d", k);
		/* y and t swapped */
		CHECK(!pedersen_verify_share(s.points, k, 9, &t, &y), "swapped verifies, k=%d", k);
		if (k > 1)
			CHECK(!pedersen_verify_share(s.points, k, 10, &y, &t), "wrong x verifies, k=%d", k);
		CHECK(!pedersen_verify_share(s.points, k, 0, &y, &t), "x=0 accepted, k=%d", k);
		if (k > 1)
			CHECK(!pedersen_verify_share(s.points, k - 1, 9, &y, &t), "k-1 verifies, k=%d", k);

		/* each commitment point replaced by another valid point */
		for (i = 0; i < k; i++)
		{
			memcpy(saved, s.points + i * PT, PT);
			crypto_core_ristretto255_random(s.points + i * PT);
			CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t),
				  "share verifies with C_%d replaced, k=%d", i, k);
			/* the identity in its place */
			memset(s.points + i * PT, 0, PT);
			CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t),
				  "share verifies with C_%d the identity, k=%d", i, k);
			/* invalid encodings: all ones (not canonical), 1 (negative), a bit flip */
			memset(s.points + i * PT, 0xff, PT);
			CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t), "0xff.. accepted");
			memset(s.points + i * PT, 0, PT);
			s.points[i * PT] = 1;
			CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t), "encoding 1 accepted");
			memcpy(s.points + i * PT, saved, PT);
			s.points[i * PT + 31] ^= 0x80;
			CHECK(!pedersen_verify_share(s.points, k, 9, &y, &t), "top bit accepted");
			memcpy(s.points + i * PT, saved, PT);
		}
		CHECK(pedersen_verify_share(s.points, k, 9, &y, &t), "restored, k=%d", k);
	}

	/* secrets 0 and -1 (l-1) */
	new_sharing(&s, 3);
	s.a[0] = fp_zero;
	pedersen_commit_poly(s.points, s.b, s.a, 3);
	CHECK(verify_at(&s, 4), "secret 0");
	fp_neg(&s.a[0], &fp_one);
	pedersen_commit_poly(s.points, s.b, s.a, 3);
	CHECK(verify_at(&s, 4), "secret -1");

	CHECK(!pedersen_verify_share(s.points, 0, 1, &y, &t), "k=0 accepted");
	CHECK(!pedersen_verify_share(s.points, 256, 1, &y, &t), "k=256 accepted");
	CHECK(!pedersen_verify_share(NULL, 1, 1, &y, &t), "NULL points accepted");
}

#define NPOLY 60
#define NBATCH 200

static void
test_batch(void)
{
	static Sharing polys[NPOLY];
	static uint8_t copies[NPOLY][KMAX * PT];
	PedersenShare sh[NBATCH];
	PedersenShare saved;
	int			i,
				j;

	for (i = 0; i < NPOLY; i++)
	{
		new_sharing(&polys[i], 1 + i % KMAX);
		memcpy(copies[i], polys[i].points, sizeof(copies[i]));
	}
	/* several shares per sharing, some through equal copies of its commitments */
	for (j = 0; j < NBATCH; j++)
	{
		Sharing    *s = &polys[(j * 7) % NPOLY];

		sh[j].points = (j % 3 == 0) ? copies[(j * 7) % NPOLY] : s->points;
		sh[j].k = s->k;
		sh[j].x = (uint8_t) (1 + (j * 37) % 255);
		share_at(s, sh[j].x, &sh[j].y, &sh[j].t);
	}
	CHECK(pedersen_verify_batch(sh, NBATCH), "batch of %d valid shares", NBATCH);
	CHECK(pedersen_verify_batch(sh, 1), "batch of 1");
	CHECK(pedersen_verify_batch(sh, 0), "empty batch");
	CHECK(!pedersen_verify_batch(sh, -1), "m=-1 accepted");

	/* one bad share anywhere */
	for (j = 0; j < NBATCH; j += 67)
	{
		saved = sh[j];
		fp_add(&sh[j].y, &sh[j].y, &fp_one);
		CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with bad y at %d", j);
		sh[j] = saved;
		fp_add(&sh[j].t, &sh[j].t, &fp_one);
		CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with bad t at %d", j);
		sh[j] = saved;
		sh[j].x = (uint8_t) (sh[j].x == 255 ? 1 : sh[j].x + 1);
		if (sh[j].k > 1)
			CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with bad x at %d", j);
		sh[j] = saved;
		sh[j].points = polys[(j * 7 + 5) % NPOLY].points;	/* same k, other sharing */
		CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with wrong commitments at %d", j);
		sh[j] = saved;
		sh[j].x = 0;
		CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with x=0 at %d", j);
		sh[j] = saved;
	}
	CHECK(pedersen_verify_batch(sh, NBATCH), "batch restored");

	/* errors that cancel with equal weights: +1 and -1 at the same x of one sharing */
	{
		PedersenShare two[2];

		two[0] = sh[1];
		two[1] = sh[1];
		fp_add(&two[0].y, &two[0].y, &fp_one);
		fp_sub(&two[1].y, &two[1].y, &fp_one);
		CHECK(!pedersen_verify_batch(two, 2), "cancelling errors pass");
	}

	/* an invalid encoding in a copy of the commitments */
	copies[0][5] ^= 0x40;
	CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with invalid encoding");
	copies[0][5] ^= 0x40;
	CHECK(pedersen_verify_batch(sh, NBATCH), "batch restored after encoding");
	copies[0][31] |= 0x80;
	CHECK(!pedersen_verify_batch(sh, NBATCH), "batch with bit 255 set");
	copies[0][31] &= 0x7f;
	CHECK(pedersen_verify_batch(sh, NBATCH), "batch restored after bit 255");
}

#define NOPEN 10

static void
test_openings(void)
{
	static Sharing polys[NOPEN];
	const uint8_t *c0[NOPEN];
	fp_t		s[NOPEN],
				t[NOPEN];
	uint8_t		bad[PT];
	int			i,
				j;

	for (i = 0; i < NOPEN; i++)
	{
		uint8_t		xs[KMAX];
		fp_t		ys[KMAX],
					ts[KMAX],
					lambda[KMAX];
		int			k = 1 + i % KMAX;

		new_sharing(&polys[i], k);
		/* rebuild f(0), r(0) from k shares at x = 3, 5, 7, ... */
		for (j = 0; j < k; j++)
		{
			xs[j] = (uint8_t) (3 + 2 * j);
			share_at(&polys[i], xs[j], &ys[j], &ts[j]);
		}
		shamir_lagrange_fp(xs, k, 0, lambda);
		shamir_combine_fp(&s[i], k, lambda, ys);
		shamir_combine_fp(&t[i], k, lambda, ts);
		CHECK(fp_equal(&s[i], &polys[i].a[0]), "combine %d", i);
		c0[i] = polys[i].points;
	}
	CHECK(pedersen_verify_openings(NOPEN, c0, s, t), "openings of %d secrets", NOPEN);
	CHECK(pedersen_verify_openings(1, c0, s, t), "one opening");
	CHECK(pedersen_verify_openings(0, c0, s, t), "no openings");
	for (i = 0; i < NOPEN; i += 3)
	{
		fp_t		keep = s[i];

		fp_add(&s[i], &s[i], &fp_one);
		CHECK(!pedersen_verify_openings(NOPEN, c0, s, t), "wrong secret %d", i);
		s[i] = keep;
		keep = t[i];
		fp_add(&t[i], &t[i], &fp_one);
		CHECK(!pedersen_verify_openings(NOPEN, c0, s, t), "wrong blind %d", i);
		t[i] = keep;
		c0[i] = polys[(i + 1) % NOPEN].points;
		CHECK(!pedersen_verify_openings(NOPEN, c0, s, t), "wrong commitment %d", i);
		memset(bad, 0xff, PT);
		c0[i] = bad;
		CHECK(!pedersen_verify_openings(NOPEN, c0, s, t), "invalid commitment %d", i);
		memcpy(bad, polys[i].points, PT);
		bad[PT - 1] |= 0x80;
		CHECK(!pedersen_verify_openings(NOPEN, c0, s, t), "bit 255 set in commitment %d", i);
		CHECK(!pedersen_verify_openings(1, c0 + i, s + i, t + i), "bit 255 set, alone %d", i);
		c0[i] = polys[i].points;
	}
	CHECK(pedersen_verify_openings(NOPEN, c0, s, t), "openings restored");
}

static void
test_renewal(void)
{
	Sharing		s;
	fp_t		dc[KMAX],
				db[KMAX],
				y,
				t,
				dy,
				dt,
				b0;
	uint8_t		d[KMAX * PT],
				renewed[KMAX * PT],
				before[KMAX * PT],
				bad[KMAX * PT];
	int			k,
				x;

	for (k = 1; k <= KMAX; k++)
	{
		new_sharing(&s, k);
		pedersen_zero_sharing(dc, db, d, k);
		CHECK(fp_is_zero(&dc[0]), "zero-sharing constant term");
		CHECK(pedersen_is_zero_commitment(d, &db[0]), "D_0 commits to 0, k=%d", k);
		fp_add(&b0, &db[0], &fp_one);
		CHECK(!pedersen_is_zero_commitment(d, &b0), "D_0 with wrong blind, k=%d", k);
		CHECK(!pedersen_is_zero_commitment(s.points, &s.b[0]), "C_0 of a secret is zero");

		memcpy(renewed, s.points, (size_t) k * PT);
		CHECK(pedersen_points_add(renewed, d, k), "points add, k=%d", k);
		for (x = 1; x < 256; x += 63)
		{
			share_at(&s, (uint8_t) x, &y, &t);
			pedersen_eval(&dy, dc, k, (uint8_t) x);
			pedersen_eval(&dt, db, k, (uint8_t) x);
			/* the old share fails against the new commitments (k > 1: a random delta) */
			if (k > 1)
				CHECK(!pedersen_verify_share(renewed, k, (uint8_t) x, &y, &t),
					  "old share verifies renewed, k=%d x=%d", k, x);
			fp_add(&y, &y, &dy);
			fp_add(&t, &t, &dt);
			CHECK(pedersen_verify_share(renewed, k, (uint8_t) x, &y, &t),
				  "renewed share, k=%d x=%d", k, x);
			CHECK(!pedersen_verify_share(s.points, k, (uint8_t) x, &y, &t),
				  "renewed share verifies old, k=%d x=%d", k, x);
		}
		/* the secret stays: f'(0) = f(0), r'(0) = r(0) + blind_0 */
		fp_add(&t, &s.b[0], &db[0]);
		{
			const uint8_t *c0 = renewed;

			CHECK(pedersen_verify_openings(1, &c0, &s.a[0], &t), "renewed opening, k=%d", k);
		}

		/* invalid encoding: false, acc unchanged */
		memcpy(before, renewed, (size_t) k * PT);
		memcpy(bad, d, (size_t) k * PT);
		memset(bad + (k - 1) * PT, 0xff, PT);
		CHECK(!pedersen_points_add(renewed, bad, k), "points add with invalid encoding");
		CHECK(memcmp(before, renewed, (size_t) k * PT) == 0, "acc changed on failure");
		/* bit 255 set: libsodium 1.0.18 would decode it, RFC 9496 refuses it */
		memcpy(bad, d, (size_t) k * PT);
		bad[k * PT - 1] |= 0x80;
		CHECK(!pedersen_points_add(renewed, bad, k), "points add with bit 255 set");
		CHECK(memcmp(before, renewed, (size_t) k * PT) == 0, "acc changed on failure");
		CHECK(!pedersen_points_add(bad, renewed, k), "points add with bit 255 set in acc");
		memcpy(bad, d, PT);
		bad[PT - 1] |= 0x80;
		CHECK(!pedersen_is_zero_commitment(bad, &db[0]), "D_0 with bit 255 set");
	}
	/* adding a point to its negation: the identity, still a point */
	{
		uint8_t		p[PT],
					np[PT],
					zero[PT] = {0};

		crypto_core_ristretto255_random(p);
		CHECK(crypto_core_ristretto255_sub(np, zero, p) == 0, "negate");
		CHECK(pedersen_points_add(p, np, 1) && memcmp(p, zero, PT) == 0, "P + -P");
		CHECK(pedersen_points_add(p, np, 1) && memcmp(p, np, PT) == 0, "0 + -P");
	}
	CHECK(!pedersen_points_add(renewed, d, 256), "k=256 accepted");
}

/* sharings made with and without the commit pool: every share checks, C_0 opens to the secret */
static void
test_share_poly(void)
{
	static const int ks[] = {1, 2, 3, 5};
	uint8_t		prev[PT] = {0};
	int			reused = 0,
				bad = 0,
				pooled = 0;

	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1)
		{
			CHECK(pedersen_pool_start(2) && commit_pool_running(), "the pool starts");
			for (int w = 0; w < 10000 && (commit_pool_ready(COMMIT_UNIT_PAIR) < 32 ||
										   commit_pool_ready(COMMIT_UNIT_BLIND) < 32); w++)
				usleep(1000);
			CHECK(commit_pool_ready(COMMIT_UNIT_PAIR) >= 32 && commit_pool_ready(COMMIT_UNIT_BLIND) >= 32,
				  "the threads make both kinds of units ahead");
		}
		for (int it = 0; it < 400; it++)
		{
			int			k = ks[it % 4];
			fp_t		c[KMAX],
						b[KMAX],
						s,
						y,
						t;
			uint8_t		pts[KMAX * PT];
			const uint8_t *c0 = pts;

			fp_random(&s);
			if (it % 7 == 0)
				s = fp_zero;
			c[0] = s;
			pedersen_share_poly(pts, c, b, k);
			bad += !fp_equal(&c[0], &s);
			bad += !pedersen_verify_openings(1, &c0, &s, &b[0]);
			for (uint8_t x = 1; x <= 6; x++)
			{
				pedersen_eval(&y, c, k, x);
				pedersen_eval(&t, b, k, x);
				bad += !pedersen_verify_share(pts, k, x, &y, &t);
			}
			if (k > 1)
			{
				reused += memcmp(prev, pts + (k - 1) * PT, PT) == 0;
				memcpy(prev, pts + (k - 1) * PT, PT);
			}
		}
		if (pass == 1)
		{
			CommitUnit	u[4];

			pooled = commit_pool_take(COMMIT_UNIT_PAIR, u, 4);
			commit_pool_stop();
			CHECK(!commit_pool_running() && commit_pool_take(COMMIT_UNIT_PAIR, u, 4) == 0 &&
				  commit_pool_take(COMMIT_UNIT_BLIND, u, 4) == 0, "a stopped pool hands out nothing");
		}
	}
	CHECK(bad == 0, "%d sharing checks failed", bad);
	CHECK(reused == 0, "%d commitments repeated", reused);
	CHECK(pooled > 0, "units left to take at the end (%d)", pooled);
}

/*
 * Units made in batches: each point is a G + b H of its own coefficients, and no
 * coefficient or point repeats (the batch's randomness is consumed, not reused)
 */
static void
test_units_distinct(void)
{
	enum
	{
		N = 40
	};
	static const uint8_t one[FP_BYTES] = {1};
	CommitUnit *u = malloc(sizeof(CommitUnit) * N);
	uint8_t		g[PT];
	RistrettoBaseTable *tg,
			   *th;
	int			same = 0,
				wrong = 0;

	if (crypto_scalarmult_ristretto255_base(g, one) != 0)
		abort();
	tg = ristretto_base_table(g);
	th = ristretto_base_table(pedersen_generator_h());
	commit_units_make(u, N, COMMIT_UNIT_PAIR, tg, th);
	for (int i = 0; i < N; i++)
	{
		uint8_t		a[FP_BYTES],
					b[FP_BYTES],
					ag[PT],
					bh[PT],
					want[PT];

		fp_to_bytes(a, &u[i].a);
		fp_to_bytes(b, &u[i].b);
		if (crypto_scalarmult_ristretto255(ag, a, g) != 0 ||
			crypto_scalarmult_ristretto255(bh, b, pedersen_generator_h()) != 0)
			wrong++;
		crypto_core_ristretto255_add(want, ag, bh);
		wrong += memcmp(want, u[i].point, PT) != 0;
		for (int j = 0; j < i; j++)
			same += fp_equal(&u[i].a, &u[j].a) || fp_equal(&u[i].b, &u[j].b) ||
				fp_equal(&u[i].a, &u[j].b) || memcmp(u[i].point, u[j].point, PT) == 0;
	}
	CHECK(wrong == 0, "%d units of %d are not a G + b H", wrong, N);
	CHECK(same == 0, "%d repeated coefficients or points among %d units", same, N);
	free(u);
	free(tg);
	free(th);
}

int
main(void)
{
	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_units_distinct();
	test_generator();
	test_eval();
	test_commit();
	test_verify_share();
	test_batch();
	test_openings();
	test_renewal();
	test_share_poly();
	return unit_finish("pedersen");
}
