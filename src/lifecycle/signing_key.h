/*
 * signing_key.h - this node's Ed25519 signing keys for commitment records.
 */
#ifndef SSN_SIGNING_KEY_H
#define SSN_SIGNING_KEY_H

#include "postgres.h"

/* the current secret key (64 bytes, libsodium layout), made on first use */
extern void signing_key_current(uint8 *sk);

/* whether pk (32 bytes) is one of this node's keys, current or retired */
extern bool signing_key_trusted(const uint8 *pk);

/* now, as a commitment record's timestamp (µs since 1970-01-01 UTC) */
extern int64 signing_now(void);

/* "signed by key <first 8 bytes, hex> at <time>" for a record's signer and timestamp */
extern char *signing_describe(const uint8 *signer, int64 signed_at);

#endif							/* SSN_SIGNING_KEY_H */
