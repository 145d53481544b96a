/*
 * channel_sql.c - the receiving end of the channels: functions that peers call
 * as role ssn_peer over their TLS connection (SECURITY DEFINER; EXECUTE is
 * granted to ssn_peer only).
 *
 *   channel_announce  record the key IDs of a message about to arrive (the
 *                     ledger row commits before dec_keys ever runs)
 *   channel_receive   check the MAC, then store the shares, idempotently
 *   channel_serve     seal this node's shares of some secrets for the SSA that
 *                     asks (keys recorded in this call's transaction) ...
 *   channel_take      ... and hand over the sealed reply in the next call
 *
 * A bad message is not an SQL error: it is refused with a status string, and the
 * refusal, its alarm and the settled ledger rows commit.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "alarm.h"
#include "catalog.h"
#include "catalog/pg_type.h"
#include "channel.h"
#include "renewal.h"
#include "reshare.h"
#include "verify.h"
#include "commitment.h"
#include "secret_handle.h"
#include "compute.h"
#include "executor/spi.h"
#include "key_ledger.h"
#include "miscadmin.h"
#include "secret_handle.h"
#include "share_batch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_channel_announce);
PG_FUNCTION_INFO_V1(ssn_channel_receive);
PG_FUNCTION_INFO_V1(ssn_channel_serve);
PG_FUNCTION_INFO_V1(ssn_channel_take);
PG_FUNCTION_INFO_V1(ssn_channel_ping);
PG_FUNCTION_INFO_V1(ssn_channel_seal_test);

/* the reply channel_serve sealed, waiting for channel_take */
static bytea *pending_reply = NULL;
static char **pending_ids = NULL;
static int	pending_nids = 0;

