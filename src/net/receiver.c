/*
 * receiver.c - the receiving end of the channels: the functions a peer calls as
 * role ssn_peer over its TLS connection (SECURITY DEFINER; EXECUTE is granted to
 * ssn_peer only) to hand this node a message.
 *
 *   channel_announce  record the key IDs of a message about to arrive (the
 *                     ledger row commits before dec_keys ever runs)
 *   channel_receive   check the MAC, then hand the message to the handler its
 *                     kind registered (net/message_kind.h)
 *
 * A bad message is not an SQL error: it is refused with a status string, and the
 * refusal, its alarm and the settled ledger rows commit.
 *
 * Senders resend a message as the very bytes they sealed once (the store seals
 * its peers' shares before it writes them): known key IDs of that sender are not
 * a replay when the message was received already (answered as a duplicate) or
 * when its receipt never finished (the IDs are taken again and the message opened).
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/alarm_queue.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "net/peer_identity.h"
#include "net/receiver.h"
#include "qkd/key_ledger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_channel_announce);
PG_FUNCTION_INFO_V1(ssn_channel_receive);
PG_FUNCTION_INFO_V1(ssn_channel_ping);
PG_FUNCTION_INFO_V1(ssn_channel_seal_test);

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

	/*
	 * In a transaction block the caller may roll the refusal back: its alarm then
	 * goes through the node worker, which records it whatever the caller does.
	 */
	if (IsTransactionBlock())
		alarm_raise_durable("message", sender, "major", problem, detail);
	else
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

/*
 * In this transaction (an announcement commits with its statement), or, for a
 * message nobody announced, committed now: its keys are on the record before
 * dec_keys hands them out, whatever becomes of the receipt's transaction.
 */
static void
record_receive(Shareholder *peer, char **ids, int n, int size_bits, bool autonomous)
{
	LedgerEntries e;

	e.direction = LEDGER_RECEIVE;
	e.peer = peer->name;
	e.peer_sae = peer->sae_id;
	e.purpose = "receive";
	e.size_bits = size_bits;
	e.nids = n;
	e.key_ids = (const char *const *) ids;
	ledger_record(&e, autonomous);
}

Datum
ssn_channel_announce(PG_FUNCTION_ARGS)
{
	char	   *sender = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int32		size_bits = PG_GETARG_INT32(2);
	ShareholderList *cat = catalog_load();
	Shareholder *peer = peer_identity_require(cat, sender, "ssn.channel_announce");
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
	{
		switch (ledger_resent(peer->name, (const char *const *) ids, n))
		{
			case LEDGER_RESENT_RECEIVED:
				PG_RETURN_TEXT_P(cstring_to_text(psprintf("announced %d keys, already received", n)));
			case LEDGER_RESENT_RETAKEN:
				PG_RETURN_TEXT_P(cstring_to_text(psprintf("announced %d keys, again", n)));
			case LEDGER_RESENT_BUSY:
				PG_RETURN_TEXT_P(cstring_to_text("busy: the message is being received by another session"));
			case LEDGER_RESENT_NO:
				break;
		}
		PG_RETURN_TEXT_P(refuse(sender, "replayed key IDs", "a key ID of the message was seen before"));
	}
	record_receive(peer, ids, n, size_bits, false);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("announced %d keys", n)));
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

