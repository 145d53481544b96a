/*
 * renewal.c - the coordinator of renewals (Y.3808 §12.3), run by the node worker
 * of the SSA for the secrets stored from this node.
 *
 * A run renews every secret batch by batch.  For a batch, the worker deals a fresh
 * zero-sharing per secret (constant term 0, degree k-1) and sends each shareholder
 * its parts, sealed with one-time pads.  Each shareholder adds them to its shares
 * (renewal_apply.c) in a transaction it then PREPAREs.  Once all have prepared,
 * the worker's own transaction renews this node's shares, moves the catalog to the
 * new epoch and records the decision; then it commits the prepared transactions.
 *
 * Presumed abort: a batch recorded as 'preparing' (no decision) is rolled back on
 * every peer when found open; one recorded as 'committing' is committed on the
 * peers still pending.  Both are retried on every pass until done, so a crash of
 * the worker, of this node or of a peer at any moment leaves each secret at one
 * epoch on every holder once the survivors are back.  While the worker commits a
 * batch it holds the renewal lock exclusively: the SSA's gatherings (retrieve.c,
 * compute.c) hold it shared, and skip peers whose switch is still pending.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "crypto/commitment.h"
#include "crypto/pedersen.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lifecycle/renewal.h"
#include "lifecycle/renewal_apply.h"
#include "lifecycle/verify.h"
#include "math/field_p.h"
#include "math/shamir.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/peer_conn.h"
#include "net/worker.h"
#include "pgstat.h"
#include "share/share_batch.h"
#include "share/share_type.h"
#include "storage/lmgr.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_renew);
PG_FUNCTION_INFO_V1(ssn_xid_is_current);

#define RENEWAL_LOCK_CLASS 1936945774	/* "ssnr" + 1 */

static void
renewal_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, RENEWAL_LOCK_CLASS, 0, 2);
}

void
renewal_lock_shared(void)
{
	LOCKTAG		tag;

	renewal_locktag(&tag);
	(void) LockAcquire(&tag, ShareLock, true, false);
}

void
renewal_unlock_shared(void)
{
	LOCKTAG		tag;

	renewal_locktag(&tag);
	LockRelease(&tag, ShareLock, true);
}

static void
lock_exclusive(void)
{
	LOCKTAG		tag;

	renewal_locktag(&tag);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
}

static void
unlock_exclusive(void)
{
	LOCKTAG		tag;

	renewal_locktag(&tag);
	LockRelease(&tag, ExclusiveLock, true);
}

static bool
renewal_installed(void)
{
	return ssn_table_exists("renewal_batch");
}

static SPIPlanPtr plan_stale = NULL;

List *
renewal_stale_peers(void)
{
	List	   *l = NIL;
	MemoryContext caller = CurrentMemoryContext;

	if (!renewal_installed())
		return NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(spi_saved_plan(&plan_stale,
										"SELECT DISTINCT unnest(pending) FROM ssn.renewal_batch WHERE state = 'committing'",
										0, NULL, 0),
						 NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.renewal_batch");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		l = lappend(l, pstrdup(name));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return l;
}

bool
renewal_is_stale(List *stale, const char *name)
{
	ListCell   *lc;

	foreach(lc, stale)
		if (strcmp((char *) lfirst(lc), name) == 0)
		return true;
	return false;
}

/* ---- on demand ---- */

static bool wake_registered = false;
static bool wake_at_commit = false;

static void
renew_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		ssn_worker_wake();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

int64
renewal_queue_run(Oid requested_by, int32 batch)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int64		id;

	values[0] = ObjectIdGetDatum(requested_by);
	values[1] = Int32GetDatum(batch);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO ssn.renewal_run (requested_by, batch_size) VALUES ($1, $2) RETURNING id",
							  2, types, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue the renewal");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (!wake_registered)
	{
		RegisterXactCallback(renew_xact_callback, NULL);
		wake_registered = true;
	}
	wake_at_commit = true;
	return id;
}

Datum
ssn_renew(PG_FUNCTION_ARGS)
{
	int32		batch = PG_GETARG_INT32(0);
	PrivilegedScope priv;
	int64		id;

	if (batch < 1 || batch > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 100000, not %d", batch)));
	catalog_begin_privileged(&priv);
	id = renewal_queue_run(priv.caller, batch);
	catalog_end_privileged(&priv);
	/* the run renews its secrets later, in batches: here it is queued */
	audit_note_count(AUDIT_RENEW, 0);
	PG_RETURN_INT64(id);
}

/* a run queued by the caller's own transaction is not seen by the worker yet */
Datum
ssn_xid_is_current(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TransactionIdIsCurrentTransactionId(PG_GETARG_TRANSACTIONID(0)));
}

/* ---- the coordinator ---- */

typedef struct Holder
{
	Shareholder *s;
	StringInfoData pt;			/* its parts, a share batch */
	int			nparts;
	SealedMessage *m;
	PeerCall	call[4];		/* announce, BEGIN, receive, PREPARE */
	bool		prepared;
	bool		sent;			/* the parts (maybe) reached it: their keys are spent */
	char		error[512];
} Holder;

