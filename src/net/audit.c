/*
 * audit.c - entries of the audit trail, summed per transaction (and savepoint)
 * and written when it ends.  A committing transaction that changed secrets
 * inserts their rows itself (so a store and its record are one fact); the rest
 * go through shared memory to the node worker, which inserts them in a
 * transaction of its own: a retrieval rolled back has shown its values all the
 * same, a read-only transaction (or a standby's) cannot write, and a
 * retrieval's transaction should not wait for a commit record of its own.
 * Rows the queue cannot take wait in this backend; when too many wait, reads
 * are refused until the worker has caught up: no read goes unrecorded because
 * the queue was full.  Never a value or a share.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "base/guc.h"
#include "base/preload.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/worker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define AUDIT_QUEUE_SLOTS 1024
#define AUDIT_COPY_CHUNK 64		/* rows copied under the spinlock at a time */
#define AUDIT_BACKLOG_MAX 4096	/* rows waiting in a backend before its reads are refused */
#define AUDIT_ID_SIZE	16
#define AUDIT_DIGEST_SIZE 32

static const char *const op_names[AUDIT_NOPS] = {
	"store", "retrieve", "compute", "grant", "revoke", "verify", "renew", "re-share",
	"take-over", "delete"
};

typedef struct AuditEntry
{
	AuditOp		op;
	Oid			role;
	SubTransactionId subid;		/* the (sub)transaction it belongs to */
	/* names taken while the transaction can read the catalog (not at abort) */
	char		role_name[NAMEDATALEN];
	char		session_role[NAMEDATALEN];
	char		client[64];
	int64		count;
	int64		ids;			/* of them with an id in the digest */
	int64		key_bytes;
	int64		messages;
	int64		value_bytes;
	bool		refused;		/* refused by policy: its row says so */
	uint8		first_id[AUDIT_ID_SIZE];
	crypto_generichash_state digest;
} AuditEntry;

/* one row as it is inserted */
typedef struct AuditRow
{
	char		role[NAMEDATALEN];
	char		session_role[NAMEDATALEN];
	char		client[64];
	char		operation[16];
	char		outcome[16];
	TimestampTz at;
	int64		secrets;
	int64		key_bytes;
	int64		messages;
	int64		value_bytes;
	bool		has_id;
	bool		has_digest;
	uint8		id[AUDIT_ID_SIZE];
	uint8		digest[AUDIT_DIGEST_SIZE];
} AuditRow;

typedef struct AuditQueue
{
	slock_t		mutex;
	int			count;
	AuditRow	slots[AUDIT_QUEUE_SLOTS];
} AuditQueue;

static AuditQueue *queue = NULL;

/* this backend's entries (TopMemoryContext, aligned for libsodium's hash state) */
static void *entries_block = NULL;
static AuditEntry *entries = NULL;
static int	nentries = 0;
static int	entries_cap = 0;
static int	last_noted = -1;

/* rows the queue could not take yet (TopMemoryContext) */
static AuditRow *backlog = NULL;
static int	nbacklog = 0;
static int	backlog_cap = 0;

static bool database_checked = false;
static void register_exit(void);
static bool worker_database = false;	/* the node worker's: it can write our queued rows */

static void
clip(char *dst, const char *src, size_t size)
{
	strlcpy(dst, src ? src : "?", size);
}

/* the client's address, "[local]" over a Unix socket, "" in a background worker */
static void
client_address(char *dst, size_t size)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		addr;

	dst[0] = '\0';
	if (MyProcPort == NULL)
		return;
	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	addr = inet_client_addr(fcinfo);
	strlcpy(dst, fcinfo->isnull ? "[local]" : DatumGetCString(DirectFunctionCall1(inet_out, addr)), size);
}

static bool
op_reads(AuditOp op)
{
	return op == AUDIT_RETRIEVE || op == AUDIT_COMPUTE || op == AUDIT_VERIFY;
}

