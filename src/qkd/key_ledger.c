/*
 * key_ledger.c - the durable ledger of QKD key IDs.
 *
 * A one-time pad is safe only if its key is used once, ever.  The KME helps on
 * one side only (dec_keys hands a key out once); nothing stops this node from
 * using a key twice after a crash and a retry, or a KME from handing out an ID it
 * handed out before.  So every key ID this node obtains is a row of ssn.key_ledger
 * (key_id PRIMARY KEY: "never twice" is a database fact, also across dump and
 * restore, the table being dumped with the extension's configuration), written and
 * committed BEFORE its key material is used:
 *
 *	 'fetched' --use--> 'used'          (the material was used, then wiped)
 *	           --------> 'discarded'    (wiped unused on purpose)
 *	           --------> 'lost'         (the material is gone without a recorded
 *	                                     use: its holder crashed, or failed)
 *
 * A 'fetched' row names its holder: the process (pid and start time, which rule
 * out a recycled pid) whose memory has the material.  Key material lives only in
 * memory, so when that process no longer exists the material is gone:
 * ledger_sweep() turns such rows into 'lost', and no send row ever leaves 'lost'.
 * A receive row may (ledger_resent): its sender resends the very bytes it sealed,
 * so no pad meets a second plaintext, and the KME still hands the key out once.  A crash (kill -9 of a backend, or of the postmaster) between fetching
 * and using keys thus leaves 'fetched' rows that the next sweep, run by every
 * ledger write and by ssn.key_ledger_recover(), settles as 'lost'.
 *
 * Sending (enc_keys): the IDs are unknown until the KME answers, so the order is
 * fetch, record, use, finish.  A crash before the record commits loses keys that
 * nobody knows the IDs of and that were never used: harmless.
 *
 * Receiving (dec_keys): the IDs are known before the request, and the KME hands
 * a key out once, so the order is record, fetch, use, finish.  An ID already in
 * the ledger is refused locally, without asking the KME.  If the request fails or
 * its answer is lost (timeout, crash, dropped connection), the KME may already
 * have handed the keys out: the IDs stay burnt ('lost' after the sweep) and the
 * answer to the sender is always the same - resend under fresh keys (the same
 * plaintext under independent pads leaks nothing; the receiver deduplicates by
 * message ID).  Retrying dec_keys would at best get 400 "not found" from the KME;
 * burning the IDs makes that outcome immediate and final, so no peer is left
 * waiting for a key that can never come.
 *
 * Durability for SQL callers.  The channel workers of the next issue record in
 * their own transaction and commit before use.  A user calling ssn.kme_enc_keys()
 * is inside a transaction we do not control: recording there would let a later
 * ROLLBACK erase the record of a key whose fingerprint was already returned.  So
 * the SQL functions record autonomously: a short-lived dynamic background worker,
 * connected to the same database as the bootstrap superuser, gets the rows through
 * a DSM segment, runs the sweep and the INSERT (or the UPDATE) in its own
 * transaction and commits; the caller waits for it (interruptibly) and reads the
 * outcome, including a refusal, from the segment.  No shared_preload_libraries
 * needed; it costs a process start (a few ms) per write, fine for operators'
 * calls.  If the caller's transaction is in the way (it updated ledger rows
 * itself), the worker waits for it; cancel the call.
 *
 * Sweeping in a backend: between two SQL-level calls a backend holds no key
 * material, so those calls sweep their own leftovers too ('fetched' rows of a
 * call that failed half way).  Liveness comes from the backend status array
 * (cluster-wide, independent of the caller's privileges).
 */
#include "postgres.h"

#include "access/xact.h"
#include "base/guc.h"
#include "base/preload.h"
#include "base/spi_run.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "qkd/key_ledger.h"
#include "qkd/kme_client.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void ssn_ledger_writer_main(Datum main_arg);
PGDLLEXPORT void ssn_ledger_service_main(Datum main_arg);

#define LEDGER_ID_SLOT (KME_KEY_ID_MAXLEN + 1)

typedef enum LedgerOp
{
	LEDGER_OP_RECORD,
	LEDGER_OP_RECORD_SETTLED,	/* RECORD the IDs already in state, in one transaction */
	LEDGER_OP_FINISH
} LedgerOp;

/* the request to the ledger writer, and its answer */
typedef struct LedgerShared
{
	LedgerOp	op;
	Oid			dboid;
	int			requester_procno;	/* the long-lived writer sets its latch when done */
	uint64		serial;			/* matches the queue entry (a handle may be reused) */
	int			holder_pid;
	TimestampTz holder_start;
	LedgerDirection direction;
	char		peer[LEDGER_NAME_MAXLEN + 1];
	char		peer_sae[SSN_SAE_ID_MAXLEN + 1];
	char		purpose[LEDGER_NAME_MAXLEN + 1];
	char		state[16];
	int			size_bits;
	int			nids;
	/* answer */
	bool		done;			/* committed */
	bool		failed;			/* error copied below */
	int			sqlerrcode;
	char		message[1024];
	char		detail[1024];
	char		hint[1024];
	int			nentries;		/* RECORD: 1 (the fields above), or more (below) */
	bool		each;			/* RECORD: an entry refused leaves the others recorded */
	bool		unwaited;		/* nobody waits: the writer unpins the segment */
	bool		server_held;	/* the keys are held by the server (ledger_server_holder) */
	char		ids[FLEXIBLE_ARRAY_MEMBER]; /* nids * LEDGER_ID_SLOT, then nentries
											 * LedgerEntryDesc if nentries > 1 */
} LedgerShared;

/* one LedgerEntries of a multi-entry RECORD request */
typedef struct LedgerEntryDesc
{
	LedgerDirection direction;
	char		peer[LEDGER_NAME_MAXLEN + 1];
	char		peer_sae[SSN_SAE_ID_MAXLEN + 1];
	char		purpose[LEDGER_NAME_MAXLEN + 1];
	int			size_bits;
	int			first;			/* its IDs: ids[first .. first + count) */
	int			count;
	/* answer of a request recording each entry on its own (LedgerShared.each) */
	bool		refused;
	char		why[256];
} LedgerEntryDesc;

