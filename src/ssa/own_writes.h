/*
 * own_writes.h - the values this transaction stored, read back by it before
 * COMMIT (ssa/own_writes.c).
 */
#ifndef SSN_OWN_WRITES_H
#define SSN_OWN_WRITES_H

#include "postgres.h"

#include "share/value_codec.h"

/* keep a copy of the value of secret id, stored now by the current user */
extern void own_writes_keep(const uint8 *id, const ShareValue *v);

/* a copy of it (the caller wipes it with value_wipe) and the role that stored it */
extern bool own_writes_get(const uint8 *id, ShareValue *out, Oid *owner);

#endif							/* SSN_OWN_WRITES_H */
