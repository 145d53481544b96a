/*
 * key_reserve.h - QKD keys set aside for replies.  A shareholder answers a
 * retrieval while the SSA waits; asking its KME and committing the key ledger
 * then is most of the wait.  So the node worker fetches keys for each peer link
 * ahead of time and records them in the key ledger as spent ('used', purpose
 * 'reply reserve') before any process can use them; a reply takes whole keys
 * from the reserve, and only falls back to asking the KME when the reserve of
 * that link is short.  The keys live in shared memory only: a crash loses them,
 * and they are on the record as spent already (the safe side).
 *
 * The asking end has the same wait on its side (its KME, and the ledger's commit
 * before a key is used), so every refill is announced to the peer (message kind
 * 'reply keys': the key IDs, in clear and authenticated), which fetches its
 * copies ahead (net/reply_key_copies.h).
 */
#ifndef SSN_KEY_RESERVE_H
#define SSN_KEY_RESERVE_H

#include "net/catalog.h"
#include "qkd/kme_client.h"

/* Keys of this size are reserved (within the link's limits, or none are), at most this many a link. */
#define KEY_RESERVE_KEY_BITS	256
#define KEY_RESERVE_KEYS		512

/* Set up the shared memory and the worker pass that refills it (_PG_init). */
extern void key_reserve_init(void);

/*
 * Whole keys for a message of need_bytes of key stream to peer, taken out of the
 * reserve (and wiped there), or NULL if the reserve cannot cover it.  The batch's
 * keys are already recorded as spent.
 */
extern KmeKeyBatch *key_reserve_take(const Shareholder *peer, size_t need_bytes);

/*
 * Wipe the reserve of peer's link: the peer asked for a reply under fresh keys
 * because it no longer holds the copies it fetched of these (net/reply_key_copies).
 */
extern void key_reserve_drop(const Shareholder *peer);

/*
 * Keep pages of key material in shared memory out of core dumps and swap, as far
 * as the system allows (in the postmaster, before any process forks).
 */
extern void key_pages_protect(void *pages, size_t len, const char *what);

#endif							/* SSN_KEY_RESERVE_H */
