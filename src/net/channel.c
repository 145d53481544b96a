/*
 * channel.c - sealing and opening channel messages with QKD keys.
 */
#include "net/channel.h"
#include "net/key_reserve.h"
#include "net/message_kind.h"
#include "share/share_batch.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/guc.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "net/peer_conn.h"
#include "qkd/key_ledger.h"
#include "qkd/kme_client.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

const char *
channel_kind_name(int kind)
{
	switch (kind)
	{
		case MSG_KIND_SHARES:
			return "shares";
		case MSG_KIND_REPLY:
			return "reply";
		case MSG_KIND_TEST:
			return "test";
		case MSG_KIND_PARTS:
			return "parts";
		case MSG_KIND_RENEW:
			return "renew";
		case MSG_KIND_RESHARE_REQ:
			return "re-share request";
		case MSG_KIND_RESHARE:
			return "re-share";
		case MSG_KIND_RECORDS:
			return "records";
		case MSG_KIND_STORED:
			return "stored";
		case MSG_KIND_OWNER_STORE:
			return "owner store";
		case MSG_KIND_OWNER_VALUES:
			return "owner values";
		case MSG_KIND_CATALOG:
			return "catalog";
		case MSG_KIND_REPLY_KEYS:
			return "reply keys";
	}
	return "unknown";
}

/* fetch the keys for a message of len bytes to peer (not yet recorded) */
static KmeKeyBatch *
fetch_keys(const Shareholder *peer, size_t len, SealedMessage *m)
{
	int			min_bits,
				max_bits,
				max_req;
	KmeKeyBatch *batch;

	if (len > ENVELOPE_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message to \"%s\" is too large: %zu bytes", peer->name, len)));
	kme_link_limits(peer->sae_id, &min_bits, &max_bits, &max_req);
	m->nkeys = envelope_key_plan(len, min_bits, max_bits, &m->size_bits);
	if (m->nkeys > ENVELOPE_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message to \"%s\" would need %d keys (at most %d)",
						peer->name, m->nkeys, ENVELOPE_MAX_KEYS),
				 errhint("Lower ssn.channel_batch_size or raise the link's max_key_size.")));
	batch = kme_get_enc_keys(peer->sae_id, m->nkeys, m->size_bits);
	m->key_ids = palloc(sizeof(char *) * m->nkeys);
	for (int i = 0; i < m->nkeys; i++)
		m->key_ids[i] = batch->keys[i].key_id;
	return batch;
}

static void
ledger_entries_of(const SealedMessage *m, const Shareholder *peer, const char *purpose,
				  LedgerEntries *e)
{
	e->direction = LEDGER_SEND;
	e->peer = peer->name;
	e->peer_sae = peer->sae_id;
	e->purpose = purpose;
	e->size_bits = m->size_bits;
	e->nids = m->nkeys;
	e->key_ids = (const char *const *) m->key_ids;
}

/*
 * What a message sends: a batch of shares goes as its clear part (headers,
 * commitments: authenticated, no key spent) and its secret part (one-time pad);
 * anything else, or a batch that does not parse, all secret.
 */
typedef struct MessageParts
{
	const uint8 *clear;
	size_t		clear_len;
	const uint8 *secret;
	size_t		secret_len;
	uint8	   *owned_clear;	/* palloc'd by parts_of (NULL: none) */
	uint8	   *owned_secret;
} MessageParts;

/* where the share batch of a message of this kind begins; -1: none */
static ssize_t
batch_offset(int kind, const uint8 *msg, size_t len)
{
	const MessageKind *k;

	/* replies are read by the SSA that asked, not dispatched: no registered kind */
	if (kind == MSG_KIND_REPLY)
		return 0;
	k = message_kind_lookup(kind);
	if (k == NULL || k->batch_at == NULL)
		return -1;
	return k->batch_at(msg, len);
}