typedef struct Batch
{
	ShareholderList *cat;
	Shareholder *self;
	int64		run;
	int			batch_no;
	int			batch_size;
	char		gid[64];
	Holder	   *h;				/* by catalog item; s == NULL if not in the batch */
	StringInfoData self_pt;		/* this node's own parts */
	int			nsecrets;
	Datum	   *ids;
	Datum	   *records;		/* new signed commitments (verifiable secrets) */
	bool	   *norecord;
	pg_uuid_t	last;
	int			skipped;
	char		skip_reason[256];
	bool		have_run;
	bool		finished;		/* the run has nothing left */
	char		error[512];
	int64		key_bytes;
	int			messages;
} Batch;

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expect)
		elog(ERROR, "renewal: statement failed (%d): %s", rc, sql);
}

/* schedule due jobs, then pick the run to work on (oldest first) */
static void
pick_run(Batch *b)
{
	bool		isnull;

	spi_exec("WITH due AS (UPDATE ssn.renewal_job j SET next_run = greatest(j.next_run + j.every, now())"
			 "             WHERE j.enabled AND j.next_run <= now() AND NOT EXISTS"
			 "               (SELECT FROM ssn.renewal_run r WHERE r.job = j.name AND r.state IN ('queued', 'running'))"
			 "             RETURNING j.name, j.batch_size)"
			 " INSERT INTO ssn.renewal_run (job, requested_by, batch_size)"
			 " SELECT name, (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'ssn'), batch_size FROM due",
			 0, NULL, NULL, SPI_OK_INSERT);
	spi_exec("SELECT id, state, batch_size, cursor,"
			 " (SELECT coalesce(max(b.batch), 0) FROM ssn.renewal_batch b WHERE b.run_id = r.id) FROM ssn.renewal_run r"
			 " WHERE r.state IN ('queued', 'running') ORDER BY r.id LIMIT 1 FOR UPDATE OF r",
			 0, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	b->have_run = true;
	b->run = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	b->batch_size = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	{
		Datum		c = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

		if (isnull)
			memset(b->last.data, 0, UUID_LEN);
		else
			memcpy(b->last.data, DatumGetUUIDP(c)->data, UUID_LEN);
	}
	b->batch_no = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull)) + 1;
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "queued") == 0)
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(b->run)};

		spi_exec("UPDATE ssn.renewal_run SET state = 'running', started_at = now(),"
				 " secrets_total = (SELECT count(*) FROM ssn.secret) WHERE id = $1",
				 1, t, v, SPI_OK_UPDATE);
	}
}

/* append one part (a share of zero at x) to a holder's batch */
static void
put_part(StringInfo pt, const ShareHeader *like, int x, const uint8 *payload)
{
	ShareHeader h = *like;
	size_t		size = SHARE_HEADER_SIZE + like->payload_len;
	uint8	   *buf = palloc(size);

	h.x = x;
	h.epoch = like->epoch + 1;
	memcpy(buf + SHARE_HEADER_SIZE, payload, like->payload_len);
	share_seal(buf, &h);
	enlargeStringInfo(pt, size + SHARE_BATCH_PREFIX);
	pt->len += share_batch_put((uint8 *) pt->data + pt->len, buf, size);
	sodium_memzero(buf, size);
	pfree(buf);
}

