/*
 * records.c - the SSA sends each secret's record (share/secret_record.h: owner
 * and grantees by name, type, k, n, holders, check record) to its holders, at
 * store and on every change, so that another node can take the secret over if
 * this one is lost (ssa/take_over.c).  The messages are sealed like shares and
 * queued in the outbox in the caller's transaction; a record needs integrity,
 * not secrecy, so it travels in the clear part and spends only a MAC key.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/reshare.h"
#include "lifecycle/signing_key.h"
#include "miscadmin.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "share/secret_record.h"
#include "share/share_format.h"
#include "ssa/records.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_publish_records);

#define RECORDS_MESSAGE_TARGET (60 * 1024)

typedef struct RecordMessages
{
	int			n,
				cap;
	Shareholder **peer;
	StringInfoData *data;
	int		   *open;			/* per catalog entry: its open message, -1 if none */
} RecordMessages;

static void
append_for(RecordMessages *rm, ShareholderList *cat, Shareholder *s, const uint8 *rec, size_t len)
{
	int			ci = (int) (s - cat->items);
	int			m = rm->open[ci];

	if (m >= 0 && rm->data[m].len + len > RECORDS_MESSAGE_TARGET)
		m = -1;
	if (m < 0)
	{
		if (rm->n == rm->cap)
		{
			rm->cap *= 2;
			rm->peer = repalloc(rm->peer, sizeof(Shareholder *) * rm->cap);
			rm->data = repalloc(rm->data, sizeof(StringInfoData) * rm->cap);
		}
		m = rm->open[ci] = rm->n++;
		rm->peer[m] = s;
		initStringInfo(&rm->data[m]);
		appendStringInfoChar(&rm->data[m], (char) SECRET_RECORD_FORMAT);
	}
	appendBinaryStringInfo(&rm->data[m], (const char *) rec, (int) len);
}

/* seal the messages for their peers and write them to the outbox */
static int64
queue_messages(RecordMessages *rm, ShareholderList *cat, int64 *max_id)
{
	const uint8 **pts = palloc(sizeof(uint8 *) * Max(rm->n, 1));
	size_t	   *lens = palloc(sizeof(size_t) * Max(rm->n, 1));
	int64		queued_id;

	if (rm->n == 0)
		return 0;
	for (int i = 0; i < rm->n; i++)
	{
		pts[i] = (const uint8 *) rm->data[i].data;
		lens[i] = rm->data[i].len;
	}
	queued_id = channel_queue_many(cat->items[cat->self].name, (const Shareholder *const *) rm->peer,
								   MSG_KIND_RECORDS, pts, lens, rm->n);
	*max_id = Max(*max_id, queued_id);
	return rm->n;
}