static ArrayType *
text_array(const char *const *s, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(s[i]);
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* ---------------------------------------------------------------------------
 * the SQL, in the current transaction
 *
 * Each write is one set-oriented statement per batch over unnest()/= ANY() of
 * the batch's IDs.  The statements of the hot path are prepared once per process
 * and kept (SPI_keepplan), so a batch does not pay for parsing them (the plan
 * cache re-plans them if the table changes), nor for planning them: their plans
 * are generic.  The INSERT reads nothing (the primary key skips an ID seen
 * before); the UPDATEs run with sequential scans disabled, so that they find the
 * rows through an index, one probe per ID, whatever the batch size and however
 * small the ledger was when the process planned them (a plan made on a fresh
 * node scanned the whole ledger for every batch until the next ANALYZE).  The UPDATE tests 'fetched'
 * as "settled_at IS NULL", which the table's CHECK makes the same, so that the
 * planner does not pick the partial index on holder_pid: that index still has the
 * entries of the holder's rows settled earlier in the same transaction (dead, not
 * yet prunable), and walking them made each batch slower than the last.
 * ------------------------------------------------------------------------- */
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_finish = NULL;
static SPIPlanPtr plan_sweep_own = NULL;

static int64
sweep_spi(int self_pid, TimestampTz self_start)
{
	/*
	 * A process that starts after this instant is missing from the list below
	 * but may be alive and hold keys: only holders that started before it are
	 * judged.  The status array is read afresh, not from this transaction's
	 * cached copy.
	 */
	TimestampTz listed_at = GetCurrentTimestamp();
	int			nb;
	Datum	   *pids;
	Datum	   *starts;
	int			n = 0;
	int			i;
	Oid			argtypes[3] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID};
	Datum		args[3];
	int			rc;

	pgstat_clear_backend_activity_snapshot();
	nb = pgstat_fetch_stat_numbackends();
	pids = palloc(sizeof(Datum) * (nb + 1));
	starts = palloc(sizeof(Datum) * (nb + 1));
	{
		int			spid;
		TimestampTz since;

		/* keys the server holds in shared memory live as long as it (not past a crash restart) */
		if (ledger_server_holder(&spid, &since))
		{
			pids[n] = Int32GetDatum(spid);
			starts[n] = TimestampTzGetDatum(since);
			n++;
		}
	}

	for (i = 1; i <= nb; i++)
	{
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);

		if (l == NULL || l->backendStatus.st_procpid <= 0)
			continue;
		if (l->backendStatus.st_procpid == self_pid &&
			l->backendStatus.st_proc_start_timestamp == self_start)
			continue;
		pids[n] = Int32GetDatum(l->backendStatus.st_procpid);
		starts[n] = TimestampTzGetDatum(l->backendStatus.st_proc_start_timestamp);
		n++;
	}
	args[0] = PointerGetDatum(construct_array(pids, n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(starts, n, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = TimestampTzGetDatum(listed_at);
	SPI_connect();
	/*
	 * Rows another transaction is changing are left for a later sweep: that may
	 * be a transaction prepared for a renewal whose coordinator never returns,
	 * and waiting for it would stop every caller of the sweep with it.
	 */
	rc = SPI_execute_with_args(
							   "UPDATE ssn.key_ledger l SET state = 'lost', settled_at = clock_timestamp() "
							   "WHERE l.state = 'fetched' AND l.key_id IN (SELECT f.key_id FROM ssn.key_ledger f"
							   " WHERE f.state = 'fetched' AND (f.holder_start IS NULL OR f.holder_start < $3) AND NOT EXISTS ("
							   " SELECT 1 FROM unnest($1, $2) AS a(pid, started)"
							   " WHERE a.pid = f.holder_pid AND a.started = f.holder_start)"
							   " FOR UPDATE OF f SKIP LOCKED)",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	SPI_finish();
	return n;
}

/*
 * The requester's own keys of an earlier call, settled as lost: one indexed
 * update.  Keys of processes that ended are the node worker's sweep.  Rows a
 * prepared transaction holds are left (as in sweep_spi): waiting for one that
 * never ends would stop every write.
 */
static void
sweep_own_spi(int holder_pid, TimestampTz holder_start)
{
	Oid			argtypes[2] = {INT4OID, TIMESTAMPTZOID};
	Datum		args[2];
	int			rc;

	args[0] = Int32GetDatum(holder_pid);
	args[1] = TimestampTzGetDatum(holder_start);
	SPI_connect();
	rc = spi_execute_plan_indexed(spi_saved_plan(&plan_sweep_own,
									 "UPDATE ssn.key_ledger l SET state = 'lost', settled_at = clock_timestamp() "
									 "WHERE l.key_id IN (SELECT f.key_id FROM ssn.key_ledger f WHERE f.state = 'fetched'"
									 " AND f.holder_pid = $1 AND f.holder_start = $2 FOR UPDATE OF f SKIP LOCKED)",
									 2, argtypes, CURSOR_OPT_GENERIC_PLAN),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	SPI_finish();
}

int64
ledger_sweep(bool self_holds_nothing)
{
	return sweep_spi(self_holds_nothing ? MyProcPid : 0, MyStartTimestamp);
}

/* a state a key leaves 'fetched' for */
static void
check_settled_state(const char *state)
{
	if (strcmp(state, "used") != 0 && strcmp(state, "discarded") != 0 && strcmp(state, "lost") != 0)
		elog(ERROR, "invalid key ledger state \"%s\"", state);
}

/*
 * Why an insert of the entry's IDs skipped some: the first ID the ledger had
 * before it, else one the list repeats (or another session committed while this
 * one waited for it).  Always raises.  Read under the request's snapshot
 * (read_only), which does not see the rows just inserted.
 */
static void
refuse_seen(const LedgerEntries *e, Datum ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1] = {ids};

	if (SPI_execute_with_args("SELECT key_id, direction, peer, state, coalesce(settled_at, fetched_at)::text "
							  "FROM ssn.key_ledger WHERE key_id = ANY($1) LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the key ledger");
	if (SPI_processed > 0)
	{
		TupleDesc	td = SPI_tuptable->tupdesc;
		HeapTuple	t = SPI_tuptable->vals[0];
		char	   *id = SPI_getvalue(t, td, 1);
		char	   *odir = SPI_getvalue(t, td, 2);
		char	   *opeer = SPI_getvalue(t, td, 3);
		char	   *ostate = SPI_getvalue(t, td, 4);
		char	   *oat = SPI_getvalue(t, td, 5);

		if (e->direction == LEDGER_RECEIVE)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("key ID \"%s\" from SAE \"%s\" is already in the key ledger", id, e->peer_sae),
					 errdetail("It was recorded for %s with peer \"%s\" and is %s (since %s); a QKD key is used at most once, and dec_keys delivers it only once.",
							   odir, opeer, ostate, oat),
					 errhint("The sender must resend under fresh keys.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("KME \"%s\" handed out key ID \"%s\", which is already in the key ledger",
							kme_base_url(), id),
					 errdetail("It was recorded for %s with peer \"%s\" and is %s (since %s).",
							   odir, opeer, ostate, oat),
					 errhint("None of the keys of this answer was used.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("the key IDs of one %s (peer \"%s\") name a key twice, or one another session has just recorded",
					e->direction == LEDGER_RECEIVE ? "message" : "KME answer", e->peer),
			 errdetail("A QKD key is used at most once."),
			 errhint(e->direction == LEDGER_RECEIVE ? "The sender must resend under fresh keys." :
					 "None of the keys of this answer was used.")));
}

/*
 * Insert the entry's IDs as 'fetched' by the holder, or (settled) already in
 * that state: one row version, not an insert and an update.  An ID seen before
 * is skipped by the primary key and refused afterwards (the error undoes the
 * insert): no query of the ledger runs on the way, whose plan a fast-growing
 * ledger could make a scan of the whole table.
 */
static void
record_spi(const LedgerEntries *e, int holder_pid, TimestampTz holder_start, const char *settled)
{
	Oid			argtypes[9] = {TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	INT4OID, TIMESTAMPTZOID, TEXTOID};
	Datum		args[9];
	const char *dir = e->direction == LEDGER_SEND ? "send" : "receive";
	int			rc;

	args[0] = PointerGetDatum(text_array(e->key_ids, e->nids));
	args[1] = CStringGetTextDatum(dir);
	args[2] = CStringGetTextDatum(e->peer);
	args[3] = CStringGetTextDatum(e->peer_sae);
	args[4] = CStringGetTextDatum(e->purpose);
	args[5] = Int32GetDatum(e->size_bits);
	args[6] = Int32GetDatum(holder_pid);
	args[7] = TimestampTzGetDatum(holder_start);
	if (settled)
		check_settled_state(settled);
	args[8] = CStringGetTextDatum(settled ? settled : "fetched");
	SPI_connect();
	rc = SPI_execute_plan(spi_saved_plan(&plan_insert,
									 "INSERT INTO ssn.key_ledger (key_id, direction, peer, peer_sae_id, purpose, size_bits,"
									 " state, settled_at, holder_pid, holder_start) "
									 "SELECT id, $2, $3, $4, $5, $6, $9,"
									 " CASE WHEN $9 <> 'fetched' THEN clock_timestamp() END, $7, $8 FROM unnest($1) AS id"
									 " ON CONFLICT (key_id) DO NOTHING",
									 9, argtypes, CURSOR_OPT_GENERIC_PLAN),
						  args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != (uint64) e->nids)
		refuse_seen(e, args[0]);
	SPI_finish();
}

static int64
finish_spi(const char *const *ids, int n, const char *state, int holder_pid, TimestampTz holder_start)
{
	Oid			argtypes[4] = {TEXTARRAYOID, TEXTOID, INT4OID, TIMESTAMPTZOID};
	Datum		args[4];
	int			rc;
	int64		done;

	check_settled_state(state);
	args[0] = PointerGetDatum(text_array(ids, n));
	args[1] = CStringGetTextDatum(state);
	args[2] = Int32GetDatum(holder_pid);
	args[3] = TimestampTzGetDatum(holder_start);
	SPI_connect();
	rc = spi_execute_plan_indexed(spi_saved_plan(&plan_finish,
									 "UPDATE ssn.key_ledger SET state = $2, settled_at = clock_timestamp() "
									 "WHERE key_id IN (SELECT unnest($1)) AND settled_at IS NULL"	/* = 'fetched' */
									 " AND holder_pid = $3 AND holder_start = $4",
									 4, argtypes, CURSOR_OPT_GENERIC_PLAN),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	done = SPI_processed;
	SPI_finish();
	if (done != n)
		ereport(WARNING,
				(errmsg("%d of %d key IDs were no longer 'fetched' by this process in the key ledger",
						n - (int) done, n),
				 errdetail("They were settled as 'lost' meanwhile; their keys were not used again.")));
	return done;
}

/*
 * Record one entry in a subtransaction: an ID already in the ledger (or being
 * recorded by another process) refuses this entry only.  Returns NULL, or the
 * refusal (palloc'd); any other error is raised.
 */
typedef struct RecordArgs
{
	const LedgerEntries *e;
	int			holder_pid;
	TimestampTz holder_start;
	const char *settled;
} RecordArgs;

static void
record_fn(void *arg)
{
	RecordArgs *a = (RecordArgs *) arg;

	record_spi(a->e, a->holder_pid, a->holder_start, a->settled);
}

static char *
record_spi_refusable(const LedgerEntries *e, int holder_pid, TimestampTz holder_start,
					 const char *settled)
{
	RecordArgs	a = {e, holder_pid, holder_start, settled};
	ErrorData  *ed = try_in_subxact(record_fn, &a);
	char	   *why;

	if (ed == NULL)
		return NULL;
	/* a lock timeout: another transaction is recording the same IDs */
	if (ed->sqlerrcode != ERRCODE_UNIQUE_VIOLATION && ed->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ReThrowError(ed);
	why = pstrdup(ed->message ? ed->message : "key ID already in the key ledger");
	FreeErrorData(ed);
	return why;
}

static void
count_resent(const char *sender, ArrayType *ids, int64 *used, int64 *gone, int64 *fetched)
{
	Oid			argtypes[2] = {TEXTARRAYOID, TEXTOID};
	Datum		args[2];
	bool		isnull;
	TupleDesc	td;
	HeapTuple	t;

	args[0] = PointerGetDatum(ids);
	args[1] = CStringGetTextDatum(sender);
	if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE state = 'used'),"
							  " count(*) FILTER (WHERE state IN ('lost', 'discarded')),"
							  " count(*) FILTER (WHERE state = 'fetched')"
							  " FROM ssn.key_ledger WHERE key_id IN (SELECT unnest($1))"
							  " AND direction = 'receive' AND peer = $2",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.key_ledger");
	td = SPI_tuptable->tupdesc;
	t = SPI_tuptable->vals[0];
	*used = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
	*gone = DatumGetInt64(SPI_getbinval(t, td, 2, &isnull));
	*fetched = DatumGetInt64(SPI_getbinval(t, td, 3, &isnull));
}

LedgerResent
ledger_resent(const char *sender_name, const char *const *key_ids, int nids)
{
	ArrayType  *ids = text_array(key_ids, nids);
	int64		used,
				gone,
				fetched;
	LedgerResent r = LEDGER_RESENT_NO;

	SPI_connect();
	count_resent(sender_name, ids, &used, &gone, &fetched);
	if (fetched > 0)
	{
		/* held by a receipt whose process ended: 'lost' now */
		SPI_finish();
		(void) ledger_sweep(false);
		SPI_connect();
		count_resent(sender_name, ids, &used, &gone, &fetched);
	}
	if (used == nids)
		r = LEDGER_RESENT_RECEIVED;
	else if (fetched > 0)
		r = LEDGER_RESENT_BUSY;
	else if (gone == nids)
	{
		Oid			argtypes[4] = {TEXTARRAYOID, TEXTOID, INT4OID, TIMESTAMPTZOID};
		Datum		args[4];

		args[0] = PointerGetDatum(ids);
		args[1] = CStringGetTextDatum(sender_name);
		args[2] = Int32GetDatum(MyProcPid);
		args[3] = TimestampTzGetDatum(MyStartTimestamp);
		if (SPI_execute_with_args("UPDATE ssn.key_ledger SET state = 'fetched', settled_at = NULL,"
								  " holder_pid = $3, holder_start = $4"
								  " WHERE key_id IN (SELECT unnest($1)) AND direction = 'receive'"
								  " AND peer = $2 AND state IN ('lost', 'discarded')",
								  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update ssn.key_ledger");
		/* a concurrent receipt took some first: this one must not go on */
		if (SPI_processed != (uint64) nids)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a resent message is being received by another session")));
		r = LEDGER_RESENT_RETAKEN;
	}
	SPI_finish();
	return r;
}

/*
 * The reads below see the ledger as its writer left it (the latest snapshot), not
 * as of the caller's statement: the rows they look for were committed by the
 * writer a moment ago.
 */
int
ledger_unrecorded(const char *const *key_ids, int nids, const char **out)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];
	int			m = 0;

	args[0] = PointerGetDatum(text_array(key_ids, nids));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args("SELECT o FROM unnest($1) WITH ORDINALITY AS u(id, o)"
							  " WHERE NOT EXISTS (SELECT FROM ssn.key_ledger l WHERE l.key_id = u.id) ORDER BY o",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.key_ledger");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		o = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));

		out[m++] = key_ids[o - 1];
	}
	PopActiveSnapshot();
	SPI_finish();
	return m;
}

bool
ledger_received_unused(const char *const *key_ids, int nids, const char *purpose)
{
	Oid			argtypes[2] = {TEXTARRAYOID, TEXTOID};
	Datum		args[2];
	bool		isnull;
	bool		found;

	args[0] = PointerGetDatum(text_array(key_ids, nids));
	args[1] = CStringGetTextDatum(purpose);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE direction = 'receive' AND purpose = $2"
							  " AND state IN ('fetched', 'lost', 'discarded')) > 0"
							  " FROM ssn.key_ledger WHERE key_id = ANY($1)",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read ssn.key_ledger");
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	PopActiveSnapshot();
	SPI_finish();
	return found;
}

char	  **
ledger_server_held(const char *purpose, int older_than_s, int *n)
{
	Oid			argtypes[4] = {TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID};
	Datum		args[4];
	int			pid;
	TimestampTz start;
	char	  **ids;
	MemoryContext caller = CurrentMemoryContext;

	*n = 0;
	if (!ledger_server_holder(&pid, &start))
		return NULL;
	args[0] = CStringGetTextDatum(purpose);
	args[1] = Int32GetDatum(pid);
	args[2] = TimestampTzGetDatum(start);
	args[3] = Int32GetDatum(older_than_s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT key_id FROM ssn.key_ledger WHERE state = 'fetched' AND purpose = $1"
							  " AND holder_pid = $2 AND holder_start = $3"
							  " AND fetched_at < now() - make_interval(secs => $4)",
							  4, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.key_ledger");
	ids = MemoryContextAlloc(caller, sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
		ids[(*n)++] = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return ids;
}

/* ---------------------------------------------------------------------------
 * autonomous writes: a dynamic background worker
 * ------------------------------------------------------------------------- */
static void
copy_bounded(char *dst, const char *src, size_t size, const char *what)
{
	if (strlen(src) >= size)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s \"%s\" is longer than %zu bytes", what, src, size - 1)));
	strlcpy(dst, src, size);
}

static bool queue_put(dsm_segment *seg, LedgerShared *sh, int *writer);
static void queue_wait(LedgerShared *sh, int writer);
static void answer_request(LedgerShared *sh, const LedgerShared *req_template,
						   LedgerEntryDesc *descs, int ndescs, Size ids_size);

/* a request handed to a writer, its answer still to come */
typedef struct WriterRequest
{
	dsm_segment *seg;
	LedgerShared *sh;
	LedgerShared *req_template;
	LedgerEntryDesc *descs;
	int			ndescs;
	Size		ids_size;
	int			writer;			/* the long-lived writer it was queued for */
	bool		queued;
} WriterRequest;

/*
 * The request in a segment of its own, queued for the long-lived writer if one
 * serves this database.  Unwaited: the segment is left to the writer, and the
 * request is done here if it was queued.
 */
static void
writer_submit(WriterRequest *r, LedgerShared *req_template, const char *const *ids, int nids,
			  LedgerEntryDesc *descs, int ndescs, bool unwaited)
{
	Size		ids_size = (Size) nids * LEDGER_ID_SLOT;
	Size		size = offsetof(LedgerShared, ids) + MAXALIGN(ids_size) +
		sizeof(LedgerEntryDesc) * Max(ndescs, 0);
	LedgerShared *sh;
	int			i;

	r->seg = dsm_create(size, 0);
	r->sh = sh = dsm_segment_address(r->seg);
	r->req_template = req_template;
	r->descs = descs;
	r->ndescs = ndescs;
	r->ids_size = ids_size;
	memcpy(sh, req_template, offsetof(LedgerShared, ids));
	sh->nids = nids;
	sh->dboid = MyDatabaseId;
	if (!req_template->server_held || !ledger_server_holder(&sh->holder_pid, &sh->holder_start))
	{
		sh->holder_pid = MyProcPid;
		sh->holder_start = MyStartTimestamp;
	}
	sh->done = sh->failed = false;
	for (i = 0; i < nids; i++)
		copy_bounded(sh->ids + (Size) i * LEDGER_ID_SLOT, ids[i], LEDGER_ID_SLOT, "key ID");
	sh->nentries = Max(ndescs, 1);
	if (ndescs > 1 || req_template->each)
		memcpy(sh->ids + MAXALIGN(ids_size), descs, sizeof(LedgerEntryDesc) * ndescs);
	sh->requester_procno = MyProc->pgprocno;

	if (unwaited)
	{
		/* the segment outlives this backend's mapping until the writer is done */
		sh->unwaited = true;
		dsm_pin_segment(r->seg);
		if (queue_put(r->seg, sh, &r->writer))
		{
			dsm_detach(r->seg);
			r->seg = NULL;
			return;
		}
		dsm_unpin_segment(dsm_segment_handle(r->seg));
		sh->unwaited = false;
	}
	r->queued = queue_put(r->seg, sh, &r->writer);
}

/* the answer of a submitted request (a writer of its own if none was queued) */
static void
writer_complete(WriterRequest *r)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus st;

	if (r->seg == NULL)
		return;					/* left to the writer */
	if (r->queued)
	{
		queue_wait(r->sh, r->writer);
		answer_request(r->sh, r->req_template, r->descs, r->ndescs, r->ids_size);
		dsm_detach(r->seg);
		return;
	}

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "ssn", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "ssn_ledger_writer_main", BGW_MAXLEN);
	snprintf(w.bgw_name, BGW_MAXLEN, "ssn key ledger writer for PID %d", MyProcPid);
	strlcpy(w.bgw_type, "ssn key ledger writer", BGW_MAXLEN);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(r->seg));
	w.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the key ledger writer"),
				 errdetail("No key was used."),
				 errhint("All background worker slots are in use; raise max_worker_processes.")));
	st = WaitForBackgroundWorkerShutdown(handle);
	if (st == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while the key ledger writer ran")));
	answer_request(r->sh, r->req_template, r->descs, r->ndescs, r->ids_size);
	dsm_detach(r->seg);
}

