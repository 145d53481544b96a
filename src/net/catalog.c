/*
 * catalog.c - the shareholder catalog as the workers and SQL functions see it.
 */
#include "net/catalog.h"

#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ssn_node_name);

static char *
copy_text_col(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static SPIPlanPtr plan_catalog = NULL;

ShareholderList *
catalog_load(void)
{
	MemoryContext caller = CurrentMemoryContext;
	ShareholderList *l = palloc0(sizeof(ShareholderList));
	int			i;

	l->self = -1;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(spi_saved_plan(&plan_catalog,
										"SELECT s.name, s.sae_id, s.conninfo, coalesce(s.share_index, 0),"
										" s.trusted_node, s.state, coalesce(h.reachable, true), coalesce(h.rtt_ms, 0),"
										" s.peer_role, s.organization"
										" FROM ssn.shareholder s LEFT JOIN ssn.peer_health h ON h.peer = s.name"
										" ORDER BY s.share_index NULLS LAST, s.name", 0, NULL, 0),
						 NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.shareholder");
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		l->count = (int) SPI_processed;
		l->items = palloc0(sizeof(Shareholder) * Max(l->count, 1));
		for (i = 0; i < l->count; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Shareholder *s = &l->items[i];
			char	   *name = copy_text_col(tup, desc, 1);
			bool		isnull;

			strlcpy(s->name, name, sizeof(s->name));
			s->sae_id = copy_text_col(tup, desc, 2);
			s->conninfo = copy_text_col(tup, desc, 3);
			s->share_index = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
			s->trusted_node = copy_text_col(tup, desc, 5);
			s->state = copy_text_col(tup, desc, 6);
			s->in_service = strcmp(s->state, "in service") == 0;
			s->reachable = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
			s->rtt_ms = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
			s->peer_role = copy_text_col(tup, desc, 9);
			s->organization = copy_text_col(tup, desc, 10);
			s->is_self = ssn_sae_id && ssn_sae_id[0] && strcmp(s->sae_id, ssn_sae_id) == 0;
			if (s->is_self)
				l->self = i;
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return l;
}

Shareholder *
catalog_find(ShareholderList *l, const char *name)
{
	int			i;

	for (i = 0; i < l->count; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

Shareholder *
catalog_find_index(ShareholderList *l, int share_index)
{
	int			i;

	for (i = 0; i < l->count; i++)
		if (l->items[i].share_index == share_index)
			return &l->items[i];
	return NULL;
}

char *
catalog_self_name(void)
{
	ShareholderList *l = catalog_load();

	return l->self >= 0 ? pstrdup(l->items[l->self].name) : NULL;
}

Shareholder *
catalog_require_self(ShareholderList *l)
{
	if (l->self < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node is not in its own shareholder catalog"),
				 errdetail("No entry of ssn.shareholder has the SAE ID \"%s\" (ssn.sae_id).",
						   ssn_sae_id ? ssn_sae_id : ""),
				 errhint("Register this node with ssn.add_shareholder(name, sae_id, ...).")));
	return &l->items[l->self];
}

Shareholder *
catalog_require_peer(ShareholderList *l, const char *name)
{
	Shareholder *s = catalog_find(l, name);

	if (s == NULL || s->is_self)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("\"%s\" is not a peer of this node", name),
				 errdetail("It is not in ssn.shareholder, or it is this node itself.")));
	return s;
}

Datum
ssn_node_name(PG_FUNCTION_ARGS)
{
	char	   *name = catalog_self_name();

	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

Oid
catalog_type_oid(const char *name)
{
	static Oid	cached_ext = InvalidOid;
	static Oid	cached[2];
	static const char *const names[2] = {"ssn_share", "ssn_secret"};
	Oid			ext = get_extension_oid("ssn", false);
	int			which = strcmp(name, names[0]) == 0 ? 0 : 1;

	if (ext != cached_ext)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		for (int i = 0; i < 2; i++)
		{
			Oid			types[1] = {TEXTOID};
			Datum		values[1] = {CStringGetTextDatum(names[i])};
			bool		isnull;

			if (SPI_execute_with_args("SELECT t.oid FROM pg_catalog.pg_type t"
									  " JOIN pg_catalog.pg_extension e ON e.extnamespace = t.typnamespace"
									  " WHERE e.extname = 'ssn' AND t.typname = $1",
									  1, types, values, NULL, true, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("type %s of extension ssn is missing", names[i]),
						 errhint("Update the extension: ALTER EXTENSION ssn UPDATE.")));
			cached[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		cached_ext = ext;
	}
	return cached[which];
}

#define SAFE_SEARCH_PATH "pg_catalog, pg_temp"

void
catalog_begin_privileged(PrivilegedScope *ps)
{
	GetUserIdAndSecContext(&ps->saved_uid, &ps->saved_sec);
	ps->caller = ps->saved_uid;
	ps->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", SAFE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* bulk internal statements are cheap per row: compiling them costs more than it saves */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   ps->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
catalog_end_privileged(PrivilegedScope *ps)
{
	SetUserIdAndSecContext(ps->saved_uid, ps->saved_sec);
	AtEOXact_GUC(true, ps->guc_level);
}

void
catalog_set_safe_search_path(void)
{
	SetConfigOption("search_path", SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
}