static void
parts_of(int kind, const uint8 *plaintext, size_t len, MessageParts *p)
{
	ssize_t		off = batch_offset(kind, plaintext, len);

	memset(p, 0, sizeof(*p));
	p->secret = plaintext;
	p->secret_len = len;
	if (off >= 0 && (size_t) off == len && len > 0)
	{
		/* a kind with nothing secret (records): all of it clear, only the MAC spends key */
		p->clear = plaintext;
		p->clear_len = len;
		p->secret_len = 0;
		return;
	}
	if (off >= 0 && (size_t) off < len)
	{
		uint8	   *c = palloc(len),
				   *k = palloc(len);
		size_t		cl,
					kl;
		char		err[256];

		/* the prefix first, then the batch's clear part */
		memcpy(c, plaintext, off);
		if (share_batch_split(plaintext + off, len - off, c + off, &cl, k, &kl, err, sizeof(err)) && cl > 0)
		{
			p->clear = p->owned_clear = c;
			p->clear_len = off + cl;
			p->secret = p->owned_secret = k;
			p->secret_len = kl;
			return;
		}
		sodium_memzero(k, len);
		pfree(k);
		pfree(c);
	}
}

static void
parts_free(MessageParts *p)
{
	if (p->owned_secret)
	{
		sodium_memzero(p->owned_secret, p->secret_len);
		pfree(p->owned_secret);
		pfree(p->owned_clear);
	}
	p->owned_secret = p->owned_clear = NULL;
}

/* seal a message's parts with the recorded keys of batch, which is wiped and freed */
static void
seal_with(SealedMessage *m, KmeKeyBatch *batch, const char *self_name,
		  const Shareholder *peer, int kind, const MessageParts *p)
{
	EnvelopeHeader h;
	size_t		size;

	randombytes_buf(m->msg_id, sizeof(m->msg_id));
	h.kind = (uint8) kind;
	memcpy(h.msg_id, m->msg_id, sizeof(h.msg_id));
	h.key_bits = (uint32) m->size_bits;
	h.sender = self_name;
	h.receiver = peer->name;
	h.nkeys = m->nkeys;
	h.key_ids = (const char *const *) m->key_ids;
	h.clear = p->clear;
	h.clear_len = p->clear_len;
	size = envelope_size(&h, p->secret_len);
	if (size == 0)
	{
		kme_batch_free(batch);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot address a message from \"%s\" to \"%s\"", self_name, peer->name),
				 errdetail("A node name or key ID is empty or longer than %d bytes.", ENVELOPE_MAX_NAME)));
	}
	m->envelope = palloc(VARHDRSZ + size);
	SET_VARSIZE(m->envelope, VARHDRSZ + size);
	envelope_seal((uint8 *) VARDATA(m->envelope), &h, batch->material, batch->material_len,
				  p->secret, p->secret_len);
	m->key_bytes = batch->material_len;
	m->pad_bytes = p->secret_len;
	kme_batch_free(batch);
}

/* fetch keys for a message's parts, record them ('fetched', or settled at once), seal */
static SealedMessage *
seal_parts_recording(const char *self_name, const Shareholder *peer, int kind,
					 const MessageParts *p, const char *purpose, bool autonomous,
					 const char *settled)
{
	SealedMessage *m = palloc0(sizeof(SealedMessage));
	KmeKeyBatch *batch = fetch_keys(peer, p->secret_len, m);
	LedgerEntries e;

	ledger_entries_of(m, peer, purpose, &e);
	if (settled)
		ledger_record_settled(&e, 1, settled);
	else
		ledger_record(&e, autonomous);
	seal_with(m, batch, self_name, peer, kind, p);
	return m;
}

