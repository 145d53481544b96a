/*
 * hold.c - a shareholder keeps the shares an SSA sends it (message kind 'shares'):
 * verifiable shares are checked against their signed commitments first, and a
 * resent batch is kept once.
 */
#include "postgres.h"

#include <sodium.h>

#include "base/bytes.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/held_record.h"
#include "lifecycle/hold.h"
#include "lifecycle/verify.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "share/share_batch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

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
 * How many shares of the batch differ from the share already held in their slot
 * (origin, secret, epoch); the first one's secret id goes to why.
 */
static int
count_conflicts(Oid *types, Datum *values, Datum *ids, Datum *epochs, Datum *shares,
				char *why, size_t whylen)
{
	int			conflicts = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT u.o, h.share FROM unnest($1, $2) WITH ORDINALITY AS u(id, e, o)"
							  " JOIN ssn.held_share h ON h.origin = $4 AND h.secret_id = u.id AND h.epoch = u.e",
							  4, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_share");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		o = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		struct varlena *held = PG_DETOAST_DATUM(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		struct varlena *got = (struct varlena *) DatumGetPointer(shares[o - 1]);

		if (VARSIZE_ANY_EXHDR(held) != VARSIZE(got) - VARHDRSZ ||
			sodium_memcmp(VARDATA_ANY(held), VARDATA(got), VARSIZE(got) - VARHDRSZ) != 0)
		{
			if (conflicts++ == 0)
				snprintf(why, whylen, "a different share of secret %s (epoch " INT64_FORMAT ") is already held from this SSA",
						 DatumGetCString(DirectFunctionCall1(uuid_out, ids[o - 1])),
						 DatumGetInt64(epochs[o - 1]));
		}
		sodium_memzero(VARDATA_ANY(held), VARSIZE_ANY_EXHDR(held));
	}
	SPI_finish();
	return conflicts;
}

/*
 * INSERT the shares; only if some are already held (a resent message whose
 * acknowledgement was lost) again with ON CONFLICT DO NOTHING, once every held
 * one is known to be byte for byte the one sent: a different share where one is
 * kept is refused (returns -1), and nothing of the batch is kept.  The fast path
 * spares the speculative-insertion probe of every row.
 */
static int
insert_shares(Oid *types, Datum *values, Datum *ids, Datum *epochs, Datum *shares,
			  char *why, size_t whylen)
{
	InsertArgs	a = {types, values, false, 0};
	ErrorData  *ed = try_in_subxact(insert_fn, &a);

	if (ed)
	{
		if (ed->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(ed);
		FreeErrorData(ed);
		if (count_conflicts(types, values, ids, epochs, shares, why, whylen) > 0)
			return -1;
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

/* kind 'shares': keep the shares of a batch (a resent batch changes nothing) */
static bool
hold_receive(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	const uint8 *pt = m->pt;
	size_t		len = m->len;
	Shareholder *self = m->self;
	const char *origin = m->sender->name;
	int64	   *share_bytes = &out->share_bytes;
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
			return false;
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
		return false;
	/* verifiable shares are checked against their commitments before they are kept */
	if (!verify_received_why(raw, n, "share", why, whylen))
		return false;
	out->items = n;
	if (n == 0)
	{
		out->reply = "stored 0 shares (0 new)";
		return true;
	}
	held_share_args(types, values, ids, epochs, shares, n, origin);
	stored = insert_shares(types, values, ids, epochs, shares, why, whylen);
	for (int i = 0; i < n; i++)
		sodium_memzero(VARDATA(DatumGetPointer(shares[i])), VARSIZE(DatumGetPointer(shares[i])) - VARHDRSZ);
	sodium_memzero(VARDATA(DatumGetPointer(values[2])), VARSIZE(DatumGetPointer(values[2])) - VARHDRSZ);
	if (stored < 0)
		return false;
	out->reply = psprintf("stored %d shares (%d new)", n, stored);
	return true;
}

/*
 * kind 'stored': what a store sends each holder, its secrets' records and its
 * shares in one message (one MAC, one transaction): a 4-byte length, the
 * records (share/secret_record.h), then the share batch.  Records and headers
 * travel in clear, the share values under the pad.
 */
static ssize_t
stored_batch_at(const uint8 *msg, size_t len)
{
	uint32		rl;

	if (len < 4)
		return -1;
	rl = le_get_u32(msg);
	if (rl > len - 4)
		return -1;
	return (ssize_t) 4 + rl;
}

static bool
stored_receive(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	ssize_t		at = stored_batch_at(m->pt, m->len);
	ReceivedMessage shares = *m;
	int			kept;

	if (at < 0)
	{
		snprintf(why, whylen, "the records part is longer than the message");
		return false;
	}
	if (!held_record_keep(m->sender->name, m->pt + 4, at - 4, &kept, why, whylen))
		return false;
	shares.pt = m->pt + at;
	shares.len = m->len - at;
	return hold_receive(&shares, out, why, whylen);
}

void
hold_init(void)
{
	static const MessageKind stored = {
		.kind = MSG_KIND_STORED,
		.handle = stored_receive,
		.flags = MESSAGE_SEEN_AFTER,
		.what = "shares",
		.refusal = "malformed shares or records in an authentic message",
		.duplicate = "duplicate message, %d shares already held",
		.touches = "ssn.held_secret (insert), ssn.held_share (insert)",
		.batch_at = stored_batch_at,	/* records, share headers and commitments in clear */
	};

	static const MessageKind shares = {
		.kind = MSG_KIND_SHARES,
		.handle = hold_receive,
		.flags = MESSAGE_SEEN_AFTER,
		.what = "shares",
		.refusal = "malformed shares in an authentic message",
		.duplicate = "duplicate message, %d shares already held",
		.touches = "ssn.held_share (insert)",
		.batch_at = message_batch_at_start,	/* commitments and headers in clear */
	};

	message_kind_register(&shares);
	message_kind_register(&stored);
}

