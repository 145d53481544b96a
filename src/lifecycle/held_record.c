/*
 * held_record.c - a holder keeps each secret's record (share/secret_record.h) as
 * its SSA sends it (message kind 'records'), and hands a lost SSA's secrets over
 * to the successor its operator allowed (ssn.allow_take_over).
 *
 * Who may take over: the operator of each holder decides that the old SSA is gone
 * for good and names its successor; nothing a peer says can make that decision.
 * A successor needs k holders (itself included) to serve it; an adversary with
 * k - 1 nodes cannot pass the one honest operator whose permission it lacks, and
 * a network that cuts the old SSA off proves nothing here.  Once a holder handed
 * the secrets over, their shares and records are the successor's (origin), so
 * the old SSA, should it come back, is refused like any node that never stored
 * them.
 */
#include "postgres.h"

#include <sodium.h>

#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/held_record.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "net/alarm_queue.h"
#include "net/peer_identity.h"
#include "share/secret_record.h"
#include "share/share_format.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_channel_take_over);

#define RECORD_COLUMNS 11

static Datum
text_of(const char *s, size_t len)
{
	return PointerGetDatum(cstring_to_text_with_len(s, (int) len));
}

/* a parsed record's grantees as the text of a text[] (array_out quoting) */
static Datum
grantees_literal(const SecretRecord *r)
{
	Datum	   *g = palloc(sizeof(Datum) * Max(r->ngrantees, 1));
	ArrayType  *a;

	for (int i = 0; i < r->ngrantees; i++)
	{
		const char *s;
		size_t		l;

		secret_record_grantee(r, i, &s, &l);
		g[i] = text_of(s, l);
	}
	a = construct_array(g, r->ngrantees, TEXTOID, -1, false, TYPALIGN_INT);
	return CStringGetTextDatum(OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(a)));
}

#define INSERT_RECORDS \
	"INSERT INTO ssn.held_secret AS r (secret_id, origin, version, deleted, owner_name," \
	"   value_type, k, n, holders, check_record, grantees)" \
	" SELECT u.id, $12, u.v, u.d, u.o, u.t, u.k, u.n, u.h::int[], u.c, u.g::text[]" \
	" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS u(id, v, d, o, t, k, n, h, c, g)"

typedef struct RecordArgs
{
	Oid		   *types;
	Datum	   *values;
} RecordArgs;