/* deal the zero-sharing of one secret among its holders (own: this node's share) */
static bool
deal_secret(Batch *b, const ShareHeader *sh, const uint8 *own, const int *xs, int nx)
{
	Holder	   *who[SHARE_MAX_N];
	uint8		xb[SHARE_MAX_N] = {0};
	int			i;

	for (i = 0; i < nx; i++)
	{
		Shareholder *s;

		if (xs[i] < 1 || xs[i] > SHARE_MAX_N)
			return false;
		xb[i] = (uint8) xs[i];
		if (xs[i] == b->self->share_index)
		{
			who[i] = NULL;
			continue;
		}
		s = catalog_find_index(b->cat, xs[i]);
		if (s == NULL || !s->in_service || s->conninfo == NULL)
		{
			snprintf(b->skip_reason, sizeof(b->skip_reason),
					 "no shareholder in service holds share index %d", xs[i]);
			return false;
		}
		who[i] = &b->h[s - b->cat->items];
		who[i]->s = s;
	}
	b->norecord[b->nsecrets] = true;
	if (share_is_verifiable(sh))
	{
		/* with the zero-sharing's commitments added: the new epoch's signed record */
		size_t		reclen = COMMIT_RECORD_SIZE(sh->k);
		fp_t		coeffs[SHARE_MAX_N],
					blind[SHARE_MAX_N];
		bytea	   *rec = palloc(VARHDRSZ + reclen);
		uint8	   *payload = palloc(sh->payload_len);

		SET_VARSIZE(rec, VARHDRSZ + reclen);
		verify_zero_sharing(own + SHARE_HEADER_SIZE + 2 * FP_BYTES, reclen, sh->epoch + 1,
							coeffs, blind, (uint8 *) VARDATA(rec));
		memcpy(payload + 2 * FP_BYTES, VARDATA(rec), reclen);
		for (i = 0; i < nx; i++)
		{
			fp_t		d,
						t;

			pedersen_eval(&d, coeffs, sh->k, xb[i]);
			pedersen_eval(&t, blind, sh->k, xb[i]);
			fp_to_bytes(payload, &d);
			fp_to_bytes(payload + FP_BYTES, &t);
			if (who[i])
			{
				put_part(&who[i]->pt, sh, xb[i], payload);
				who[i]->nparts++;
			}
			else
				put_part(&b->self_pt, sh, xb[i], payload);
		}
		sodium_memzero(payload, 2 * FP_BYTES);
		sodium_memzero(coeffs, sizeof(coeffs));
		sodium_memzero(blind, sizeof(blind));
		b->records[b->nsecrets] = PointerGetDatum(rec);
		b->norecord[b->nsecrets] = false;
	}
	else if (sh->field == SHARE_FIELD_PRIME)
	{
		/* a zero-sharing for the value, and one for the salt of a checked share */
		fp_t		ys[SHARE_MAX_N],
					zs[SHARE_MAX_N];
		int			parts = share_scalars(sh);

		shamir_split_fp(&fp_zero, sh->k - 1, nx, xb, ys);
		if (parts == 2)
			shamir_split_fp(&fp_zero, sh->k - 1, nx, xb, zs);
		for (i = 0; i < nx; i++)
		{
			uint8		p[2 * FP_BYTES];

			fp_to_bytes(p, &ys[i]);
			if (parts == 2)
				fp_to_bytes(p + FP_BYTES, &zs[i]);
			if (who[i])
			{
				put_part(&who[i]->pt, sh, xb[i], p);
				who[i]->nparts++;
			}
			else
				put_part(&b->self_pt, sh, xb[i], p);
			sodium_memzero(p, sizeof(p));
		}
		sodium_memzero(ys, sizeof(ys));
		sodium_memzero(zs, sizeof(zs));
	}
	else
	{
		uint8	   *zero = palloc0(Max(sh->payload_len, 1));
		uint8	  **parts = palloc(sizeof(uint8 *) * nx);

		for (i = 0; i < nx; i++)
			parts[i] = palloc(Max(sh->payload_len, 1));
		shamir_split_gf256(zero, sh->payload_len, sh->k - 1, nx, xb, parts);
		for (i = 0; i < nx; i++)
		{
			if (who[i])
			{
				put_part(&who[i]->pt, sh, xb[i], parts[i]);
				who[i]->nparts++;
			}
			else
				put_part(&b->self_pt, sh, xb[i], parts[i]);
			sodium_memzero(parts[i], sh->payload_len);
		}
	}
	return true;
}

