/*
 * commit_pool.c - random Pedersen commitment pairs made ahead by helper threads
 * (see commit_pool.h).
 *
 * One mutex guards a stack of ready units per kind.  The threads fill each up
 * to its `target`, which starts small (a session storing one secret costs a few
 * milliseconds of another core, once) and doubles each time a split finds the
 * stack short, up to COMMIT_POOL_MAX_UNITS; they make the kind furthest below
 * its target first, and sleep on a condition variable when every kind is at it.
 * Units are made outside the lock, in batches that share one field inversion.
 */
#include "crypto/commit_pool.h"
#include "math/random.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define INITIAL_TARGET 64
#define MAKE_BATCH 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wanted = PTHREAD_COND_INITIALIZER;
static pthread_t threads[COMMIT_POOL_MAX_THREADS];
static int	nthreads;
static pid_t owner;				/* the process whose threads these are */
static bool stopping;
static const RistrettoBaseTable *table_g;
static const RistrettoBaseTable *table_h;

/* the ready units of one kind, a stack */
typedef struct UnitStack
{
	CommitUnit	ring[COMMIT_POOL_MAX_UNITS];
	int			ready;			/* units in ring[0 .. ready - 1] */
	int			making;			/* units being made outside the lock */
	int			target;			/* units to keep ready */
} UnitStack;

static UnitStack stacks[COMMIT_UNIT_KINDS];

/*
 * A batch's randomness, drawn at once under a key fresh from the kernel (one
 * system call, not one per 64 bytes) and wiped as it is used; the rare candidate
 * rejection sampling needs beyond it comes from the kernel directly.
 */
#define FILL_BYTES	(MAKE_BATCH * 2 * 2 * 2 * FP_BYTES)	/* two fills per coefficient */
static __thread uint8_t *fill_buf;
static __thread size_t fill_left;

static void
random_fill(void *buf, size_t len)
{
	if (fill_buf != NULL && fill_left >= len)
	{
		memcpy(buf, fill_buf + fill_left - len, len);
		sodium_memzero(fill_buf + fill_left - len, len);
		fill_left -= len;
	}
	else
		randombytes_buf(buf, len);
}

void
commit_units_make(CommitUnit *u, int m, CommitUnitKind kind, const RistrettoBaseTable *tg,
				  const RistrettoBaseTable *th)
{
	uint8_t		a[MAKE_BATCH * FP_BYTES],
				b[MAKE_BATCH * FP_BYTES],
				points[MAKE_BATCH * 32];
	RistrettoAddend sum[MAKE_BATCH];
	uint8_t		rnd[FILL_BYTES];

	for (int off = 0; off < m; off += MAKE_BATCH)
	{
		int			c = m - off < MAKE_BATCH ? m - off : MAKE_BATCH;

		ssn_random_bytes_fresh(rnd, sizeof(rnd));
		fill_buf = rnd;
		fill_left = sizeof(rnd);
		for (int j = 0; j < c; j++)
		{
			if (kind == COMMIT_UNIT_PAIR)
				fp_random_from(&u[off + j].a, random_fill);
			else
				u[off + j].a = fp_zero;
			fp_random_from(&u[off + j].b, random_fill);
			fp_to_bytes(a + j * FP_BYTES, &u[off + j].a);
			fp_to_bytes(b + j * FP_BYTES, &u[off + j].b);
		}
		/* a pair's point is a commitment, public; b H stays secret, never encoded */
		if (kind == COMMIT_UNIT_PAIR)
			ristretto_base_mul2_keep(points, sum, tg, a, th, b, c);
		else
			ristretto_base_mul_keep(NULL, sum, th, b, c);
		for (int j = 0; j < c; j++)
		{
			if (kind == COMMIT_UNIT_PAIR)
				memcpy(u[off + j].point, points + 32 * j, 32);
			else
				memset(u[off + j].point, 0, 32);
			u[off + j].sum = sum[j];
		}
	}
	fill_buf = NULL;
	fill_left = 0;
	sodium_memzero(rnd, sizeof(rnd));
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	sodium_memzero(points, sizeof(points));
	sodium_memzero(sum, sizeof(sum));
}

