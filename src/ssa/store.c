/*
 * store.c - ssn_store(): the SSA's half of Y.3808 §12.1.  A value is split at
 * the share indexes of n shareholders in service; this node's share goes straight
 * into its own share table (no OTP inside a trusted node), the others into the
 * outbox, and the secret's owner into ssn.secret - all in the caller's
 * transaction, so "stored" and "will be delivered" are one atomic fact.  The
 * worker delivers the outbox after commit; ssn.synchronous_store can make the
 * commit wait for it.
 *
 * The outbox never holds another holder's share in clear: each peer's shares are
 * sealed for that peer (one-time pad and MAC under QKD keys of the link) before
 * the row is written, so this node's WAL, base backups and standbys only ever see
 * envelopes.  The keys are recorded 'used' in the key ledger by an autonomous
 * transaction before the first of them is used, and wiped once sealed; the worker
 * sends the sealed bytes as they are, and resends them unchanged.
 *
 * Rows are buffered per (sub)transaction and written in bulk: one statement per
 * table for thousands of values, one sealed message of many shares per outbox row.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/bytes.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/check.h"
#include "lifecycle/signing_key.h"
#include "lifecycle/verify.h"
#include "math/random.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/worker.h"
#include "share/secret_handle.h"
#include "share/secret_record.h"
#include "share/share_batch.h"
#include "share/split_combine.h"
#include "ssa/delete.h"
#include "ssa/own_writes.h"
#include "ssa/records.h"
#include "ssa/store.h"
#include "ssa/store_policy.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_store);
PG_FUNCTION_INFO_V1(ssn_store_check_committed);

#define BLOB_TARGET		(64 * 1024)		/* sealed outbox message: fits a small key pool */
#define RECORDS_MAX		(192 * 1024)	/* records with it: clear, they spend no pad */
#define FLUSH_SECRETS	10000	/* catalog rows and records written per statement */
#define FLUSH_BYTES		(8 * 1024 * 1024)
#define MAX_BLOBS		4096	/* flushed before a value could overflow it */

typedef struct PeerQueue
{
	char		name[SSN_NAME_MAXLEN + 1];
	StringInfoData blob;
	StringInfoData rec;			/* the records of the blob's secrets (kind 'stored') */
	int			count;
	int64		share_bytes;	/* the shares without their framing */
} PeerQueue;

/*
 * The rows buffered at one (sub)transaction level.  A savepoint's stores get a
 * level of their own: released, its rows are written inside it just before it
 * commits into its parent; rolled back, they are dropped.  So a buffered row is
 * always written by the level it belongs to.
 */
static bool store_schema_has(const char *column);
static void note_id(const uint8 *id, Datum *list, int *n);

typedef struct PendingStore
{
	struct PendingStore *parent;
	MemoryContext cxt;
	MemoryContext data;			/* the values' copies until the next flush */
	SubTransactionId subid;
	ShareholderList *catalog;
	Oid			share_array_oid;
	bool		schema_verifies;	/* ssn.secret has its commitment column (1.3) */
	bool		schema_checks;	/* ssn.secret has its check_record column (1.4) */
	bool		outbox_share_bytes; /* ssn.outbox has its share_bytes column (1.4) */
	bool		schema_records; /* holders keep secrets' records (ssn.held_secret) */
	/* ssn.secret rows */
	int			nsec;
	Datum	   *sec_id;
	Datum	   *sec_type;
	Datum	   *sec_k;
	Datum	   *sec_n;
	Datum	   *sec_holders;
	Datum	   *sec_owner;
	Datum	   *sec_commit;		/* signed commitment record, or NULL */
	bool	   *sec_commit_null;
	Datum	   *sec_check;		/* signed check record (values without commitments), or NULL */
	bool	   *sec_check_null;
	/* secrets whose record changed (grants): sent to their holders again */
	int			nchg;
	Datum	   *chg_id;
	/* secrets the owner deleted (ssn_delete) */
	int			ndel;
	Datum	   *del_id;
	Datum	   *del_by;			/* the role that deleted it */
	/* ssn.held_share rows (this node's shares) */
	int			nloc;
	Datum	   *loc_id;
	Datum	   *loc_share;
	/* outbox: finished blobs (clear until the flush seals them), one open blob per peer */
	int			nblob;
	Shareholder **blob_holder;
	Datum	   *blob_peer;
	Datum	   *blob_count;
	Datum	   *blob_share_bytes;
	Datum	   *blob_data;
	int			npq;
	PeerQueue	pq[SHARE_MAX_N];
	size_t		bytes;
} PendingStore;

static PendingStore *pend = NULL;
static bool callbacks_registered = false;

/* what the commit waits for (ssn.synchronous_store) */
static bool outbox_written = false;
static int64 sync_max_id = 0;
static int	sync_need_k = 0;
static int	sync_npeers = 0;
static char *sync_peers[SHARE_MAX_N];

