/*
 * worker.c - the node's background worker: it owns the channels to the peers
 * (delivering the outbox in one-time-pad messages) and checks their health.
 *
 * One worker per node, started by the postmaster when ssn is preloaded and
 * restarted if it dies.  Each pass: publish which outbox rows are pending, take
 * the messages each peer with work gets, send them to all peers concurrently
 * (message after message per peer), then settle: the acknowledged rows leave the
 * outbox.  Outbox rows are messages sealed by the store itself (its keys were
 * recorded 'used' then): they are sent, and resent after any failure or crash, as
 * they are; a receiver that got one already answers that it has it.  Rows of
 * shares in clear (written before ssn 1.4) are sealed here, one message per peer
 * and pass with its keys recorded and committed before it leaves, settled with the
 * rows, and resent under fresh keys.
 */
#include "postgres.h"

#include "access/xact.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "base/preload.h"
#include "base/subxact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/peer_conn.h"
#include "net/worker.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "qkd/key_ledger.h"
#include "qkd/kme_client.h"
#include "share/share_batch.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void ssn_node_worker_main(Datum main_arg);

SsnShared  *ssn_shared = NULL;

static void
shared_init(void *p)
{
	SpinLockInit(&((SsnShared *) p)->mutex);
}

void
ssn_worker_register(void)
{
	preload_shmem_struct("ssn", sizeof(SsnShared), (void **) &ssn_shared, shared_init);
	preload_worker("ssn_node_worker_main", "ssn node worker");
}

void
ssn_worker_wake(void)
{
	Latch	   *latch = NULL;

	if (ssn_shared == NULL)
		return;
	SpinLockAcquire(&ssn_shared->mutex);
	latch = ssn_shared->worker_latch;
	SpinLockRelease(&ssn_shared->mutex);
	if (latch)
		SetLatch(latch);
}

static int
count_delivered(char **peers, int npeers, int64 max_id)
{
	int			got = 0;

	for (int i = 0; i < npeers; i++)
	{
		bool		pending = false;

		for (int j = 0; j < ssn_shared->npeers; j++)
			if (strcmp(ssn_shared->peers[j].name, peers[i]) == 0)
				pending = ssn_shared->peers[j].min_pending <= max_id;
		if (!pending)
			got++;
	}
	return got;
}