/* the items of a message seen before from sender, or -1 if it was not */
static int
message_seen_items(const uint8 *msg_id, const char *sender)
{
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
	int			items = -1;

	memcpy(u->data, msg_id, ENVELOPE_ID_SIZE);
	values[0] = UUIDPGetDatum(u);
	values[1] = CStringGetTextDatum(sender);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT coalesce(shares, 0) FROM ssn.message_seen WHERE message_id = $1 AND sender = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.message_seen");
	if (SPI_processed == 1)
	{
		bool		isnull;

		items = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return items;
}

/* kind 'test' (ssn.channel_seal_test): accepted, nothing kept */
static bool
receive_test(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	out->reply = psprintf("accepted test message of %zu bytes", m->len);
	return true;
}

void
receiver_init(void)
{
	static const MessageKind test = {
		.kind = MSG_KIND_TEST,
		.handle = receive_test,
		.what = "test message",
		.refusal = "test message refused",
		.duplicate = "duplicate test message",
		.touches = "nothing",
	};

	message_kind_register(&test);
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
	size_t		key_bytes,
				ptlen;
	int			st;
	const MessageKind *k;
	ReceivedMessage m;
	MessageOutcome out = {0};
	LinkCounts	c = {0};
	text	   *result;

	if (!envelope_parse(buf, buflen, &v, why, sizeof(why)))
		PG_RETURN_TEXT_P(refuse("unknown", "malformed message", why));
	if (!channel_header_is_text(&v))
		PG_RETURN_TEXT_P(refuse("unknown", "malformed message",
								"a node name or key ID of its header is not printable text"));
	sender = channel_name(v.sender, v.sender_len);
	receiver = channel_name(v.receiver, v.receiver_len);
	cat = catalog_load();
	self = catalog_require_self(cat);
	peer = catalog_find(cat, sender);
	if (peer == NULL || peer->is_self)
		PG_RETURN_TEXT_P(refuse("unknown", "message from an unknown sender",
								psprintf("sender \"%s\" is not a peer of this node", sender)));
	/* a peer delivers its own messages only; no key is spent on another's */
	(void) peer_identity_require(cat, sender, "ssn.channel_receive");
	if (strcmp(receiver, self->name) != 0)
		PG_RETURN_TEXT_P(refuse(sender, "message for another node",
								psprintf("addressed to \"%s\"", receiver)));
	ids = channel_key_ids(&v);
	st = ledger_state_of(ids, v.nkeys);
	if (st < 0)
	{
		LedgerResent r = ledger_resent(peer->name, (const char *const *) ids, v.nkeys);

		if (r == LEDGER_RESENT_RECEIVED)
		{
			/* its keys are spent, so its MAC cannot be checked: only a known id passes */
			int			items = message_seen_items(v.msg_id, sender);

			k = message_kind_lookup(v.kind);
			if (items >= 0 && k != NULL)
				PG_RETURN_TEXT_P(cstring_to_text(psprintf(k->duplicate, items)));
		}
		if (r == LEDGER_RESENT_BUSY)
			PG_RETURN_TEXT_P(cstring_to_text("busy: the message is being received by another session"));
		if (r != LEDGER_RESENT_RETAKEN)
			PG_RETURN_TEXT_P(refuse(sender, "replayed key IDs", "a key ID of the message was seen before"));
	}
	if (st == 0)
		record_receive(peer, ids, v.nkeys, channel_received_key_bits(&v, peer->sae_id), true);

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
	pt = channel_plaintext(&v, pt, &ptlen, why, sizeof(why));
	if (pt == NULL)
		PG_RETURN_TEXT_P(refuse(sender, "malformed message", why));

	k = message_kind_lookup(v.kind);
	if (k == NULL)
	{
		sodium_memzero(pt, ptlen);
		PG_RETURN_TEXT_P(refuse(sender, "unexpected message kind", channel_kind_name(v.kind)));
	}
	/* e.g. renewal parts: the coordinator prepares this transaction, so the switch is all or nothing */
	if ((k->flags & MESSAGE_IN_XACT_BLOCK) && !IsTransactionBlock())
	{
		sodium_memzero(pt, ptlen);
		PG_RETURN_TEXT_P(refuse(sender, psprintf("%s outside a transaction block", k->what),
								"the coordinator must send them in a transaction it prepares"));
	}
	if (!(k->flags & MESSAGE_SEEN_AFTER) && !note_message(v.msg_id, sender, v.kind, 0))
		result = cstring_to_text(psprintf(k->duplicate, 0));
	else
	{
		m.kind = v.kind;
		m.msg_id = v.msg_id;
		m.pt = pt;
		m.len = ptlen;
		m.self = self;
		m.sender = peer;
		why[0] = '\0';
		elog(DEBUG2, "ssn: message kind \"%s\" from \"%s\" (may write %s)",
			 channel_kind_name(v.kind), sender, k->touches);
		if (!k->handle(&m, &out, why, sizeof(why)))
		{
			sodium_memzero(pt, ptlen);
			PG_RETURN_TEXT_P(refuse(sender, k->refusal, why));
		}
		if ((k->flags & MESSAGE_SEEN_AFTER) && !note_message(v.msg_id, sender, v.kind, out.items))
			result = cstring_to_text(psprintf(k->duplicate, out.items));
		else
			result = cstring_to_text(out.reply);
	}
	sodium_memzero(pt, ptlen);
	pfree(pt);
	c.messages = 1;
	c.shares = out.items;
	c.share_bytes = out.share_bytes;
	c.payload_bytes = v.len;
	c.envelope_bytes = buflen;
	c.key_bytes = key_bytes;
	channel_account(sender, "receive", &c);
	/* message alarms are events: an operator acknowledges them (ssn.acknowledge_alarm) */
	PG_RETURN_TEXT_P(result);
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
	char	   *kindname = PG_NARGS() > 2 ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : "test";
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Shareholder *peer = catalog_require_peer(cat, peername);
	SealedMessage *m;
	int			kind = 0;

	/* any kind: what a node's superuser (or whoever owns the node) can send anyway */
	for (int k = 1; k <= MSG_KIND_MAX && kind == 0; k++)
		if (strcmp(channel_kind_name(k), kindname) == 0)
			kind = k;
	if (kind == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown message kind \"%s\"", peer_identity_printable(kindname))));
	m = channel_seal(self->name, peer, kind, (uint8 *) VARDATA_ANY(payload),
					 VARSIZE_ANY_EXHDR(payload), "test", true);
	channel_settle(m, "used", true);
	PG_RETURN_BYTEA_P(m->envelope);
}