/* ---------------------------------------------------------------------------
 * the queue to the node worker, and the rows waiting for it here
 * ------------------------------------------------------------------------- */
static bool
queue_usable(void)
{
	return queue != NULL && ssn_shared != NULL && worker_database;
}

/* move what fits from the backlog to the queue; true if the backlog is empty */
static bool
backlog_flush(void)
{
	int			moved = 0;
	bool		wake = false;

	if (nbacklog == 0)
		return true;
	if (!queue_usable())
		return false;
	while (moved < nbacklog)
	{
		int			n;

		SpinLockAcquire(&queue->mutex);
		n = Min(Min(nbacklog - moved, AUDIT_COPY_CHUNK), AUDIT_QUEUE_SLOTS - queue->count);
		if (n > 0)
		{
			memcpy(&queue->slots[queue->count], &backlog[moved], sizeof(AuditRow) * n);
			queue->count += n;
		}
		wake = queue->count >= AUDIT_QUEUE_SLOTS / 2;
		SpinLockRelease(&queue->mutex);
		if (n <= 0)
			break;
		moved += n;
	}
	if (moved > 0)
	{
		memmove(backlog, backlog + moved, sizeof(AuditRow) * (nbacklog - moved));
		nbacklog -= moved;
	}
	/* the worker's loop comes by within a second; woken when the queue fills */
	if (wake || nbacklog > 0)
		ssn_worker_wake();
	return nbacklog == 0;
}

/* rows for the node worker: queued now, or kept here until it has room */
static bool
to_worker(const AuditRow *rows, int n)
{
	if (n == 0)
		return true;
	if (!queue_usable())
		return false;
	if (nbacklog + n > backlog_cap)
	{
		int			cap = Max(64, Max(backlog_cap * 2, nbacklog + n));

		backlog = backlog ? repalloc(backlog, sizeof(AuditRow) * cap)
			: MemoryContextAlloc(TopMemoryContext, sizeof(AuditRow) * cap);
		backlog_cap = cap;
	}
	memcpy(&backlog[nbacklog], rows, sizeof(AuditRow) * n);
	nbacklog += n;
	(void) backlog_flush();
	return true;
}

/* ---------------------------------------------------------------------------
 * entries
 * ------------------------------------------------------------------------- */
static AuditEntry *entry_for_new(AuditOp op);

static AuditEntry *
entry_for(AuditOp op)
{
	Oid			role = GetUserId();
	SubTransactionId subid = GetCurrentSubTransactionId();

	for (int i = 0; i < nentries; i++)
		if (entries[i].op == op && entries[i].role == role && entries[i].subid == subid &&
			!entries[i].refused)
		{
			last_noted = i;
			return &entries[i];
		}
	return entry_for_new(op);
}

static AuditEntry *
entry_for_new(AuditOp op)
{
	Oid			role = GetUserId();
	SubTransactionId subid = GetCurrentSubTransactionId();
	AuditEntry *e;
	if (!database_checked)
	{
		char	   *db = get_database_name(MyDatabaseId);

		worker_database = db && ssn_database && strcmp(db, ssn_database) == 0;
		database_checked = true;
		register_exit();
	}
	if (nentries == entries_cap)
	{
		int			cap = Max(16, entries_cap * 2);
		void	   *block = MemoryContextAlloc(TopMemoryContext, sizeof(AuditEntry) * cap + 64);
		AuditEntry *aligned = (AuditEntry *) TYPEALIGN(64, block);

		if (nentries > 0)
			memcpy(aligned, entries, sizeof(AuditEntry) * nentries);
		if (entries_block)
			pfree(entries_block);
		entries_block = block;
		entries = aligned;
		entries_cap = cap;
	}
	e = &entries[nentries];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->role = role;
	e->subid = subid;
	clip(e->role_name, GetUserNameFromId(role, true), sizeof(e->role_name));
	clip(e->session_role, GetUserNameFromId(GetSessionUserId(), true), sizeof(e->session_role));
	client_address(e->client, sizeof(e->client));
	crypto_generichash_init(&e->digest, NULL, 0, AUDIT_DIGEST_SIZE);
	last_noted = nentries++;
	return e;
}

