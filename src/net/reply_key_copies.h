/*
 * reply_key_copies.h - this node's copies of the keys its peers set aside for
 * their replies to it (net/key_reserve.h).  A peer announces each refill of its
 * reserve (message kind 'reply keys'); this node records the IDs in the key
 * ledger, held by the server (purpose 'reply keys ahead'), fetches the keys from
 * its KME (dec_keys) and keeps them in shared memory.  A retrieval then opens a
 * reply under them without asking the KME or waiting for a ledger commit.
 *
 * A copy this node lost (a restart, a fetch that failed, a copy pushed out by
 * newer ones) cannot be fetched again: the KME hands a key out once.  A reply
 * under such a key is not a fault of the peer; the asker asks it again for a
 * reply under fresh keys (ssn.channel_fetch(..., fresh_keys => true)), and the
 * peer drops the rest of that reserve.
 */
#ifndef SSN_REPLY_KEY_COPIES_H
#define SSN_REPLY_KEY_COPIES_H

#include "crypto/envelope.h"
#include "net/catalog.h"
#include "qkd/kme_client.h"

#define REPLY_KEYS_AHEAD_PURPOSE "reply keys ahead"

/*
 * How the answer to an announcement begins when the keys are on this node's
 * record but it could not fetch them (its KME refused): the announcing peer must
 * not use them, every reply under them would be asked for again.
 */
#define REPLY_KEYS_BURNT "burnt"

/* shared memory and the message kind (_PG_init) */
extern void reply_key_copies_init(void);

/*
 * The keys of a reply from sender (v, its key IDs ids) out of the copies, wiped
 * there: all of them, or NULL (and none taken) if any is missing.  Their ledger
 * rows are 'fetched' by the server; settle them with ledger_finish_server_held.
 */
extern KmeKeyBatch *reply_key_copies_take(const Shareholder *sender, const EnvelopeView *v,
										  char **ids);

/*
 * The reply's keys were fetched ahead by this node (their rows say so), and are
 * no longer held: the peer is not at fault, ask it for fresh keys.  Runs SPI on
 * ssn.key_ledger in the current transaction (SPI not connected, privileged).
 */
extern bool reply_key_copies_lost(char **ids, int n);

#endif							/* SSN_REPLY_KEY_COPIES_H */
