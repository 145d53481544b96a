/*
 * commit_pool.h - random Pedersen commitment pairs made ahead, on other cores.
 *
 * Of a sharing's k commitments C_i = a_i G + b_i H, all but the secret's own
 * (C_0) have uniformly random a_i and b_i: nothing of the value goes into them,
 * so they can be made before the value is known.  A unit is such a pair with its
 * commitment; helper threads of this process keep a ring of them filled, and a
 * verifiable split takes its units from it (pedersen_share_poly).  C_0 takes a
 * blinding unit, b H alone (half the work of a pair): C_0 = s G + b H is then one
 * table multiplication instead of two.  So a store's own thread does about a
 * sixth of the point arithmetic it did, the rest overlapping on another core.
 *
 * A unit is handed out once and wiped from the ring as it is taken.  The ring only
 * ever holds randomness not yet tied to any secret.  The threads call nothing of
 * PostgreSQL (no palloc, no ereport), block every signal, and draw each batch's
 * randomness at once under a key fresh from the kernel (ssn_random_bytes_fresh,
 * thread-safe), wiped as it is used; a process forked from one with a pool never
 * uses its parent's.
 *
 * Plain C (no PostgreSQL headers): unit tests and the benchmark link it.
 */
#ifndef SSN_COMMIT_POOL_H
#define SSN_COMMIT_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/ristretto_base.h"
#include "math/field_p.h"

typedef struct CommitUnit
{
	fp_t		a;				/* uniform coefficient (0 in a blinding unit) */
	fp_t		b;				/* uniform blinding coefficient */
	uint8_t		point[32];		/* a G + b H, encoded (zero in a blinding unit: b H is secret) */
	RistrettoAddend sum;		/* a G + b H, for an addition */
} CommitUnit;

/* what a unit is for */
typedef enum CommitUnitKind
{
	COMMIT_UNIT_PAIR = 0,		/* a higher coefficient: a G + b H, a and b random */
	COMMIT_UNIT_BLIND = 1,		/* the secret's own: b H alone, C_0 = s G + b H */
	COMMIT_UNIT_KINDS = 2
} CommitUnitKind;

/* units of each kind kept at most (about 220 bytes each) */
#define COMMIT_POOL_MAX_UNITS 2048
#define COMMIT_POOL_MAX_THREADS 16

/* m units of a kind made here and now (what the threads run) */
extern void commit_units_make(CommitUnit *u, int m, CommitUnitKind kind,
							  const RistrettoBaseTable *tg, const RistrettoBaseTable *th);

/*
 * Start `threads` helper threads (1..COMMIT_POOL_MAX_THREADS) for tables tg, th
 * (which must outlive them), unless they run already.  False if a thread could
 * not be started (the pool then stays off; splits make every unit themselves).
 */
extern bool commit_pool_start(int threads, const RistrettoBaseTable *tg, const RistrettoBaseTable *th);

/* stop and join the threads and wipe the ring; a no-op when none run */
extern void commit_pool_stop(void);

/* whether this process's threads run */
extern bool commit_pool_running(void);

/* units of a kind ready now (for tests and statistics) */
extern int	commit_pool_ready(CommitUnitKind kind);

/*
 * Up to m ready units of a kind, copied to u and wiped from the ring; the number
 * taken (0 when no pool runs).  Taking fewer than asked raises how many of that
 * kind the threads keep ready, up to COMMIT_POOL_MAX_UNITS.
 */
extern int	commit_pool_take(CommitUnitKind kind, CommitUnit *u, int m);

#endif							/* SSN_COMMIT_POOL_H */
