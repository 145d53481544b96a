/*
 * commit_pool.c - random Pedersen commitment pairs made ahead by helper threads
 * (see commit_pool.h).
 *
 * One mutex guards a stack of ready units.  The threads fill it up to `target`
 * units, which starts small (a session storing one secret costs a few
 * milliseconds of another core, once) and doubles each time a split finds the
 * stack short, up to COMMIT_POOL_MAX_UNITS; then they sleep on a condition
 * variable until units are taken.  Units are made outside the lock, in batches
 * that share one field inversion.
 */
#include "crypto/commit_pool.h"

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

static CommitUnit ring[COMMIT_POOL_MAX_UNITS];
static int	ready;				/* units in ring[0 .. ready - 1] */
static int	making;				/* units being made outside the lock */
static int	target = INITIAL_TARGET;

static void
random_fill(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

void
commit_units_make(CommitUnit *u, int m, const RistrettoBaseTable *tg, const RistrettoBaseTable *th)
{
	uint8_t		a[MAKE_BATCH * FP_BYTES],
				b[MAKE_BATCH * FP_BYTES],
				points[MAKE_BATCH * 32];
	RistrettoAddend sum[MAKE_BATCH];

	for (int off = 0; off < m; off += MAKE_BATCH)
	{
		int			c = m - off < MAKE_BATCH ? m - off : MAKE_BATCH;

		for (int j = 0; j < c; j++)
		{
			fp_random_from(&u[off + j].a, random_fill);
			fp_random_from(&u[off + j].b, random_fill);
			fp_to_bytes(a + j * FP_BYTES, &u[off + j].a);
			fp_to_bytes(b + j * FP_BYTES, &u[off + j].b);
		}
		ristretto_base_mul2_keep(points, sum, tg, a, th, b, c);
		for (int j = 0; j < c; j++)
		{
			memcpy(u[off + j].point, points + 32 * j, 32);
			u[off + j].sum = sum[j];
		}
	}
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	sodium_memzero(sum, sizeof(sum));
}

static void *
helper_main(void *arg)
{
	CommitUnit	batch[MAKE_BATCH];

	(void) arg;
	for (;;)
	{
		int			m;

		pthread_mutex_lock(&lock);
		while (!stopping && ready + making >= target)
			pthread_cond_wait(&wanted, &lock);
		if (stopping)
		{
			pthread_mutex_unlock(&lock);
			break;
		}
		m = target - ready - making;
		if (m > MAKE_BATCH)
			m = MAKE_BATCH;
		making += m;
		pthread_mutex_unlock(&lock);

		commit_units_make(batch, m, table_g, table_h);

		pthread_mutex_lock(&lock);
		making -= m;
		if (!stopping)
		{
			int			room = COMMIT_POOL_MAX_UNITS - ready;

			if (m > room)
				m = room;
			memcpy(&ring[ready], batch, sizeof(CommitUnit) * m);
			ready += m;
		}
		pthread_mutex_unlock(&lock);
		sodium_memzero(batch, sizeof(batch));
	}
	return NULL;
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
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&wanted, NULL);
	sodium_memzero(ring, sizeof(CommitUnit) * ready);
	nthreads = 0;
	ready = making = 0;
	target = INITIAL_TARGET;
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
	sodium_memzero(ring, sizeof(CommitUnit) * ready);
	ready = making = 0;
	stopping = false;
}

int
commit_pool_ready(void)
{
	int			n;

	if (!commit_pool_running())
		return 0;
	pthread_mutex_lock(&lock);
	n = ready;
	pthread_mutex_unlock(&lock);
	return n;
}

int
commit_pool_take(CommitUnit *u, int m)
{
	int			got;

	if (m <= 0 || !commit_pool_running())
		return 0;
	pthread_mutex_lock(&lock);
	got = m < ready ? m : ready;
	memcpy(u, &ring[ready - got], sizeof(CommitUnit) * got);
	sodium_memzero(&ring[ready - got], sizeof(CommitUnit) * got);
	ready -= got;
	if (got < m && target < COMMIT_POOL_MAX_UNITS)
		target = target * 2 < COMMIT_POOL_MAX_UNITS ? target * 2 : COMMIT_POOL_MAX_UNITS;
	if (ready + making < target)
		pthread_cond_broadcast(&wanted);
	pthread_mutex_unlock(&lock);
	return got;
}