int64
records_queue(Datum ids, bool all, bool deleted, int only_x, int64 *max_outbox_id)
{
	ShareholderList *cat = catalog_load();
	RecordMessages rm;
	Oid			types[3] = {UUIDARRAYOID, BOOLOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {all ? 'n' : ' ', ' ', ' '};
	int64		version = signing_now();
	int64		queued;
	uint8	   *buf = palloc(8192);
	size_t		bufcap = 8192;
	SPITupleTable *tt;
	uint64		nrows;

	(void) catalog_require_self(cat);
	values[0] = ids;
	values[1] = BoolGetDatum(all);
	values[2] = Int32GetDatum(only_x);
	rm.n = 0;
	rm.cap = 16;
	rm.peer = palloc(sizeof(Shareholder *) * rm.cap);
	rm.data = palloc(sizeof(StringInfoData) * rm.cap);
	rm.open = palloc(sizeof(int) * Max(cat->count, 1));
	for (int i = 0; i < cat->count; i++)
		rm.open[i] = -1;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* not read-only: the rows and grants this statement just wrote are read */
	/* the grants aggregated once, not a subquery per secret */
	if (SPI_execute_with_args("SELECT s.id, o.rolname::text, pg_catalog.format_type(s.value_type, NULL), s.k, s.n,"
							  "   s.holders, s.check_record, coalesce(gr.names, '{}')"
							  " FROM ssn.secret s JOIN pg_catalog.pg_roles o ON o.oid = s.owner"
							  " LEFT JOIN (SELECT g.secret_id, pg_catalog.array_agg(r.rolname::text ORDER BY r.rolname::text) AS names"
							  "            FROM ssn.secret_grant g JOIN pg_catalog.pg_roles r ON r.oid = g.grantee"
							  "            WHERE $2 OR g.secret_id = ANY($1) GROUP BY g.secret_id) gr ON gr.secret_id = s.id"
							  " WHERE ($2 OR s.id = ANY($1)) AND ($3 = 0 OR $3 = ANY(s.holders))",
							  3, types, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.secret");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 row = 0; row < nrows; row++)
	{
		HeapTuple	t = tt->vals[row];
		TupleDesc	td = tt->tupdesc;
		bool		isnull;
		SecretRecord r;
		Datum	   *hd,
				   *gd;
		int			nh,
					ng;
		bytea	   *check;
		const char **grantees;
		size_t		len;

		if ((row & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		memset(&r, 0, sizeof(r));
		memcpy(r.id, DatumGetUUIDP(SPI_getbinval(t, td, 1, &isnull))->data, SHARE_ID_SIZE);
		r.version = version;
		r.flags = deleted ? SECRET_RECORD_DELETED : 0;
		r.owner = TextDatumGetCString(SPI_getbinval(t, td, 2, &isnull));
		r.type = TextDatumGetCString(SPI_getbinval(t, td, 3, &isnull));
		r.k = DatumGetInt32(SPI_getbinval(t, td, 4, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, td, 6, &isnull)), INT4OID, 4, true, TYPALIGN_INT,
						  &hd, NULL, &nh);
		r.n = Min(nh, SHARE_MAX_N);
		for (int i = 0; i < r.n; i++)
			r.holders[i] = (uint8) DatumGetInt32(hd[i]);
		check = (bytea *) DatumGetPointer(SPI_getbinval(t, td, 7, &isnull));
		if (!isnull)
		{
			check = DatumGetByteaPP(PointerGetDatum(check));
			r.check = (const uint8 *) VARDATA_ANY(check);
			r.check_len = VARSIZE_ANY_EXHDR(check);
		}
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, td, 8, &isnull)), TEXTOID, -1, false, TYPALIGN_INT,
						  &gd, NULL, &ng);
		grantees = palloc(sizeof(char *) * Max(ng, 1));
		for (int i = 0; i < ng; i++)
			grantees[i] = TextDatumGetCString(gd[i]);
		r.ngrantees = Min(ng, SECRET_RECORD_MAX_GRANTEES);
		r.grantees = grantees;
		len = secret_record_size(&r);
		if (len == 0)
		{
			ereport(WARNING,
					(errmsg("the record of secret %s cannot be sent to its holders",
							DatumGetCString(DirectFunctionCall1(uuid_out, SPI_getbinval(t, td, 1, &isnull)))),
					 errdetail("A role name, its grantees or its sharing do not fit a record (too many grantees?)."),
					 errhint("Without its record on the holders the secret cannot be taken over if this node is lost.")));
			continue;
		}
		if (len > bufcap)
		{
			bufcap = len;
			buf = repalloc(buf, bufcap);
		}
		secret_record_write(buf, &r);
		for (int i = 0; i < r.n; i++)
		{
			Shareholder *s = catalog_find_index(cat, r.holders[i]);

			if (s && !s->is_self && s->conninfo && (only_x == 0 || r.holders[i] == only_x))
				append_for(&rm, cat, s, buf, len);
		}
	}
	queued = queue_messages(&rm, cat, max_outbox_id);
	SPI_finish();
	return queued;
}

/* a re-sharing gave share index x to a replacement: it gets the records of its new shares */
static void
records_after_reshare(int x)
{
	int64		max_id = 0;

	(void) records_queue((Datum) 0, true, false, x, &max_id);
}

void
records_init(void)
{
	reshare_moved_hook = records_after_reshare;
}

/* ssn.publish_records(): every secret's record to its holders again */
Datum
ssn_publish_records(PG_FUNCTION_ARGS)
{
	PrivilegedScope ps;
	int64		max_id = 0;
	int64		n;

	catalog_begin_privileged(&ps);
	n = records_queue((Datum) 0, true, false, 0, &max_id);
	catalog_end_privileged(&ps);
	PG_RETURN_INT64(n);
}
