/*
 * catalog_sync.c - the shareholder catalog kept in step (Y.3808 §10.2, SSN-Cx).
 * With ssn.catalog_sync on, every change of ssn.shareholder made on this node
 * (a trigger sees it: ssn.add_shareholder, ssn.set_organization, a state
 * change, a re-share's move of a share index, a DBA's UPDATE) is numbered,
 * signed with this node's signing key, kept in ssn.catalog_change and sent to
 * every other node in the catalog (message kind 'catalog': clear, one-time MAC).
 * A node applies another's changes in their order, once each: only from the
 * node that made them (the link's MAC says who sent it), only under the key it
 * pinned for that node at its first change, never out of order, and never one
 * that gives its own entry another SAE ID.  What a peer's change writes here is
 * not sent on again.
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/catalog_change.h"
#include "lifecycle/catalog_sync.h"
#include "lifecycle/signing_key.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(ssn_catalog_publish);

/* a peer's change being applied: the trigger does not send it on */
static bool applying = false;

static bytea *
bytea_of(const uint8 *b, size_t len)
{
	bytea	   *r = palloc(VARHDRSZ + len);

	SET_VARSIZE(r, VARHDRSZ + len);
	memcpy(VARDATA(r), b, len);
	return r;
}

/* µs since 1970-01-01 UTC */
static int64
unix_us(TimestampTz t)
{
	return t + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

/* the change for each receiver, sealed and queued (current SPI connection) */
static void
queue_for_peers(ShareholderList *cat, const char *subject, bool is_new, const uint8 *msg, size_t len)
{
	Shareholder **to = palloc(sizeof(Shareholder *) * Max(cat->count, 1));
	const uint8 **pts = palloc(sizeof(uint8 *) * Max(cat->count, 1));
	size_t	   *lens = palloc(sizeof(size_t) * Max(cat->count, 1));
	int			n = 0;

	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];

		/* a node just added learns the catalog from its operator, not from here */
		if (s->is_self || s->conninfo == NULL || (is_new && strcmp(s->name, subject) == 0))
			continue;
		to[n] = s;
		pts[n] = msg;
		lens[n] = len;
		n++;
	}
	(void) channel_queue_many(cat->items[cat->self].name, (const Shareholder *const *) to, MSG_KIND_CATALOG,
							  pts, lens, n);
}

/*
 * ssn.catalog_publish(change jsonb): from the trigger on ssn.shareholder.  The
 * change is numbered, signed, kept and queued for the other nodes.
 */