/* a read is shown only if its row can be written: refused while too many wait */
static void
reads_allowed(AuditOp op)
{
	if (!op_reads(op) || backlog_flush() || nbacklog < AUDIT_BACKLOG_MAX)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("retrieval refused: %d audit rows of this session are still to be written", nbacklog),
			 errdetail("A read is shown only once its audit row can be recorded; the node worker writes them."),
			 errhint("Retry in a moment; if it lasts, see the node worker in the server log.")));
}

void
audit_note(AuditOp op, const uint8 *id)
{
	AuditEntry *e;

	reads_allowed(op);
	e = entry_for(op);
	if (e->ids == 0)
		memcpy(e->first_id, id, AUDIT_ID_SIZE);
	crypto_generichash_update(&e->digest, id, AUDIT_ID_SIZE);
	e->ids++;
	e->count++;
}

void
audit_note_bytes(AuditOp op, const uint8 *id, int64 value_bytes)
{
	audit_note(op, id);
	entries[last_noted].value_bytes += value_bytes;
}

void
audit_note_refused(AuditOp op)
{
	AuditOp		o = op;

	/* an entry of its own, not merged with the operations that passed */
	for (int i = 0; i < nentries; i++)
		if (entries[i].op == o && entries[i].refused && entries[i].role == GetUserId() &&
			entries[i].subid == GetCurrentSubTransactionId())
			return;
	entry_for_new(o)->refused = true;
}

void
audit_note_count(AuditOp op, int64 n)
{
	entry_for(op)->count += Max(n, 0);
}

void
audit_key_bytes(AuditOp op, int64 bytes)
{
	if (op == AUDIT_NOPS)
	{
		if (last_noted >= 0 && last_noted < nentries)
		{
			entries[last_noted].key_bytes += bytes;
			entries[last_noted].messages++;
		}
		return;
	}
	/* the stores' keys are spent when their messages are sealed: on a store row of this transaction */
	for (int i = nentries - 1; i >= 0; i--)
		if (entries[i].op == op && !entries[i].refused)
		{
			entries[i].key_bytes += bytes;
			entries[i].messages++;
			return;
		}
}

/* an entry's row; the entry stays as it is (its digest is finished on a copy) */
static void
row_of(const AuditEntry *e, AuditRow *r, const char *outcome, TimestampTz now)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->role, e->role_name, sizeof(r->role));
	memcpy(r->session_role, e->session_role, sizeof(r->session_role));
	memcpy(r->client, e->client, sizeof(r->client));
	clip(r->operation, op_names[e->op], sizeof(r->operation));
	clip(r->outcome, e->refused ? "refused" : outcome, sizeof(r->outcome));
	r->at = now;
	r->secrets = e->count;
	r->key_bytes = e->key_bytes;
	r->messages = e->messages;
	r->value_bytes = e->value_bytes;
	if (e->ids == 1 && e->count == 1)
	{
		r->has_id = true;
		memcpy(r->id, e->first_id, AUDIT_ID_SIZE);
	}
	else if (e->ids > 0)
	{
		crypto_generichash_state st = e->digest;	/* aligned as its type asks */

		r->has_digest = true;
		crypto_generichash_final(&st, r->digest, AUDIT_DIGEST_SIZE);
	}
}

/* the rows of the entries of subid (InvalidSubTransactionId: all), taken out of the list */
static int
take_rows(AuditRow *rows, const char *outcome, SubTransactionId subid)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n = 0,
				kept = 0;

	for (int i = 0; i < nentries; i++)
	{
		if (subid != InvalidSubTransactionId && entries[i].subid != subid)
			entries[kept++] = entries[i];
		else
			row_of(&entries[i], &rows[n++], outcome, now);
	}
	nentries = kept;
	last_noted = -1;
	return n;
}

