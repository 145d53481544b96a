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

/* Move this backend's 'fetched' IDs to state ('used', 'discarded' or 'lost'). */
extern void ledger_finish(const char *const *key_ids, int nids, const char *state,
						  bool autonomous);

/*
 * Mark 'lost' every 'fetched' row whose holder process is gone (its key material
 * went with it), and, if self_holds_nothing, those held by this backend too.
 * Runs in the current transaction; returns the number of rows.
 */
extern int64 ledger_sweep(bool self_holds_nothing);

#endif							/* SSN_KEY_LEDGER_H */