static Datum
text_array_of(char **s, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(s[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static text *
refuse(const char *sender, const char *problem, const char *detail)
{
	LinkCounts	c = {0};

	alarm_raise("message", sender, "major", problem, detail);
	if (sender && strcmp(sender, "unknown") != 0)
	{
		c.rejected = 1;
		channel_account(sender, "receive", &c);
	}
	ereport(WARNING,
			(errmsg("ssn: message from \"%s\" refused: %s", sender, problem),
			 detail ? errdetail_internal("%s", detail) : 0));
	return cstring_to_text(psprintf("rejected: %s%s%s", problem, detail ? ": " : "", detail ? detail : ""));
}

/*
 * Which of the key IDs the ledger knows: returns 0 if none, 1 if all are
 * 'fetched' receive rows held by this backend (announced), -1 otherwise.
 */
static int
ledger_state_of(char **ids, int n)
{
	Oid			types[3] = {TEXTARRAYOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[3];
	int64		known,
				mine;
	bool		isnull;

	values[0] = text_array_of(ids, n);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = TimestampTzGetDatum(MyStartTimestamp);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT count(*), count(*) FILTER (WHERE direction = 'receive'"
							  " AND state = 'fetched' AND holder_pid = $2 AND holder_start = $3)"
							  " FROM ssn.key_ledger WHERE key_id IN (SELECT unnest($1))",
							  3, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.key_ledger");
	known = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mine = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	if (known == 0)
		return 0;
	return (known == n && mine == n) ? 1 : -1;
}

static void
record_receive(Shareholder *peer, char **ids, int n, int size_bits)
{
	LedgerEntries e;

	e.direction = LEDGER_RECEIVE;
	e.peer = peer->name;
	e.peer_sae = peer->sae_id;
	e.purpose = "receive";
	e.size_bits = size_bits;
	e.nids = n;
	e.key_ids = (const char *const *) ids;
	ledger_record(&e, false);
}

Datum
ssn_channel_announce(PG_FUNCTION_ARGS)
{
	char	   *sender = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int32		size_bits = PG_GETARG_INT32(2);
	ShareholderList *cat = catalog_load();
	Shareholder *peer = catalog_require_peer(cat, sender);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **ids;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > ENVELOPE_MAX_KEYS)
		PG_RETURN_TEXT_P(refuse(sender, "malformed announcement", "wrong number of key IDs"));
	ids = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			PG_RETURN_TEXT_P(refuse(sender, "malformed announcement", "a key ID is NULL"));
		ids[i] = TextDatumGetCString(elems[i]);
	}
	if (ledger_state_of(ids, n) != 0)
		PG_RETURN_TEXT_P(refuse(sender, "replayed key IDs", "a key ID of the message was seen before"));
	record_receive(peer, ids, n, size_bits);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("announced %d keys", n)));
}

#define INSERT_SHARES \
	"INSERT INTO ssn.held_share (secret_id, epoch, origin, share)" \
	" SELECT u.id, u.e, $4, u.s FROM unnest($1, $2, $3) AS u(id, e, s)"

typedef struct InsertArgs
{
	Oid		   *types;
	Datum	   *values;
	bool		on_conflict;
	int			stored;
} InsertArgs;

static void
insert_fn(void *arg)
{
	InsertArgs *a = (InsertArgs *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(a->on_conflict ? INSERT_SHARES " ON CONFLICT DO NOTHING" : INSERT_SHARES,
							  4, a->types, a->values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store shares in ssn.held_share");
	a->stored = (int) SPI_processed;
	SPI_finish();
}

/*
 * INSERT the shares; only if some are already held (a resent message whose
 * acknowledgement was lost) again with ON CONFLICT DO NOTHING: the fast path
 * spares the speculative-insertion probe of every row.
 */
static int
insert_shares(Oid *types, Datum *values)
{
	InsertArgs	a = {types, values, false, 0};
	ErrorData  *ed = try_in_subxact(insert_fn, &a);

	if (ed)
	{
		if (ed->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(ed);
		FreeErrorData(ed);
		a.on_conflict = true;
		insert_fn(&a);
	}
	return a.stored;
}

/* the parameters ($1 ids, $2 epochs, $3 shares, $4 origin) of a bulk insert into ssn.held_share */
void
held_share_args(Oid *types, Datum *values, Datum *ids, Datum *epochs, Datum *shares, int n,
				const char *origin)
{
	Oid			share_oid = catalog_type_oid("ssn_share");

	types[0] = UUIDARRAYOID;
	types[1] = INT8ARRAYOID;
	types[2] = get_array_type(share_oid);
	types[3] = TEXTOID;
	values[0] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(construct_array(epochs, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(shares, n, share_oid, -1, false, TYPALIGN_INT));
	values[3] = CStringGetTextDatum(origin);
}

/* Store the shares of a batch; returns how many were new, or -1 (why set). */
static int
store_shares(const uint8 *pt, size_t len, Shareholder *self, const char *origin,
			 int *total, int64 *share_bytes, char *why, size_t whylen)
{
	size_t		off = 0;
	const uint8 *sb;
	size_t		sblen;
	ShareHeader sh;
	int			n = 0,
				cap = 64;
	Datum	   *ids = palloc(sizeof(Datum) * cap);
	Datum	   *epochs = palloc(sizeof(Datum) * cap);
	Datum	   *shares = palloc(sizeof(Datum) * cap);
	const uint8 **raw = palloc(sizeof(uint8 *) * cap);
	Oid			types[4];
	Datum		values[4];
	int			stored;

	*share_bytes = 0;
	while (share_batch_next(pt, len, &off, &sb, &sblen, &sh, why, whylen))
	{
		pg_uuid_t  *u;
		struct varlena *s;

		if (sh.x != self->share_index)
		{
			snprintf(why, whylen, "a share for x=%d arrived at this node (share index %d)",
					 sh.x, self->share_index);
			return -1;
		}
		if (n == cap)
		{
			cap *= 2;
			ids = repalloc(ids, sizeof(Datum) * cap);
			epochs = repalloc(epochs, sizeof(Datum) * cap);
			shares = repalloc(shares, sizeof(Datum) * cap);
			raw = repalloc(raw, sizeof(uint8 *) * cap);
		}
		raw[n] = sb;
		u = palloc(sizeof(pg_uuid_t));
		memcpy(u->data, sh.id, SHARE_ID_SIZE);
		s = palloc(VARHDRSZ + sblen);
		SET_VARSIZE(s, VARHDRSZ + sblen);
		memcpy(VARDATA(s), sb, sblen);
		ids[n] = UUIDPGetDatum(u);
		epochs[n] = Int64GetDatum((int64) sh.epoch);
		shares[n] = PointerGetDatum(s);
		*share_bytes += sblen;
		n++;
	}
	if (why[0])
		return -1;
	/* verifiable shares are checked against their commitments before they are kept */
	if (!verify_received_why(raw, n, "share", why, whylen))
		return -1;
	*total = n;
	if (n == 0)
		return 0;
	held_share_args(types, values, ids, epochs, shares, n, origin);
	stored = insert_shares(types, values);
	for (int i = 0; i < n; i++)
		sodium_memzero(VARDATA(DatumGetPointer(shares[i])), VARSIZE(DatumGetPointer(shares[i])) - VARHDRSZ);
	sodium_memzero(VARDATA(DatumGetPointer(values[2])), VARSIZE(DatumGetPointer(values[2])) - VARHDRSZ);
	return stored;
}

/* true if the message id is new (and now recorded) */
static bool
note_message(const uint8 *msg_id, const char *sender, int kind, int shares)
{
	Oid			types[4] = {UUIDOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
	bool		isnew;

	memcpy(u->data, msg_id, ENVELOPE_ID_SIZE);
	values[0] = UUIDPGetDatum(u);
	values[1] = CStringGetTextDatum(sender);
	values[2] = CStringGetTextDatum(channel_kind_name(kind));
	values[3] = Int32GetDatum(shares);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO ssn.message_seen (message_id, sender, kind, shares)"
							  " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
							  4, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the message in ssn.message_seen");
	isnew = SPI_processed == 1;
	SPI_finish();
	return isnew;
}

Datum
ssn_channel_receive(PG_FUNCTION_ARGS)
{
	bytea	   *env = PG_GETARG_BYTEA_PP(0);
	const uint8 *buf = (const uint8 *) VARDATA_ANY(env);
	size_t		buflen = VARSIZE_ANY_EXHDR(env);
	EnvelopeView v;
	char		why[256];
	char	   *sender,
			   *receiver,
			   *failure;
	char	  **ids;
	ShareholderList *cat;
	Shareholder *self,
			   *peer;
	uint8	   *pt;
	size_t		key_bytes;
	int			st,
				total = 0,
				stored = 0;
	int64		share_bytes = 0;
	LinkCounts	c = {0};
	text	   *result;

	if (!envelope_parse(buf, buflen, &v, why, sizeof(why)))
		PG_RETURN_TEXT_P(refuse("unknown", "malformed message", why));
	sender = channel_name(v.sender, v.sender_len);
	receiver = channel_name(v.receiver, v.receiver_len);
	cat = catalog_load();
	self = catalog_require_self(cat);
	peer = catalog_find(cat, sender);
	if (peer == NULL || peer->is_self)
		PG_RETURN_TEXT_P(refuse("unknown", "message from an unknown sender",
								psprintf("sender \"%s\" is not a peer of this node", sender)));
	if (strcmp(receiver, self->name) != 0)
		PG_RETURN_TEXT_P(refuse(sender, "message for another node",
								psprintf("addressed to \"%s\"", receiver)));
	ids = channel_key_ids(&v);
	st = ledger_state_of(ids, v.nkeys);
	if (st < 0)
		PG_RETURN_TEXT_P(refuse(sender, "replayed key IDs", "a key ID of the message was seen before"));
	if (st == 0)
		record_receive(peer, ids, v.nkeys, channel_received_key_bits(&v, peer->sae_id));

	pt = channel_open_guarded(&v, peer->sae_id, ids, &key_bytes, &failure);
	if (failure)
	{
		ledger_finish((const char *const *) ids, v.nkeys, "discarded", false);
		PG_RETURN_TEXT_P(refuse(sender, "message keys unavailable", failure));
	}
	if (pt == NULL)
	{
		ledger_finish((const char *const *) ids, v.nkeys, "discarded", false);
		PG_RETURN_TEXT_P(refuse(sender, "message failed authentication",
								"the one-time MAC does not verify: the message was altered or forged"));
	}
	ledger_finish((const char *const *) ids, v.nkeys, "used", false);

	switch (v.kind)
	{
		case MSG_KIND_SHARES:
			stored = store_shares(pt, v.len, self, sender, &total, &share_bytes, why, sizeof(why));
			if (stored < 0)
			{
				sodium_memzero(pt, v.len);
				PG_RETURN_TEXT_P(refuse(sender, "malformed shares in an authentic message", why));
			}
			if (!note_message(v.msg_id, sender, v.kind, total))
				result = cstring_to_text(psprintf("duplicate message, %d shares already held", total));
			else
				result = cstring_to_text(psprintf("stored %d shares (%d new)", total, stored));
			break;
		case MSG_KIND_PARTS:
			why[0] = '\0';
			if (!note_message(v.msg_id, sender, v.kind, 0))
			{
				result = cstring_to_text("duplicate message of parts");
				break;
			}
			total = compute_receive_parts(pt, v.len, self, peer, why, sizeof(why));
			if (total < 0)
			{
				sodium_memzero(pt, v.len);
				PG_RETURN_TEXT_P(refuse(sender, "malformed re-sharing parts in an authentic message", why));
			}
			result = cstring_to_text(psprintf("stored %d parts", total));
			break;
		case MSG_KIND_RENEW:
			/* the coordinator prepares this transaction: the switch is all or nothing */
			if (!IsTransactionBlock())
			{
				sodium_memzero(pt, v.len);
				PG_RETURN_TEXT_P(refuse(sender, "renewal parts outside a transaction block",
										"the coordinator must send them in a transaction it prepares"));
			}
			if (!note_message(v.msg_id, sender, v.kind, 0))
			{
				result = cstring_to_text("duplicate message of renewal parts");
				break;
			}
			total = renewal_apply(pt, v.len, sender, self->share_index, why, sizeof(why));
			if (total < 0)
			{
				sodium_memzero(pt, v.len);
				PG_RETURN_TEXT_P(refuse(sender, "renewal parts refused", why));
			}
			result = cstring_to_text(psprintf("renewed %d shares", total));
			break;
		case MSG_KIND_RESHARE_REQ:
		case MSG_KIND_RESHARE:
			if (!note_message(v.msg_id, sender, v.kind, 0))
			{
				result = cstring_to_text("duplicate re-sharing message");
				break;
			}
			/* a request waits for ssn.channel_reshare_help: its sends must not run in this transaction */
			total = v.kind == MSG_KIND_RESHARE_REQ ?
				reshare_queue(pt, v.len, v.msg_id, sender) :
				reshare_receive(pt, v.len, self, peer, why, sizeof(why));
			if (total < 0)
			{
				sodium_memzero(pt, v.len);
				PG_RETURN_TEXT_P(refuse(sender, "re-sharing message refused", why));
			}
			result = cstring_to_text(psprintf("re-shared %d", total));
			break;
		case MSG_KIND_TEST:
			if (!note_message(v.msg_id, sender, v.kind, 0))
				result = cstring_to_text("duplicate test message");
			else
				result = cstring_to_text(psprintf("accepted test message of %u bytes", v.len));
			break;
		default:
			sodium_memzero(pt, v.len);
			PG_RETURN_TEXT_P(refuse(sender, "unexpected message kind", channel_kind_name(v.kind)));
	}
	sodium_memzero(pt, v.len);
	pfree(pt);
	c.messages = 1;
	c.shares = total;
	c.share_bytes = share_bytes;
	c.payload_bytes = v.len;
	c.envelope_bytes = buflen;
	c.key_bytes = key_bytes;
	channel_account(sender, "receive", &c);
	/* message alarms are events: an operator acknowledges them (ssn.acknowledge_alarm) */
	PG_RETURN_TEXT_P(result);
}

/*
 * Seal a reply of shares for the SSA that asked and keep it for channel_take
 * (one reply per connection; one never taken has its keys discarded).
 */
void
channel_reply_pending(const Shareholder *self, const Shareholder *requester,
					  const uint8 *pt, size_t len, int nshares, int64 share_bytes,
					  const char *purpose)
{
	SealedMessage *m;
	MemoryContext old;
	LinkCounts	c = {0};

	if (pending_reply)
	{
		/* a reply never taken: its keys are spent */
		ledger_finish((const char *const *) pending_ids, pending_nids, "discarded", false);
		pfree(pending_reply);
		pending_reply = NULL;
	}
	m = channel_seal(self->name, requester, MSG_KIND_REPLY, pt, len, purpose, false);

	c.messages = 1;
	c.shares = nshares;
	c.share_bytes = share_bytes;
	c.payload_bytes = len;
	c.envelope_bytes = VARSIZE(m->envelope) - VARHDRSZ;
	c.key_bytes = m->key_bytes;
	channel_account(requester->name, "send", &c);

	/* last: nothing after this may fail, or the reply would outlive its ledger rows */
	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_reply = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(m->envelope));
	pending_ids = palloc(sizeof(char *) * m->nkeys);
	for (int i = 0; i < m->nkeys; i++)
		pending_ids[i] = pstrdup(m->key_ids[i]);
	pending_nids = m->nkeys;
	MemoryContextSwitchTo(old);
}

Datum
ssn_channel_serve(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		idarr = PG_GETARG_DATUM(1);
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Shareholder *peer = catalog_require_peer(cat, requester);
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];
	StringInfoData pt;
	int			n = 0;
	LinkCounts	c = {0};

	initStringInfo(&pt);
	values[0] = idarr;
	values[1] = CStringGetTextDatum(requester);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Only the SSA that stored a secret gets its shares back, sealed with keys
	 * of the link to that SSA: another node (even one whose ssn_peer login was
	 * stolen) can name a requester, but cannot read what it is sent.
	 */
	if (SPI_execute_with_args("SELECT DISTINCT ON (secret_id) share FROM ssn.held_share"
							  " WHERE secret_id IN (SELECT unnest($1)) AND origin = $2"
							  " ORDER BY secret_id, epoch DESC",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_share");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		struct varlena *s = PG_DETOAST_DATUM(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		size_t		len = VARSIZE(s) - VARHDRSZ;
		ShareHeader h;

		share_read_header((uint8 *) VARDATA(s), &h);
		if (share_has_record(&h))
		{
			/* the SSA keeps the signed commitments itself: y, t and a digest of ours */
			uint8	   *p = (uint8 *) VARDATA(s) + SHARE_HEADER_SIZE;

			crypto_generichash(p + 64, SHARE_SERVED_DIGEST, p + 64 + COMMIT_RECORD_HEADER,
							   (size_t) COMMIT_RECORD_POINT * h.k, NULL, 0);
			h.payload_len = SHARE_SERVED_PAYLOAD;
			len = SHARE_HEADER_SIZE + SHARE_SERVED_PAYLOAD;
			share_seal((uint8 *) VARDATA(s), &h);
		}
		/* pt's buffer stays in the function's context: repalloc keeps a chunk's context */
		enlargeStringInfo(&pt, SHARE_BATCH_PREFIX + len);
		pt.len += share_batch_put((uint8 *) pt.data + pt.len, (uint8 *) VARDATA(s), len);
		sodium_memzero(VARDATA(s), len);
		c.share_bytes += len;
		n++;
	}
	SPI_finish();

	channel_reply_pending(self, peer, (uint8 *) pt.data, pt.len, n, c.share_bytes, "serve");
	sodium_memzero(pt.data, pt.maxlen);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("ready: %d shares", n)));
}

Datum
ssn_channel_take(PG_FUNCTION_ARGS)
{
	bytea	   *r;

	if (pending_reply == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no reply is waiting on this connection"),
				 errhint("Call ssn.channel_serve() first.")));
	ledger_finish((const char *const *) pending_ids, pending_nids, "used", false);
	r = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(pending_reply));
	pfree(pending_reply);
	pending_reply = NULL;
	for (int i = 0; i < pending_nids; i++)
		pfree(pending_ids[i]);
	pfree(pending_ids);
	pending_ids = NULL;
	pending_nids = 0;
	PG_RETURN_BYTEA_P(r);
}

Datum
ssn_channel_ping(PG_FUNCTION_ARGS)
{
	char	   *name = catalog_self_name();

	PG_RETURN_TEXT_P(cstring_to_text(name ? name : ""));
}

Datum
ssn_channel_seal_test(PG_FUNCTION_ARGS)
{
	char	   *peername = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bytea	   *payload = PG_GETARG_BYTEA_PP(1);
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Shareholder *peer = catalog_require_peer(cat, peername);
	SealedMessage *m;

	m = channel_seal(self->name, peer, MSG_KIND_TEST, (uint8 *) VARDATA_ANY(payload),
					 VARSIZE_ANY_EXHDR(payload), "test", true);
	channel_settle(m, "used", true);
	PG_RETURN_BYTEA_P(m->envelope);
}