static void
wipe_pending(void)
{
	int			i;

	if (pend == NULL)
		return;
	for (i = 0; i < pend->nloc; i++)
	{
		struct varlena *s = (struct varlena *) DatumGetPointer(pend->loc_share[i]);

		sodium_memzero(VARDATA(s), VARSIZE(s) - VARHDRSZ);
	}
	for (i = 0; i < pend->nblob; i++)
	{
		bytea	   *b = DatumGetByteaPP(pend->blob_data[i]);

		sodium_memzero(VARDATA(b), VARSIZE(b) - VARHDRSZ);
	}
	for (i = 0; i < pend->npq; i++)
		if (pend->pq[i].blob.data)
			sodium_memzero(pend->pq[i].blob.data, pend->pq[i].blob.maxlen);
}

/* close a peer's open blob into the list of blobs to write */
static void
close_blob(PeerQueue *q)
{
	bytea	   *b;
	MemoryContext old;

	if (q->count == 0)
		return;
	Assert(pend->nblob < MAX_BLOBS);
	old = MemoryContextSwitchTo(pend->data);
	if (q->rec.len > 0)
	{
		/* kind 'stored': the records' length and the records, then the shares */
		b = palloc(VARHDRSZ + 4 + q->rec.len + q->blob.len);
		SET_VARSIZE(b, VARHDRSZ + 4 + q->rec.len + q->blob.len);
		le_put_u32((uint8 *) VARDATA(b), (uint32) q->rec.len);
		memcpy(VARDATA(b) + 4, q->rec.data, q->rec.len);
		memcpy(VARDATA(b) + 4 + q->rec.len, q->blob.data, q->blob.len);
		resetStringInfo(&q->rec);
	}
	else
	{
		b = palloc(VARHDRSZ + q->blob.len);
		SET_VARSIZE(b, VARHDRSZ + q->blob.len);
		memcpy(VARDATA(b), q->blob.data, q->blob.len);
	}
	sodium_memzero(q->blob.data, q->blob.len);
	pend->blob_holder[pend->nblob] = catalog_find(pend->catalog, q->name);
	pend->blob_peer[pend->nblob] = PointerGetDatum(cstring_to_text_with_len(q->name, strlen(q->name)));
	pend->blob_count[pend->nblob] = Int32GetDatum(q->count);
	pend->blob_share_bytes[pend->nblob] = Int64GetDatum(q->share_bytes);
	pend->blob_data[pend->nblob] = PointerGetDatum(b);
	pend->nblob++;
	resetStringInfo(&q->blob);
	q->count = 0;
	q->share_bytes = 0;
	MemoryContextSwitchTo(old);
}

static PeerQueue *
peer_queue(const char *name)
{
	int			i;
	PeerQueue  *q;
	MemoryContext old;

	for (i = 0; i < pend->npq; i++)
		if (strcmp(pend->pq[i].name, name) == 0)
			return &pend->pq[i];
	q = &pend->pq[pend->npq++];
	strlcpy(q->name, name, sizeof(q->name));
	old = MemoryContextSwitchTo(pend->cxt);	/* lives as long as the level */
	initStringInfo(&q->blob);
	initStringInfo(&q->rec);
	MemoryContextSwitchTo(old);
	q->count = 0;
	q->share_bytes = 0;
	return q;
}

static void
note_sync_peer(const char *name)
{
	int			i;

	for (i = 0; i < sync_npeers; i++)
		if (strcmp(sync_peers[i], name) == 0)
			return;
	sync_peers[sync_npeers++] = MemoryContextStrdup(TopMemoryContext, name);
}

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expect)
		elog(ERROR, "ssn: storing shares failed: %s", SPI_result_code_string(rc));
}

static Datum
array_of(Datum *d, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(d, n, elemtype, typlen, typbyval, typalign));
}

/*
 * Replace the clear blobs by envelopes sealed for their peers, wiping the clear
 * bytes.  Keys that the KME cannot give fail the store: nothing is written.
 */
static void
seal_blobs(void)
{
	const uint8 **pts;
	size_t	   *lens;
	SealedMessage **volatile m = NULL;
	volatile int failed = -1;
	MemoryContext old;
	const char *self = pend->catalog->items[pend->catalog->self].name;

	if (pend->nblob == 0)
		return;
	old = MemoryContextSwitchTo(pend->data);
	pts = palloc(sizeof(uint8 *) * pend->nblob);
	lens = palloc(sizeof(size_t) * pend->nblob);
	for (int i = 0; i < pend->nblob; i++)
	{
		bytea	   *b = DatumGetByteaPP(pend->blob_data[i]);

		pts[i] = (const uint8 *) VARDATA_ANY(b);
		lens[i] = VARSIZE_ANY_EXHDR(b);
	}
	PG_TRY();
	{
		m = channel_seal_many(self, (const Shareholder *const *) pend->blob_holder,
							  pend->schema_records ? MSG_KIND_STORED : MSG_KIND_SHARES,
							  pts, lens, pend->nblob, "deliver", (int *) &failed);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		const char *peer = failed >= 0 ? pend->blob_holder[failed]->name : "?";

		MemoryContextSwitchTo(pend->data);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ed->sqlerrcode),
				 errmsg("could not seal the shares for shareholder \"%s\": %s", peer, ed->message),
				 errdetail("Shares for peers are sealed with QKD keys of their link before they are written; "
						   "nothing of this transaction was stored."),
				 errhint("Check the KME and the link (SELECT * FROM ssn.kme_status('%s')), then store again.",
						 peer)));
	}
	PG_END_TRY();
	for (int i = 0; i < pend->nblob; i++)
	{
		bytea	   *b = DatumGetByteaPP(pend->blob_data[i]);

		sodium_memzero(VARDATA(b), VARSIZE(b) - VARHDRSZ);
		pend->blob_data[i] = PointerGetDatum(m[i]->envelope);
		audit_key_bytes(AUDIT_STORE, (int64) m[i]->key_bytes);
	}
	MemoryContextSwitchTo(old);
}

