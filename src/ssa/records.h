/*
 * records.h - the SSA sends its secrets' records to their holders (ssa/records.c).
 */
#ifndef SSN_RECORDS_H
#define SSN_RECORDS_H

#include "postgres.h"

/*
 * Seal the records of the secrets ids (uuid[]; every secret of this node if
 * all) for their holders and queue them in ssn.outbox, in the caller's
 * transaction; deleted marks them deleted; only_x > 0: only for the holder at
 * that share index, of the secrets it holds a share of.  Returns the messages queued;
 * *max_outbox_id is raised to the last outbox row written.
 */
extern int64 records_queue(Datum ids, bool all, bool deleted, int only_x, int64 *max_outbox_id);

/* after a re-sharing, the replacement gets its records (lifecycle/reshare's hook) */
extern void records_init(void);

#endif							/* SSN_RECORDS_H */
