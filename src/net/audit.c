/*
 * audit.c - entries of the audit trail, summed per transaction and written
 * when it ends.  A committing transaction that changed secrets inserts their
 * rows itself (so a store and its record are one fact); the rest go through
 * shared memory to the node worker, which inserts them in a transaction of its
 * own: a retrieval rolled back has shown its values all the same, a read-only
 * transaction (or a standby's) cannot write, and a retrieval's transaction
 * should not wait for a commit record of its own.  Never a value or a share.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "base/guc.h"
#include "base/preload.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/worker.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define AUDIT_ENTRIES	64		/* (operation, role) pairs of one transaction */
#define AUDIT_QUEUE_SLOTS 128
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
	/* names taken while the transaction can read the catalog (not at abort) */
	char		role_name[NAMEDATALEN];
	char		session_role[NAMEDATALEN];
	char		client[64];
	int64		count;
	int64		ids;			/* of them with an id in the digest */
	int64		key_bytes;
	uint8		first_id[AUDIT_ID_SIZE];
	crypto_generichash_state digest;
} AuditEntry;

/* one row as the worker inserts it */
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
	bool		has_id;
	bool		has_digest;
	uint8		id[AUDIT_ID_SIZE];
	uint8		digest[AUDIT_DIGEST_SIZE];
} AuditRow;

typedef struct AuditQueue
{
	slock_t		mutex;
	int			count;
	uint64		dropped;
	AuditRow	slots[AUDIT_QUEUE_SLOTS];
} AuditQueue;

static AuditQueue *queue = NULL;
static AuditEntry entries[AUDIT_ENTRIES];
static int	nentries = 0;
static AuditEntry *last_noted = NULL;
static bool database_checked = false;
static bool worker_database = false;	/* the node worker's: it can write our queued rows */

static void audit_xact_callback(XactEvent event, void *arg);

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

static AuditEntry *
entry_for(AuditOp op)
{
	Oid			role = GetUserId();
	AuditEntry *e;

	for (int i = 0; i < nentries; i++)
		if (entries[i].op == op && entries[i].role == role)
			return &entries[i];
	if (!database_checked)
	{
		char	   *db = get_database_name(MyDatabaseId);

		worker_database = db && ssn_database && strcmp(db, ssn_database) == 0;
		database_checked = true;
	}
	/* more pairs than slots (never seen): the last one takes the rest */
	if (nentries == AUDIT_ENTRIES)
		return &entries[AUDIT_ENTRIES - 1];
	e = &entries[nentries++];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->role = role;
	clip(e->role_name, GetUserNameFromId(role, true), sizeof(e->role_name));
	clip(e->session_role, GetUserNameFromId(GetSessionUserId(), true), sizeof(e->session_role));
	client_address(e->client, sizeof(e->client));
	crypto_generichash_init(&e->digest, NULL, 0, AUDIT_DIGEST_SIZE);
	return e;
}

void
audit_note(AuditOp op, const uint8 *id)
{
	AuditEntry *e = entry_for(op);

	last_noted = e;
	if (e->ids == 0)
		memcpy(e->first_id, id, AUDIT_ID_SIZE);
	crypto_generichash_update(&e->digest, id, AUDIT_ID_SIZE);
	e->ids++;
	e->count++;
}

void
audit_note_count(AuditOp op, int64 n)
{
	last_noted = entry_for(op);
	last_noted->count += Max(n, 0);
}

void
audit_key_bytes(AuditOp op, int64 bytes)
{
	AuditEntry *e = op == AUDIT_NOPS ? last_noted : entry_for(op);

	if (e != NULL && e >= entries && e < entries + nentries)
		e->key_bytes += bytes;
}

/* the rows of this transaction's entries */
static int
entries_to_rows(AuditRow *rows, const char *outcome)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n = 0;

	for (int i = 0; i < nentries; i++)
	{
		AuditEntry *e = &entries[i];
		AuditRow   *r = &rows[n++];

		memset(r, 0, sizeof(*r));
		memcpy(r->role, e->role_name, sizeof(r->role));
		memcpy(r->session_role, e->session_role, sizeof(r->session_role));
		memcpy(r->client, e->client, sizeof(r->client));
		clip(r->operation, op_names[e->op], sizeof(r->operation));
		clip(r->outcome, outcome, sizeof(r->outcome));
		r->at = now;
		r->secrets = e->count;
		r->key_bytes = e->key_bytes;
		if (e->ids == 1 && e->count == 1)
		{
			r->has_id = true;
			memcpy(r->id, e->first_id, AUDIT_ID_SIZE);
		}
		else if (e->ids > 0)
		{
			r->has_digest = true;
			crypto_generichash_final(&e->digest, r->digest, AUDIT_DIGEST_SIZE);
		}
	}
	return n;
}

