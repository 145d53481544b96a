/*
 * key_reserve.h - QKD keys set aside for replies.  A shareholder answers a
 * retrieval while the SSA waits; asking its KME and committing the key ledger
 * then is most of the wait.  So the node worker fetches keys for each peer link
 * ahead of time and records them in the key ledger as spent ('used', purpose
 * 'reply reserve') before any process can use them; a reply takes whole keys
 * from the reserve, and only falls back to asking the KME when the reserve of
 * that link is short.  The keys live in shared memory only: a crash loses them,
 * and they are on the record as spent already (the safe side).
 */
#ifndef SSN_KEY_RESERVE_H
#define SSN_KEY_RESERVE_H

#include "net/catalog.h"
#include "qkd/kme_client.h"

/* Keys of this size are reserved (within the link's limits, or none are). */
#define KEY_RESERVE_KEY_BITS	256

/* Set up the shared memory and the worker pass that refills it (_PG_init). */
extern void key_reserve_init(void);

/*
 * Whole keys for a message of need_bytes of key stream to peer, taken out of the
 * reserve (and wiped there), or NULL if the reserve cannot cover it.  The batch's
 * keys are already recorded as spent.
 */
extern KmeKeyBatch *key_reserve_take(const Shareholder *peer, size_t need_bytes);

#endif							/* SSN_KEY_RESERVE_H */
