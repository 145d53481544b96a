/*
 * channel.h - messages between nodes: QKD keys fetched and recorded in the key
 * ledger, then an envelope (envelope.h) sealed or opened with them.
 *
 * Key plan: a message of L plaintext bytes needs 32 + L bytes of key.  The sender
 * asks for the fewest keys the link allows (each at most max_key_size) of equal
 * size; the receiver derives the same size from L and the number of key IDs, so
 * no key size travels in the message.
 */
#ifndef SSN_CHANNEL_H
#define SSN_CHANNEL_H

#include "postgres.h"

#include "crypto/envelope.h"
#include "qkd/kme_client.h"
#include "net/catalog.h"
#include "share/value_list.h"

/* what a message carries (the envelope's public kind byte) */
#define MSG_KIND_SHARES 1		/* shares for the receiver to hold */
#define MSG_KIND_REPLY	2		/* shares served back to the SSA that asked */
#define MSG_KIND_TEST	3		/* a test message (ssn.channel_seal_test) */
#define MSG_KIND_PARTS	4		/* re-sharing contributions for a degree reduction */
#define MSG_KIND_RENEW	5		/* parts of zero-sharings: renew shares to the next epoch */
#define MSG_KIND_RESHARE_REQ 6	/* the SSA asks a helper for a re-sharing contribution */
#define MSG_KIND_RESHARE 7		/* a helper's contributions to a replacement's shares */
#define MSG_KIND_RECORDS 8		/* secrets' records (owner, grants, ...) for their holders */
#define MSG_KIND_STORED 9		/* new secrets: their records, then the receiver's shares */
#define MSG_KIND_OWNER_STORE VALUE_LIST_KIND_STORE	/* a data owner's values to store (SSN-U, ssa/owner_link) */
#define MSG_KIND_OWNER_VALUES VALUE_LIST_KIND_VALUES	/* values retrieved for a data owner (SSN-U) */
#define MSG_KIND_CATALOG 12		/* a signed change of the shareholder catalog (lifecycle/catalog_sync) */
#define MSG_KIND_REPLY_KEYS 13	/* IDs of keys the sender set aside for its replies (net/reply_key_copies) */
#define MSG_KIND_MAX	13

extern const char *channel_kind_name(int kind);

typedef struct SealedMessage
{
	bytea	   *envelope;
	char	  **key_ids;
	int			nkeys;
	int			size_bits;
	size_t		key_bytes;		/* key material consumed */
	size_t		pad_bytes;		/* bytes under the one-time pad (L) */
	uint8		msg_id[ENVELOPE_ID_SIZE];
} SealedMessage;

/*
 * Fetch keys for a message to peer, record them in the ledger as 'fetched' (in
 * the current transaction, or committed at once if autonomous), and seal.  The
 * caller settles the keys with channel_settle once the message was sent or not.
 */
extern SealedMessage *channel_seal(const char *self_name, const Shareholder *peer, int kind,
								   const uint8 *plaintext, size_t len, const char *purpose,
								   bool autonomous);

/*
 * Fetch keys for a message to peer, record them as 'used' committed at once
 * (whatever happens to the caller's transaction), and seal: for a message handed
 * over in the same call, which nothing settles later.
 */
extern SealedMessage *channel_seal_spent(const char *self_name, const Shareholder *peer, int kind,
										 const uint8 *plaintext, size_t len, const char *purpose);

/*
 * A reply sealed for peer in the call that hands it over: with keys from the
 * reply key reserve (on the record as spent already) when it has enough, else
 * as channel_seal_spent does.  fresh_keys: the peer no longer holds copies of
 * the reserve's keys (net/reply_key_copies.h): the reserve is dropped and the
 * reply sealed under keys fetched now.
 */
extern SealedMessage *channel_seal_reply(const char *self_name, const Shareholder *peer,
										 const uint8 *plaintext, size_t len, const char *purpose,
										 bool fresh_keys);

/*
 * Seal n messages at once for keeping: the keys of all of them are fetched, then
 * recorded as 'used' in one autonomous transaction (committed whatever happens
 * to the caller's), then each plaintext is sealed and its keys wiped.  Nothing
 * is left to settle.  A link whose pool is short of key is waited for, up to
 * ssn.kme_timeout per message.  If a fetch fails, *failed is the index of its message, the
 * keys fetched before it are recorded 'discarded', and the error is raised.
 */