/* a request from start to answer; unwaited: left to the long-lived writer if it runs */
static void
run_writer(LedgerShared *req_template, const char *const *ids, int nids,
		   LedgerEntryDesc *descs, int ndescs, bool unwaited)
{
	WriterRequest r;

	writer_submit(&r, req_template, ids, nids, descs, ndescs, unwaited);
	writer_complete(&r);
}

/* the writer's answer: its error raised here, or the entries' refusals copied back */
static void
answer_request(LedgerShared *sh, const LedgerShared *req_template, LedgerEntryDesc *descs,
			   int ndescs, Size ids_size)
{
	if (sh->failed)
	{
		int			code = sh->sqlerrcode;

		ereport(ERROR,
				(errcode(code),
				 errmsg_internal("%s", sh->message),
				 sh->detail[0] ? errdetail_internal("%s", sh->detail) : 0,
				 sh->hint[0] ? errhint("%s", sh->hint) : 0));
	}
	if (!sh->done)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("the key ledger writer exited without committing"),
				 errdetail("No key was used."),
				 errhint("See the server log.")));
	if (req_template->each)
		memcpy(descs, sh->ids + MAXALIGN(ids_size), sizeof(LedgerEntryDesc) * ndescs);
}

void
ledger_record(const LedgerEntries *e, bool autonomous)
{
	LedgerShared req;
	int			i;

	if (e->nids <= 0)
		return;
	for (i = 0; i < e->nids; i++)
		if (strlen(e->key_ids[i]) > KME_KEY_ID_MAXLEN)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("key ID \"%s\" is longer than %d bytes", e->key_ids[i], KME_KEY_ID_MAXLEN)));
	if (!autonomous)
	{
		record_spi(e, MyProcPid, MyStartTimestamp, NULL);
		return;
	}
	memset(&req, 0, offsetof(LedgerShared, ids));
	req.op = LEDGER_OP_RECORD;
	req.direction = e->direction;
	copy_bounded(req.peer, e->peer, sizeof(req.peer), "shareholder name");
	copy_bounded(req.peer_sae, e->peer_sae, sizeof(req.peer_sae), "SAE ID");
	copy_bounded(req.purpose, e->purpose, sizeof(req.purpose), "purpose");
	req.size_bits = e->size_bits;
	run_writer(&req, e->key_ids, e->nids, NULL, 0, false);
}