/* Write the buffered rows (privileged, in the current (sub)transaction). */
static void
flush_pending(void)
{
	PrivilegedScope ps;
	MemoryContext old;
	bool		pushed;
	int			i;

	if (pend == NULL)
		return;
	for (i = 0; i < pend->npq; i++)
		close_blob(&pend->pq[i]);
	if (pend->nsec == 0 && pend->nloc == 0 && pend->nblob == 0 && pend->nchg == 0 && pend->ndel == 0)
		return;
	seal_blobs();

	old = MemoryContextSwitchTo(pend->cxt);
	catalog_begin_privileged(&ps);
	/* at pre-commit no snapshot is active any more */
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (pend->nsec > 0)
	{
		Oid			types[8] = {UUIDARRAYOID, OIDARRAYOID, OIDARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		BYTEAARRAYOID, BYTEAARRAYOID};
		Datum		values[8];
		int			dims[1] = {pend->nsec},
					lbs[1] = {1};

		values[0] = array_of(pend->sec_id, pend->nsec, UUIDOID);
		values[1] = array_of(pend->sec_owner, pend->nsec, OIDOID);
		values[2] = array_of(pend->sec_type, pend->nsec, OIDOID);
		values[3] = array_of(pend->sec_k, pend->nsec, INT4OID);
		values[4] = array_of(pend->sec_n, pend->nsec, INT4OID);
		values[5] = array_of(pend->sec_holders, pend->nsec, TEXTOID);
		/* the columns the schema has (records are made only where it has them) */
		if (pend->schema_verifies)
			values[6] = PointerGetDatum(construct_md_array(pend->sec_commit, pend->sec_commit_null, 1, dims, lbs,
														   BYTEAOID, -1, false, TYPALIGN_INT));
		if (pend->schema_checks)
		{
			values[7] = PointerGetDatum(construct_md_array(pend->sec_check, pend->sec_check_null, 1, dims, lbs,
														   BYTEAOID, -1, false, TYPALIGN_INT));
			spi_exec("INSERT INTO ssn.secret (id, owner, value_type, k, n, holders, commitment, check_record)"
					 " SELECT u.id, u.owner, u.t::regtype, u.k, u.n, u.h::int[], u.c, u.ck"
					 " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) AS u(id, owner, t, k, n, h, c, ck)",
					 8, types, values, SPI_OK_INSERT);
		}
		else if (pend->schema_verifies)
			spi_exec("INSERT INTO ssn.secret (id, owner, value_type, k, n, holders, commitment)"
					 " SELECT u.id, u.owner, u.t::regtype, u.k, u.n, u.h::int[], u.c"
					 " FROM unnest($1, $2, $3, $4, $5, $6, $7) AS u(id, owner, t, k, n, h, c)",
					 7, types, values, SPI_OK_INSERT);
		else
			spi_exec("INSERT INTO ssn.secret (id, owner, value_type, k, n, holders)"
					 " SELECT u.id, u.owner, u.t::regtype, u.k, u.n, u.h::int[]"
					 " FROM unnest($1, $2, $3, $4, $5, $6) AS u(id, owner, t, k, n, h)",
					 6, types, values, SPI_OK_INSERT);
	}
	if (pend->nloc > 0)
	{
		Oid			types[3] = {UUIDARRAYOID, pend->share_array_oid, TEXTOID};
		Datum		values[3];
		char	   *self = pend->catalog->self >= 0 ? pend->catalog->items[pend->catalog->self].name : "";

		values[0] = array_of(pend->loc_id, pend->nloc, UUIDOID);
		values[1] = array_of(pend->loc_share, pend->nloc, get_element_type(pend->share_array_oid));
		values[2] = CStringGetTextDatum(self);
		spi_exec("INSERT INTO ssn.held_share (secret_id, epoch, origin, share)"
				 " SELECT u.id, 0, $3, u.s FROM unnest($1, $2) AS u(id, s)",
				 3, types, values, SPI_OK_INSERT);
		sodium_memzero(VARDATA(DatumGetPointer(values[1])), VARSIZE(DatumGetPointer(values[1])) - VARHDRSZ);
	}
	if (pend->nblob > 0)
	{
		Oid			types[4] = {TEXTARRAYOID, INT4ARRAYOID, BYTEAARRAYOID, INT8ARRAYOID};
		Datum		values[4];

		values[0] = array_of(pend->blob_peer, pend->nblob, TEXTOID);
		values[1] = array_of(pend->blob_count, pend->nblob, INT4OID);
		values[2] = array_of(pend->blob_data, pend->nblob, BYTEAOID);
		values[3] = array_of(pend->blob_share_bytes, pend->nblob, INT8OID);
		if (pend->outbox_share_bytes)
			spi_exec("INSERT INTO ssn.outbox (peer, shares, blob, share_bytes)"
					 " SELECT * FROM unnest($1, $2, $3, $4) RETURNING id",
					 4, types, values, SPI_OK_INSERT_RETURNING);
		else
			spi_exec("INSERT INTO ssn.outbox (peer, shares, blob)"
					 " SELECT * FROM unnest($1, $2, $3) RETURNING id",
					 3, types, values, SPI_OK_INSERT_RETURNING);
		for (i = 0; i < (int) SPI_processed; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1, &isnull));

			sync_max_id = Max(sync_max_id, id);
		}
		outbox_written = true;
	}
	/* records of secrets whose grants changed, or whose holders made their own shares */
	if (pend->schema_records && pend->nchg > 0 &&
		records_queue(array_of(pend->chg_id, pend->nchg, UUIDOID), false, false, 0, &sync_max_id) > 0)
		outbox_written = true;
	if (pend->ndel > 0)
	{
		(void) delete_apply(array_of(pend->del_id, pend->ndel, UUIDOID), array_of(pend->del_by, pend->ndel, OIDOID),
							&sync_max_id);
		outbox_written = true;
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	catalog_end_privileged(&ps);
	MemoryContextSwitchTo(old);

	wipe_pending();
	MemoryContextReset(pend->data);
	pend->nsec = pend->nloc = pend->nblob = pend->nchg = pend->ndel = 0;
	pend->bytes = 0;
}