/* the rows into ssn.audit_log in the current transaction (SPI connected by the caller) */
static void
insert_rows(const AuditRow *rows, int n)
{
	static Oid	types[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID,
	UUIDOID, BYTEAOID, INT8OID};

	for (int i = 0; i < n; i++)
	{
		const AuditRow *r = &rows[i];
		Datum		v[10];
		char		nulls[10];
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
		if (SPI_execute_with_args("INSERT INTO ssn.audit_log (role, session_role, client, operation,"
								  " outcome, at, secrets, secret_id, digest, key_bytes)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
								  10, types, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write ssn.audit_log");
	}
}

/* handed to the node worker, all or none; false if none runs or its queue is full */
static bool
enqueue(const AuditRow *rows, int n, bool count_dropped)
{
	bool		fits;
	bool		wake;

	if (n == 0)
		return true;
	if (queue == NULL || ssn_shared == NULL || !worker_database)
		return false;
	SpinLockAcquire(&queue->mutex);
	fits = queue->count + n <= AUDIT_QUEUE_SLOTS;
	if (fits)
	{
		memcpy(&queue->slots[queue->count], rows, sizeof(AuditRow) * n);
		queue->count += n;
	}
	else if (count_dropped)
		queue->dropped += n;
	/* the worker's loop comes by within a second; woken only when the queue fills */
	wake = queue->count >= AUDIT_QUEUE_SLOTS / 2 || !fits;
	SpinLockRelease(&queue->mutex);
	if (wake)
		ssn_worker_wake();
	return fits;
}

/* operations that change nothing: their rows need not cost the caller a commit record */
static bool
row_reads_only(const AuditRow *r)
{
	return strcmp(r->operation, "retrieve") == 0 || strcmp(r->operation, "compute") == 0 ||
		strcmp(r->operation, "verify") == 0;
}

/*
 * At commit: the rows of changes join the transaction (one fact with the
 * change); those of reads go to the node worker, so that a retrieval's
 * transaction stays without a commit record to flush.  Whatever cannot go one
 * way goes the other.
 */
static void
record_at_commit(AuditRow *rows, int n)
{
	AuditRow   *here = palloc(sizeof(AuditRow) * Max(n, 1));
	AuditRow   *there = palloc(sizeof(AuditRow) * Max(n, 1));
	int			nhere = 0,
				nthere = 0;
	bool		writable = !XactReadOnly && !RecoveryInProgress();

	for (int i = 0; i < n; i++)
	{
		if (row_reads_only(&rows[i]) || !writable)
			there[nthere++] = rows[i];
		else
			here[nhere++] = rows[i];
	}
	if (!enqueue(there, nthere, !writable))
	{
		if (writable)
		{
			memcpy(&here[nhere], there, sizeof(AuditRow) * nthere);
			nhere += nthere;
		}
		else
			ereport(WARNING,
					(errmsg("ssn: %d audit entries of a read-only transaction could not be recorded", nthere),
					 errhint("The node worker records them; it runs only with ssn in shared_preload_libraries, in ssn.database.")));
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
	pfree(here);
	pfree(there);
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	AuditRow   *rows;
	int			n;

	if (nentries == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			rows = palloc(sizeof(AuditRow) * nentries);
			n = entries_to_rows(rows, "committed");
			nentries = 0;
			last_noted = NULL;
			record_at_commit(rows, n);
			pfree(rows);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			{
				AuditRow	local[AUDIT_ENTRIES];

				n = entries_to_rows(local, "rolled back");
				nentries = 0;
				last_noted = NULL;
				if (!enqueue(local, n, true))
					ereport(LOG,
							(errmsg("ssn: %d audit entries of a rolled back transaction could not be recorded", n)));
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			nentries = 0;
			last_noted = NULL;
			break;
		default:
			break;
	}
}

typedef struct Drained
{
	int			n;
	uint64		dropped;
	AuditRow	rows[AUDIT_QUEUE_SLOTS];
} Drained;

static void
record_drained(void *arg)
{
	Drained    *d = (Drained *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	insert_rows(d->rows, d->n);
	SPI_finish();
	if (d->dropped > 0)
		(void) alarm_raise("channel", "audit queue", "major", "audit entries lost",
						   psprintf("%llu audit entries found the queue full",
									(unsigned long long) d->dropped));
}

/* worker pass: write what the backends queued */
static long
drain_pass(void)
{
	Drained    *d;
	char		err[256];

	if (queue == NULL)
		return -1;
	d = palloc(sizeof(Drained));
	SpinLockAcquire(&queue->mutex);
	d->n = queue->count;
	d->dropped = queue->dropped;
	memcpy(d->rows, queue->slots, sizeof(AuditRow) * d->n);
	queue->count = 0;
	queue->dropped = 0;
	SpinLockRelease(&queue->mutex);
	if (d->n > 0 || d->dropped > 0)
		(void) worker_guarded(record_drained, d, err, sizeof(err), NULL);
	pfree(d);
	return -1;
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
}