/* the fast path: records of new secrets, each once (any conflict: the slow path) */
static void
insert_records_fn(void *arg)
{
	RecordArgs *a = (RecordArgs *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(INSERT_RECORDS, RECORD_COLUMNS + 1, a->types, a->values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store records in ssn.held_secret");
	SPI_finish();
}

bool
held_record_keep(const char *origin, const uint8 *msg, size_t len, int *kept, char *why, size_t whylen)
{
	size_t		off = 1;
	SecretRecord r;
	int			n = 0,
				cap = 64;
	bool		any_deleted = false;
	Datum	   *col[RECORD_COLUMNS];
	bool	   *check_null = palloc(sizeof(bool) * cap);
	Oid			elem[RECORD_COLUMNS] = {UUIDOID, INT8OID, BOOLOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
	TEXTOID, BYTEAOID, TEXTOID, TEXTOID};
	Oid			types[RECORD_COLUMNS + 1];
	Datum		values[RECORD_COLUMNS + 1];
	RecordArgs	ra = {types, values};
	ErrorData  *ed;

	*kept = 0;
	if (!secret_record_format_ok(msg, len, why, whylen))
		return false;
	for (int c = 0; c < RECORD_COLUMNS; c++)
		col[c] = palloc(sizeof(Datum) * cap);
	while (secret_record_next(msg, len, &off, &r, why, whylen))
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
		StringInfoData h;

		if (n == cap)
		{
			cap *= 2;
			for (int c = 0; c < RECORD_COLUMNS; c++)
				col[c] = repalloc(col[c], sizeof(Datum) * cap);
			check_null = repalloc(check_null, sizeof(bool) * cap);
		}
		memcpy(u->data, r.id, SHARE_ID_SIZE);
		initStringInfo(&h);
		appendStringInfoChar(&h, '{');
		for (int i = 0; i < r.n; i++)
			appendStringInfo(&h, i ? ",%d" : "%d", r.holders[i]);
		appendStringInfoChar(&h, '}');
		col[0][n] = UUIDPGetDatum(u);
		col[1][n] = Int64GetDatum(r.version);
		col[2][n] = BoolGetDatum((r.flags & SECRET_RECORD_DELETED) != 0);
		any_deleted |= (r.flags & SECRET_RECORD_DELETED) != 0;
		col[3][n] = text_of(r.owner, r.owner_len);
		col[4][n] = text_of(r.type, r.type_len);
		col[5][n] = Int32GetDatum(r.k);
		col[6][n] = Int32GetDatum(r.n);
		col[7][n] = CStringGetTextDatum(h.data);
		check_null[n] = r.check_len == 0;
		if (r.check_len)
		{
			bytea	   *b = palloc(VARHDRSZ + r.check_len);

			SET_VARSIZE(b, VARHDRSZ + r.check_len);
			memcpy(VARDATA(b), r.check, r.check_len);
			col[8][n] = PointerGetDatum(b);
		}
		else
			col[8][n] = (Datum) 0;
		col[9][n] = grantees_literal(&r);
		/* the SSA's name: the authenticated sender, never a field of the record */
		col[10][n] = CStringGetTextDatum(origin);
		n++;
	}
	if (why[0])
		return false;
	if (n == 0)
		return true;
	for (int c = 0; c < RECORD_COLUMNS; c++)
	{
		int16		typlen;
		bool		byval;
		char		align;
		int			dims[1] = {n},
					lbs[1] = {1};

		get_typlenbyvalalign(elem[c], &typlen, &byval, &align);
		types[c] = get_array_type(elem[c]);
		values[c] = PointerGetDatum(construct_md_array(col[c], c == 8 ? check_null : NULL, 1, dims, lbs,
													   elem[c], typlen, byval, align));
	}
	types[RECORD_COLUMNS] = TEXTOID;
	values[RECORD_COLUMNS] = CStringGetTextDatum(origin);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a lost SSA come back: this node's operator handed its secrets over to a successor */
	if (SPI_execute_with_args("SELECT successor FROM ssn.take_over WHERE failed = $12 AND handed_over IS NOT NULL",
							  RECORD_COLUMNS + 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.take_over");
	if (SPI_processed > 0)
	{
		snprintf(why, whylen, "records from \"%s\", whose secrets this node handed over to \"%s\"",
				 origin, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SPI_finish();
		return false;
	}
	SPI_finish();
	ed = try_in_subxact(insert_records_fn, &ra);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ed)
	{
		if (ed->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(ed);
		FreeErrorData(ed);
		/* records sent again (a grant, a deletion, a resend): the newest wins, a deletion is final */
		if (SPI_execute_with_args("WITH u AS (SELECT DISTINCT ON (u.id) u.* FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
								  "   AS u(id, v, d, o, t, k, n, h, c, g) ORDER BY u.id, u.v DESC)"
								  " INSERT INTO ssn.held_secret AS r (secret_id, origin, version, deleted, owner_name,"
								  "   value_type, k, n, holders, check_record, grantees)"
								  " SELECT u.id, $12, u.v, u.d, u.o, u.t, u.k, u.n, u.h::int[], u.c, u.g::text[] FROM u"
								  " ON CONFLICT (origin, secret_id) DO UPDATE SET version = EXCLUDED.version,"
								  "   deleted = EXCLUDED.deleted, grantees = EXCLUDED.grantees, received_at = now()"
								  " WHERE NOT r.deleted AND (r.version < EXCLUDED.version OR EXCLUDED.deleted)",
								  RECORD_COLUMNS + 1, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store records in ssn.held_secret");
	}
	/* a deleted secret's share goes with its record (the record stays: a tombstone) */
	if (any_deleted &&
		SPI_execute_with_args("DELETE FROM ssn.held_share s USING ssn.held_secret r"
							  " WHERE r.origin = $12 AND r.secret_id = ANY($1) AND r.deleted"
							  "   AND s.origin = $12 AND s.secret_id = r.secret_id",
							  RECORD_COLUMNS + 1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete shares of deleted secrets");
	SPI_finish();
	*kept = n;
	return true;
}

/* kind 'records': keep the newest record of each secret this SSA sent; a deletion is final */
static bool
records_receive(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	int			kept;

	if (!held_record_keep(m->sender->name, m->pt, m->len, &kept, why, whylen))
		return false;
	out->items = kept;
	out->reply = psprintf("kept %d records", kept);
	return true;
}

/* the commitment record a held verifiable share carries, as hex (NULL: none) */
static char *
commitment_hex(Datum share)
{
	struct varlena *s = PG_DETOAST_DATUM_COPY(share);
	const uint8 *b = (const uint8 *) VARDATA_ANY(s);
	size_t		len = VARSIZE_ANY_EXHDR(s);
	ShareHeader h;
	char	   *hex = NULL;

	if (len >= SHARE_HEADER_SIZE)
	{
		share_read_header(b, &h);
		if (share_has_record(&h) && len == SHARE_HEADER_SIZE + (size_t) h.payload_len &&
			h.payload_len > 2 * 32)
		{
			size_t		rl = h.payload_len - 2 * 32;

			hex = palloc(2 * rl + 1);
			sodium_bin2hex(hex, 2 * rl + 1, b + SHARE_HEADER_SIZE + 2 * 32, rl);
		}
	}
	sodium_memzero(VARDATA_ANY(s), len);
	pfree(s);
	return hex;
}

char *
held_record_hand_over(const char *failed, const char *successor, Datum after, bool has_after,
					  int page, int64 *moved)
{
	Oid			types[4] = {TEXTOID, TEXTOID, UUIDOID, INT4OID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', has_after ? ' ' : 'n', ' '};
	StringInfoData js;
	MemoryContext outer = CurrentMemoryContext;
	char	   *result;

	values[0] = CStringGetTextDatum(failed);
	values[1] = CStringGetTextDatum(successor);
	values[2] = after;
	values[3] = Int32GetDatum(page);
	*moved = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!has_after)
	{
		/* the shares and records of the lost SSA become the successor's */
		if (SPI_execute_with_args("UPDATE ssn.held_share s SET origin = $2 FROM ssn.held_secret r"
								  " WHERE s.origin = $1 AND r.secret_id = s.secret_id AND r.origin = $1",
								  2, types, values, nulls, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE ssn.held_secret SET origin = $2, taken_from = $1 WHERE origin = $1",
								  2, types, values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not hand the secrets over");
		*moved = (int64) SPI_processed;
		/* on the successor itself too: the failed node's records are refused from now on */
		if (SPI_execute_with_args("INSERT INTO ssn.take_over AS t (failed, successor, handed_over) VALUES ($1, $2, $3)"
								  " ON CONFLICT ON CONSTRAINT take_over_pkey"
								  " DO UPDATE SET handed_over = coalesce(t.handed_over, 0) + $3",
								  3, (Oid[]) {TEXTOID, TEXTOID, INT8OID},
								  (Datum[]) {values[0], values[1], Int64GetDatum(*moved)},
								  NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not update ssn.take_over");
	}
	if (SPI_execute_with_args("SELECT json_build_object('secret_id', r.secret_id, 'version', r.version,"
							  "   'deleted', r.deleted, 'owner_name', r.owner_name, 'value_type', r.value_type,"
							  "   'k', r.k, 'n', r.n, 'holders', r.holders,"
							  "   'check_record', encode(r.check_record, 'hex'), 'grantees', r.grantees,"
							  "   'epoch', s.epoch)::text, s.share"
							  " FROM (SELECT * FROM ssn.held_secret WHERE origin = $2 AND taken_from = $1"
							  "       AND ($3::uuid IS NULL OR secret_id > $3) ORDER BY secret_id LIMIT $4) r"
							  " LEFT JOIN ssn.held_share s ON s.secret_id = r.secret_id AND s.origin = r.origin"
							  " ORDER BY r.secret_id, s.epoch",
							  4, types, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_secret");
	initStringInfo(&js);
	appendStringInfoChar(&js, '[');
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		char	   *obj = SPI_getvalue(t, SPI_tuptable->tupdesc, 1);
		bool		isnull;
		Datum		share = SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull);
		char	   *c = isnull ? NULL : commitment_hex(share);
		size_t		l = strlen(obj);

		/* the object without its closing brace, then the commitment */
		if (i > 0)
			appendStringInfoChar(&js, ',');
		appendBinaryStringInfo(&js, obj, (int) l - 1);
		appendStringInfo(&js, ", \"commitment\" : %s%s%s}", c ? "\"" : "", c ? c : "null", c ? "\"" : "");
	}
	appendStringInfoChar(&js, ']');
	result = MemoryContextStrdup(outer, js.data);	/* SPI_finish frees js */
	SPI_finish();
	return result;
}

/*
 * ssn.channel_take_over(failed, after, page): the successor asks; if this
 * node's operator allowed it, the lost SSA's secrets are handed over (first
 * call) and a page of their records returned.
 */
Datum
ssn_channel_take_over(PG_FUNCTION_ARGS)
{
	char	   *failed;
	ShareholderList *cat = catalog_load();
	Shareholder *caller = peer_identity_caller(cat, "ssn.channel_take_over");
	int64		moved;
	char	   *json;
	bool		allowed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	failed = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (caller == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ssn.channel_take_over is called by the successor node, not by hand"),
				 errhint("Run SELECT ssn.take_over('%s') on the node that takes over.", failed)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM ssn.take_over WHERE failed = $1 AND successor = $2 AND allowed_at IS NOT NULL",
							  2, (Oid[]) {TEXTOID, TEXTOID},
							  (Datum[]) {CStringGetTextDatum(failed), CStringGetTextDatum(caller->name)},
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.take_over");
	allowed = SPI_processed > 0;
	SPI_finish();
	if (!allowed)
	{
		char		detail[256];

		snprintf(detail, sizeof(detail), "\"%s\" asked to take over the secrets of \"%s\"; this node's operator has not allowed it",
				 caller->name, peer_identity_printable(failed));
		alarm_raise_durable("peer", caller->name, "warning", "take-over refused", detail);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("take-over of \"%s\" by \"%s\" is not allowed on this node",
						peer_identity_printable(failed), caller->name),
				 errhint("If \"%s\" is gone for good, its operator runs SELECT ssn.allow_take_over('%s', '%s') here.",
						 peer_identity_printable(failed), peer_identity_printable(failed), caller->name)));
	}
	json = held_record_hand_over(failed, caller->name, PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
								 !PG_ARGISNULL(1), Min(Max(PG_GETARG_INT32(2), 1), 100000), &moved);
	PG_RETURN_TEXT_P(cstring_to_text(json));
}

void
held_record_init(void)
{
	static const MessageKind records = {
		.kind = MSG_KIND_RECORDS,
		.handle = records_receive,
		.flags = MESSAGE_SEEN_AFTER,
		.what = "records",
		.refusal = "a record this node cannot keep",
		.duplicate = "duplicate message, %d records already kept",
		.touches = "ssn.held_secret (insert, update), ssn.held_share (delete: deleted secrets)",
		.batch_at = message_all_clear,
	};

	message_kind_register(&records);
}