/* drop the current level (its rows go with its (sub)transaction) */
static void
pop_level(void)
{
	PendingStore *parent = pend->parent;

	wipe_pending();
	MemoryContextDelete(pend->cxt);
	pend = parent;
}

static void
store_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			flush_pending();
			break;
		case XACT_EVENT_COMMIT:
			if (outbox_written)
			{
				ssn_worker_wake();
				if ((ssn_synchronous_store == SSN_SYNC_K || ssn_synchronous_store == SSN_SYNC_ALL) &&
					sync_npeers > 0)
				{
					int			need = ssn_synchronous_store == SSN_SYNC_ALL ? sync_npeers
						: Min(sync_need_k, sync_npeers);
					int			got = ssn_worker_wait_delivered(sync_peers, sync_npeers, need, sync_max_id,
																ssn_synchronous_store_timeout_ms);

					if (got < need)
						ereport(WARNING,
								(errmsg("committed, but only %d of the %d shareholders needed hold their shares yet",
										got, need),
								 errdetail("The outbox keeps the rest; the worker goes on delivering them."),
								 errhint("See ssn.channels and ssn.active_alarms.")));
				}
			}
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the levels' memory goes with TopTransactionContext; wipe it first */
			for (; pend; pend = pend->parent)
				wipe_pending();
			outbox_written = false;
			sync_max_id = 0;
			sync_need_k = 0;
			for (int i = 0; i < sync_npeers; i++)
				pfree(sync_peers[i]);
			sync_npeers = 0;
			break;
		default:
			break;
	}
}