/* the kind furthest below its target, or -1 when every kind is at it (under the lock) */
static int
most_wanted(void)
{
	int			best = -1,
				best_short = 0;

	for (int kind = 0; kind < COMMIT_UNIT_KINDS; kind++)
	{
		UnitStack  *st = &stacks[kind];
		int			short_by = st->target - st->ready - st->making;

		if (short_by > best_short)
		{
			best = kind;
			best_short = short_by;
		}
	}
	return best;
}

static void *
helper_main(void *arg)
{
	CommitUnit	batch[MAKE_BATCH];

	(void) arg;
	for (;;)
	{
		int			kind,
					m;
		UnitStack  *st;

		pthread_mutex_lock(&lock);
		while (!stopping && (kind = most_wanted()) < 0)
			pthread_cond_wait(&wanted, &lock);
		if (stopping)
		{
			pthread_mutex_unlock(&lock);
			break;
		}
		st = &stacks[kind];
		m = st->target - st->ready - st->making;
		if (m > MAKE_BATCH)
			m = MAKE_BATCH;
		st->making += m;
		pthread_mutex_unlock(&lock);

		commit_units_make(batch, m, (CommitUnitKind) kind, table_g, table_h);

		pthread_mutex_lock(&lock);
		st->making -= m;
		if (!stopping)
		{
			int			room = COMMIT_POOL_MAX_UNITS - st->ready;

			if (m > room)
				m = room;
			memcpy(&st->ring[st->ready], batch, sizeof(CommitUnit) * m);
			st->ready += m;
		}
		pthread_mutex_unlock(&lock);
		sodium_memzero(batch, sizeof(batch));
	}
	return NULL;
}

/* every kind's units wiped, its counts reset */
static void
stacks_reset(void)
{
	for (int kind = 0; kind < COMMIT_UNIT_KINDS; kind++)
	{
		UnitStack  *st = &stacks[kind];

		sodium_memzero(st->ring, sizeof(CommitUnit) * st->ready);
		st->ready = st->making = 0;
		st->target = INITIAL_TARGET;
	}
}

bool
commit_pool_running(void)
{
	return nthreads > 0 && owner == getpid();
}

bool
commit_pool_start(int n, const RistrettoBaseTable *tg, const RistrettoBaseTable *th)
{
	sigset_t	all,
				old;

	if (commit_pool_running())
		return true;
	if (n < 1)
		return false;
	if (n > COMMIT_POOL_MAX_THREADS)
		n = COMMIT_POOL_MAX_THREADS;
	/* a forked child has none of its parent's threads, and maybe a lock held by one */
	if (owner != 0 && owner != getpid())
	{
		pthread_mutex_init(&lock, NULL);
		pthread_cond_init(&wanted, NULL);
	}
	stacks_reset();
	nthreads = 0;
	stopping = false;
	table_g = tg;
	table_h = th;
	owner = getpid();

	/* signals are the process's (its latch, its interrupts): the threads take none */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < n; i++)
	{
		if (pthread_create(&threads[nthreads], NULL, helper_main, NULL) != 0)
			break;
		nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (nthreads < n)
	{
		commit_pool_stop();
		return false;
	}
	return true;
}

void
commit_pool_stop(void)
{
	if (!commit_pool_running())
	{
		nthreads = 0;
		return;
	}
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&wanted);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	nthreads = 0;
	stacks_reset();
	stopping = false;
}

int
commit_pool_ready(CommitUnitKind kind)
{
	int			n;

	if (!commit_pool_running())
		return 0;
	pthread_mutex_lock(&lock);
	n = stacks[kind].ready;
	pthread_mutex_unlock(&lock);
	return n;
}

int
commit_pool_take(CommitUnitKind kind, CommitUnit *u, int m)
{
	UnitStack  *st = &stacks[kind];
	int			got;

	if (m <= 0 || !commit_pool_running())
		return 0;
	pthread_mutex_lock(&lock);
	got = m < st->ready ? m : st->ready;
	memcpy(u, &st->ring[st->ready - got], sizeof(CommitUnit) * got);
	sodium_memzero(&st->ring[st->ready - got], sizeof(CommitUnit) * got);
	st->ready -= got;
	if (got < m && st->target < COMMIT_POOL_MAX_UNITS)
		st->target = st->target * 2 < COMMIT_POOL_MAX_UNITS ? st->target * 2 : COMMIT_POOL_MAX_UNITS;
	if (st->ready + st->making < st->target)
		pthread_cond_broadcast(&wanted);
	pthread_mutex_unlock(&lock);
	return got;
}