/* the rows into ssn.audit_log in the current transaction (SPI connected by the caller) */
static void
insert_rows(const AuditRow *rows, int n)
{
	static Oid	types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID,
	UUIDOID, BYTEAOID, INT8OID, INT8OID, INT8OID};

	for (int i = 0; i < n; i++)
	{
		const AuditRow *r = &rows[i];
		Datum		v[12];
		char		nulls[12];
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
		bytea	   *d = palloc(VARHDRSZ + AUDIT_DIGEST_SIZE);

		memset(nulls, ' ', sizeof(nulls));
		memcpy(u->data, r->id, AUDIT_ID_SIZE);
		SET_VARSIZE(d, VARHDRSZ + AUDIT_DIGEST_SIZE);
		memcpy(VARDATA(d), r->digest, AUDIT_DIGEST_SIZE);
		v[0] = CStringGetTextDatum(r->role);
		v[1] = CStringGetTextDatum(r->session_role);
		v[2] = CStringGetTextDatum(r->client);
		nulls[2] = r->client[0] ? ' ' : 'n';
		v[3] = CStringGetTextDatum(r->operation);
		v[4] = CStringGetTextDatum(r->outcome);
		v[5] = TimestampTzGetDatum(r->at);
		v[6] = Int64GetDatum(r->secrets);
		v[7] = UUIDPGetDatum(u);
		nulls[7] = r->has_id ? ' ' : 'n';
		v[8] = PointerGetDatum(d);
		nulls[8] = r->has_digest ? ' ' : 'n';
		v[9] = Int64GetDatum(r->key_bytes);
		v[10] = Int64GetDatum(r->messages);
		v[11] = Int64GetDatum(r->value_bytes);
		if (SPI_execute_with_args("INSERT INTO ssn.audit_log (role, session_role, client, operation,"
								  " outcome, at, secrets, secret_id, digest, key_bytes, messages, value_bytes)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
								  12, types, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write ssn.audit_log");
	}
}

/*
 * At commit: the rows of changes join the transaction (one fact with the
 * change); those of reads go to the node worker, so that a retrieval's
 * transaction stays without a commit record to flush.  Whatever cannot go one
 * way goes the other.
 */
static void
record_at_commit(void)
{
	AuditRow   *here = palloc(sizeof(AuditRow) * Max(nentries, 1));
	AuditRow   *there = palloc(sizeof(AuditRow) * Max(nentries, 1));
	int			nhere = 0,
				nthere = 0;
	bool		writable = !XactReadOnly && !RecoveryInProgress();
	TimestampTz now = GetCurrentTimestamp();

	/* the entries stay until the insert is done: an error before it leaves them to the abort */
	for (int i = 0; i < nentries; i++)
	{
		if ((op_reads(entries[i].op) && queue_usable()) || !writable)
			row_of(&entries[i], &there[nthere++], "committed", now);
		else
			row_of(&entries[i], &here[nhere++], "committed", now);
	}
	if (nhere > 0)
	{
		PrivilegedScope ps;
		bool		pushed = !ActiveSnapshotSet();

		/* at commit no statement holds a snapshot */
		if (pushed)
			PushActiveSnapshot(GetTransactionSnapshot());
		catalog_begin_privileged(&ps);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		insert_rows(here, nhere);
		SPI_finish();
		catalog_end_privileged(&ps);
		if (pushed)
			PopActiveSnapshot();
	}
	/* the changes are on record: the reads go to the worker, and the entries are done */
	nentries = 0;
	last_noted = -1;
	if (!to_worker(there, nthere))
		ereport(WARNING,
				(errmsg("ssn: %d audit entries of a read-only transaction could not be recorded", nthere),
				 errhint("The node worker records them; it runs only with ssn in shared_preload_libraries, in ssn.database.")));
	pfree(here);
	pfree(there);
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (nentries > 0)
				record_at_commit();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (nentries > 0)
			{
				AuditRow   *rows = MemoryContextAlloc(TopMemoryContext, sizeof(AuditRow) * nentries);
				int			n = take_rows(rows, "rolled back", InvalidSubTransactionId);

				if (!to_worker(rows, n))
					ereport(LOG,
							(errmsg("ssn: %d audit entries of a rolled back transaction could not be recorded", n)));
				pfree(rows);
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			nentries = 0;
			last_noted = -1;
			break;
		default:
			break;
	}
}

/* a savepoint rolled back: its entries are recorded as such; released: its parent's */
static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (nentries == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		AuditRow   *rows = MemoryContextAlloc(TopMemoryContext, sizeof(AuditRow) * nentries);
		int			n = take_rows(rows, "rolled back", mySubid);

		if (n > 0 && !to_worker(rows, n))
			ereport(LOG,
					(errmsg("ssn: %d audit entries of a rolled back savepoint could not be recorded", n)));
		pfree(rows);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < nentries; i++)
			if (entries[i].subid == mySubid)
				entries[i].subid = parentSubid;
	}
}

