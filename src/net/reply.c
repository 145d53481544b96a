/*
 * reply.c - a shareholder's replies to the SSA that asks: channel_fetch seals this
 * node's shares of some secrets for the asking SSA and returns them in the same
 * call (one round trip; keys recorded 'used' before the reply leaves).  The older
 * pair channel_serve (seal, keys recorded in its transaction) and channel_take
 * (hand over in the next call) stays for the compute functions, which seal their
 * results the same way (channel_reply_pending).
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "crypto/commitment.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/peer_identity.h"
#include "net/reply.h"
#include "qkd/key_ledger.h"
#include "share/share_batch.h"
#include "share/share_format.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_channel_serve);
PG_FUNCTION_INFO_V1(ssn_channel_take);
PG_FUNCTION_INFO_V1(ssn_channel_fetch);

/* the reply channel_serve sealed, waiting for channel_take */
static bytea *pending_reply = NULL;
static char **pending_ids = NULL;
static int	pending_nids = 0;

/* count a sealed reply in ssn.link_stats (direction 'send') */
static void
account_reply(const Shareholder *requester, const SealedMessage *m, int nshares, int64 share_bytes)
{
	LinkCounts	c = {0};

	c.messages = 1;
	c.shares = nshares;
	c.share_bytes = share_bytes;
	c.payload_bytes = m->pad_bytes;
	c.envelope_bytes = VARSIZE(m->envelope) - VARHDRSZ;
	c.key_bytes = m->key_bytes;
	channel_account(requester->name, "send", &c);
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

	if (pending_reply)
	{
		/* a reply never taken: its keys are spent */
		ledger_finish((const char *const *) pending_ids, pending_nids, "discarded", false);
		pfree(pending_reply);
		pending_reply = NULL;
	}
	m = channel_seal(self->name, requester, MSG_KIND_REPLY, pt, len, purpose, false);
	account_reply(requester, m, nshares, share_bytes);

	/* last: nothing after this may fail, or the reply would outlive its ledger rows */
	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_reply = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(m->envelope));
	pending_ids = palloc(sizeof(char *) * m->nkeys);
	for (int i = 0; i < m->nkeys; i++)
		pending_ids[i] = pstrdup(m->key_ids[i]);
	pending_nids = m->nkeys;
	MemoryContextSwitchTo(old);
}

/*
 * This node's shares of the secrets the requester stored, as a share batch for
 * it (pt); the caller is checked to be the requester it names.
 */
static void
held_shares_for(const char *requester, Datum idarr, const char *fn, Shareholder **self_out,
				Shareholder **peer_out, StringInfo pt, int *nshares, int64 *share_bytes)
{
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Shareholder *peer = peer_identity_require(cat, requester, fn);
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];
	int			n = 0;
	int64		bytes = 0;

	initStringInfo(pt);
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
		enlargeStringInfo(pt, SHARE_BATCH_PREFIX + len);
		pt->len += share_batch_put((uint8 *) pt->data + pt->len, (uint8 *) VARDATA(s), len);
		sodium_memzero(VARDATA(s), len);
		bytes += len;
		n++;
	}
	SPI_finish();
	*self_out = self;
	*peer_out = peer;
	*nshares = n;
	*share_bytes = bytes;
}

/* the old two-call form: seal now, hand over with channel_take */
Datum
ssn_channel_serve(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Shareholder *self,
			   *peer;
	StringInfoData pt;
	int			n;
	int64		share_bytes;

	held_shares_for(requester, PG_GETARG_DATUM(1), "ssn.channel_serve", &self, &peer, &pt, &n, &share_bytes);
	channel_reply_pending(self, peer, (uint8 *) pt.data, pt.len, n, share_bytes, "serve");
	sodium_memzero(pt.data, pt.maxlen);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("ready: %d shares", n)));
}

/*
 * One round trip: the shares sealed for the requester and returned at once.
 * Their keys come from the reply key reserve (recorded as spent when they were
 * set aside), or are recorded 'used' by the key ledger writer, committed before
 * the reply leaves; this transaction then only counts the message, so it commits
 * without waiting for a flush of the WAL (a crash may lose a count, no key).
 * With fresh_keys (third argument) the requester lost its copies of the
 * reserve's keys: the reserve of its link is dropped and fresh keys are used.
 */
Datum
ssn_channel_fetch(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Shareholder *self,
			   *peer;
	StringInfoData pt;
	int			n;
	int64		share_bytes;
	SealedMessage *m;

	held_shares_for(requester, PG_GETARG_DATUM(1), "ssn.channel_fetch", &self, &peer, &pt, &n, &share_bytes);
	m = channel_seal_reply(self->name, peer, (uint8 *) pt.data, pt.len, "serve",
						   PG_NARGS() > 2 && PG_GETARG_BOOL(2));
	sodium_memzero(pt.data, pt.maxlen);
	/* (only a transaction of its own: in a caller's block it would cover the rest) */
	if (!IsTransactionBlock())
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	account_reply(peer, m, n, share_bytes);
	PG_RETURN_BYTEA_P(m->envelope);
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