int
ssn_worker_wait_delivered(char **peers, int npeers, int need, int64 max_id, int timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	uint64		gen;
	int			got = 0;

	if (ssn_shared == NULL)
		return 0;
	SpinLockAcquire(&ssn_shared->mutex);
	gen = ssn_shared->scan_started;
	SpinLockRelease(&ssn_shared->mutex);
	ssn_worker_wake();
	for (;;)
	{
		bool		fresh;

		SpinLockAcquire(&ssn_shared->mutex);
		fresh = ssn_shared->scan_done > gen;
		if (fresh)
			got = count_delivered(peers, npeers, max_id);
		SpinLockRelease(&ssn_shared->mutex);
		if (fresh && got >= need)
			return got;
		/* the transaction has committed: a cancel only ends the wait */
		if (QueryCancelPending || ProcDiePending ||
			GetCurrentTimestamp() >= deadline)
			return got;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------------
 * the worker
 * ------------------------------------------------------------------------- */
typedef struct PeerRuntime
{
	char		name[SSN_NAME_MAXLEN + 1];
	TimestampTz next_attempt;
	TimestampTz waiting_since;	/* waiting for QKD key since, 0 if not */
	TimestampTz last_probe;		/* last key request made against the KME's count */
	bool		count_untrusted;	/* the KME delivered keys its count denied */
	int			failures;
} PeerRuntime;

static PeerRuntime runtime[SSN_MAX_PEERS];
static int	nruntime = 0;

static PeerRuntime *
runtime_of(const char *name)
{
	for (int i = 0; i < nruntime; i++)
		if (strcmp(runtime[i].name, name) == 0)
			return &runtime[i];
	if (nruntime == SSN_MAX_PEERS)
		return &runtime[SSN_MAX_PEERS - 1];
	memset(&runtime[nruntime], 0, sizeof(PeerRuntime));
	strlcpy(runtime[nruntime].name, name, sizeof(runtime[0].name));
	return &runtime[nruntime++];
}

static void
backoff(PeerRuntime *rt)
{
	int64		delay = 100;

	rt->failures++;
	for (int i = 1; i < rt->failures && delay < ssn_channel_retry_max_ms; i++)
		delay *= 2;
	delay = Min(delay, ssn_channel_retry_max_ms);
	rt->next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
}

/* a KME whose count says it holds no key is still asked this often */
#define KME_PROBE_MS 1000

/* What one peer's messages of this pass carry. */
typedef struct Delivery
{
	const char *self;			/* this node's name */
	Shareholder *peer;
	PeerRuntime *rt;
	int64	   *ids;			/* outbox rows */
	int		   *row_shares;		/* shares in each row */
	int		   *row_end;		/* end of each row's blob in pt */
	int64	   *row_share_bytes;	/* shares without their framing, per row */
	int			nids;
	int			shares;
	int64		share_bytes;	/* shares without their framing */
	bool		sealed;			/* the rows are messages sealed at store time */
	bool		waiting;		/* not enough QKD key yet: wait, no failure */
	bool		probing;		/* keys asked for although the KME's count denied them */
	bool		unreachable;	/* did not answer a ping: no key fetched */
	StringInfoData pt;			/* clear rows: their shares; sealed: unused */
	bytea	  **envelopes;		/* sealed rows: each row's message */
	SealedMessage **msgs;		/* the messages of this pass, in order */
	int			nmsgs;			/* clear rows: 1 (all rows); sealed: one per row */
	int			okmsgs;			/* acknowledged, in order (stops at the first failure) */
	char		error[512];
	int			sqlstate;
	bool		sent;			/* the (clear rows') message may have left */
	bool		stopped;		/* a message failed: no more this pass */
	char	   *status;
} Delivery;

/* an outbox row that is a sealed message (an envelope), not clear shares */
static bool
row_is_sealed(bytea *blob)
{
	return VARSIZE_ANY_EXHDR(blob) >= 4 && memcmp(VARDATA_ANY(blob), "SSNE", 4) == 0;
}

/* Run fn in its own transaction; on error, report it into err and roll back. */
bool
worker_guarded(void (*fn) (void *), void *arg, char *err, size_t errlen, int *sqlstate)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();	/* now() of the transaction */
		StartTransactionCommand();
		/* a lock held by a transaction left prepared fails this step, not the worker */
		ssn_bound_lock_waits();
		PushActiveSnapshot(GetTransactionSnapshot());
		MemoryContextSwitchTo(cxt);
		fn(arg);
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* the pass's table changes, for autovacuum (at most once a second) */
		pgstat_report_stat(false);
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(cxt);
		if (err)
			strlcpy(err, ed->message ? ed->message : "error", errlen);
		if (sqlstate)
			*sqlstate = ed->sqlerrcode;
		ereport(LOG, (errmsg("ssn node worker: %s", ed->message ? ed->message : "error")));
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

typedef struct Pass
{
	ShareholderList *cat;
	Shareholder *self;
	Delivery   *d;
	int			nd;
	bool		more;			/* rows remain after this pass: go on at once */
	long		wait_ms;		/* else: a peer's retry is due in this long (-1: none) */
	bool		ready;
} Pass;

static void
publish_progress(void)
{
	SsnPeerProgress p[SSN_MAX_PEERS];
	int			n = 0;

	if (SPI_execute("SELECT peer, min(id) FROM ssn.outbox GROUP BY peer", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.outbox");
	for (uint64 r = 0; r < SPI_processed && n < SSN_MAX_PEERS; r++, n++)
	{
		bool		isnull;

		strlcpy(p[n].name, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1), sizeof(p[n].name));
		p[n].min_pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SpinLockAcquire(&ssn_shared->mutex);
	memcpy(ssn_shared->peers, p, sizeof(SsnPeerProgress) * n);
	ssn_shared->npeers = n;
	SpinLockRelease(&ssn_shared->mutex);
}

/* step 1: is the extension there, who are we, what is pending for whom */
static void
pass_collect(void *arg)
{
	Pass	   *ps = (Pass *) arg;
	MemoryContext cxt = CurrentMemoryContext;
	int64		limit = (int64) ssn_channel_batch_kb * 1024;
	bool		has_share_bytes;

	ps->ready = false;
	if (!ssn_table_exists("outbox"))
		return;
	/* 1.4: the store counts the share bytes of the messages it seals */
	has_share_bytes = get_attnum(get_relname_relid("outbox", get_namespace_oid("ssn", false)),
								 "share_bytes") != InvalidAttrNumber;
	ps->cat = catalog_load();
	if (ps->cat->self < 0)
		return;
	ps->self = &ps->cat->items[ps->cat->self];
	ps->ready = true;
	ps->d = palloc0(sizeof(Delivery) * Max(ps->cat->count, 1));
	ps->nd = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < ps->cat->count; i++)
	{
		Shareholder *s = &ps->cat->items[i];
		PeerRuntime *rt;
		Delivery   *d;
		Oid			types[1] = {TEXTOID};
		Datum		values[1];
		int64		bytes = 0;

		if (s->is_self)
			continue;
		rt = runtime_of(s->name);
		values[0] = CStringGetTextDatum(s->name);
		if (SPI_execute_with_args(has_share_bytes
								  ? "SELECT id, shares, blob, share_bytes FROM ssn.outbox WHERE peer = $1 ORDER BY id LIMIT 4096"
								  : "SELECT id, shares, blob, NULL::bigint FROM ssn.outbox WHERE peer = $1 ORDER BY id LIMIT 4096",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read ssn.outbox");
		if (SPI_processed == 0)
			continue;
		if (GetCurrentTimestamp() < rt->next_attempt)
		{
			long		due = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), rt->next_attempt);

			ps->wait_ms = ps->wait_ms < 0 ? due : Min(ps->wait_ms, due);
			continue;
		}
		d = &ps->d[ps->nd++];
		d->peer = s;
		d->self = ps->self->name;
		d->rt = rt;
		{
			MemoryContext spi = MemoryContextSwitchTo(cxt);

			d->ids = palloc(sizeof(int64) * SPI_processed);
			d->row_shares = palloc(sizeof(int) * SPI_processed);
			d->row_end = palloc(sizeof(int) * SPI_processed);
			d->row_share_bytes = palloc0(sizeof(int64) * SPI_processed);
			d->envelopes = palloc0(sizeof(bytea *) * SPI_processed);
			initStringInfo(&d->pt);
			MemoryContextSwitchTo(spi);
		}
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			HeapTuple	tup = SPI_tuptable->vals[r];
			bytea	   *blob = DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
			size_t		len = VARSIZE_ANY_EXHDR(blob);
			bool		sealed = row_is_sealed(blob);
			Datum		sb;

			/* one pass sends either sealed rows or clear ones, and at most a batch */
			if (d->nids > 0 && (sealed != d->sealed || bytes + (int64) len > limit))
			{
				ps->more = true;
				break;
			}
			d->sealed = sealed;
			d->ids[d->nids] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			d->row_shares[d->nids] = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			sb = SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull);
			d->row_share_bytes[d->nids] = isnull ? 0 : DatumGetInt64(sb);
			d->shares += d->row_shares[d->nids];
			if (sealed)
			{
				MemoryContext spi = MemoryContextSwitchTo(cxt);

				d->envelopes[d->nids] = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(blob));
				MemoryContextSwitchTo(spi);
			}
			else
				appendBinaryStringInfo(&d->pt, VARDATA_ANY(blob), len);
			d->row_end[d->nids] = d->pt.len;
			d->nids++;
			bytes += len;
		}
		if (SPI_processed == 4096)
			ps->more = true;
	}
	SPI_finish();
}