/* step 1: pick the run and its next secrets, deal the parts, record the batch */
static void
batch_collect(void *arg)
{
	Batch	   *b = (Batch *) arg;
	Oid			types[4] = {TEXTOID, UUIDOID, INT4OID, INT8OID};
	Datum		values[4];
	uint64		nrows;
	SPITupleTable *tt;
	uint8		rnd[8];
	char		hex[17];
	Datum	   *peers;
	int			np = 0;

	MemoryContext outer = CurrentMemoryContext;

	b->cat = catalog_load();
	b->self = catalog_require_self(b->cat);
	b->h = palloc0(sizeof(Holder) * Max(b->cat->count, 1));
	for (int i = 0; i < b->cat->count; i++)
		initStringInfo(&b->h[i].pt);
	initStringInfo(&b->self_pt);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pick_run(b);
	if (!b->have_run)
	{
		SPI_finish();
		return;
	}
	values[0] = CStringGetTextDatum(b->self->name);
	values[1] = UUIDPGetDatum(&b->last);
	values[2] = Int32GetDatum(b->batch_size);
	values[3] = Int64GetDatum(b->run);
	/* the newest secrets whose shares are still in the outbox wait for the next run */
	spi_exec("SELECT s.id, s.holders, h.share FROM ssn.secret s"
			 " JOIN ssn.held_share h ON h.secret_id = s.id AND h.origin = $1 AND h.epoch = s.epoch"
			 " WHERE s.id > $2 AND s.stored_at < coalesce((SELECT min(queued_at) FROM ssn.outbox), 'infinity')"
			 "   AND s.id <> ALL ((SELECT skipped FROM ssn.renewal_run WHERE id = $4)::uuid[])"
			 " ORDER BY s.id LIMIT $3",
			 4, types, values, SPI_OK_SELECT);
	nrows = SPI_processed;
	tt = SPI_tuptable;
	if (nrows == 0)
	{
		values[3] = Int64GetDatum(b->run);
		spi_exec("UPDATE ssn.renewal_run SET state = 'done', finished_at = now() WHERE id = $4",
				 4, types, values, SPI_OK_UPDATE);
		b->finished = true;
		SPI_finish();
		return;
	}
	b->ids = MemoryContextAlloc(outer, sizeof(Datum) * nrows);
	b->records = MemoryContextAlloc(outer, sizeof(Datum) * nrows);
	b->norecord = MemoryContextAlloc(outer, sizeof(bool) * nrows);
	for (uint64 r = 0; r < nrows; r++)
	{
		MemoryContext spi;
		bool		isnull;
		pg_uuid_t  *id = DatumGetUUIDP(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
		ArrayType  *ha = DatumGetArrayTypeP(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
		ShareHeader sh;
		struct varlena *own = share_open(SPI_getbinval(tt->vals[r], tt->tupdesc, 3, &isnull), &sh);
		int			nx = ArrayGetNItems(ARR_NDIM(ha), ARR_DIMS(ha));

		memcpy(b->last.data, id->data, UUID_LEN);
		sodium_memzero(SHARE_PAYLOAD(own), Min(sh.payload_len, 2 * FP_BYTES));
		spi = MemoryContextSwitchTo(outer);
		if (sh.degree != sh.k - 1 || nx != sh.n || ARR_HASNULL(ha) ||
			!deal_secret(b, &sh, SHARE_BYTES(own), (int *) ARR_DATA_PTR(ha), nx))
			b->skipped++;
		else
		{
			pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

			memcpy(copy->data, id->data, UUID_LEN);
			b->ids[b->nsecrets++] = UUIDPGetDatum(copy);
		}
		MemoryContextSwitchTo(spi);
	}
	randombytes_buf(rnd, sizeof(rnd));
	hex_encode((char *) rnd, sizeof(rnd), hex);
	hex[16] = '\0';
	snprintf(b->gid, sizeof(b->gid), "ssn_renew_%s_%lld_%d", hex, (long long) b->run, b->batch_no);
	peers = palloc(sizeof(Datum) * Max(b->cat->count, 1));
	for (int i = 0; i < b->cat->count; i++)
		if (b->h[i].s)
			peers[np++] = CStringGetTextDatum(b->h[i].s->name);
	{
		Oid			t[5] = {INT8OID, INT4OID, TEXTOID, TEXTARRAYOID, INT4OID};
		Datum		v[5];

		v[0] = Int64GetDatum(b->run);
		v[1] = Int32GetDatum(b->batch_no);
		v[2] = CStringGetTextDatum(b->gid);
		v[3] = PointerGetDatum(construct_array(peers, np, TEXTOID, -1, false, TYPALIGN_INT));
		v[4] = Int32GetDatum(b->nsecrets);
		spi_exec("INSERT INTO ssn.renewal_batch (run_id, batch, gid, peers, secrets, state)"
				 " VALUES ($1, $2, $3, $4, $5, 'preparing')", 5, t, v, SPI_OK_INSERT);
	}
	SPI_finish();
}

/* step 2: seal every holder's parts (the key IDs go to the ledger with this transaction) */
static void
batch_seal(void *arg)
{
	Batch	   *b = (Batch *) arg;

	for (int i = 0; i < b->cat->count; i++)
		if (b->h[i].s)
		{
			b->h[i].m = channel_seal(b->self->name, b->h[i].s, MSG_KIND_RENEW,
									 (uint8 *) b->h[i].pt.data, b->h[i].pt.len, "renewal", false);
			sodium_memzero(b->h[i].pt.data, b->h[i].pt.maxlen);
		}
}

static void
command_call(PeerCall *c, const Shareholder *s, const char *sql)
{
	memset(c, 0, sizeof(*c));
	c->peer = s->name;
	c->conninfo = s->conninfo;
	c->sql = sql;
	c->command = true;
}

/* run stage st of every holder still going; a failure ends its part */
static void
run_stage(Batch *b, int st, int timeout_ms)
{
	PeerCall   *calls = palloc0(sizeof(PeerCall) * Max(b->cat->count, 1));
	int			n = 0;
	int		   *which = palloc(sizeof(int) * Max(b->cat->count, 1));

	for (int i = 0; i < b->cat->count; i++)
		if (b->h[i].s && b->h[i].error[0] == '\0')
		{
			calls[n] = b->h[i].call[st];
			which[n++] = i;
		}
	if (n == 0)
		return;
	peer_call_all(calls, n, timeout_ms);
	for (int j = 0; j < n; j++)
	{
		Holder	   *h = &b->h[which[j]];
		const char *v = peer_call_value(&calls[j], NULL);

		if (st == 2)
			h->sent = calls[j].sent;
		if (calls[j].res == NULL)
			snprintf(h->error, sizeof(h->error), "%s", calls[j].error[0] ? calls[j].error : "no answer");
		else if (st == 0 && (v == NULL || strncmp(v, "announced", 9) != 0))
			snprintf(h->error, sizeof(h->error), "%s", v ? v : "no answer");
		else if (st == 2 && (v == NULL || strncmp(v, "renewed", 7) != 0))
			snprintf(h->error, sizeof(h->error), "%s", v ? v : "no answer");
		else if (st == 3)
			h->prepared = true;
		if (h->error[0])
			peer_forget(h->s->name);	/* an open transaction there ends with the connection */
		peer_call_reset(&calls[j], 1);
	}
}

static void
raise_differs(void *arg)
{
	(void) alarm_raise("channel", "renewal", "critical", "renewal switch outcome differs on a shareholder",
					   (const char *) arg);
}

/*
 * Test hook (ssn.test_pause_after_prepare, never set in production): the
 * coordinator stops for good at this point of a batch, holding what it holds,
 * until the node is stopped - as if it had died there.
 */
static void
test_pause(const char *point, const char *gid)
{
	if (ssn_test_pause_after_prepare == NULL || strcmp(ssn_test_pause_after_prepare, point) != 0)
		return;
	ereport(LOG, (errmsg("ssn: test hook: the renewal coordinator stops at \"%s\" of %s", point, gid)));
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Finish the prepared transaction gid on the named peers: commit or roll back.
 * Returns the peers where it could not be finished (NIL: all done).  A peer
 * where gid is no longer prepared is asked how it ended (its evidence,
 * prepared.c): the outcome wanted is done; the other one is a critical alarm
 * (that holder's shares of the batch are at another epoch); no answer leaves
 * the peer pending.
 */
static List *
finish_prepared(ShareholderList *cat, const char *gid, List *peers, bool commit, StringInfo errors)
{
	int			n = list_length(peers),
				j = 0;
	PeerCall   *q = palloc0(sizeof(PeerCall) * Max(n, 1));
	PeerCall   *f = palloc0(sizeof(PeerCall) * Max(n, 1));
	PeerCall   *st = palloc0(sizeof(PeerCall) * Max(n, 1));
	static Oid	t[2] = {TEXTOID, TEXTOID};
	const char **v = palloc(sizeof(char *) * 2);
	const char *want = commit ? "committed" : "aborted";
	StringInfoData differs;
	char	   *sql = psprintf("%s PREPARED %s", commit ? "COMMIT" : "ROLLBACK", quote_literal_cstr(gid));
	List	   *left = NIL;
	ListCell   *lc;

	v[0] = gid;
	v[1] = catalog_require_self(cat)->name;
	initStringInfo(&differs);
	foreach(lc, peers)
	{
		Shareholder *s = catalog_find(cat, (char *) lfirst(lc));

		q[j].peer = (char *) lfirst(lc);
		if (s == NULL || s->conninfo == NULL)
		{
			/* removed from the catalog: nothing can reach its transaction any more */
			q[j].skip = true;
			f[j].skip = true;
			st[j].skip = true;
			j++;
			continue;
		}
		q[j].conninfo = s->conninfo;
		q[j].sql = "SELECT count(*) FROM pg_catalog.pg_prepared_xacts WHERE gid = $1";
		q[j].nparams = 1;
		q[j].types = t;
		q[j].values = v;
		st[j] = q[j];
		st[j].sql = "SELECT ssn.renewal_switch_status($1, $2, NULL)";
		st[j].nparams = 2;
		command_call(&f[j], s, sql);
		j++;
	}
	peer_call_all(q, n, ssn_peer_timeout_ms);
	for (j = 0; j < n; j++)
	{
		const char *c = peer_call_value(&q[j], NULL);

		if (q[j].skip)
			continue;
		if (c == NULL)
		{
			f[j].skip = true;
			st[j].skip = true;
			left = lappend(left, pstrdup(q[j].peer));
			appendStringInfo(errors, "%s%s: %s", errors->len ? "; " : "", q[j].peer, q[j].error);
		}
		else if (strcmp(c, "0") == 0)
			f[j].skip = true;	/* finished, or never prepared: asked below */
		else
			st[j].skip = true;
	}
	peer_call_all(st, n, ssn_peer_timeout_ms);
	for (j = 0; j < n; j++)
	{
		const char *c = peer_call_value(&st[j], NULL);

		if (st[j].skip)
			continue;
		if (c != NULL && strcmp(c, want) == 0)
			continue;			/* ended as decided */
		if (c != NULL && strcmp(c, commit ? "aborted" : "committed") == 0)
		{
			appendStringInfo(&differs, "%s%s: %s, the coordinator's decision was to %s (batch %s)",
							 differs.len ? "; " : "", st[j].peer, c, commit ? "commit" : "roll back", gid);
			continue;
		}
		left = lappend(left, pstrdup(st[j].peer));
		appendStringInfo(errors, "%s%s: not prepared, outcome %s", errors->len ? "; " : "", st[j].peer,
						 c ? c : (st[j].error[0] ? st[j].error : "unknown"));
	}
	if (differs.len > 0)
	{
		char		err[256];

		ereport(WARNING, (errmsg("ssn: renewal switch outcome differs on a shareholder: %s", differs.data)));
		(void) worker_guarded(raise_differs, differs.data, err, sizeof(err), NULL);
	}
	peer_call_all(f, n, ssn_peer_timeout_ms);
	for (j = 0; j < n; j++)
	{
		if (!f[j].skip && f[j].res == NULL)
		{
			left = lappend(left, pstrdup(q[j].peer));
			appendStringInfo(errors, "%s%s: %s", errors->len ? "; " : "", q[j].peer, f[j].error);
		}
	}
	peer_call_reset(q, n);
	peer_call_reset(st, n);
	peer_call_reset(f, n);
	return left;
}

/* step 3: every holder prepares its part of the switch */
static void
batch_prepare(Batch *b)
{
	char	   *prepare = psprintf("PREPARE TRANSACTION %s", quote_literal_cstr(b->gid));

	for (int i = 0; i < b->cat->count; i++)
	{
		Holder	   *h = &b->h[i];

		if (!h->s)
			continue;
		channel_prepare_calls(h->m, h->s, b->self->name, &h->call[0], &h->call[2]);
		command_call(&h->call[1], h->s, "BEGIN");
		command_call(&h->call[3], h->s, prepare);
	}
	/* the receivers' ledger rows commit before their dec_keys (announce) */
	run_stage(b, 0, ssn_peer_timeout_ms);
	run_stage(b, 1, ssn_peer_timeout_ms);
	run_stage(b, 2, Max(ssn_peer_timeout_ms, 60000));
	run_stage(b, 3, Max(ssn_peer_timeout_ms, 60000));
}

static Datum
text_array_of_list(List *l)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(l), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, l)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* settle the keys of every message: spent whether or not it arrived (OTP) */
static void
settle_keys(Batch *b, bool account)
{
	for (int i = 0; i < b->cat->count; i++)
	{
		Holder	   *h = &b->h[i];

		if (!h->s || !h->m)
			continue;
		channel_settle(h->m, h->sent || h->prepared ? "used" : "discarded", false);
		b->key_bytes += h->m->key_bytes;
		b->messages++;
		if (account)
		{
			LinkCounts	c = {0};

			c.messages = 1;
			c.shares = h->nparts;
			c.payload_bytes = h->pt.len;
			c.envelope_bytes = VARSIZE(h->m->envelope) - VARHDRSZ;
			c.key_bytes = h->m->key_bytes;
			channel_account(h->s->name, "send", &c);
		}
	}
}

/*
 * The peers of a batch still to finish; with none left the batch ends in
 * end_state ('done' after a commit, 'aborted' after a roll back).
 */
static void
record_pending(int64 run, int batch, List *left, const char *end_state)
{
	Oid			t[4] = {INT8OID, INT4OID, TEXTARRAYOID, TEXTOID};
	Datum		v[4];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	v[0] = Int64GetDatum(run);
	v[1] = Int32GetDatum(batch);
	v[2] = text_array_of_list(left);
	v[3] = CStringGetTextDatum(end_state);
	spi_exec("UPDATE ssn.renewal_batch SET pending = $3,"
			 " state = CASE WHEN cardinality($3) = 0 THEN $4 ELSE state END,"
			 " finished_at = CASE WHEN cardinality($3) = 0 THEN now() END"
			 " WHERE run_id = $1 AND batch = $2", 4, t, v, SPI_OK_UPDATE);
	SPI_finish();
}

typedef struct Abort
{
	Batch	   *b;
	const char *why;
	List	   *left;
	pg_uuid_t  *refused;		/* a holder refused this secret: skip it, go on */
} Abort;

/* the first secret id a refusal names (the holder's check failed for it), or NULL */
static pg_uuid_t *
refused_secret(const char *error)
{
	const char *p = strstr(error, "secret ");

	if (p == NULL || strncmp(error, "rejected", 8) != 0)
		return NULL;
	p += 7;
	if (strspn(p, "0123456789abcdef-") < 36)
		return NULL;
	return DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(pnstrdup(p, 36))));
}

static void
batch_record_abort(void *arg)
{
	Abort	   *a = (Abort *) arg;
	Batch	   *b = a->b;
	Oid			t[3] = {INT8OID, TEXTOID, UUIDOID};
	Datum		v[3];

	settle_keys(b, false);
	/* a batch rolled back everywhere is aborted; else the next pass finishes the rollback */
	record_pending(b->run, b->batch_no, a->left, "aborted");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	v[0] = Int64GetDatum(b->run);
	v[1] = CStringGetTextDatum(a->why);
	if (a->refused)
	{
		/* one secret a holder cannot renew (its share there fails its checks): the rest go on */
		v[2] = UUIDPGetDatum(a->refused);
		spi_exec("UPDATE ssn.renewal_run SET skipped = skipped || $3, error = $2 WHERE id = $1",
				 3, t, v, SPI_OK_UPDATE);
		SPI_finish();
		(void) alarm_raise("peer", "shares", "major", "share cannot be renewed", a->why);
		return;
	}
	spi_exec("UPDATE ssn.renewal_run SET state = 'failed', finished_at = now(), error = $2"
			 " WHERE id = $1 AND state = 'running'", 2, t, v, SPI_OK_UPDATE);
	SPI_finish();
	(void) alarm_raise("channel", b->self->name, "major", "renewal failed", a->why);
}

/* step 4, the decision: this node's shares, the catalog's epochs, the batch committing */
static void
batch_decide(void *arg)
{
	Batch	   *b = (Batch *) arg;
	char		why[256];
	Datum	   *peers = palloc(sizeof(Datum) * Max(b->cat->count, 1));
	int			np = 0;
	Oid			t[8] = {INT8OID, INT4OID, UUIDARRAYOID, TEXTARRAYOID, UUIDOID, INT8OID, INT4OID, BYTEAARRAYOID};
	Datum		v[8];
	int			dims[1] = {b->nsecrets},
				lbs[1] = {1};

	if (renewal_apply((uint8 *) b->self_pt.data, b->self_pt.len, b->self->name,
					  b->self->share_index, why, sizeof(why)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("cannot renew this node's own shares: %s", why)));
	sodium_memzero(b->self_pt.data, b->self_pt.maxlen);
	for (int i = 0; i < b->cat->count; i++)
		if (b->h[i].s)
			peers[np++] = CStringGetTextDatum(b->h[i].s->name);
	settle_keys(b, true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	v[0] = Int64GetDatum(b->run);
	v[1] = Int32GetDatum(b->batch_no);
	v[2] = PointerGetDatum(construct_array(b->ids, b->nsecrets, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	v[3] = PointerGetDatum(construct_array(peers, np, TEXTOID, -1, false, TYPALIGN_INT));
	v[4] = UUIDPGetDatum(&b->last);
	v[5] = Int64GetDatum(b->key_bytes);
	v[6] = Int32GetDatum(b->messages);
	v[7] = PointerGetDatum(construct_md_array(b->records, b->norecord, 1, dims, lbs, BYTEAOID, -1, false, TYPALIGN_INT));
	spi_exec("UPDATE ssn.secret s SET epoch = s.epoch + 1, commitment = u.c"
			 " FROM unnest($3, $8) AS u(id, c) WHERE s.id = u.id", 8, t, v, SPI_OK_UPDATE);
	spi_exec("UPDATE ssn.renewal_batch SET state = 'committing', pending = $4 WHERE run_id = $1 AND batch = $2",
			 8, t, v, SPI_OK_UPDATE);
	spi_exec("UPDATE ssn.renewal_run SET cursor = $5, batches = batches + 1, secrets_renewed = secrets_renewed + cardinality($3),"
			 " key_bytes = key_bytes + $6, messages = messages + $7 WHERE id = $1",
			 8, t, v, SPI_OK_UPDATE);
	SPI_finish();
}

typedef struct Finish
{
	int64		run;
	int			batch;
	List	   *left;
	const char *error;
} Finish;

static void
batch_record_finish(void *arg)
{
	Finish	   *f = (Finish *) arg;

	record_pending(f->run, f->batch, f->left, "done");
	if (f->left != NIL)
		(void) alarm_raise("channel", "renewal", "major", "renewal switch pending on a shareholder", f->error);
}

/* a skipped-secret note for the run, kept once */
static void
batch_record_skips(void *arg)
{
	Batch	   *b = (Batch *) arg;
	Oid			t[2] = {INT8OID, TEXTOID};
	Datum		v[2];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	v[0] = Int64GetDatum(b->run);
	v[1] = CStringGetTextDatum(psprintf("%d secrets skipped: %s", b->skipped,
										b->skip_reason[0] ? b->skip_reason : "no share of them on this node"));
	spi_exec("UPDATE ssn.renewal_run SET error = $2 WHERE id = $1", 2, t, v, SPI_OK_UPDATE);
	SPI_finish();
}

/* ---- recovery of batches left open ---- */

typedef struct OpenBatch
{
	int64		run;
	int			batch;
	char	   *gid;
	bool		committing;
	List	   *peers;
} OpenBatch;

typedef struct Recovery
{
	ShareholderList *cat;
	List	   *open;
} Recovery;

static void
load_open(void *arg)
{
	Recovery   *r = (Recovery *) arg;

	r->cat = catalog_load();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi_exec("SELECT run_id, batch, gid, state = 'committing',"
			 " CASE WHEN state = 'committing' THEN pending ELSE peers END"
			 " FROM ssn.renewal_batch WHERE state IN ('preparing', 'committing') ORDER BY run_id, batch",
			 0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		OpenBatch  *o = palloc0(sizeof(OpenBatch));
		bool		isnull;
		Datum	   *elems;
		int			ne;

		o->run = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		o->batch = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
		o->gid = SPI_getvalue(tup, td, 3);
		o->committing = DatumGetBool(SPI_getbinval(tup, td, 4, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, td, 5, &isnull)), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, NULL, &ne);
		for (int j = 0; j < ne; j++)
			o->peers = lappend(o->peers, TextDatumGetCString(elems[j]));
		r->open = lappend(r->open, o);
	}
	SPI_finish();
}

static void
record_abort_done(void *arg)
{
	Finish	   *f = (Finish *) arg;

	record_pending(f->run, f->batch, f->left, "aborted");
}

/* finish what a crash or a lost peer left open; true if nothing stays open */
static bool
recover(void)
{
	Recovery	r = {0};
	char		err[256];
	ListCell   *lc;
	bool		clean = true;

	if (!worker_guarded(load_open, &r, err, sizeof(err), NULL))
		return false;
	foreach(lc, r.open)
	{
		OpenBatch  *o = (OpenBatch *) lfirst(lc);
		StringInfoData errors;
		Finish		f = {o->run, o->batch, NIL, NULL};

		initStringInfo(&errors);
		if (o->committing)
		{
			lock_exclusive();
			f.left = finish_prepared(r.cat, o->gid, o->peers, true, &errors);
			f.error = errors.data;
			/* recorded before the lock goes: gatherings then see who is still pending */
			(void) worker_guarded(batch_record_finish, &f, err, sizeof(err), NULL);
			unlock_exclusive();
		}
		else
		{
			f.left = finish_prepared(r.cat, o->gid, o->peers, false, &errors);
			(void) worker_guarded(record_abort_done, &f, err, sizeof(err), NULL);
		}
		if (f.left != NIL)
			clean = false;
		else
			ereport(LOG, (errmsg("ssn: renewal batch %s %s on every shareholder", o->gid,
								 o->committing ? "committed" : "rolled back")));
	}
	return clean;
}

static void
next_due(void *arg)
{
	long	   *wait = (long *) arg;
	bool		isnull;
	Datum		d;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi_exec("SELECT (extract(epoch FROM min(next_run) - now()) * 1000)::bigint FROM ssn.renewal_job WHERE enabled",
			 0, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*wait = isnull ? -1 : Max(0, Min(DatumGetInt64(d), 60000));
	SPI_finish();
}

static void
check_installed(void *arg)
{
	*(bool *) arg = renewal_installed();
}

static long
renewal_pass(void)
{
	Batch		b;
	char		err[512];
	long		wait = -1;
	bool		installed = false;

	if (!worker_guarded(check_installed, &installed, err, sizeof(err), NULL) || !installed)
		return -1;
	if (!recover())
		return 5000;			/* a peer is still away: try again soon, renew nothing new */

	memset(&b, 0, sizeof(b));
	if (!worker_guarded(batch_collect, &b, err, sizeof(err), NULL))
		return 5000;
	if (!b.have_run)
	{
		(void) worker_guarded(next_due, &wait, err, sizeof(err), NULL);
		return wait;
	}
	if (b.finished)
	{
		ereport(LOG, (errmsg("ssn: renewal run %lld finished", (long long) b.run)));
		return 0;
	}
	if (b.skipped > 0)
		(void) worker_guarded(batch_record_skips, &b, err, sizeof(err), NULL);
	if (!worker_guarded(batch_seal, &b, err, sizeof(err), NULL))
	{
		Abort		a = {&b, psprintf("sealing the renewal parts failed: %s", err), NIL, NULL};

		for (int i = 0; i < b.cat->count; i++)
			b.h[i].m = NULL;
		(void) worker_guarded(batch_record_abort, &a, err, sizeof(err), NULL);
		return 5000;
	}
	batch_prepare(&b);

	{
		StringInfoData failed;
		List	   *all = NIL;

		pg_uuid_t  *refused = NULL;

		initStringInfo(&failed);
		for (int i = 0; i < b.cat->count; i++)
			if (b.h[i].s)
			{
				all = lappend(all, b.h[i].s->name);
				if (b.h[i].error[0])
				{
					appendStringInfo(&failed, "%s%s: %s", failed.len ? "; " : "", b.h[i].s->name, b.h[i].error);
					if (refused == NULL)
						refused = refused_secret(b.h[i].error);
				}
			}
		if (failed.len == 0)
		{
			test_pause("prepared", b.gid);
			lock_exclusive();
			if (worker_guarded(batch_decide, &b, err, sizeof(err), NULL))
			{
				StringInfoData errors;
				Finish		f = {b.run, b.batch_no, NIL, NULL};

				initStringInfo(&errors);
				if (ssn_test_pause_after_prepare && strcmp(ssn_test_pause_after_prepare, "first_commit") == 0)
				{
					(void) finish_prepared(b.cat, b.gid, list_make1(linitial(all)), true, &errors);
					test_pause("first_commit", b.gid);
				}
				f.left = finish_prepared(b.cat, b.gid, all, true, &errors);
				f.error = errors.data;
				(void) worker_guarded(batch_record_finish, &f, err, sizeof(err), NULL);
				unlock_exclusive();
				return 0;
			}
			unlock_exclusive();
			appendStringInfo(&failed, "this node: %s", err);
		}
		/* no decision: roll back wherever it was prepared */
		{
			StringInfoData errors;
			Abort		a = {&b, NULL, NIL, refused};

			initStringInfo(&errors);
			a.left = finish_prepared(b.cat, b.gid, all, false, &errors);
			a.why = psprintf("renewal batch %d stopped: %s", b.batch_no, failed.data);
			(void) worker_guarded(batch_record_abort, &a, err, sizeof(err), NULL);
			ereport(LOG, (errmsg("ssn: %s", a.why)));
			if (refused)
				return 0;		/* the batch again, without that secret */
		}
	}
	return 5000;
}

void
renewal_init(void)
{
	worker_pass_register("renewal", renewal_pass, WORKER_PASS_EVERY_LOOP);
}