/* ---------------------------------------------------------------------------
 * the node worker's side
 * ------------------------------------------------------------------------- */
typedef struct Drained
{
	int			n;
	AuditRow	rows[AUDIT_COPY_CHUNK * 4];
} Drained;

static void
record_drained(void *arg)
{
	Drained    *d = (Drained *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	insert_rows(d->rows, d->n);
	SPI_finish();
}

static void
alarm_lost(void *arg)
{
	const char *detail = (const char *) arg;

	(void) alarm_raise("channel", "audit queue", "major", "audit entries lost", detail);
}

/* worker pass: write what the backends queued, a few chunks a turn */
static long
drain_pass(void)
{
	Drained    *d;
	char		err[256];

	if (queue == NULL)
		return -1;
	d = palloc(sizeof(Drained));
	for (int turn = 0; turn < 8; turn++)
	{
		d->n = 0;
		while (d->n < (int) lengthof(d->rows))
		{
			int			n;

			SpinLockAcquire(&queue->mutex);
			n = Min(Min(queue->count, AUDIT_COPY_CHUNK), (int) lengthof(d->rows) - d->n);
			if (n > 0)
			{
				memcpy(&d->rows[d->n], queue->slots, sizeof(AuditRow) * n);
				memmove(queue->slots, queue->slots + n, sizeof(AuditRow) * (queue->count - n));
				queue->count -= n;
			}
			SpinLockRelease(&queue->mutex);
			if (n <= 0)
				break;
			d->n += n;
		}
		if (d->n == 0)
			break;
		if (!worker_guarded(record_drained, d, err, sizeof(err), NULL))
		{
			char	   *detail = psprintf("%d audit entries could not be written: %s", d->n, err);

			(void) worker_guarded(alarm_lost, detail, NULL, 0, NULL);
		}
	}
	pfree(d);
	return -1;
}

/* a session that ends hands over the rows still waiting in it (for a moment at most) */
static void
flush_on_exit(int code, Datum arg)
{
	for (int i = 0; i < 100 && !backlog_flush(); i++)
		pg_usleep(10000);
	if (nbacklog > 0)
		elog(LOG, "ssn: %d audit entries of an ending session could not be handed to the node worker", nbacklog);
}

static void
queue_init(void *p)
{
	SpinLockInit(&((AuditQueue *) p)->mutex);
}

void
audit_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		preload_shmem_struct("ssn audit queue", sizeof(AuditQueue), (void **) &queue, queue_init);
	worker_pass_register("audit entries", drain_pass, WORKER_PASS_EVERY_LOOP);
	/* first registered, last called: after the stores' commit-time sealing has spent its keys */
	RegisterXactCallback(audit_xact_callback, NULL);
	RegisterSubXactCallback(audit_subxact_callback, NULL);
}

/* per backend, at its first entry */
static void
register_exit(void)
{
	static bool done = false;

	if (!done)
	{
		before_shmem_exit(flush_on_exit, (Datum) 0);
		done = true;
	}
}
