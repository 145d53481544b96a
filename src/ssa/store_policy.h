/*
 * store_policy.h - what a role may store (ssn.store_policy): the least k, the n
 * allowed, verification required, the value types allowed, a quota of secrets.
 * Y.3808 §10.2 (the controller's policy control).
 */
#ifndef SSN_STORE_POLICY_H
#define SSN_STORE_POLICY_H

#include "postgres.h"

typedef struct StorePolicy StorePolicy;

/*
 * The rows that apply to the current role (its own, those of roles it is a
 * member of, and the one for every role), merged: the strictest holds.  In the
 * current memory context; NULL if none applies.
 */
extern StorePolicy *store_policy_load(void);

/* store_policy_load for the current role, once per transaction and role */
extern StorePolicy *store_policy_current(void);

/* the role the policy was loaded for */
extern Oid	store_policy_role(const StorePolicy *p);

/*
 * Refuse (42501, 54000 for the quota; alarmed) a store of a value of type
 * type_oid with k and n, unverified if no Pedersen commitments will check it
 * (a value of a prime-field type stored with verification off).  A store it
 * lets through is counted against the quota.
 */
extern void store_policy_check(StorePolicy *p, Oid type_oid, int k, int n, bool unverified,
							   int64 value_bytes);

#endif							/* SSN_STORE_POLICY_H */