static void
store_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (pend == NULL || pend->subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
	{
		/* written inside the savepoint, they become its parent's rows */
		flush_pending();
		pop_level();
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		pop_level();
}

/*
 * Only the current level is written: an outer level's rows written inside a
 * savepoint would vanish with it (they stay buffered until their level ends).
 */
void
store_flush_pending(void)
{
	if (pend && pend->subid == GetCurrentSubTransactionId() &&
		(pend->nsec > 0 || pend->nloc > 0 || pend->nblob > 0 || pend->npq > 0 || pend->nchg > 0 ||
		 pend->ndel > 0))
		flush_pending();
}

/*
 * Written only if this level buffers new secrets (their catalog rows): what a
 * grant or a deletion of a secret needs to see, without writing the grants and
 * deletions buffered so far one message at a time.
 */
void
store_flush_new_secrets(void)
{
	if (pend && pend->subid == GetCurrentSubTransactionId() &&
		(pend->nsec > 0 || pend->nloc > 0 || pend->nblob > 0))
		flush_pending();
}

static PendingStore *
pending_get(void)
{
	SubTransactionId cur = GetCurrentSubTransactionId();

	if (!callbacks_registered)
	{
		RegisterXactCallback(store_xact_callback, NULL);
		RegisterSubXactCallback(store_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (pend == NULL || pend->subid != cur)
	{
		/* a new level: the first store of this transaction or of a savepoint */
		MemoryContext cxt = AllocSetContextCreate(TopTransactionContext, "ssn pending store",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		PendingStore *parent = pend;

		pend = palloc0(sizeof(PendingStore));
		pend->parent = parent;
		pend->cxt = cxt;
		pend->data = AllocSetContextCreate(cxt, "ssn pending values", ALLOCSET_DEFAULT_SIZES);
		pend->subid = cur;
		if (parent)
		{
			pend->catalog = parent->catalog;
		}
		else
		{
			PrivilegedScope ps;

			catalog_begin_privileged(&ps);
			pend->catalog = catalog_load();
			catalog_end_privileged(&ps);
		}
		pend->share_array_oid = get_array_type(catalog_type_oid("ssn_share"));
		pend->schema_verifies = store_schema_has("commitment");
		pend->schema_checks = store_schema_has("check_record");
		pend->schema_records = ssn_table_exists("held_secret");
		pend->outbox_share_bytes = get_attnum(get_relname_relid("outbox", get_namespace_oid("ssn", false)),
											  "share_bytes") != InvalidAttrNumber;
		pend->sec_id = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_type = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_k = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_n = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_holders = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_owner = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_commit = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_commit_null = palloc(sizeof(bool) * FLUSH_SECRETS);
		pend->sec_check = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->sec_check_null = palloc(sizeof(bool) * FLUSH_SECRETS);
		pend->chg_id = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->del_id = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->del_by = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->loc_id = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->loc_share = palloc(sizeof(Datum) * FLUSH_SECRETS);
		pend->blob_holder = palloc(sizeof(Shareholder *) * MAX_BLOBS);
		pend->blob_peer = palloc(sizeof(Datum) * MAX_BLOBS);
		pend->blob_count = palloc(sizeof(Datum) * MAX_BLOBS);
		pend->blob_share_bytes = palloc(sizeof(Datum) * MAX_BLOBS);
		pend->blob_data = palloc(sizeof(Datum) * MAX_BLOBS);
		MemoryContextSwitchTo(old);
	}
	return pend;
}

/*
 * A secret id: 48 bits of Unix time in milliseconds, big-endian, a 16-bit
 * sequence that orders the ids one backend makes within a millisecond, then 64
 * random bits (the layout of UUIDv7 with a counter, without its version bits).
 * Ids cannot be guessed, and a node's new ids sort after its older ones, so the
 * share tables' primary keys grow at their right edge instead of at random
 * pages, and bulk computations meet ids in the order they look them up
 * (id_set.h).
 */
void
store_new_secret_id(uint8 *id)
{
	static uint64 last_ms = 0;
	static uint16 seq = 0;
	uint64		ms = (uint64) (GetCurrentTimestamp() / 1000 +
							   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000);

	if (ms <= last_ms)
	{
		/* the same millisecond (or a clock step back): count on from the last id */
		ms = last_ms;
		if (++seq == 0)
			ms = ++last_ms;
	}
	else
	{
		last_ms = ms;
		ssn_random_bytes(&seq, sizeof(seq));
		seq &= 0x7fff;			/* room to count up before the next millisecond */
	}
	for (int i = 0; i < 6; i++)
		id[i] = (uint8) (ms >> (8 * (5 - i)));
	id[6] = (uint8) (seq >> 8);
	id[7] = (uint8) seq;
	/* pooled: randombytes_buf() is a system call per id */
	ssn_random_bytes(id + 8, SHARE_ID_SIZE - 8);
}

/* whether one more share of a secret may go to s: no organization gets k */
static bool
organization_has_room(const Shareholder *s, Shareholder **chosen, int m, int k)
{
	int			same = 0;

	if (s->organization == NULL)
		return true;
	for (int i = 0; i < m; i++)
		if (chosen[i]->organization && strcmp(chosen[i]->organization, s->organization) == 0)
			same++;
	return same + 1 < k;
}

static bool
same_organization(const Shareholder *a, const Shareholder *b)
{
	return a->organization && b->organization ? strcmp(a->organization, b->organization) == 0
		: a->organization == b->organization;
}

static bool
can_hold(const Shareholder *s)
{
	return s->in_service && s->share_index > 0;
}

/* the organizations of the shareholders in service, with their counts, for a refusal */
static char *
describe_organizations(ShareholderList *cat)
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];
		int			count = 0;
		bool		seen = false;

		if (!can_hold(s))
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = can_hold(&cat->items[j]) && same_organization(s, &cat->items[j]);
		if (seen)
			continue;
		for (int j = i; j < cat->count; j++)
			if (can_hold(&cat->items[j]) && same_organization(s, &cat->items[j]))
				count++;
		appendStringInfo(&b, "%s%s: %d", b.len ? ", " : "",
						 s->organization ? s->organization : "(none)", count);
	}
	return b.data;
}

/* a new secret on these holders (share indexes) gives no organization k shares */
void
store_check_placement(const uint8 *holders, int n, int k)
{
	static LocalTransactionId lxid = InvalidLocalTransactionId;
	static ShareholderList *cat = NULL;
	static bool any_organization = false;
	PrivilegedScope ps;
	Shareholder *chosen[SHARE_MAX_N];
	int			m = 0;

	/* the catalog once per transaction: a bulk of stored products asks for each */
	if (lxid != MyProc->lxid)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		catalog_begin_privileged(&ps);
		cat = catalog_load();
		catalog_end_privileged(&ps);
		MemoryContextSwitchTo(old);
		any_organization = false;
		for (int i = 0; i < cat->count; i++)
			any_organization |= cat->items[i].organization != NULL;
		lxid = MyProc->lxid;
	}
	if (!any_organization)
		return;
	for (int i = 0; i < n; i++)
	{
		Shareholder *s = catalog_find_index(cat, holders[i]);

		if (s == NULL)
			continue;
		if (!organization_has_room(s, chosen, m, k))
		{
			char	   *orgs = describe_organizations(cat);

			catalog_begin_privileged(&ps);
			alarm_raise_durable("policy", GetUserNameFromId(GetUserId(), false), "warning",
								"store refused by placement",
								psprintf("n = %d, k = %d on the holders of its inputs; shareholders by organization: %s",
										 n, k, orgs));
			catalog_end_privileged(&ps);
			audit_note_refused(AUDIT_STORE);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the holders of this result would give organization \"%s\" k = %d shares", s->organization, k),
					 errdetail("A stored result keeps its inputs' holders; shareholders in service by organization: %s.", orgs),
					 errhint("Store the inputs on holders that meet the placement rule, then compute again.")));
		}
		chosen[m++] = s;
	}
}

