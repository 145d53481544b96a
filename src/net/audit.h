/*
 * audit.h - the audit trail's entries (ssn.audit_log): every operation on
 * secrets, by the role that did it.  The calls of one transaction are summed
 * per operation and role (a count, the one id or a digest of the ids) and
 * written when it ends: the changes' rows in the transaction itself when it
 * commits; the reads' rows, and those of a transaction that rolls back (a
 * retrieval has shown its values all the same) or may not write, through the
 * node worker.  Chaining and signing: lifecycle/audit_seal.
 */
#ifndef SSN_AUDIT_H
#define SSN_AUDIT_H

#include "postgres.h"

typedef enum AuditOp
{
	AUDIT_STORE,
	AUDIT_RETRIEVE,
	AUDIT_COMPUTE,				/* a computed handle or an aggregate rebuilt */
	AUDIT_GRANT,
	AUDIT_REVOKE,
	AUDIT_VERIFY,
	AUDIT_RENEW,
	AUDIT_RESHARE,
	AUDIT_TAKE_OVER,
	AUDIT_DELETE,
	AUDIT_NOPS
} AuditOp;

/* one secret (its 16-byte id) */
extern void audit_note(AuditOp op, const uint8 *id);

/* one secret of value_bytes (a store: what its value takes in its shares) */
extern void audit_note_bytes(AuditOp op, const uint8 *id, int64 value_bytes);

/* an operation refused by policy (recorded with outcome 'refused', whatever follows) */
extern void audit_note_refused(AuditOp op);

/* n secrets whose ids the caller does not list (a re-share; 0: a renewal run queued) */
extern void audit_note_count(AuditOp op, int64 n);

/*
 * QKD key bytes this transaction spent for op (AUDIT_NOPS: for the operation
 * noted last, whose shares a retrieval is collecting), counted on its row.
 */
extern void audit_key_bytes(AuditOp op, int64 bytes);

/* shared memory and the worker pass (from _PG_init) */
extern void audit_init(void);

#endif							/* SSN_AUDIT_H */
