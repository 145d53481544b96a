/*
 * store.h - ssn_store()'s buffered rows, written before anything reads them.
 */
#ifndef SSN_STORE_H
#define SSN_STORE_H

/* write the shares this transaction buffered (retrieval calls it first) */
extern void store_flush_pending(void);

/* the same, only if new secrets are buffered (a grant or deletion calls it first) */
extern void store_flush_new_secrets(void);

struct SecretHandle;

/* a fresh secret id (time-ordered, 64 random bits) */
extern void store_new_secret_id(uint8 *id);

/* buffer the ssn.secret row of a new secret owned by the current user */
extern void store_note_secret(const struct SecretHandle *h);

/* the record of secret id changed (a grant): sent to its holders at the next flush */
extern void store_note_changed(const uint8 *id);

/* the owner deleted secret id: applied at the next flush (ssa/delete.c) */
extern void store_note_deleted(const uint8 *id);

/*
 * Store one value of type argtype as ssn_store() does and return its handle.
 * k, n: STORE_DEFAULT for ssn.default_k / ssn.default_n; verify: -1 for
 * ssn.verify_shares, else 0 or 1.
 */
#define STORE_DEFAULT PG_INT32_MIN
extern Datum store_value(Datum value, Oid argtype, int32 k, int32 n, int verify);

/* refuse (42501, alarmed) a new secret on these holders that would give an organization k shares */
extern void store_check_placement(const uint8 *holders, int n, int k);

#endif							/* SSN_STORE_H */