/*
 * n shareholders in service (n = 0: as many as may be), this node first,
 * returned sorted by share index.  No organization gets k of them.
 */
static int
choose_holders(ShareholderList *cat, int k, int n, Shareholder **chosen)
{
	int			i,
				m = 0,
				avail = 0,
				crowded = 0;
	bool		all = n == 0;

	for (i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];

		if (s->in_service && s->share_index > 0 && (s->is_self || s->conninfo))
			avail++;
	}
	if (all)
		n = Min(avail, SHARE_MAX_N);
	if (cat->self >= 0 && cat->items[cat->self].in_service && cat->items[cat->self].share_index > 0)
	{
		if (organization_has_room(&cat->items[cat->self], chosen, m, k))
			chosen[m++] = &cat->items[cat->self];
		else
			crowded++;
	}
	for (i = 0; i < cat->count && m < n; i++)
	{
		Shareholder *s = &cat->items[i];

		if (s->is_self || !s->in_service || s->share_index <= 0 || s->conninfo == NULL)
			continue;
		if (!organization_has_room(s, chosen, m, k))
		{
			crowded++;
			continue;
		}
		chosen[m++] = s;
	}
	if (all && crowded > 0 && m >= k)
		n = m;
	if (m < n && crowded > 0)
	{
		char	   *orgs = describe_organizations(cat);

		PrivilegedScope ps;

		catalog_begin_privileged(&ps);
		alarm_raise_durable("policy", GetUserNameFromId(GetUserId(), false), "warning",
							"store refused by placement",
							psprintf("n = %d, k = %d; shareholders by organization: %s", n, k, orgs));
		catalog_end_privileged(&ps);
		audit_note_refused(AUDIT_STORE);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no placement of %d shares gives every organization fewer than k = %d", n, k),
				 errdetail("Shareholders in service by organization: %s.", orgs),
				 errhint("Lower n, raise k, or register shareholders of other organizations.")));
	}
	if (m < n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("not enough shareholders in service: %d wanted, %d available", n, avail),
				 errdetail("Shareholders in service with a share index (and a conninfo, for peers) can hold shares."),
				 errhint("Lower n, or register more shareholders with ssn.add_shareholder().")));
	/* ascending share index (the catalog is already in that order, self may not be) */
	for (i = 1; i < m; i++)
	{
		Shareholder *t = chosen[i];
		int			j = i;

		while (j > 0 && chosen[j - 1]->share_index > t->share_index)
		{
			chosen[j] = chosen[j - 1];
			j--;
		}
		chosen[j] = t;
	}
	return m;
}

/* ssn.secret has this column (commitment: 1.3 or later; check_record: 1.4) */
static bool
store_schema_has(const char *column)
{
	Oid			nsp = get_namespace_oid("ssn", false);
	Oid			rel = get_relname_relid("secret", nsp);

	return OidIsValid(rel) && get_attnum(rel, column) != InvalidAttrNumber;
}

/* the ssn.secret row of a new secret (in the level's data context) */
static void
note_secret(PendingStore *p, const SecretHandle *h, pg_uuid_t *uuid, bytea *commitment, bytea *check)
{
	StringInfoData hl;

	initStringInfo(&hl);
	appendStringInfoChar(&hl, '{');
	for (int i = 0; i < h->n; i++)
		appendStringInfo(&hl, i ? ",%d" : "%d", h->holders[i]);
	appendStringInfoChar(&hl, '}');
	p->sec_id[p->nsec] = UUIDPGetDatum(uuid);
	p->sec_type[p->nsec] = ObjectIdGetDatum(value_type_oid(h->type));
	p->sec_k[p->nsec] = Int32GetDatum(h->k);
	p->sec_n[p->nsec] = Int32GetDatum(h->n);
	p->sec_holders[p->nsec] = CStringGetTextDatum(hl.data);
	p->sec_owner[p->nsec] = ObjectIdGetDatum(GetUserId());	/* SET ROLE may change it */
	p->sec_commit[p->nsec] = PointerGetDatum(commitment);
	p->sec_commit_null[p->nsec] = commitment == NULL;
	p->sec_check[p->nsec] = PointerGetDatum(check);
	p->sec_check_null[p->nsec] = check == NULL;
	p->nsec++;
}

