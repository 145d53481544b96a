/*
 * held_record.h - a holder keeps each secret's record, and hands a lost SSA's
 * secrets over to the successor its operator allowed (lifecycle/held_record.c).
 */
#ifndef SSN_HELD_RECORD_H
#define SSN_HELD_RECORD_H

#include "postgres.h"

/*
 * Hand the secrets of failed over to successor (unless has_after: a later page)
 * and return a page of their records (after the secret id `after`, `page` secrets)
 * as a JSON array, one object per held share (its epoch and commitment record)
 * or per record without one.  *moved: how many records were handed over now.
 */
extern char *held_record_hand_over(const char *failed, const char *successor, Datum after,
								   bool has_after, int page, int64 *moved);

/*
 * Keep the records of a records message (msg: its format byte and records) from
 * origin, the authenticated sender; false (why set) refuses them.  *kept: how many.
 */
extern bool held_record_keep(const char *origin, const uint8 *msg, size_t len, int *kept,
							 char *why, size_t whylen);

/* registers the message kind 'records' */
extern void held_record_init(void);

#endif							/* SSN_HELD_RECORD_H */