/* the same from the plaintext, its split copies wiped whatever happens */
static SealedMessage *
seal_recording(const char *self_name, const Shareholder *peer, int kind,
			   const uint8 *plaintext, size_t len, const char *purpose, bool autonomous,
			   const char *settled)
{
	SealedMessage *volatile m = NULL;
	MessageParts p;

	parts_of(kind, plaintext, len, &p);
	PG_TRY();
	{
		m = seal_parts_recording(self_name, peer, kind, &p, purpose, autonomous, settled);
	}
	PG_FINALLY();
	{
		parts_free(&p);
	}
	PG_END_TRY();
	return m;
}

SealedMessage *
channel_seal(const char *self_name, const Shareholder *peer, int kind,
			 const uint8 *plaintext, size_t len, const char *purpose, bool autonomous)
{
	return seal_recording(self_name, peer, kind, plaintext, len, purpose, autonomous, NULL);
}

SealedMessage *
channel_seal_spent(const char *self_name, const Shareholder *peer, int kind,
				   const uint8 *plaintext, size_t len, const char *purpose)
{
	return seal_recording(self_name, peer, kind, plaintext, len, purpose, true, "used");
}

SealedMessage *
channel_seal_reply(const char *self_name, const Shareholder *peer, const uint8 *plaintext,
				   size_t len, const char *purpose, bool fresh_keys)
{
	MessageParts p;
	SealedMessage *volatile m = NULL;

	if (fresh_keys)
		key_reserve_drop(peer);
	parts_of(MSG_KIND_REPLY, plaintext, len, &p);
	PG_TRY();
	{
		KmeKeyBatch *batch = fresh_keys ? NULL : key_reserve_take(peer, envelope_key_bytes(p.secret_len));

		if (batch == NULL)
			m = seal_parts_recording(self_name, peer, MSG_KIND_REPLY, &p, purpose, true, "used");
		else
		{
			m = palloc0(sizeof(SealedMessage));
			m->nkeys = batch->nkeys;
			m->size_bits = batch->size_bits;
			m->key_ids = palloc(sizeof(char *) * m->nkeys);
			for (int i = 0; i < m->nkeys; i++)
				m->key_ids[i] = batch->keys[i].key_id;
			seal_with(m, batch, self_name, peer, MSG_KIND_REPLY, &p);
		}
	}
	PG_FINALLY();
	{
		parts_free(&p);
	}
	PG_END_TRY();
	return m;
}

/*
 * fetch_keys, or NULL while the link's pool is short of key (HTTP 503) and the
 * deadline has not passed; any other error (or the deadline) is raised
 */
static KmeKeyBatch *
fetch_keys_unless_short(const Shareholder *peer, size_t len, SealedMessage *m, TimestampTz deadline)
{
	MemoryContext cxt = CurrentMemoryContext;
	KmeKeyBatch *volatile batch = NULL;

	PG_TRY();
	{
		batch = fetch_keys(peer, len, m);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		if (ed->sqlerrcode != ERRCODE_INSUFFICIENT_RESOURCES || GetCurrentTimestamp() >= deadline)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return batch;
}

static void
wait_for_key(void)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Keys for every message, waiting while links are short of key - on a
 * key-rate-limited link the store follows the key rate - up to ssn.kme_timeout.
 * A link that is short is passed over until the next round, so that the others'
 * pools are drawn on meanwhile instead of filling up and wasting their key.
 * *cur is the message being fetched (for the caller's error).
 */
static void
fetch_keys_all(SealedMessage **m, KmeKeyBatch **batch, LedgerEntries *e, bool *have,
			   const Shareholder *const *peers, const MessageParts *p, int n, const char *purpose,
			   volatile int *cur)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ssn_kme_timeout_ms);
	const Shareholder **short_of = palloc(sizeof(Shareholder *) * Max(n, 1));
	int			left = n;

	while (left > 0)
	{
		int			nshort = 0;
		bool		progress = false;

		for (int i = 0; i < n; i++)
		{
			bool		skip = false;

			if (have[i])
				continue;
			for (int j = 0; j < nshort && !skip; j++)
				skip = short_of[j] == peers[i];
			if (skip)
				continue;
			*cur = i;
			if (m[i] == NULL)
				m[i] = palloc0(sizeof(SealedMessage));
			batch[i] = fetch_keys_unless_short(peers[i], p[i].secret_len, m[i], deadline);
			if (batch[i] == NULL)
			{
				short_of[nshort++] = peers[i];
				continue;
			}
			ledger_entries_of(m[i], peers[i], purpose, &e[i]);
			have[i] = true;
			left--;
			progress = true;
		}
		if (left > 0 && !progress)
			wait_for_key();
	}
	pfree(short_of);
}