void
store_note_secret(const SecretHandle *h)
{
	PendingStore *p = pending_get();
	MemoryContext old = MemoryContextSwitchTo(p->data);
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

	memcpy(uuid->data, h->id, SHARE_ID_SIZE);
	note_secret(p, h, uuid, NULL, NULL);
	MemoryContextSwitchTo(old);
	/* its holders made their shares themselves: its record goes on its own */
	if (p->schema_records)
		note_id(h->id, p->chg_id, &p->nchg);
	if (p->nsec >= FLUSH_SECRETS)
		flush_pending();
}

/* a secret id in the level's data context, into one of its id lists */
static void
note_id(const uint8 *id, Datum *list, int *n)
{
	MemoryContext old = MemoryContextSwitchTo(pend->data);
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

	memcpy(uuid->data, id, SHARE_ID_SIZE);
	list[(*n)++] = UUIDPGetDatum(uuid);
	MemoryContextSwitchTo(old);
	if (*n >= FLUSH_SECRETS)
		flush_pending();
}

/*
 * The record of a new secret (share/secret_record.h) for its holders, at buf:
 * its owner (the current user) and type by name, its sharing, its check record.
 */
static size_t
make_record(const SecretHandle *h, bytea *check, uint8 *buf, size_t buflen)
{
	static int	type_code = -1;
	static char type[SECRET_RECORD_MAX_TYPE + 1];
	char	   *owner = GetUserNameFromId(GetUserId(), false);
	SecretRecord r;
	size_t		len;

	if (h->type != type_code)
	{
		strlcpy(type, format_type_be(value_type_oid(h->type)), sizeof(type));
		type_code = h->type;
	}
	memset(&r, 0, sizeof(r));
	memcpy(r.id, h->id, SHARE_ID_SIZE);
	r.version = signing_now();
	r.k = h->k;
	r.n = h->n;
	memcpy(r.holders, h->holders, h->n);
	r.owner = owner;
	r.type = type;
	if (check)
	{
		r.check = (const uint8 *) VARDATA_ANY(check);
		r.check_len = VARSIZE_ANY_EXHDR(check);
	}
	len = secret_record_size(&r);
	if (len == 0 || len > buflen)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("the record of this secret cannot be written (role \"%s\", type %s)", owner, type),
				 errdetail("Holders keep each secret's record so that another node can take it over.")));
	return secret_record_write(buf, &r);
}

void
store_note_changed(const uint8 *id)
{
	PendingStore *p = pending_get();

	note_id(id, p->chg_id, &p->nchg);
}

void
store_note_deleted(const uint8 *id)
{
	PendingStore *p = pending_get();

	p->del_by[p->ndel] = ObjectIdGetDatum(GetUserId());
	note_id(id, p->del_id, &p->ndel);
}

Datum
ssn_store(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(store_value(PG_GETARG_DATUM(0), get_fn_expr_argtype(fcinfo->flinfo, 0),
								PG_ARGISNULL(1) ? STORE_DEFAULT : PG_GETARG_INT32(1),
								PG_ARGISNULL(2) ? STORE_DEFAULT : PG_GETARG_INT32(2),
								PG_NARGS() > 3 && !PG_ARGISNULL(3) ? (PG_GETARG_BOOL(3) ? 1 : 0) : -1));
}