extern SealedMessage **channel_seal_many(const char *self_name, const Shareholder *const *peers,
										 int kind, const uint8 *const *plaintexts,
										 const size_t *lens, int n, const char *purpose,
										 int *failed);

/*
 * channel_seal_many for delivery: the sealed messages written to ssn.outbox
 * (the caller's transaction, SPI connected), for the node worker to send.
 * Returns the highest outbox id written.
 */
extern int64 channel_queue_many(const char *self_name, const Shareholder *const *peers, int kind,
								const uint8 *const *plaintexts, const size_t *lens, int n);

/*
 * A message sealed earlier (an outbox row) as the worker sends it: its key IDs
 * and key plan from its header (v is filled in).  Raises if it is malformed.
 */
extern SealedMessage *channel_sealed_message(const Shareholder *peer, bytea *envelope,
											 EnvelopeView *v);

extern void channel_settle(SealedMessage *m, const char *state, bool autonomous);

/* the size in bits of each key of a received message (the sender's key plan) */
extern int	channel_received_key_bits(const EnvelopeView *v, const char *sender_sae);

/* the key IDs of a parsed envelope, as palloc'd strings */
extern char **channel_key_ids(const EnvelopeView *v);

/* a parsed envelope's sender or receiver name as a string */
extern char *channel_name(const uint8 *p, size_t len);

/*
 * The names and key IDs of an envelope's header are printable text: they come
 * before the MAC is checked, so nothing else from them may reach a log or a table.
 */
extern bool channel_header_is_text(const EnvelopeView *v);

/*
 * Fetch the keys of a received envelope from the KME (dec_keys from the sender's
 * SAE) and open it: the plaintext (palloc'd; wipe it) or NULL if the tag does not
 * verify.  KME errors are raised.
 */
extern uint8 *channel_open(const EnvelopeView *v, const char *sender_sae, char **key_ids,
						   size_t *key_bytes);

/*
 * channel_open in a subtransaction: a KME that refuses the keys (unknown or
 * already delivered IDs) fails this message only; *failure says why.
 */
extern uint8 *channel_open_guarded(const EnvelopeView *v, const char *sender_sae,
								   char **key_ids, size_t *key_bytes, char **failure);

/*
 * channel_open_guarded in two steps: the keys fetched (NULL and *failure if the
 * KME refuses them), then the envelope opened with them (the batch is wiped and
 * freed; NULL if the tag does not verify).  Between the two the caller makes sure
 * the key IDs are on the record before any key is used.
 */
/*
 * The plaintext of an opened envelope (*len bytes): the opened bytes themselves,
 * or for a version 2 envelope the share batch joined from its clear part and the
 * opened secret part (opened is then wiped and freed).  NULL with err set if the
 * two parts do not make a valid batch.
 */
extern uint8 *channel_plaintext(const EnvelopeView *v, uint8 *opened, size_t *len,
								char *err, size_t errlen);

extern KmeKeyBatch *channel_keys_guarded(const EnvelopeView *v, const char *sender_sae,
										 char **key_ids, char **failure);
extern uint8 *channel_open_with(const EnvelopeView *v, KmeKeyBatch *batch, size_t *key_bytes);

struct PeerCall;

/* the announcement and the message calls of a sealed message (peer_conn.h) */
extern void channel_prepare_calls(const SealedMessage *m, const Shareholder *peer,
								  const char *self, struct PeerCall *ann, struct PeerCall *rcv);

/*
 * Seal a message for peer and deliver it now (announce, then receive), from a
 * backend rather than the worker; the keys are settled either way.  Returns the
 * receiver's status, or NULL with *error set if it could not be delivered.
 */
extern char *channel_send_now(const char *self_name, const Shareholder *peer, int kind,
							  const uint8 *plaintext, size_t len, const char *purpose,
							  char **error);

/* the same, the receiver given timeout_ms to answer (channel_send_now: a minute at least) */
extern char *channel_send_now_within(const char *self_name, const Shareholder *peer, int kind,
									 const uint8 *plaintext, size_t len, const char *purpose,
									 int timeout_ms, char **error);

/* add to ssn.link_stats (current transaction) */
typedef struct LinkCounts
{
	int64		messages;
	int64		shares;
	int64		share_bytes;
	int64		payload_bytes;
	int64		envelope_bytes;
	int64		key_bytes;
	int64		rejected;
} LinkCounts;

extern void channel_account(const char *peer, const char *direction, const LinkCounts *c);


#endif							/* SSN_CHANNEL_H */