static void
seal_each(SealedMessage **m, KmeKeyBatch **batch, LedgerEntries *e, const char *self_name,
		  const Shareholder *const *peers, int kind, MessageParts *p, int n)
{
	ledger_record_settled(e, n, "used");
	for (int i = 0; i < n; i++)
		seal_with(m[i], batch[i], self_name, peers[i], kind, &p[i]);
}

static void
parts_free_all(MessageParts *p, int n)
{
	for (int j = 0; j < n; j++)
		parts_free(&p[j]);
}

/* the keys recorded 'used' (committed before any is used), then every message sealed */
static void
seal_many_recorded(SealedMessage **m, KmeKeyBatch **batch, LedgerEntries *e, const char *self_name,
				   const Shareholder *const *peers, int kind, MessageParts *p, int n)
{
	PG_TRY();
	{
		seal_each(m, batch, e, self_name, peers, kind, p, n);
	}
	PG_CATCH();
	{
		parts_free_all(p, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	parts_free_all(p, n);
}

SealedMessage **
channel_seal_many(const char *self_name, const Shareholder *const *peers, int kind,
				  const uint8 *const *plaintexts, const size_t *lens, int n,
				  const char *purpose, int *failed)
{
	SealedMessage **m = palloc0(sizeof(SealedMessage *) * Max(n, 1));
	KmeKeyBatch **batch = palloc0(sizeof(KmeKeyBatch *) * Max(n, 1));
	LedgerEntries *e = palloc0(sizeof(LedgerEntries) * Max(n, 1));
	MessageParts *p = palloc0(sizeof(MessageParts) * Max(n, 1));
	bool	   *have = palloc0(sizeof(bool) * Max(n, 1));
	volatile int cur = -1;

	*failed = -1;
	for (int i = 0; i < n; i++)
		parts_of(kind, plaintexts[i], lens[i], &p[i]);
	PG_TRY();
	{
		fetch_keys_all(m, batch, e, have, peers, p, n, purpose, &cur);
	}
	PG_CATCH();
	{
		/* the keys fetched before the failure are wiped unused: on the record too */
		LedgerEntries *got = palloc(sizeof(LedgerEntries) * Max(n, 1));
		int			ngot = 0;

		*failed = cur;
		parts_free_all(p, n);
		for (int j = 0; j < n; j++)
			if (have[j])
			{
				kme_batch_free(batch[j]);
				got[ngot++] = e[j];
			}
		if (ngot > 0)
		{
			MemoryContext cxt = CurrentMemoryContext;
			ErrorData  *ed;

			MemoryContextSwitchTo(cxt);
			ed = CopyErrorData();
			FlushErrorState();
			ledger_record_settled(got, ngot, "discarded");
			ReThrowError(ed);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	seal_many_recorded(m, batch, e, self_name, peers, kind, p, n);
	return m;
}

int
channel_received_key_bits(const EnvelopeView *v, const char *sender_sae)
{
	int			min_bits,
				max_bits,
				max_req;

	/* stated by the sender (checked by envelope_parse to cover the message) */
	if (v->key_bits != 0)
		return (int) v->key_bits;
	kme_link_limits(sender_sae, &min_bits, &max_bits, &max_req);
	return envelope_key_size_bits(v->len, v->nkeys, min_bits);
}

SealedMessage *
channel_sealed_message(const Shareholder *peer, bytea *envelope, EnvelopeView *v)
{
	SealedMessage *m = palloc0(sizeof(SealedMessage));
	char		why[256];

	if (!envelope_parse((const uint8 *) VARDATA_ANY(envelope), VARSIZE_ANY_EXHDR(envelope), v,
						why, sizeof(why)) || !channel_header_is_text(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the outbox holds a malformed sealed message for \"%s\"", peer->name),
				 errdetail_internal("%s", why)));
	m->envelope = envelope;
	m->key_ids = channel_key_ids(v);
	m->nkeys = v->nkeys;
	m->size_bits = channel_received_key_bits(v, peer->sae_id);
	m->key_bytes = (size_t) m->nkeys * (m->size_bits / 8);
	memcpy(m->msg_id, v->msg_id, sizeof(m->msg_id));
	return m;
}

void
channel_settle(SealedMessage *m, const char *state, bool autonomous)
{
	ledger_finish((const char *const *) m->key_ids, m->nkeys, state, autonomous);
}

char *
channel_name(const uint8 *p, size_t len)
{
	char	   *s = palloc(len + 1);

	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* printable text of the database's encoding: no control character, no invalid byte */
static bool
header_text_ok(const uint8 *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return pg_verifymbstr((const char *) p, (int) len, true);
}

bool
channel_header_is_text(const EnvelopeView *v)
{
	if (!header_text_ok(v->sender, v->sender_len) || !header_text_ok(v->receiver, v->receiver_len))
		return false;
	for (int i = 0; i < v->nkeys; i++)
	{
		const uint8 *id;
		size_t		len;

		envelope_key_id(v, i, &id, &len);
		if (!header_text_ok(id, len))
			return false;
	}
	return true;
}

char **
channel_key_ids(const EnvelopeView *v)
{
	char	  **ids = palloc(sizeof(char *) * v->nkeys);
	int			i;

	for (i = 0; i < v->nkeys; i++)
	{
		const uint8 *id;
		size_t		len;

		envelope_key_id(v, i, &id, &len);
		ids[i] = channel_name(id, len);
	}
	return ids;
}

/* the keys of a received envelope, from the KME (dec_keys from the sender's SAE) */
static KmeKeyBatch *
channel_keys(const EnvelopeView *v, const char *sender_sae, char **key_ids)
{
	return kme_get_dec_keys(sender_sae, (const char *const *) key_ids, v->nkeys,
							channel_received_key_bits(v, sender_sae));
}

uint8 *
channel_open_with(const EnvelopeView *v, KmeKeyBatch *batch, size_t *key_bytes)
{
	uint8	   *pt = palloc(Max(v->len, 1));
	bool		ok;

	ok = envelope_open(v, batch->material, batch->material_len, pt);
	*key_bytes = batch->material_len;
	kme_batch_free(batch);
	if (!ok)
	{
		pfree(pt);
		return NULL;
	}
	return pt;
}

uint8 *
channel_plaintext(const EnvelopeView *v, uint8 *opened, size_t *len, char *err, size_t errlen)
{
	uint8	   *out = NULL;
	ssize_t		off;

	*len = v->len;
	if (v->clear_len == 0)
		return opened;
	off = batch_offset(v->kind, v->clear, v->clear_len);
	if (off < 0 || (size_t) off > v->clear_len)
		snprintf(err, errlen, "a clear part in a message of kind %s, which has none",
				 channel_kind_name(v->kind));
	else
	{
		size_t		room = off + share_batch_join_bound(v->clear_len - off, v->len);

		out = palloc(room);
		memcpy(out, v->clear, off);
		if (share_batch_join(v->clear + off, v->clear_len - off, opened, v->len, out + off, len,
							 err, errlen))
			*len += off;
		else
		{
			sodium_memzero(out, room);
			pfree(out);
			out = NULL;
		}
	}
	sodium_memzero(opened, v->len);
	pfree(opened);
	return out;
}

uint8 *
channel_open(const EnvelopeView *v, const char *sender_sae, char **key_ids, size_t *key_bytes)
{
	return channel_open_with(v, channel_keys(v, sender_sae, key_ids), key_bytes);
}

void
channel_account(const char *peer, const char *direction, const LinkCounts *c)
{
	Oid			types[9] = {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[9];

	values[0] = CStringGetTextDatum(peer);
	values[1] = CStringGetTextDatum(direction);
	values[2] = Int64GetDatum(c->messages);
	values[3] = Int64GetDatum(c->shares);
	values[4] = Int64GetDatum(c->share_bytes);
	values[5] = Int64GetDatum(c->payload_bytes);
	values[6] = Int64GetDatum(c->envelope_bytes);
	values[7] = Int64GetDatum(c->key_bytes);
	values[8] = Int64GetDatum(c->rejected);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO ssn.link_stats AS l (peer, direction, messages, shares, share_bytes,"
							  " payload_bytes, envelope_bytes, key_bytes, rejected)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
							  " ON CONFLICT (peer, direction) DO UPDATE SET"
							  " messages = l.messages + $3, shares = l.shares + $4, share_bytes = l.share_bytes + $5,"
							  " payload_bytes = l.payload_bytes + $6, envelope_bytes = l.envelope_bytes + $7,"
							  " key_bytes = l.key_bytes + $8, rejected = l.rejected + $9, updated_at = now()",
							  9, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not update ssn.link_stats");
	SPI_finish();
}

typedef struct KeysArgs
{
	const EnvelopeView *v;
	const char *sae;
	char	  **ids;
	KmeKeyBatch *batch;
} KeysArgs;

static void
keys_fn(void *arg)
{
	KeysArgs   *a = (KeysArgs *) arg;

	a->batch = channel_keys(a->v, a->sae, a->ids);
}

KmeKeyBatch *
channel_keys_guarded(const EnvelopeView *v, const char *sender_sae, char **key_ids, char **failure)
{
	KeysArgs	a = {v, sender_sae, key_ids, NULL};
	ErrorData  *ed = try_in_subxact(keys_fn, &a);

	*failure = NULL;
	if (ed)
	{
		*failure = pstrdup(ed->message ? ed->message : "KME error");
		FreeErrorData(ed);
		return NULL;
	}
	return a.batch;
}

uint8 *
channel_open_guarded(const EnvelopeView *v, const char *sender_sae, char **key_ids,
					 size_t *key_bytes, char **failure)
{
	KmeKeyBatch *batch = channel_keys_guarded(v, sender_sae, key_ids, failure);

	*key_bytes = 0;
	if (batch == NULL)
		return NULL;
	return channel_open_with(v, batch, key_bytes);
}

void
channel_prepare_calls(const SealedMessage *m, const Shareholder *peer, const char *self,
					  PeerCall *ann, PeerCall *rcv)
{
	static Oid	ann_types[3] = {TEXTOID, TEXTARRAYOID, INT4OID};
	static Oid	rcv_types[1] = {BYTEAOID};
	static const int binary = 1;
	const char **av = palloc(sizeof(char *) * 3);
	const char **rv = palloc(sizeof(char *));
	int		   *rl = palloc(sizeof(int));
	StringInfoData ids;

	/* the key IDs as a text[] literal */
	initStringInfo(&ids);
	appendStringInfoChar(&ids, '{');
	for (int j = 0; j < m->nkeys; j++)
	{
		appendStringInfo(&ids, "%s\"", j ? "," : "");
		for (const char *c = m->key_ids[j]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&ids, '\\');
			appendStringInfoChar(&ids, *c);
		}
		appendStringInfoChar(&ids, '"');
	}
	appendStringInfoChar(&ids, '}');
	av[0] = self;
	av[1] = ids.data;
	av[2] = psprintf("%d", m->size_bits);
	ann->peer = rcv->peer = peer->name;
	ann->conninfo = rcv->conninfo = peer->conninfo;
	ann->sql = "SELECT ssn.channel_announce($1, $2, $3)";
	ann->nparams = 3;
	ann->types = ann_types;
	ann->values = av;
	rv[0] = VARDATA(m->envelope);
	*rl = VARSIZE(m->envelope) - VARHDRSZ;
	rcv->sql = "SELECT ssn.channel_receive($1)";
	rcv->nparams = 1;
	rcv->types = rcv_types;
	rcv->values = rv;
	rcv->lengths = rl;
	rcv->formats = &binary;
}

char *
channel_send_now(const char *self_name, const Shareholder *peer, int kind,
				 const uint8 *plaintext, size_t len, const char *purpose, char **error)
{
	return channel_send_now_within(self_name, peer, kind, plaintext, len, purpose,
								   Max(ssn_peer_timeout_ms, 60000), error);
}

char *
channel_send_now_within(const char *self_name, const Shareholder *peer, int kind,
						const uint8 *plaintext, size_t len, const char *purpose,
						int timeout_ms, char **error)
{
	SealedMessage *m;
	PeerCall	ann,
				rcv;
	const char *v;
	char	   *status = NULL;
	LinkCounts	c = {0};

	*error = NULL;
	m = channel_seal(self_name, peer, kind, plaintext, len, purpose, true);
	memset(&ann, 0, sizeof(ann));
	memset(&rcv, 0, sizeof(rcv));
	channel_prepare_calls(m, peer, self_name, &ann, &rcv);
	/* the receiver's ledger rows commit before its dec_keys */
	peer_call_all(&ann, 1, ssn_peer_timeout_ms);
	v = peer_call_value(&ann, NULL);
	if (v == NULL || strncmp(v, "announced", 9) != 0)
		*error = pstrdup(v ? v : ann.error);
	else
	{
		peer_call_all(&rcv, 1, timeout_ms);
		v = peer_call_value(&rcv, NULL);
		if (v == NULL)
			*error = pstrdup(rcv.error);
		else if (strncmp(v, "rejected", 8) == 0)
			*error = pstrdup(v);
		else
			status = pstrdup(v);
	}
	/* a message that may have arrived spent its keys; one never sent did too (OTP) */
	channel_settle(m, status ? "used" : "discarded", true);
	if (status)
	{
		c.messages = 1;
		c.payload_bytes = m->pad_bytes;	/* what went under the pad (a clear part does not) */
		c.envelope_bytes = VARSIZE(m->envelope) - VARHDRSZ;
		c.key_bytes = m->key_bytes;
		channel_account(peer->name, "send", &c);
	}
	peer_call_reset(&ann, 1);
	peer_call_reset(&rcv, 1);
	return status;
}

int64
channel_queue_many(const char *self_name, const Shareholder *const *peers, int kind,
				   const uint8 *const *plaintexts, const size_t *lens, int n)
{
	Datum	   *names = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *blobs = palloc(sizeof(Datum) * Max(n, 1));
	Oid			types[2] = {TEXTARRAYOID, BYTEAARRAYOID};
	Datum		values[2];
	SealedMessage **m;
	int			failed = -1;
	int64		max_id = 0;

	if (n == 0)
		return 0;
	m = channel_seal_many(self_name, peers, kind, plaintexts, lens, n, "deliver", &failed);
	for (int i = 0; i < n; i++)
	{
		names[i] = CStringGetTextDatum(peers[i]->name);
		blobs[i] = PointerGetDatum(m[i]->envelope);
	}
	values[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(blobs, n, BYTEAOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO ssn.outbox (peer, shares, blob)"
							  " SELECT u.p, 0, u.b FROM unnest($1, $2) AS u(p, b) RETURNING id",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue messages in ssn.outbox");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		max_id = Max(max_id, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	return max_id;
}