Datum
ssn_catalog_publish(PG_FUNCTION_ARGS)
{
	char	   *json = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(0)));
	char	   *subject = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		is_new = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	ShareholderList *cat;
	PrivilegedScope ps;
	CatalogChange c;
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	uint8	   *msg;
	size_t		len;
	bool		isnull;
	Oid			types[6] = {TEXTOID, INT8OID, TEXTOID, TIMESTAMPTZOID, BYTEAOID, BYTEAOID};
	Datum		v[6];
	bytea	   *signer,
			   *signature;
	TimestampTz now = GetCurrentTimestamp();

	if (applying || !ssn_catalog_sync)
		PG_RETURN_VOID();
	catalog_begin_privileged(&ps);
	cat = catalog_load();
	if (cat->self < 0)
	{
		/* this node is not in its own catalog (yet): it has no name to sign with */
		catalog_end_privileged(&ps);
		PG_RETURN_VOID();
	}
	if (strlen(json) > CATALOG_CHANGE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a catalog change of %zu bytes is longer than %d", strlen(json), CATALOG_CHANGE_MAX)));
	memset(&c, 0, sizeof(c));
	strlcpy(c.origin, cat->items[cat->self].name, sizeof(c.origin));
	c.made_at = unix_us(now);
	c.change = (const uint8 *) json;
	c.change_len = strlen(json);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* one numbering: concurrent changes take their numbers one after another */
	if (SPI_execute("SELECT pg_advisory_xact_lock(hashtext('ssn.catalog_change'))", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the catalog change numbering");
	v[0] = CStringGetTextDatum(c.origin);
	if (SPI_execute_with_args("SELECT coalesce(max(seq), 0) + 1 FROM ssn.catalog_change WHERE origin = $1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.catalog_change");
	c.seq = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	signing_key_current(sk);
	catalog_change_sign(&c, sk);
	sodium_memzero(sk, sizeof(sk));
	len = catalog_change_size(&c);
	msg = palloc(len);
	catalog_change_write(msg, &c);

	signer = bytea_of(c.signer, CATALOG_SIGNER_BYTES);
	signature = bytea_of(c.signature, CATALOG_SIGNATURE_BYTES);
	v[1] = Int64GetDatum((int64) c.seq);
	v[2] = CStringGetTextDatum(json);
	v[3] = TimestampTzGetDatum(now);
	v[4] = PointerGetDatum(signer);
	v[5] = PointerGetDatum(signature);
	if (SPI_execute_with_args("INSERT INTO ssn.catalog_change (origin, seq, change, made_at, signer, signature)"
							  " VALUES ($1, $2, $3::jsonb, $4, $5, $6)", 6, types, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write ssn.catalog_change");
	queue_for_peers(cat, subject ? subject : "", is_new, msg, len);
	SPI_finish();
	catalog_end_privileged(&ps);
	PG_RETURN_VOID();
}

typedef struct ApplyArgs
{
	const char *json;
} ApplyArgs;

static void
apply_change(void *arg)
{
	ApplyArgs  *a = (ApplyArgs *) arg;
	Oid			types[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(a->json)};

	if (SPI_execute_with_args("SELECT ssn.catalog_apply($1::jsonb)", 1, types, v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not apply a catalog change");
}

/* message kind 'catalog': a peer's change, checked and applied in order */
static bool
catalog_receive(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	CatalogChange c;
	char		err[256];
	Oid			types[6] = {TEXTOID, BYTEAOID, INT8OID, TEXTOID, TIMESTAMPTZOID, BYTEAOID};
	Datum		v[6];
	bool		isnull;
	int64		last;
	bytea	   *signer;
	char	   *json;
	ErrorData  *ed;

	if (!catalog_change_read(m->pt, m->len, &c, err, sizeof(err)))
	{
		snprintf(why, whylen, "malformed catalog change: %s", err);
		return false;
	}
	if (strcmp(c.origin, m->sender->name) != 0)
	{
		snprintf(why, whylen, "a catalog change made by \"%s\" sent by \"%s\": changes are taken only from the node that made them",
				 c.origin, m->sender->name);
		return false;
	}
	if (!catalog_change_verify(&c))
	{
		snprintf(why, whylen, "catalog change %llu of \"%s\": its signature does not verify",
				 (unsigned long long) c.seq, c.origin);
		return false;
	}
	signer = bytea_of(c.signer, CATALOG_SIGNER_BYTES);
	v[0] = CStringGetTextDatum(c.origin);
	v[1] = PointerGetDatum(signer);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the key is pinned at the node's first change (its link authenticated it) */
	if (SPI_execute_with_args("SELECT public_key = $2 FROM ssn.catalog_signer WHERE node = $1",
							  2, types, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.catalog_signer");
	if (SPI_processed > 0 &&
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		SPI_finish();
		snprintf(why, whylen, "catalog change %llu of \"%s\" is signed by a key other than the one pinned for it",
				 (unsigned long long) c.seq, c.origin);
		return false;
	}
	if (SPI_processed == 0 &&
		SPI_execute_with_args("INSERT INTO ssn.catalog_signer (node, public_key) VALUES ($1, $2)",
							  2, types, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write ssn.catalog_signer");

	if (SPI_execute_with_args("SELECT coalesce(max(seq), 0) FROM ssn.catalog_change WHERE origin = $1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.catalog_change");
	last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if ((int64) c.seq <= last)
	{
		bool		same;

		v[1] = PointerGetDatum(bytea_of(c.signature, CATALOG_SIGNATURE_BYTES));
		v[2] = Int64GetDatum((int64) c.seq);
		if (SPI_execute_with_args("SELECT signature = $2 FROM ssn.catalog_change WHERE origin = $1 AND seq = $3",
								  3, types, v, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read ssn.catalog_change");
		same = SPI_processed > 0 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		if (!same)
		{
			snprintf(why, whylen, "catalog change %llu of \"%s\" differs from the one applied under that number",
					 (unsigned long long) c.seq, c.origin);
			return false;
		}
		out->reply = psprintf("catalog change %llu applied before", (unsigned long long) c.seq);
		return true;
	}
	if ((int64) c.seq != last + 1)
	{
		SPI_finish();
		snprintf(why, whylen, "catalog change %llu of \"%s\" is out of order: %lld is the next",
				 (unsigned long long) c.seq, c.origin, (long long) last + 1);
		return false;
	}

	json = pnstrdup((const char *) c.change, c.change_len);
	{
		ApplyArgs	a = {json};

		/* try_in_subxact returns every error: the flag cannot stay set */
		applying = true;
		ed = try_in_subxact(apply_change, &a);
		applying = false;
	}
	if (ed)
	{
		SPI_finish();
		snprintf(why, whylen, "catalog change %llu of \"%s\" cannot be applied: %s",
				 (unsigned long long) c.seq, c.origin, ed->message);
		return false;
	}
	{
		v[1] = PointerGetDatum(signer);
		v[2] = Int64GetDatum((int64) c.seq);
		v[3] = CStringGetTextDatum(json);
		v[4] = TimestampTzGetDatum(c.made_at - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC);
		v[5] = PointerGetDatum(bytea_of(c.signature, CATALOG_SIGNATURE_BYTES));
		if (SPI_execute_with_args("INSERT INTO ssn.catalog_change (origin, signer, seq, change, made_at, signature, applied_at)"
								  " VALUES ($1, $2, $3, $4::jsonb, $5, $6, now())",
								  6, types, v, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write ssn.catalog_change");
	}
	SPI_finish();
	out->items = 1;
	out->reply = psprintf("catalog change %llu applied", (unsigned long long) c.seq);
	return true;
}

void
catalog_sync_init(void)
{
	static const MessageKind catalog = {
		.kind = MSG_KIND_CATALOG,
		.handle = catalog_receive,
		.flags = MESSAGE_SEEN_AFTER,
		.what = "catalog change",
		.refusal = "a catalog change this node does not apply",
		.duplicate = "duplicate message, catalog change applied before",
		.touches = "ssn.shareholder (through ssn.catalog_apply), ssn.catalog_change, ssn.catalog_signer",
		.batch_at = message_all_clear,
	};

	message_kind_register(&catalog);
}
