/*
 * network_view.c - the SSN manager's view of the whole network (Y.3808 §10.4):
 * each node's ssn.node_status(), this node's read here and every peer's asked
 * at once over the authenticated peer connections (ssn.channel_status, which
 * answers only a peer's own login).  Control data only: counts, ages, key pool
 * levels, digests; no share, no value.  A node that does not answer is a row
 * with the reason, never left out.
 */
#include "postgres.h"

#include "base/guc.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "net/catalog.h"
#include "net/peer_conn.h"
#include "net/peer_identity.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(ssn_channel_status);
PG_FUNCTION_INFO_V1(ssn_network_status);

/* this node's status as JSON text, in the current memory context */
static char *
own_status(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *s = NULL;
	PrivilegedScope ps;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT ssn.node_status()::text", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read ssn.node_status()");
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			s = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	catalog_end_privileged(&ps);
	return s;
}

Datum
ssn_channel_status(PG_FUNCTION_ARGS)
{
	ShareholderList *cat;
	PrivilegedScope ps;
	char	   *s;

	catalog_begin_privileged(&ps);
	cat = catalog_load();
	catalog_end_privileged(&ps);
	/* a peer's own login, or this node's superuser: anyone else is refused and alarmed */
	(void) peer_identity_caller(cat, "ssn.channel_status");
	s = own_status();
	if (s == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

typedef struct JsonParse
{
	const char *text;
	MemoryContext cxt;
	Datum		value;
} JsonParse;

static void
parse_json(void *arg)
{
	JsonParse  *p = (JsonParse *) arg;
	MemoryContext old = MemoryContextSwitchTo(p->cxt);

	p->value = DirectFunctionCall1(jsonb_in, CStringGetDatum(p->text));
	MemoryContextSwitchTo(old);
	/* the shape the views read: a value they cannot cast fails this peer, not the view */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT ssn.node_status_check($1)", 1, (Oid[]) {JSONBOID},
							  (Datum[]) {p->value}, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check a node's status");
	SPI_finish();
}

/* a peer's answer as jsonb; NULL and why if it is not JSON (a peer may lie) */
static bool
jsonb_of(const char *s, Datum *out, char **why)
{
	JsonParse	p = {s, CurrentMemoryContext, (Datum) 0};
	ErrorData  *ed = try_in_subxact(parse_json, &p);

	if (ed)
	{
		*why = psprintf("its status is malformed: %s", ed->message);
		return false;
	}
	*out = p.value;
	return true;
}

Datum
ssn_network_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShareholderList *cat;
	PrivilegedScope ps;
	PeerCall   *calls;
	int			ncalls = 0;
	char	   *self_status;

	InitMaterializedSRF(fcinfo, 0);
	catalog_begin_privileged(&ps);
	cat = catalog_load();
	catalog_end_privileged(&ps);
	self_status = own_status();

	calls = palloc0(sizeof(PeerCall) * Max(cat->count, 1));
	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];

		if (s->is_self || s->conninfo == NULL)
			continue;
		calls[ncalls].peer = s->name;
		calls[ncalls].conninfo = s->conninfo;
		calls[ncalls].sql = "SELECT ssn.channel_status()";
		ncalls++;
	}
	if (ncalls > 0)
		peer_call_all(calls, ncalls, ssn_peer_timeout_ms);

	for (int i = 0, c = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(s->name);
		if (s->is_self)
		{
			values[1] = BoolGetDatum(true);
			nulls[2] = true;
			if (self_status)
				values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(self_status));
			else
				nulls[3] = true;
		}
		else if (s->conninfo == NULL)
		{
			values[1] = BoolGetDatum(false);
			values[2] = CStringGetTextDatum("no conninfo is registered for it");
			nulls[3] = true;
		}
		else
		{
			PeerCall   *pc = &calls[c++];
			int			len;
			const char *v = pc->res ? peer_call_value(pc, &len) : NULL;
			char	   *why = NULL;

			values[1] = BoolGetDatum(v != NULL);
			if (v != NULL && jsonb_of(v, &values[3], &why))
				nulls[2] = true;
			else
			{
				values[2] = CStringGetTextDatum(why ? why : pc->error[0] ? pc->error : "no answer");
				nulls[3] = true;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	peer_call_reset(calls, ncalls);
	return (Datum) 0;
}
