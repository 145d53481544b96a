/*
 * renewal.h - proactive renewal of shares (Y.3808 §12.3).
 *
 * A renewal adds to every share of a secret the value at its x of a fresh random
 * polynomial with constant term zero: every share changes, the secret does not,
 * and shares of different epochs do not combine.  The SSA's worker deals the
 * zero-sharings (renewal.c), each shareholder adds its part (renewal_apply.c)
 * inside a transaction the coordinator prepares, and the coordinator switches
 * every holder from epoch e to e+1 with two-phase commit.
 */
#ifndef SSN_RENEWAL_H
#define SSN_RENEWAL_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* registers the coordinator's step in the node worker (one step of the renewal runs a pass) */
extern void renewal_init(void);

/*
 * The SSA's retrievals and computations hold this lock (shared) while they
 * gather shares; the worker takes it exclusively while it commits a batch's
 * switch on the holders, so no gathering sees some holders switched and others not.
 */
extern void renewal_lock_shared(void);
extern void renewal_unlock_shared(void);

/*
 * Queue a renewal run of every secret of this node (what ssn_renew does) in the
 * caller's transaction, with the rights the caller has (ssn.renewal_run); the node
 * worker is woken at commit.  Returns the run id.
 */
extern int64 renewal_queue_run(Oid requested_by, int32 batch_size);

/* peers whose prepared switch to a new epoch is not committed yet (do not ask them) */
extern List *renewal_stale_peers(void);

/* name is one of renewal_stale_peers() */
extern bool renewal_is_stale(List *stale, const char *name);

#endif							/* SSN_RENEWAL_H */
