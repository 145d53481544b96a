/*
 * own_writes.h - the values this transaction stored, read back by it before
 * COMMIT (ssa/own_writes.c).
 */
#ifndef SSN_OWN_WRITES_H
#define SSN_OWN_WRITES_H

#include "postgres.h"

#include "share/value_codec.h"

/* keep a copy of the value of secret id (threshold k), stored now by the current user */
extern void own_writes_keep(const uint8 *id, int k, const ShareValue *v);

/* this transaction keeps values (cheap: a test before any lookup) */
extern bool own_writes_any(void);

/* this transaction stored secret id, as role *owner */
extern bool own_writes_find(const uint8 *id, Oid *owner);

/* a copy of its value (the caller wipes it with value_wipe) and its k (k may be NULL) */
extern bool own_writes_get(const uint8 *id, ShareValue *out, int *k);

#endif							/* SSN_OWN_WRITES_H */
