/*
 * delete.h - ssn_delete(): the owner erases a secret everywhere (ssa/delete.c).
 */
#ifndef SSN_DELETE_H
#define SSN_DELETE_H

#include "postgres.h"

/*
 * Apply the buffered deletions of the secrets ids (uuid[]), by roles (oid[]), in the current
 * transaction: their records, marked deleted, queued for the holders; this
 * node's share, catalog row and grants dropped; tombstones kept.  Returns how
 * many were deleted; *max_outbox_id is raised to the last outbox row written.
 */
extern int64 delete_apply(Datum ids, Datum roles, int64 *max_outbox_id);

/* ERROR "secret ... was deleted" if the secret id (a uuid datum) was deleted here */
extern void delete_report_if_deleted(Datum id);

#endif							/* SSN_DELETE_H */
