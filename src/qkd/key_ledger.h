/*
 * key_ledger.h - the durable ledger of QKD key IDs (table ssn.key_ledger).
 *
 * Every key ID obtained from the KME, for sending (enc_keys) or receiving
 * (dec_keys), is recorded as 'fetched' - committed - before its key material is
 * used; then it becomes 'used', 'discarded' or 'lost'.  key_id is the primary key,
 * so an ID is never recorded twice.
 */
#ifndef SSN_KEY_LEDGER_H
#define SSN_KEY_LEDGER_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* longest shareholder name and purpose we record */
#define LEDGER_NAME_MAXLEN 63

typedef enum LedgerDirection
{
	LEDGER_SEND,				/* from enc_keys: this node is the master */
	LEDGER_RECEIVE				/* for dec_keys: this node is the slave */
} LedgerDirection;

typedef struct LedgerEntries
{
	LedgerDirection direction;
	const char *peer;			/* shareholder name */
	const char *peer_sae;		/* its SAE ID */
	const char *purpose;
	int			size_bits;
	int			nids;
	const char *const *key_ids;
} LedgerEntries;

/*
 * Record the IDs as 'fetched', held by this backend.  An ID already in the ledger
 * is refused with ERRCODE_UNIQUE_VIOLATION and nothing is recorded.  With
 * autonomous, the rows are committed (by a short-lived background worker in this
 * database) before the call returns, whatever happens to the caller's transaction;
 * otherwise they join the current transaction, which must commit before the keys
 * are used (the channel workers do that).
 */
extern void ledger_record(const LedgerEntries *e, bool autonomous);

/*
 * The same for several batches (one autonomous transaction for all of them).
 * With refused (n entries), each batch stands alone: one whose IDs the ledger
 * already has (a replay) is left out and refused[i] says why (else NULL); the
 * others are recorded.  Without, any refusal is raised and nothing is recorded.
 */
extern void ledger_record_many(const LedgerEntries *e, int n, bool autonomous, char **refused);

/*
 * ledger_record_many (autonomous) in two steps: handed to the key ledger writer
 * now, its commit and refusals awaited by ledger_record_many_wait.  In between
 * the keys may be fetched from the KME, not used: a key is used only once its ID
 * is on the record (and an ID refused then is wiped unused).
 */
typedef struct LedgerRecording LedgerRecording;
extern LedgerRecording *ledger_record_many_start(const LedgerEntries *e, int n, char **refused);
extern void ledger_record_many_wait(LedgerRecording *rec);

/*
 * Record the IDs and settle them as state in one autonomous transaction: for
 * keys whose use cannot wait for the caller's transaction (a store seals its
 * peers' shares before it commits, and the sealed bytes may outlive it).  A
 * crash after the record and before the use leaves an ID settled that was never
 * used: it is spent all the same, which is the safe side.
 */
extern void ledger_record_settled(const LedgerEntries *e, int n, const char *state);

/*
 * Keys held in shared memory (net/key_reserve: copies of keys a peer set aside
 * for its replies) belong to no process but to the server: their rows name as
 * holder the postmaster and the time shared memory was set up, so they stay
 * 'fetched' while the server runs and the sweep settles them as 'lost' after a
 * restart (a crash restart included).  false if the ledger's shared memory is
 * not there (ssn not in shared_preload_libraries).
 */
extern bool ledger_server_holder(int *pid, TimestampTz *start);

/* ledger_record_many (autonomous, each entry refusable) with the server as holder */
extern void ledger_record_server_held(const LedgerEntries *e, int n, char **refused);

/* settle IDs the server holds, unwaited (as ledger_finish_unwaited) */
extern void ledger_finish_server_held(const char *const *key_ids, int nids, const char *state);

/* the IDs the ledger does not have, in their order, into out (nids slots); how many */
extern int	ledger_unrecorded(const char *const *key_ids, int nids, const char **out);

/* any of the IDs is a received key of this purpose that was not used ('fetched', 'lost', 'discarded') */
extern bool ledger_received_unused(const char *const *key_ids, int nids, const char *purpose);

/* the IDs of this purpose the server holds, fetched over older_than_s seconds ago (palloc'd) */
extern char **ledger_server_held(const char *purpose, int older_than_s, int *n);

/* Move this backend's 'fetched' IDs to state ('used', 'discarded' or 'lost'). */
extern void ledger_finish(const char *const *key_ids, int nids, const char *state,
						  bool autonomous);

/*
 * The same, autonomous, without waiting for the commit: handed to the long-lived
 * key ledger writer, which settles the IDs before any later request of this
 * backend (one queue, in order).  The IDs are on the record as 'fetched' already;
 * a crash before the writer commits leaves them to be settled as 'lost'.  With
 * no long-lived writer it waits, as ledger_finish does.
 */
extern void ledger_finish_unwaited(const char *const *key_ids, int nids, const char *state);

/*
 * A message that arrives again with the same key IDs (its sender resends the
 * bytes it sealed once, after a failure it could not see the end of):
 *   LEDGER_RESENT_RECEIVED  every ID was used here: the message was opened before
 *   LEDGER_RESENT_RETAKEN   every ID was 'lost' or 'discarded' (a receipt that
 *                           failed or never finished): now 'fetched' by this
 *                           backend again, so the message can be opened (if the
 *                           KME still has its keys; it hands each out once)
 *   LEDGER_RESENT_BUSY      a live process holds some of them (a receipt in flight)
 *   LEDGER_RESENT_NO        anything else (IDs of another peer or direction, or mixed)
 * Only receive rows of sender_name count.  Runs in the current transaction.
 */
typedef enum LedgerResent
{
	LEDGER_RESENT_NO,
	LEDGER_RESENT_RECEIVED,
	LEDGER_RESENT_RETAKEN,
	LEDGER_RESENT_BUSY
} LedgerResent;

extern LedgerResent ledger_resent(const char *sender_name, const char *const *key_ids, int nids);

/*
 * Mark 'lost' every 'fetched' row whose holder process is gone (its key material
 * went with it), and, if self_holds_nothing, those held by this backend too.
 * Runs in the current transaction; returns the number of rows.
 */
extern int64 ledger_sweep(bool self_holds_nothing);

/*
 * From _PG_init under shared_preload_libraries: the long-lived key ledger writer
 * of ssn.database, and the queue its backends hand their writes to.  Without it
 * (or for another database) each autonomous write starts a writer of its own.
 */
extern void ledger_writer_register(void);

#endif							/* SSN_KEY_LEDGER_H */
