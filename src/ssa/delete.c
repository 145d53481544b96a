/*
 * delete.c - ssn_delete(): the owner erases a secret (data-protection law's
 * erasure on request).  Deletions are buffered with the transaction's other rows
 * (ssa/store.c) and applied when they are written: the secret's record goes to
 * every holder marked deleted (sealed in the outbox like its shares, so a holder
 * that is down gets it when it returns), and holders drop their share and keep
 * the record as a tombstone; this node drops its catalog row, grants and own
 * share and keeps a tombstone (ssn.deleted_secret) so that a retrieval says the
 * secret was deleted.  The share bytes leave the table files at the next VACUUM.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "share/secret_handle.h"
#include "ssa/delete.h"
#include "ssa/records.h"
#include "ssa/store.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_delete);
PG_FUNCTION_INFO_V1(ssn_delete_array);

/*
 * The caller may delete these secrets (ids: uuid[]): each is known here and
 * owned by a role it acts for.  Returns a palloc'd array telling which are
 * deleted already (those are skipped).
 */
static bool *
check_deletable(Datum ids, int n)
{
	Oid			types[2] = {UUIDARRAYOID, OIDOID};
	Datum		values[2] = {ids, ObjectIdGetDatum(GetUserId())};
	bool	   *gone = palloc0(sizeof(bool) * Max(n, 1));
	PrivilegedScope ps;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* not read-only: secrets stored earlier in this statement were just flushed */
	if (SPI_execute_with_args("SELECT u.o, s.id IS NOT NULL, coalesce(pg_catalog.pg_has_role($2, s.owner, 'USAGE'), false),"
							  "   d.id IS NOT NULL, u.id::text, s.owner::regrole::text"
							  " FROM unnest($1) WITH ORDINALITY AS u(id, o)"
							  " LEFT JOIN ssn.secret s ON s.id = u.id LEFT JOIN ssn.deleted_secret d ON d.id = u.id",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.secret");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		o = DatumGetInt64(SPI_getbinval(t, td, 1, &isnull));
		bool		known = DatumGetBool(SPI_getbinval(t, td, 2, &isnull));
		bool		owner = DatumGetBool(SPI_getbinval(t, td, 3, &isnull));
		bool		deleted = DatumGetBool(SPI_getbinval(t, td, 4, &isnull));

		if (!known && deleted)
			gone[o - 1] = true;
		else if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("secret %s is not known on this node", SPI_getvalue(t, td, 5)),
					 errdetail("Only the node that stored a secret (its SSA, or the node that took it over) can delete it.")));
		else if (!owner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to delete secret %s", SPI_getvalue(t, td, 5)),
					 errdetail("It belongs to role %s; only its owner (or a member of it) can delete it.",
							   SPI_getvalue(t, td, 6))));
	}
	SPI_finish();
	catalog_end_privileged(&ps);
	return gone;
}

/* note the deletion of the stored secrets of handles (n of them); returns how many */
static int64
delete_handles(Datum *handles, bool *nulls, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	int			nids = 0;
	bool	   *gone;
	int64		deleted = 0;

	for (int i = 0; i < n; i++)
	{
		SecretHandle h;
		pg_uuid_t  *u;

		if (nulls && nulls[i])
			continue;
		if (handle_read_header(handles[i], &h))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot delete a computed secret"),
					 errdetail("A computed handle (an expression over stored secrets) is not stored anywhere."),
					 errhint("Delete the stored secrets it is computed from.")));
		u = palloc(sizeof(pg_uuid_t));
		memcpy(u->data, h.id, SHARE_ID_SIZE);
		ids[nids++] = UUIDPGetDatum(u);
	}
	if (nids == 0)
		return 0;
	/* a secret stored in this transaction is still buffered */
	store_flush_new_secrets();
	gone = check_deletable(PointerGetDatum(construct_array(ids, nids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR)),
						   nids);
	for (int i = 0; i < nids; i++)
		if (!gone[i])
		{
			store_note_deleted(DatumGetUUIDP(ids[i])->data);
			audit_note(AUDIT_DELETE, DatumGetUUIDP(ids[i])->data);
			deleted++;
		}
	return deleted;
}

Datum
ssn_delete(PG_FUNCTION_ARGS)
{
	Datum		h = PG_GETARG_DATUM(0);

	PG_RETURN_BOOL(delete_handles(&h, NULL, 1) > 0);
}

Datum
ssn_delete_array(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(a, ARR_ELEMTYPE(a), -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	PG_RETURN_INT64(delete_handles(elems, nulls, n));
}

int64
delete_apply(Datum ids, Datum roles, int64 *max_outbox_id)
{
	Oid			types[3] = {UUIDARRAYOID, TEXTOID, OIDARRAYOID};
	Datum		values[3];
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	int64		n;

	values[0] = ids;
	values[1] = CStringGetTextDatum(self->name);
	values[2] = roles;
	/* the holders first: the records, marked deleted, are built from the catalog rows */
	(void) records_queue(ids, false, true, 0, max_outbox_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM ssn.held_share WHERE secret_id = ANY($1) AND origin = $2",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("INSERT INTO ssn.deleted_secret (id, value_type, owner_name, deleted_by)"
							  " SELECT DISTINCT ON (s.id) s.id, s.value_type, s.owner::regrole::text, u.r::regrole::text"
							  " FROM unnest($1, $3) AS u(id, r) JOIN ssn.secret s ON s.id = u.id"
							  " ON CONFLICT DO NOTHING",
							  3, types, values, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args("DELETE FROM ssn.secret WHERE id = ANY($1)",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete secrets");
	n = (int64) SPI_processed;
	SPI_finish();
	return n;
}

void
delete_report_if_deleted(Datum id)
{
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {id};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT id::text, deleted_by FROM ssn.deleted_secret WHERE id = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.deleted_secret");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret %s was deleted", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("Role %s deleted it (when: ssn.deleted_secret); its shareholders drop their shares.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
	SPI_finish();
}