/* a RECORD handed to the long-lived writer, its commit awaited later */
struct LedgerRecording
{
	WriterRequest r;
	LedgerShared *req;			/* its fixed part */
	LedgerEntryDesc *descs;
	int			n;
	char	  **refused;
};

/* the refusals of a recording's answer, once committed */
static void
record_many_complete(LedgerRecording *rec)
{
	writer_complete(&rec->r);
	if (rec->refused)
		for (int i = 0; i < rec->n; i++)
			if (rec->descs[i].refused)
				rec->refused[i] = pstrdup(rec->descs[i].why);
}

/* NULL once done; else the recording in flight (autonomous only) */
static LedgerRecording *
record_many_submit(const LedgerEntries *e, int n, bool autonomous, const char *settled, char **refused,
				   bool server_held)
{
	LedgerRecording *rec;
	LedgerShared *reqp;
	LedgerEntryDesc *descs;
	const char **ids;
	int			total = 0,
				i,
				j;

	if (refused == NULL && ((n == 1 && settled == NULL) || !autonomous))
	{
		Assert(settled == NULL);
		for (i = 0; i < n; i++)
			ledger_record(&e[i], autonomous);
		return NULL;
	}
	if (refused)
	{
		for (i = 0; i < n; i++)
		{
			refused[i] = NULL;
			for (j = 0; j < e[i].nids && refused[i] == NULL; j++)
				if (strlen(e[i].key_ids[j]) > KME_KEY_ID_MAXLEN)
					refused[i] = psprintf("key ID \"%s\" is longer than %d bytes",
										  e[i].key_ids[j], KME_KEY_ID_MAXLEN);
		}
		if (!autonomous)
		{
			for (i = 0; i < n; i++)
				if (refused[i] == NULL && e[i].nids > 0)
					refused[i] = record_spi_refusable(&e[i], MyProcPid, MyStartTimestamp, NULL);
			return NULL;
		}
	}
	descs = palloc0(sizeof(LedgerEntryDesc) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (refused == NULL || refused[i] == NULL)
			total += e[i].nids;
	if (total == 0)
		return NULL;
	ids = palloc(sizeof(char *) * total);
	total = 0;
	for (i = 0; i < n; i++)
	{
		descs[i].direction = e[i].direction;
		copy_bounded(descs[i].peer, e[i].peer, sizeof(descs[i].peer), "shareholder name");
		copy_bounded(descs[i].peer_sae, e[i].peer_sae, sizeof(descs[i].peer_sae), "SAE ID");
		copy_bounded(descs[i].purpose, e[i].purpose, sizeof(descs[i].purpose), "purpose");
		descs[i].size_bits = e[i].size_bits;
		descs[i].first = total;
		descs[i].count = 0;
		if (refused && refused[i])
			continue;			/* left out: nothing to record */
		descs[i].count = e[i].nids;
		for (j = 0; j < e[i].nids; j++)
		{
			if (strlen(e[i].key_ids[j]) > KME_KEY_ID_MAXLEN)
				ereport(ERROR,
						(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
						 errmsg("key ID \"%s\" is longer than %d bytes", e[i].key_ids[j], KME_KEY_ID_MAXLEN)));
			ids[total++] = e[i].key_ids[j];
		}
	}
	rec = palloc0(sizeof(LedgerRecording));
	rec->descs = descs;
	rec->n = n;
	rec->refused = refused;
	rec->req = reqp = palloc0(offsetof(LedgerShared, ids));
	reqp->op = settled ? LEDGER_OP_RECORD_SETTLED : LEDGER_OP_RECORD;
	reqp->each = refused != NULL;
	reqp->server_held = server_held;
	if (settled)
		copy_bounded(reqp->state, settled, sizeof(reqp->state), "state");
	/* the writer reads a single entry from the request's own fields */
	reqp->direction = descs[0].direction;
	memcpy(reqp->peer, descs[0].peer, sizeof(reqp->peer));
	memcpy(reqp->peer_sae, descs[0].peer_sae, sizeof(reqp->peer_sae));
	memcpy(reqp->purpose, descs[0].purpose, sizeof(reqp->purpose));
	reqp->size_bits = descs[0].size_bits;
	writer_submit(&rec->r, reqp, ids, total, descs, n, false);
	return rec;
}

static void
record_many(const LedgerEntries *e, int n, bool autonomous, const char *settled, char **refused,
			bool server_held)
{
	LedgerRecording *rec = record_many_submit(e, n, autonomous, settled, refused, server_held);

	if (rec)
		record_many_complete(rec);
}

LedgerRecording *
ledger_record_many_start(const LedgerEntries *e, int n, char **refused)
{
	return record_many_submit(e, n, true, NULL, refused, false);
}

void
ledger_record_server_held(const LedgerEntries *e, int n, char **refused)
{
	record_many(e, n, true, NULL, refused, true);
}

void
ledger_record_many_wait(LedgerRecording *rec)
{
	if (rec)
		record_many_complete(rec);
}

void
ledger_record_many(const LedgerEntries *e, int n, bool autonomous, char **refused)
{
	record_many(e, n, autonomous, NULL, refused, false);
}

void
ledger_record_settled(const LedgerEntries *e, int n, const char *state)
{
	record_many(e, n, true, state, NULL, false);
}

static void
finish(const char *const *key_ids, int nids, const char *state, bool autonomous, bool wait,
	   bool server_held)
{
	LedgerShared req;

	if (nids <= 0)
		return;
	if (!autonomous)
	{
		finish_spi(key_ids, nids, state, MyProcPid, MyStartTimestamp);
		return;
	}
	memset(&req, 0, offsetof(LedgerShared, ids));
	req.op = LEDGER_OP_FINISH;
	req.server_held = server_held;
	copy_bounded(req.state, state, sizeof(req.state), "state");
	run_writer(&req, key_ids, nids, NULL, 0, !wait);
}

void
ledger_finish(const char *const *key_ids, int nids, const char *state, bool autonomous)
{
	finish(key_ids, nids, state, autonomous, true, false);
}

void
ledger_finish_unwaited(const char *const *key_ids, int nids, const char *state)
{
	finish(key_ids, nids, state, true, false, false);
}

void
ledger_finish_server_held(const char *const *key_ids, int nids, const char *state)
{
	finish(key_ids, nids, state, true, false, true);
}

/* the request in one transaction of this process; sh->done once committed */
static void
apply_request(LedgerShared *sh)
{
	const char **ids = palloc(sizeof(char *) * Max(sh->nids, 1));
	int			i;

	for (i = 0; i < sh->nids; i++)
		ids[i] = sh->ids + (Size) i * LEDGER_ID_SLOT;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "ssn key ledger write");
	ssn_bound_lock_waits();
	if (sh->op == LEDGER_OP_RECORD || sh->op == LEDGER_OP_RECORD_SETTLED)
	{
		LedgerEntries e;
		const char *settled = sh->op == LEDGER_OP_RECORD_SETTLED ? sh->state : NULL;

		/* the requester holds no keys of an earlier call (the server holds its keys until it stops) */
		if (!sh->server_held)
			sweep_own_spi(sh->holder_pid, sh->holder_start);
		if (sh->nentries <= 1 && !sh->each)
		{
			e.direction = sh->direction;
			e.peer = sh->peer;
			e.peer_sae = sh->peer_sae;
			e.purpose = sh->purpose;
			e.size_bits = sh->size_bits;
			e.nids = sh->nids;
			e.key_ids = ids;
			record_spi(&e, sh->holder_pid, sh->holder_start, settled);
		}
		else
		{
			LedgerEntryDesc *d = (LedgerEntryDesc *)
				(sh->ids + MAXALIGN((Size) sh->nids * LEDGER_ID_SLOT));

			for (i = 0; i < sh->nentries; i++)
			{
				e.direction = d[i].direction;
				e.peer = d[i].peer;
				e.peer_sae = d[i].peer_sae;
				e.purpose = d[i].purpose;
				e.size_bits = d[i].size_bits;
				e.nids = d[i].count;
				e.key_ids = ids + d[i].first;
				if (!sh->each)
					record_spi(&e, sh->holder_pid, sh->holder_start, settled);
				else if (e.nids > 0)
				{
					char	   *why = record_spi_refusable(&e, sh->holder_pid, sh->holder_start, settled);

					d[i].refused = why != NULL;
					if (why)
						strlcpy(d[i].why, why, sizeof(d[i].why));
				}
			}
		}
	}
	else
	{
		finish_spi(ids, sh->nids, sh->state, sh->holder_pid, sh->holder_start);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* without this, autovacuum never hears of the writer's rows (and never analyzes them) */
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	pfree(ids);
	sh->done = true;
}

/* the error being handled, into the request's answer */
static void
answer_error(LedgerShared *sh, MemoryContext cxt)
{
	ErrorData  *ed;

	MemoryContextSwitchTo(cxt);
	ed = CopyErrorData();
	sh->sqlerrcode = ed->sqlerrcode;
	strlcpy(sh->message, ed->message ? ed->message : "key ledger write failed", sizeof(sh->message));
	strlcpy(sh->detail, ed->detail ? ed->detail : "", sizeof(sh->detail));
	strlcpy(sh->hint, ed->hint ? ed->hint : "", sizeof(sh->hint));
	FreeErrorData(ed);
	sh->failed = true;
}

/* a short-lived writer for one request (no long-lived one serves this database) */
void
ssn_ledger_writer_main(Datum main_arg)
{
	dsm_segment *seg;
	LedgerShared *sh;
	MemoryContext oldcxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key ledger writer: the requesting backend is gone")));
	sh = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(sh->dboid, InvalidOid, 0);
	/* a database owner's ALTER DATABASE ... SET search_path must not reach us */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	oldcxt = CurrentMemoryContext;
	PG_TRY();
	{
		apply_request(sh);
	}
	PG_CATCH();
	{
		answer_error(sh, oldcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);
}

/* ---------------------------------------------------------------------------
 * the long-lived writer: with ssn in shared_preload_libraries, one process in
 * ssn.database serves the requests of that database's backends through a queue
 * in shared memory, so that a ledger write costs a round trip between processes
 * instead of a process start
 * ------------------------------------------------------------------------- */
#define LEDGER_QUEUE_SLOTS 128

typedef struct LedgerQueueEntry
{
	dsm_handle	handle;
	uint64		serial;
} LedgerQueueEntry;

typedef struct LedgerQueue
{
	slock_t		mutex;
	int			writer_pid;		/* 0: none running */
	Oid			dboid;			/* the database it serves */
	Latch	   *writer_latch;
	uint64		next_serial;
	int			head;
	int			count;
	TimestampTz server_since;	/* shared memory (re)initialised: ledger_server_holder */
	LedgerQueueEntry q[LEDGER_QUEUE_SLOTS];
} LedgerQueue;

static LedgerQueue *ledger_queue = NULL;

static void
queue_init(void *p)
{
	SpinLockInit(&((LedgerQueue *) p)->mutex);
	((LedgerQueue *) p)->server_since = GetCurrentTimestamp();
}

bool
ledger_server_holder(int *pid, TimestampTz *start)
{
	if (ledger_queue == NULL)
		return false;
	*pid = PostmasterPid;
	*start = ledger_queue->server_since;
	return true;
}

void
ledger_writer_register(void)
{
	preload_shmem_struct("ssn key ledger queue", sizeof(LedgerQueue), (void **) &ledger_queue, queue_init);
	preload_worker("ssn_ledger_service_main", "ssn key ledger writer");
}

/* queue the request for the long-lived writer; false if none serves this database */
static bool
queue_put(dsm_segment *seg, LedgerShared *sh, int *writer)
{
	bool		ok = false;

	if (ledger_queue == NULL)
		return false;
	SpinLockAcquire(&ledger_queue->mutex);
	if (ledger_queue->writer_pid != 0 && ledger_queue->dboid == MyDatabaseId &&
		ledger_queue->writer_pid != MyProcPid && ledger_queue->count < LEDGER_QUEUE_SLOTS)
	{
		int			slot = (ledger_queue->head + ledger_queue->count) % LEDGER_QUEUE_SLOTS;

		sh->serial = ++ledger_queue->next_serial;
		ledger_queue->q[slot].handle = dsm_segment_handle(seg);
		ledger_queue->q[slot].serial = sh->serial;
		ledger_queue->count++;
		*writer = ledger_queue->writer_pid;
		SetLatch(ledger_queue->writer_latch);
		ok = true;
	}
	SpinLockRelease(&ledger_queue->mutex);
	return ok;
}

/* wait for the long-lived writer's answer (or for it to be gone) */
static void
queue_wait(LedgerShared *sh, int writer)
{
	for (;;)
	{
		int			now;

		pg_read_barrier();
		if (sh->done || sh->failed)
			return;
		SpinLockAcquire(&ledger_queue->mutex);
		now = ledger_queue->writer_pid;
		SpinLockRelease(&ledger_queue->mutex);
		pg_read_barrier();
		if (now != writer && !sh->done && !sh->failed)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("the key ledger writer stopped before answering"),
					 errdetail("No key was used."),
					 errhint("See the server log; retry.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
writer_gone(int code, Datum arg)
{
	SpinLockAcquire(&ledger_queue->mutex);
	ledger_queue->writer_pid = 0;
	ledger_queue->writer_latch = NULL;
	SpinLockRelease(&ledger_queue->mutex);
}

/*
 * One queued request: applied and answered (the requester's latch set), or, if
 * nobody waits for it, applied and its segment unpinned.  dropped: a request of a
 * writer before us, whose waiting requester was answered "stopped" - only one
 * nobody waits for is applied.
 */
static void
serve_request(dsm_handle h, uint64 serial, MemoryContext work, bool dropped)
{
	dsm_segment *seg;
	LedgerShared *sh;

	/* a requester that gave up took its segment with it */
	seg = dsm_attach(h);
	if (seg == NULL)
		return;
	sh = dsm_segment_address(seg);
	if (sh->serial == serial && !sh->done && !sh->failed && (!dropped || sh->unwaited))
	{
		MemoryContext old = MemoryContextSwitchTo(work);

		PG_TRY();
		{
			apply_request(sh);
		}
		PG_CATCH();
		{
			answer_error(sh, work);
			AbortCurrentTransaction();
			FlushErrorState();
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		MemoryContextReset(work);
		if (sh->unwaited && sh->failed)
			ereport(LOG,
					(errmsg("ssn: a key ledger settlement of PID %d failed: %s",
							sh->holder_pid, sh->message),
					 errdetail("Its key IDs stay 'fetched' until they are settled as 'lost'.")));
		if (!sh->unwaited)
		{
			pg_write_barrier();
			SetLatch(&ProcGlobal->allProcs[sh->requester_procno].procLatch);
		}
	}
	if (sh->unwaited)
		dsm_unpin_segment(h);
	dsm_detach(seg);
}

void
ssn_ledger_service_main(Datum main_arg)
{
	MemoryContext work;
	LedgerQueueEntry left[LEDGER_QUEUE_SLOTS];
	int			nleft;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(ssn_database, NULL, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	work = AllocSetContextCreate(TopMemoryContext, "ssn key ledger writer", ALLOCSET_DEFAULT_SIZES);

	on_shmem_exit(writer_gone, (Datum) 0);
	SpinLockAcquire(&ledger_queue->mutex);
	ledger_queue->writer_pid = MyProcPid;
	ledger_queue->dboid = MyDatabaseId;
	ledger_queue->writer_latch = MyLatch;
	/* requests of a writer before us: their waiting requesters were answered "stopped" */
	nleft = ledger_queue->count;
	for (int i = 0; i < nleft; i++)
		left[i] = ledger_queue->q[(ledger_queue->head + i) % LEDGER_QUEUE_SLOTS];
	ledger_queue->count = 0;
	SpinLockRelease(&ledger_queue->mutex);
	/* ...but settlements nobody waits for are still made (and their segments unpinned) */
	for (int i = 0; i < nleft; i++)
		serve_request(left[i].handle, left[i].serial, work, true);

	for (;;)
	{
		dsm_handle	h = DSM_HANDLE_INVALID;
		uint64		serial = 0;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		for (;;)
		{
			SpinLockAcquire(&ledger_queue->mutex);
			if (ledger_queue->count > 0)
			{
				h = ledger_queue->q[ledger_queue->head].handle;
				serial = ledger_queue->q[ledger_queue->head].serial;
				ledger_queue->head = (ledger_queue->head + 1) % LEDGER_QUEUE_SLOTS;
				ledger_queue->count--;
			}
			else
				h = DSM_HANDLE_INVALID;
			SpinLockRelease(&ledger_queue->mutex);
			if (h == DSM_HANDLE_INVALID)
				break;
			CHECK_FOR_INTERRUPTS();
			serve_request(h, serial, work, false);
		}
	}
}