/* step 2, per peer: keys fetched and recorded (committed) */
static void
pass_seal(void *arg)
{
	Delivery   *d = (Delivery *) arg;
	const char *self = d->self;
	KmeStatus	st;
	int64		avail;

	if (d->sealed)
	{
		/* sealed at store time: nothing to fetch, the keys are spent already */
		d->msgs = palloc(sizeof(SealedMessage *) * d->nids);
		d->share_bytes = 0;
		for (int i = 0; i < d->nids; i++)
		{
			EnvelopeView v;

			d->msgs[i] = channel_sealed_message(d->peer, d->envelopes[i], &v);
			d->share_bytes += d->row_share_bytes[i];
		}
		d->nmsgs = d->nids;
		return;
	}

	/*
	 * Send what the link's key pool allows now (whole outbox rows): on a
	 * key-limited link the messages follow the key rate instead of failing.
	 * The count is a hint, not the truth: a KME that says it holds no key is
	 * asked for one row's keys at the probe pace, and once it delivered keys
	 * its count denied, its count is ignored until it refuses a request.
	 */
	d->probing = false;
	kme_get_status(d->peer->sae_id, &st);
	avail = st.stored_key_count * (st.key_size / 8) - ENVELOPE_MAC_KEY - 64;
	if (avail < d->pt.len && !d->rt->count_untrusted)
	{
		int			keep = 0;

		while (keep < d->nids && d->row_end[keep] <= avail)
			keep++;
		if (keep == 0 &&
			TimestampDifferenceExceeds(d->rt->last_probe, GetCurrentTimestamp(), KME_PROBE_MS))
		{
			d->rt->last_probe = GetCurrentTimestamp();
			d->probing = true;
			keep = 1;
		}
		if (keep == 0)
		{
			d->waiting = true;
			return;
		}
		d->nids = keep;
		d->pt.len = d->row_end[keep - 1];
		d->shares = 0;
		for (int i = 0; i < keep; i++)
			d->shares += d->row_shares[i];
	}

	{
		size_t		off = 0,
					sblen;
		const uint8 *sb;
		ShareHeader sh;
		char		why[256];

		d->share_bytes = 0;
		while (share_batch_next((uint8 *) d->pt.data, d->pt.len, &off, &sb, &sblen, &sh, why, sizeof(why)))
			d->share_bytes += sblen;
		if (why[0])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the outbox holds malformed shares for \"%s\": %s", d->peer->name, why)));
	}
	d->msgs = palloc(sizeof(SealedMessage *));
	d->msgs[0] = channel_seal(self, d->peer, MSG_KIND_SHARES, (uint8 *) d->pt.data, d->pt.len,
							  "deliver", false);
	d->nmsgs = 1;
}