/* a refusal by policy leaves nothing of the value behind */
static void
policy_check_or_wipe(StorePolicy *policy, Oid argtype, int k, int n, bool unverified, int64 value_bytes,
					 ShareValue *v)
{
	PG_TRY();
	{
		store_policy_check(policy, argtype, k, n, unverified, value_bytes);
	}
	PG_CATCH();
	{
		value_wipe(v);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

Datum
store_value(Datum value, Oid argtype, int32 k, int32 n, int verify)
{
	PendingStore *p;
	Shareholder *chosen[SHARE_MAX_N];
	SecretHandle h;
	ShareValue	v;
	uint8		xs[SHARE_MAX_N];
	struct varlena *shares[SHARE_MAX_N];
	uint32		payload_len;
	MemoryContext old;
	pg_uuid_t  *uuid;
	int			i;
	bool		verifiable;
	bool		checked;
	bytea	   *record = NULL;
	bytea	   *check = NULL;
	uint8		record_buf[SECRET_RECORD_MAX_SIZE];
	size_t		record_len = 0;

	if (k == STORE_DEFAULT)
		k = ssn_default_k;
	if (n == STORE_DEFAULT)
		n = ssn_default_n;
	if (n < 0 || k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k and n must be positive (got k=%d, n=%d)", k, n)));
	if (!OidIsValid(argtype))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the type of the value to store")));

	p = pending_get();
	/* without its own entry no worker of this node would deliver the shares */
	(void) catalog_require_self(p->catalog);
	check_k_n(k, Max(k, n));	/* k itself, before placement counts with it */
	n = choose_holders(p->catalog, k, n, chosen);
	check_k_n(k, n);
	value_encode(value, argtype, &v);

	memset(&h, 0, sizeof(h));
	h.type = v.type;
	h.k = k;
	h.n = n;
	h.epoch = 0;
	store_new_secret_id(h.id);
	for (i = 0; i < n; i++)
		xs[i] = h.holders[i] = (uint8) chosen[i]->share_index;
	/* verifiable unless turned off for this store, or the schema predates it */
	verifiable = v.field == SHARE_FIELD_PRIME &&
		(verify >= 0 ? verify == 1 : ssn_verify_shares) &&
		p->schema_verifies;
	/* the others carry a salt and a signed check value, unless the schema predates it */
	checked = !verifiable && p->schema_checks;
	payload_len = v.field != SHARE_FIELD_PRIME ? (uint32) v.len + (checked ? SHARE_CHECK_SALT : 0) :
		verifiable ? (uint32) SHARE_VERIFIABLE_PAYLOAD(k) : checked ? 2 * FP_BYTES : FP_BYTES;
	policy_check_or_wipe(store_policy_current(), argtype, k, n, v.field == SHARE_FIELD_PRIME && !verifiable,
						 (int64) payload_len, &v);
	/* a share travels in one message: one that no message can hold would never leave */
	if ((int64) payload_len + SHARE_HEADER_SIZE > (int64) ssn_channel_batch_kb * 1024)
	{
		value_wipe(&v);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value is too large to store: its shares of %u bytes exceed ssn.channel_batch_size (%d kB)",
						payload_len + SHARE_HEADER_SIZE, ssn_channel_batch_kb),
				 errhint("Raise ssn.channel_batch_size on every node (and the links' key pools), or store the value in parts.")));
	}
	for (i = 0; i < n; i++)
		shares[i] = share_alloc(payload_len);
	old = MemoryContextSwitchTo(p->data);
	if (verifiable)
		record = verify_split(&v, k, n, xs, h.id, 0, shares);
	else if (checked)
		check = check_split(&v, k, n, xs, h.id, shares);
	else
		split_into(&v, k, n, xs, h.id, 0, shares);
	MemoryContextSwitchTo(old);
	/* read back by this transaction before its holders have their shares */
	own_writes_keep(h.id, k, &v);
	value_wipe(&v);

	if (p->schema_records)
		record_len = make_record(&h, check, record_buf, sizeof(record_buf));
	old = MemoryContextSwitchTo(p->data);
	uuid = palloc(sizeof(pg_uuid_t));
	memcpy(uuid->data, h.id, SHARE_ID_SIZE);
	for (i = 0; i < n; i++)
	{
		if (chosen[i]->is_self)
		{
			p->loc_id[p->nloc] = UUIDPGetDatum(uuid);
			p->loc_share[p->nloc] = PointerGetDatum(PG_DETOAST_DATUM_COPY(PointerGetDatum(shares[i])));
			p->nloc++;
		}
		else
		{
			PeerQueue  *q = peer_queue(chosen[i]->name);

			/* the shares bound a message's key; the records, in clear, only its size */
			if (q->count > 0 &&
				(q->blob.len + SHARE_BATCH_PREFIX + SHARE_SIZE(shares[i]) > BLOB_TARGET ||
				 q->rec.len + record_len > RECORDS_MAX))
				close_blob(q);
			if (record_len > 0)
			{
				if (q->rec.len == 0)
					appendStringInfoChar(&q->rec, (char) SECRET_RECORD_FORMAT);
				appendBinaryStringInfo(&q->rec, (char *) record_buf, (int) record_len);
			}
			enlargeStringInfo(&q->blob, SHARE_BATCH_PREFIX + SHARE_SIZE(shares[i]));
			q->blob.len += share_batch_put((uint8 *) q->blob.data + q->blob.len,
										   SHARE_BYTES(shares[i]), SHARE_SIZE(shares[i]));
			q->count++;
			q->share_bytes += SHARE_SIZE(shares[i]);
			note_sync_peer(chosen[i]->name);
		}
		p->bytes += SHARE_SIZE(shares[i]);
	}
	sync_need_k = Max(sync_need_k, k - (p->nloc > 0 ? 1 : 0));

	note_secret(p, &h, uuid, record, check);
	MemoryContextSwitchTo(old);

	for (i = 0; i < n; i++)
	{
		sodium_memzero(VARDATA(shares[i]), VARSIZE(shares[i]) - VARHDRSZ);
		pfree(shares[i]);
	}
	if (p->nsec >= FLUSH_SECRETS || p->bytes >= FLUSH_BYTES || p->nblob >= MAX_BLOBS - SHARE_MAX_N)
		flush_pending();
	audit_note_bytes(AUDIT_STORE, h.id, (int64) payload_len);

	return handle_make(&h);
}

/* ssn.wait_delivered() cannot wait for shares its own transaction queued */
Datum
ssn_store_check_committed(PG_FUNCTION_ARGS)
{
	store_flush_pending();
	if (outbox_written)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot wait for the delivery of shares stored in this same transaction"),
				 errdetail("The worker delivers them only after this transaction commits."),
				 errhint("Commit first, or set ssn.synchronous_store = 'k' or 'all' to wait at commit.")));
	PG_RETURN_VOID();
}