/* note a failed delivery on the row that did not go */
static void
note_row_error(int64 id, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(error);
	if (SPI_execute_with_args("UPDATE ssn.outbox SET attempts = attempts + 1, last_error = $2"
							  " WHERE id = $1", 2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update ssn.outbox");
}

/* step 4: settle keys, remove delivered rows, account, alarms, progress */
static void
pass_settle(void *arg)
{
	Pass	   *ps = (Pass *) arg;

	for (int i = 0; i < ps->nd; i++)
	{
		Delivery   *d = &ps->d[i];
		int			done_rows;

		if (d->waiting)
		{
			if (TimestampDifferenceExceeds(d->rt->waiting_since, GetCurrentTimestamp(), 2000))
				alarm_raise("kme", d->peer->name, "major", "QKD key pool of the link is empty",
							"messages wait for key material; they are sent as soon as the link has enough");
			continue;
		}
		if (d->nmsgs == 0)
		{
			if (d->unreachable)
			{
				if (d->rt->failures >= 3)
					alarm_raise("channel", d->peer->name, "major", "delivery to the shareholder fails", d->error);
			}
			else if (d->sealed)
				alarm_raise("channel", d->peer->name, "major", "delivery to the shareholder fails", d->error);
			else if (d->sqlstate == ERRCODE_INSUFFICIENT_RESOURCES)
				alarm_raise("kme", d->peer->name, "major", "QKD key pool of the link is empty", d->error);
			else
				alarm_raise("kme", d->peer->name, "major", "no QKD key for the link", d->error);
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			note_row_error(d->ids[0], d->error);
			SPI_finish();
			continue;
		}
		if (!d->sealed)
		{
			alarm_clear("kme", d->peer->name, NULL);
			channel_settle(d->msgs[0], d->sent ? "used" : "discarded", false);
		}
		/* the rows the acknowledged messages carried */
		done_rows = d->sealed ? d->okmsgs : (d->okmsgs > 0 ? d->nids : 0);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (done_rows > 0)
		{
			Oid			types[1] = {INT8ARRAYOID};
			Datum		values[1];
			Datum	   *ids = palloc(sizeof(Datum) * done_rows);
			LinkCounts	c = {0};

			for (int j = 0; j < done_rows; j++)
				ids[j] = Int64GetDatum(d->ids[j]);
			values[0] = PointerGetDatum(construct_array(ids, done_rows, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			if (SPI_execute_with_args("DELETE FROM ssn.outbox WHERE id = ANY($1)",
									  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not update ssn.outbox");
			for (int j = 0; j < d->okmsgs; j++)
			{
				SealedMessage *m = d->msgs[j];

				c.messages++;
				c.envelope_bytes += VARSIZE_ANY_EXHDR(m->envelope);
				c.key_bytes += m->key_bytes;
			}
			for (int j = 0; j < done_rows; j++)
			{
				c.shares += d->row_shares[j];
				c.share_bytes += d->sealed ? d->row_share_bytes[j] : 0;
			}
			if (d->sealed)
				c.payload_bytes = c.envelope_bytes - (int64) d->okmsgs * 0;	/* set below */
			else
			{
				c.share_bytes = d->share_bytes;
				c.payload_bytes = d->pt.len;
			}
			if (d->sealed)
			{
				c.payload_bytes = 0;
				for (int j = 0; j < d->okmsgs; j++)
				{
					EnvelopeView v;
					char		why[64];

					if (envelope_parse((const uint8 *) VARDATA_ANY(d->msgs[j]->envelope),
									   VARSIZE_ANY_EXHDR(d->msgs[j]->envelope), &v, why, sizeof(why)))
						c.payload_bytes += v.len;
				}
			}
			channel_account(d->peer->name, "send", &c);
		}
		if (d->okmsgs == d->nmsgs)
			alarm_clear("channel", d->peer->name, NULL);
		else
		{
			note_row_error(d->ids[done_rows], d->error);
			if (d->sealed && strstr(d->error, "message keys unavailable") != NULL)
				alarm_raise("channel", d->peer->name, "critical",
							"the shareholder cannot open sealed shares any more",
							"its KME no longer has the keys of a message the store sealed (a receipt that failed after fetching them); re-share the secrets of the row to the shareholder, then delete the row");
			else if (strncmp(d->error, "rejected", 8) == 0 || d->rt->failures >= 3)
				alarm_raise("channel", d->peer->name, "major", "delivery to the shareholder fails", d->error);
		}
		SPI_finish();
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	publish_progress();
	SPI_finish();
}

/* One delivery pass; returns how long the worker may sleep (0: go on at once, -1: no deadline). */
static long
delivery_pass(void)
{
	Pass		ps;
	PeerCall   *ann,
			   *rcv;
	int			i;
	uint64		gen;
	char		err[256];

	TimestampTz t_start = GetCurrentTimestamp(),
				t_collect,
				t_seal,
				t_send;

	memset(&ps, 0, sizeof(ps));
	ps.wait_ms = -1;
	SpinLockAcquire(&ssn_shared->mutex);
	gen = ++ssn_shared->scan_started;
	SpinLockRelease(&ssn_shared->mutex);

	if (!worker_guarded(pass_collect, &ps, err, sizeof(err), NULL) || !ps.ready)
		return -1;

	t_collect = GetCurrentTimestamp();
	/* no key is spent on a peer that does not answer */
	{
		PeerCall   *ping = palloc0(sizeof(PeerCall) * Max(ps.nd, 1));

		for (i = 0; i < ps.nd; i++)
		{
			ping[i].peer = ps.d[i].peer->name;
			ping[i].conninfo = ps.d[i].peer->conninfo;
			ping[i].sql = "SELECT ssn.channel_ping()";
		}
		peer_call_all(ping, ps.nd, ssn_peer_timeout_ms);
		for (i = 0; i < ps.nd; i++)
			if (ping[i].res == NULL)
			{
				strlcpy(ps.d[i].error, ping[i].error, sizeof(ps.d[i].error));
				ps.d[i].unreachable = true;
				backoff(ps.d[i].rt);
			}
		peer_call_reset(ping, ps.nd);
	}

	/* clear rows: one message per peer sealed now; sealed rows are only parsed */
	for (i = 0; i < ps.nd; i++)
	{
		Delivery   *d = &ps.d[i];

		if (d->unreachable)
			continue;
		if (!worker_guarded(pass_seal, d, d->error, sizeof(d->error), &d->sqlstate))
		{
			d->nmsgs = 0;
			if (d->sqlstate == ERRCODE_INSUFFICIENT_RESOURCES)
				d->rt->count_untrusted = false;
			backoff(d->rt);
		}
		else if (d->probing && d->nmsgs > 0)
			d->rt->count_untrusted = true;
		else if (d->waiting)
		{
			/* keys accumulate at the link's rate: look again shortly */
			d->rt->next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 20);
			if (d->rt->waiting_since == 0)
				d->rt->waiting_since = GetCurrentTimestamp();
			ps.wait_ms = ps.wait_ms < 0 ? 20 : Min(ps.wait_ms, 20);
		}
		else
			d->rt->waiting_since = 0;
	}
	t_seal = GetCurrentTimestamp();

	/*
	 * Round r sends every peer its r-th message: announced peer by peer, the
	 * messages then travel concurrently, so the peers store one while the next
	 * is announced.  A peer whose message fails gets no more in this pass.
	 */
	for (int round = 0;; round++)
	{
		bool		any = false;

		ann = palloc0(sizeof(PeerCall) * Max(ps.nd, 1));
		rcv = palloc0(sizeof(PeerCall) * Max(ps.nd, 1));
		for (i = 0; i < ps.nd; i++)
		{
			Delivery   *d = &ps.d[i];
			const char *v;

			rcv[i].skip = ann[i].skip = true;
			if (!d->stopped && round < d->nmsgs)
			{
				any = true;
				ann[i].skip = false;
				channel_prepare_calls(d->msgs[round], d->peer, ps.self->name, &ann[i], &rcv[i]);
				/* the receiver's ledger rows commit before its dec_keys */
				peer_call_all(&ann[i], 1, ssn_peer_timeout_ms);
				v = peer_call_value(&ann[i], NULL);
				if (v == NULL || strncmp(v, "announced", 9) != 0)
				{
					snprintf(d->error, sizeof(d->error), "%s", v ? v : ann[i].error);
					d->stopped = true;
				}
				else
					rcv[i].skip = false;
			}
			peer_call_begin(&rcv[i], 1);
			peer_call_poll(rcv, i + 1);
		}
		if (any)
			peer_call_end(rcv, ps.nd, Max(ssn_peer_timeout_ms, 60000));
		for (i = 0; i < ps.nd && any; i++)
		{
			Delivery   *d = &ps.d[i];
			const char *v;

			if (rcv[i].skip)
				continue;
			d->sent |= rcv[i].sent;
			v = peer_call_value(&rcv[i], NULL);
			if (v && (strncmp(v, "stored", 6) == 0 || strncmp(v, "duplicate", 9) == 0))
			{
				d->okmsgs++;
				d->rt->failures = 0;
				d->rt->next_attempt = 0;
			}
			else
			{
				snprintf(d->error, sizeof(d->error), "%s", v ? v : rcv[i].error);
				d->stopped = true;
			}
		}
		peer_call_reset(ann, ps.nd);
		peer_call_reset(rcv, ps.nd);
		if (!any)
			break;
	}
	for (i = 0; i < ps.nd; i++)
		if (ps.d[i].nmsgs > 0 && ps.d[i].okmsgs < ps.d[i].nmsgs)
			backoff(ps.d[i].rt);

	t_send = GetCurrentTimestamp();
	if (!worker_guarded(pass_settle, &ps, err, sizeof(err), NULL))
	{
		/*
		 * Nothing settled: the rows stay and will be resent (receivers store
		 * idempotently).  Progress is not published, and the peers back off.
		 */
		for (i = 0; i < ps.nd; i++)
			if (ps.d[i].nmsgs > 0)
				backoff(ps.d[i].rt);
		return Max(ssn_channel_retry_max_ms / 10, 100);
	}
	if (ps.nd > 0)
		elog(DEBUG1, "ssn delivery pass to %d peers: collect %ld ms, ping, seal and send %ld ms, wait for the peers %ld ms, settle %ld ms",
			 ps.nd, TimestampDifferenceMilliseconds(t_start, t_collect),
			 TimestampDifferenceMilliseconds(t_collect, t_seal),
			 TimestampDifferenceMilliseconds(t_seal, t_send),
			 TimestampDifferenceMilliseconds(t_send, GetCurrentTimestamp()));
	SpinLockAcquire(&ssn_shared->mutex);
	ssn_shared->scan_done = gen;
	SpinLockRelease(&ssn_shared->mutex);
	for (i = 0; i < ps.nd; i++)
	{
		if (ps.d[i].nmsgs > 0 && ps.d[i].okmsgs == ps.d[i].nmsgs)
			ps.more = true;		/* maybe more behind it; the next pass finds out */
		else if (!ps.d[i].waiting)
		{
			long		due = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), ps.d[i].rt->next_attempt);

			ps.wait_ms = ps.wait_ms < 0 ? due : Min(ps.wait_ms, due);
		}
	}
	return ps.more ? 0 : ps.wait_ms;
}

/*
 * What no SSA will come back for, older than ssn.orphan_grace: parts and staged
 * results of a degree reduction whose SSA never confirmed (its transaction
 * failed), contributions and requests of a re-sharing that never completed;
 * shares of deleted secrets at once (a resend that arrived after the deletion).
 * Counted in ssn.orphan_collected (view ssn.orphans).
 */
static void
collect_orphans(void)
{
	static const struct
	{
		const char *table;
		const char *kind;
		const char *sql;
	}			sweeps[] = {
		{"held_part", "re-sharing contributions",
		"DELETE FROM ssn.held_part WHERE received_at < now() - make_interval(secs => $1)"},
		{"held_part_batch", "degree-reduction parts and unconfirmed results",
		"DELETE FROM ssn.held_part_batch WHERE received_at < now() - make_interval(secs => $1)"},
		{"reshare_request", "re-sharing requests",
		"DELETE FROM ssn.reshare_request WHERE received_at < now() - make_interval(secs => $1)"},
		/* a resend of shares that came after their secret's deletion */
		{"held_secret", "shares of deleted secrets",
		"DELETE FROM ssn.held_share s USING ssn.held_secret r WHERE r.deleted"
		" AND r.received_at > now() - greatest(make_interval(secs => 2 * $1), interval '7 days')"
		" AND r.secret_id = s.secret_id AND r.origin = s.origin"},
	};
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum((double) ssn_orphan_grace_s)};
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();

	/* once a minute is soon enough for what waits a day */
	if (last != 0 && !TimestampDifferenceExceeds(last, now, 60 * 1000))
		return;
	last = now;
	for (int i = 0; i < lengthof(sweeps); i++)
	{
		uint64		n;

		if (!ssn_table_exists(sweeps[i].table))
			continue;
		if (SPI_execute_with_args(sweeps[i].sql, 1, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not collect %s", sweeps[i].kind);
		n = SPI_processed;
		if (n > 0 && ssn_table_exists("orphan_collected") &&
			SPI_execute_with_args("INSERT INTO ssn.orphan_collected AS o (kind, collected, last_collected_at)"
								  " VALUES ($1, $2, now()) ON CONFLICT (kind) DO UPDATE"
								  " SET collected = o.collected + EXCLUDED.collected, last_collected_at = now()",
								  2, (Oid[]) {TEXTOID, INT8OID},
								  (Datum[]) {CStringGetTextDatum(sweeps[i].kind), Int64GetDatum((int64) n)},
								  NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not count collected orphans");
	}
}

static void
sweep_ledger(void *arg)
{
	if (!ssn_table_exists("key_ledger"))
		return;
	*(int64 *) arg = ledger_sweep(false);
	if (!ssn_table_exists("message_seen"))
		return;

	/*
	 * Received message ids only need to outlive a resend (replays are refused by
	 * the key ledger, which is kept): a week is plenty.
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("DELETE FROM ssn.message_seen WHERE received_at < now() - interval '7 days'",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not prune ssn.message_seen");
	collect_orphans();
	SPI_finish();
}

void
ssn_count_reply(const char *peer, const LinkCounts *c)
{
	SsnReplyCounts *r = NULL;

	if (ssn_shared == NULL)
		return;					/* not preloaded: no worker to write them */
	SpinLockAcquire(&ssn_shared->mutex);
	for (int i = 0; i < ssn_shared->nreplies && r == NULL; i++)
		if (strcmp(ssn_shared->replies[i].name, peer) == 0)
			r = &ssn_shared->replies[i];
	if (r == NULL && ssn_shared->nreplies < SSN_MAX_PEERS)
	{
		r = &ssn_shared->replies[ssn_shared->nreplies++];
		memset(r, 0, sizeof(*r));
		strlcpy(r->name, peer, sizeof(r->name));
	}
	if (r)
	{
		r->c.messages += c->messages;
		r->c.shares += c->shares;
		r->c.share_bytes += c->share_bytes;
		r->c.payload_bytes += c->payload_bytes;
		r->c.envelope_bytes += c->envelope_bytes;
		r->c.key_bytes += c->key_bytes;
	}
	SpinLockRelease(&ssn_shared->mutex);
}

static void
flush_one_count(void *arg)
{
	SsnReplyCounts *r = (SsnReplyCounts *) arg;

	channel_account(r->name, "receive", &r->c);
}

/* the counted replies into ssn.link_stats (direction 'receive') */
static void
flush_reply_counts(void *arg)
{
	SsnReplyCounts taken[SSN_MAX_PEERS];
	int			n;

	SpinLockAcquire(&ssn_shared->mutex);
	n = ssn_shared->nreplies;
	memcpy(taken, ssn_shared->replies, sizeof(SsnReplyCounts) * n);
	ssn_shared->nreplies = 0;
	SpinLockRelease(&ssn_shared->mutex);
	for (int i = 0; i < n; i++)
	{
		ErrorData  *ed = try_in_subxact(flush_one_count, &taken[i]);

		/* a row held by a transaction left prepared: this peer's counts wait for the next pass */
		if (ed)
		{
			ssn_count_reply(taken[i].name, &taken[i].c);
			FreeErrorData(ed);
		}
	}
}

/* ---- health ---- */
typedef struct Health
{
	ShareholderList *cat;
	PeerCall   *calls;
} Health;

/* failed health checks in a row, per peer (this worker's lifetime) */
typedef struct PeerMisses
{
	char		name[NAMEDATALEN];
	int			misses;
} PeerMisses;

static PeerMisses *peer_misses = NULL;
static int	peer_misses_len = 0;

/* count one check of a peer; returns its failures in a row, 0 after a success */
static int
peer_misses_count(const char *peer, bool ok)
{
	PeerMisses *m = NULL;

	for (int i = 0; i < peer_misses_len; i++)
		if (strcmp(peer_misses[i].name, peer) == 0)
			m = &peer_misses[i];
	if (m == NULL)
	{
		peer_misses = peer_misses == NULL
			? MemoryContextAllocZero(TopMemoryContext, sizeof(PeerMisses))
			: repalloc(peer_misses, sizeof(PeerMisses) * (peer_misses_len + 1));
		m = &peer_misses[peer_misses_len++];
		strlcpy(m->name, peer, sizeof(m->name));
		m->misses = 0;
	}
	m->misses = ok ? 0 : m->misses + 1;
	return m->misses;
}

static void
health_load(void *arg)
{
	Health	   *h = (Health *) arg;

	h->cat = NULL;
	if (!ssn_table_exists("peer_health"))
		return;
	h->cat = catalog_load();
}

static void
health_record(void *arg)
{
	Health	   *h = (Health *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < h->cat->count; i++)
	{
		Shareholder *s = &h->cat->items[i];
		PeerCall   *c = &h->calls[i];
		Oid			types[4] = {TEXTOID, BOOLOID, FLOAT8OID, TEXTOID};
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};
		bool		ok;

		if (c->skip)
			continue;
		ok = c->res != NULL;
		values[0] = CStringGetTextDatum(s->name);
		values[1] = BoolGetDatum(ok);
		values[2] = Float8GetDatum(c->elapsed_ms);
		values[3] = ok ? (Datum) 0 : CStringGetTextDatum(c->error);
		if (!ok)
			nulls[2] = 'n';
		if (ok)
			nulls[3] = 'n';
		if (SPI_execute_with_args("INSERT INTO ssn.peer_health AS h (peer, reachable, checked_at, last_ok, rtt_ms, error)"
								  " VALUES ($1, $2, now(), CASE WHEN $2 THEN now() END, $3, $4)"
								  " ON CONFLICT (peer) DO UPDATE SET reachable = $2, checked_at = now(),"
								  " last_ok = CASE WHEN $2 THEN now() ELSE h.last_ok END, rtt_ms = $3, error = $4",
								  4, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not update ssn.peer_health");
		/* only its unreachability: what it did (spoke for another node, ...) stays raised */
		if (ok)
			alarm_clear("peer", s->name, "shareholder unreachable");
		if (peer_misses_count(s->name, ok) >= ssn_peer_alarm_after)
			alarm_raise("peer", s->name, "major", "shareholder unreachable", c->error);
	}
	SPI_finish();
}

static void
health_pass(void)
{
	Health		h;
	char		err[256];

	memset(&h, 0, sizeof(h));
	if (!worker_guarded(health_load, &h, err, sizeof(err), NULL) || h.cat == NULL)
		return;
	h.calls = palloc0(sizeof(PeerCall) * Max(h.cat->count, 1));
	for (int i = 0; i < h.cat->count; i++)
	{
		Shareholder *s = &h.cat->items[i];

		h.calls[i].skip = s->is_self || s->conninfo == NULL;
		h.calls[i].peer = s->name;
		h.calls[i].conninfo = s->conninfo;
		h.calls[i].sql = "SELECT ssn.channel_ping()";
	}
	peer_call_all(h.calls, h.cat->count, Min(ssn_peer_timeout_ms, Max(ssn_health_interval_ms * 2, 1000)));
	worker_guarded(health_record, &h, err, sizeof(err), NULL);
	worker_guarded(flush_reply_counts, NULL, err, sizeof(err), NULL);
	/* keys announced by peers' sessions that ended before their message came */
	{
		int64		lost = 0;

		if (worker_guarded(sweep_ledger, &lost, err, sizeof(err), NULL) && lost > 0)
			ereport(LOG, (errmsg("ssn: %lld QKD key IDs held by sessions that ended are now marked lost",
								 (long long) lost)));
	}
	peer_call_reset(h.calls, h.cat->count);
}

/* ---- passes of other subsystems, registered at _PG_init ---- */
#define MAX_WORKER_PASSES 16

typedef struct RegisteredPass
{
	const char *name;
	WorkerPass	fn;
	int			when;
} RegisteredPass;

static RegisteredPass passes[MAX_WORKER_PASSES];
static int	npasses = 0;

void
worker_pass_register(const char *name, WorkerPass fn, int when)
{
	for (int i = 0; i < npasses; i++)
		if (strcmp(passes[i].name, name) == 0)
		{
			passes[i].fn = fn;	/* _PG_init again in the same process */
			passes[i].when = when;
			return;
		}
	if (npasses == MAX_WORKER_PASSES)
		elog(ERROR, "ssn: too many node worker passes registered");
	passes[npasses].name = name;
	passes[npasses].fn = fn;
	passes[npasses].when = when;
	npasses++;
}

/* the passes registered for WHEN, in order; the soonest of their next due times (ms), or -1 */
static long
run_passes(int when)
{
	long		due = -1;

	for (int i = 0; i < npasses; i++)
	{
		long		next;

		if (passes[i].when != when)
			continue;
		next = passes[i].fn();
		if (next >= 0 && (due < 0 || next < due))
			due = next;
	}
	return due;
}

void
ssn_node_worker_main(Datum main_arg)
{
	MemoryContext loop;
	TimestampTz next_health = 0;
	bool		swept = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(ssn_database, NULL, 0);
	catalog_set_safe_search_path();
	pgstat_report_appname("ssn node worker");

	SpinLockAcquire(&ssn_shared->mutex);
	ssn_shared->worker_latch = MyLatch;
	ssn_shared->worker_pid = MyProcPid;
	SpinLockRelease(&ssn_shared->mutex);

	loop = AllocSetContextCreate(TopMemoryContext, "ssn node worker pass", ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, (errmsg("ssn node worker started in database \"%s\"", ssn_database)));

	for (;;)
	{
		long		wait = 1000;
		long		due;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(loop);
		if (!swept)
		{
			int64		lost = 0;
			char		err[256];

			if (worker_guarded(sweep_ledger, &lost, err, sizeof(err), NULL))
			{
				swept = true;
				if (lost > 0)
					ereport(LOG, (errmsg("ssn: %lld QKD keys held by processes that ended are now marked lost",
										 (long long) lost)));
			}
		}
		if (GetCurrentTimestamp() >= next_health)
		{
			health_pass();
			run_passes(WORKER_PASS_AFTER_HEALTH);
			next_health = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ssn_health_interval_ms);
		}
		due = delivery_pass();
		{
			long		next = run_passes(WORKER_PASS_EVERY_LOOP);

			if (next >= 0 && (due < 0 || next < due))
				due = next;
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop);
		wait = Min(wait, Max(1, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_health)));
		if (due >= 0)
			wait = Min(wait, due);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (wait > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
