/*
 * prepared.c - renewal switches prepared on this holder whose coordinator may
 * never return (faults stay local).
 *
 * A holder applies renewal parts in a transaction that the coordinator then
 * PREPAREs and later commits or rolls back (renewal.c).  A coordinator that dies
 * for good in between leaves the prepared transaction holding its row locks.
 * Every wait for such a lock is bounded elsewhere (ssn.lock_timeout, the ledger
 * sweep skips locked rows); here the switch itself is brought to an end:
 *
 *  - Evidence.  When a transaction that applied renewal parts is prepared, a row
 *    (gid, coordinator, 'committed') of ssn.renewal_switch joins it (a hook on
 *    PREPARE TRANSACTION): the row is there exactly when the switch committed.
 *  - Status (ssn.renewal_switch_status, asked by peers): 'prepared', 'committed',
 *    'aborted', 'deciding' (a coordinator that has not decided) or 'unknown' (not
 *    a holder of those secrets).  A switch neither prepared nor committed here is
 *    made 'aborted' for good first: a veto row (gid, 'aborted') makes a PREPARE
 *    that would still come fail on the evidence row's key.  So an 'aborted'
 *    answer of a holder of the batch means the coordinator can never commit it.
 *  - In doubt.  The worker finds switches prepared longer than
 *    ssn.prepared_timeout, alarms them (naming the coordinator) and asks the
 *    peers: one 'committed' -> commit here; one 'aborted' -> roll back here;
 *    neither -> an operator decides with ssn.resolve_prepared(gid, commit), which
 *    refuses what a peer's answer contradicts and is alarmed (audit).  The
 *    worker finishes the transaction either way.
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "base/subxact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lifecycle/prepared.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/peer_conn.h"
#include "net/peer_identity.h"
#include "net/worker.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ssn_renewal_switch_status);
PG_FUNCTION_INFO_V1(ssn_resolve_prepared);

/* at most this many of a switch's secrets go with a status request */
#define STATUS_SECRETS 64

static ProcessUtility_hook_type prev_utility = NULL;
static bool switch_applied = false;
static char switch_coordinator[NAMEDATALEN];

/* ---- evidence: the row that commits with the switch ---- */

static void
prepared_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		switch_applied = false;
}

void
prepared_note_switch(const char *coordinator)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(prepared_xact_callback, NULL);
		registered = true;
	}
	strlcpy(switch_coordinator, coordinator, sizeof(switch_coordinator));
	switch_applied = true;
}

static void
record_switch(const char *gid)
{
	PrivilegedScope priv;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(gid);
	values[1] = CStringGetTextDatum(switch_coordinator);
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a veto (the switch declared aborted on a peer's question) makes this fail */
	if (SPI_execute_with_args("INSERT INTO ssn.renewal_switch (gid, coordinator, outcome)"
							  " VALUES ($1, $2, 'committed')", 2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the renewal switch in ssn.renewal_switch");
	SPI_finish();
	catalog_end_privileged(&priv);
}

static void
prepared_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				 ProcessUtilityContext context, ParamListInfo params,
				 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *n = pstmt->utilityStmt;

	if (switch_applied && IsA(n, TransactionStmt) &&
		((TransactionStmt *) n)->kind == TRANS_STMT_PREPARE &&
		IsTransactionBlock() && !IsAbortedTransactionBlockState() &&
		strncmp(((TransactionStmt *) n)->gid, PREPARED_GID_PREFIX, strlen(PREPARED_GID_PREFIX)) == 0 &&
		ssn_table_exists("renewal_switch"))	/* not before ALTER EXTENSION ssn UPDATE */
		record_switch(((TransactionStmt *) n)->gid);
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* ---- status: what this node knows of a switch ---- */

typedef struct Veto
{
	Datum		values[2];
	bool		inserted;
} Veto;

static void
veto_fn(void *arg)
{
	Veto	   *v = (Veto *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};

	/* waits for an evidence row being prepared right now: bounded */
	ssn_bound_lock_waits();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi_run("INSERT INTO ssn.renewal_switch (gid, coordinator, outcome) VALUES ($1, $2, 'aborted')"
			" ON CONFLICT (gid) DO NOTHING", 2, types, v->values, NULL, SPI_OK_INSERT);
	v->inserted = SPI_processed == 1;
	SPI_finish();
}

/* 'prepared', 'committed', 'aborted', 'deciding' or 'unknown' (secrets: NULL = a holder) */
static const char *
switch_status(const char *gid, const char *coordinator, Datum secrets, bool have_secrets)
{
	Oid			types[3] = {TEXTOID, TEXTOID, UUIDARRAYOID};
	Datum		values[3];
	const char *answer = NULL;
	bool		holder = true;

	values[0] = CStringGetTextDatum(gid);
	values[1] = CStringGetTextDatum(coordinator);
	values[2] = secrets;
	for (int attempt = 0; attempt < 2 && answer == NULL; attempt++)
	{
		Veto		v;
		ErrorData  *ed;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		spi_run("SELECT 1 FROM pg_catalog.pg_prepared_xacts WHERE gid = $1", 1, types, values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			answer = "prepared";
		if (answer == NULL)
		{
			spi_run("SELECT outcome FROM ssn.renewal_switch WHERE gid = $1", 1, types, values, NULL, SPI_OK_SELECT);
			if (SPI_processed > 0)
				answer = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "committed") == 0
					? "committed" : "aborted";
		}
		/* the coordinator of the batch: its record is the decision */
		if (answer == NULL && ssn_table_exists("renewal_batch"))
		{
			spi_run("SELECT state FROM ssn.renewal_batch WHERE gid = $1", 1, types, values, NULL, SPI_OK_SELECT);
			if (SPI_processed > 0)
			{
				char	   *st = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

				answer = strcmp(st, "committing") == 0 || strcmp(st, "done") == 0 ? "committed"
					: strcmp(st, "aborted") == 0 ? "aborted" : "deciding";
			}
		}
		if (answer == NULL && have_secrets)
		{
			bool		isnull;

			spi_run("SELECT EXISTS (SELECT FROM ssn.held_share WHERE origin = $2 AND secret_id = ANY ($3))",
					3, types, values, NULL, SPI_OK_SELECT);
			holder = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		if (answer)
			break;

		/* neither prepared nor committed here: never prepared from now on */
		v.values[0] = values[0];
		v.values[1] = values[1];
		v.inserted = false;
		ed = try_in_subxact(veto_fn, &v);
		if (ed)
		{
			bool		busy = ed->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;

			FreeErrorData(ed);
			if (!busy)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not record renewal switch \"%s\" as aborted", gid)));
			return "prepared";	/* being prepared right now */
		}
		if (v.inserted)
			answer = holder ? "aborted" : "unknown";
		/* else a row came meanwhile: read it */
	}
	return answer ? answer : "unknown";
}

Datum
ssn_renewal_switch_status(PG_FUNCTION_ARGS)
{
	const char *st;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	/* peers ask in their own name only (an answer may record an abort) */
	(void) peer_identity_caller(catalog_load(), "ssn.renewal_switch_status");
	if (!ssn_table_exists("renewal_switch"))
		PG_RETURN_TEXT_P(cstring_to_text("unknown"));
	st = switch_status(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					   PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), !PG_ARGISNULL(2));
	PG_RETURN_TEXT_P(cstring_to_text(st));
}

/* ---- in doubt: ask the peers ---- */

typedef struct InDoubt
{
	char	   *gid;
	char	   *prepared_at;
	char	   *coordinator;	/* NULL: not found in the rows it changed */
	char	   *secrets;		/* a uuid[] literal, some of the secrets it renews */
	int			nsecrets;
	bool		overdue;
	int			decision;		/* an operator's: -1 none, 0 roll back, 1 commit */
} InDoubt;

typedef struct Answers
{
	List	   *committed;		/* peer names */
	List	   *aborted;
	StringInfoData text;
} Answers;

/* the ssn renewal switches prepared here (gid NULL: all of them, else that one) */
static List *
load_prepared(const char *gid)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', gid ? ' ' : 'n'};
	List	   *l = NIL;
	MemoryContext caller = CurrentMemoryContext;

	values[0] = Int32GetDatum(ssn_prepared_timeout_ms);
	values[1] = gid ? CStringGetTextDatum(gid) : (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The rows its switch deleted (old shares) or settled (ledger keys) carry its
	 * xid as xmax: they name the coordinator and the secrets.
	 */
	spi_run("SELECT p.gid, p.prepared::text, p.prepared < now() - make_interval(secs => $1 / 1000.0),"
			" coalesce((SELECT h.origin FROM ssn.held_share h WHERE h.xmax = p.transaction LIMIT 1),"
			"          (SELECT k.peer FROM ssn.key_ledger k WHERE k.xmax = p.transaction LIMIT 1)),"
			" (SELECT array_agg(s.secret_id)::text FROM (SELECT h.secret_id FROM ssn.held_share h"
			"   WHERE h.xmax = p.transaction LIMIT " CppAsString2(STATUS_SECRETS) ") s),"
			" (SELECT CASE WHEN d.commit THEN 1 ELSE 0 END FROM ssn.prepared_decision d"
			"   WHERE d.gid = p.gid AND d.applied_at IS NULL)"
			" FROM pg_catalog.pg_prepared_xacts p"
			" WHERE p.gid LIKE 'ssn\\_renew\\_%' AND p.database = current_database()"
			"   AND ($2 IS NULL OR p.gid = $2) ORDER BY p.prepared",
			2, types, values, nulls, SPI_OK_SELECT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		InDoubt    *x = palloc0(sizeof(InDoubt));
		bool		isnull;
		Datum		dec;
		char	   *c;

		x->gid = pstrdup(SPI_getvalue(t, d, 1));
		x->prepared_at = pstrdup(SPI_getvalue(t, d, 2));
		x->overdue = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));
		c = SPI_getvalue(t, d, 4);
		x->coordinator = c ? pstrdup(c) : NULL;
		c = SPI_getvalue(t, d, 5);
		x->secrets = c ? pstrdup(c) : NULL;
		dec = SPI_getbinval(t, d, 6, &isnull);
		x->decision = isnull ? -1 : DatumGetInt32(dec);
		l = lappend(l, x);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return l;
}

/* every other node's answer about x (the coordinator's too, if it answers) */
static void
ask_peers(ShareholderList *cat, const InDoubt *x, Answers *a)
{
	PeerCall   *calls = palloc0(sizeof(PeerCall) * Max(cat->count, 1));
	static Oid	types[3] = {TEXTOID, TEXTOID, TEXTOID};
	const char **vals = palloc(sizeof(char *) * 3);

	vals[0] = x->gid;
	vals[1] = x->coordinator;
	vals[2] = x->secrets;
	a->committed = a->aborted = NIL;
	initStringInfo(&a->text);
	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];

		calls[i].skip = s->is_self || s->conninfo == NULL;
		calls[i].peer = s->name;
		calls[i].conninfo = s->conninfo;
		calls[i].sql = "SELECT ssn.renewal_switch_status($1, $2, $3::uuid[])";
		calls[i].nparams = 3;
		calls[i].types = types;
		calls[i].values = vals;
	}
	peer_call_all(calls, cat->count, ssn_peer_timeout_ms);
	for (int i = 0; i < cat->count; i++)
	{
		const char *v;

		if (calls[i].skip)
			continue;
		v = peer_call_value(&calls[i], NULL);
		appendStringInfo(&a->text, "%s%s: %s", a->text.len ? ", " : "", calls[i].peer,
						 v ? v : (calls[i].error[0] ? calls[i].error : "no answer"));
		if (v && strcmp(v, "committed") == 0)
			a->committed = lappend(a->committed, pstrdup(calls[i].peer));
		else if (v && strcmp(v, "aborted") == 0)
			a->aborted = lappend(a->aborted, pstrdup(calls[i].peer));
	}
	peer_call_reset(calls, cat->count);
}

static char *
name_list(List *l)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, l)
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", (char *) lfirst(lc));
	return s.data;
}

/* ---- the worker pass ---- */

typedef struct Pass
{
	ShareholderList *cat;
	List	   *list;
	InDoubt    *x;
	bool		commit;
	const char *problem;
	const char *severity;
	char	   *detail;
} Pass;

static void
pass_load(void *arg)
{
	Pass	   *p = (Pass *) arg;

	p->list = NIL;
	if (!ssn_table_exists("renewal_switch") || !ssn_table_exists("prepared_decision"))
		return;
	p->cat = catalog_load();
	p->list = load_prepared(NULL);
}

static void
pass_alarm(void *arg)
{
	Pass	   *p = (Pass *) arg;

	(void) alarm_raise("channel", p->x->gid, p->severity, p->problem, p->detail);
}

/* COMMIT/ROLLBACK PREPARED: its own transaction, as the statement has */
static void
pass_finish(void *arg)
{
	Pass	   *p = (Pass *) arg;

	FinishPreparedTransaction(p->x->gid, p->commit);
}

static void
pass_settled(void *arg)
{
	Pass	   *p = (Pass *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(p->x->gid);
	values[1] = CStringGetTextDatum(p->x->coordinator ? p->x->coordinator : "?");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* rolled back: the answer to peers from now on, without waiting to be asked */
	if (!p->commit)
		spi_run("INSERT INTO ssn.renewal_switch (gid, coordinator, outcome) VALUES ($1, $2, 'aborted')"
				" ON CONFLICT (gid) DO NOTHING", 2, types, values, NULL, SPI_OK_INSERT);
	spi_run("UPDATE ssn.prepared_decision SET applied_at = now() WHERE gid = $1 AND applied_at IS NULL",
			1, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
	(void) alarm_clear("channel", p->x->gid, "renewal switch in doubt");
}

static long
prepared_pass(void)
{
	Pass		p;
	char		err[256];
	ListCell   *lc;

	memset(&p, 0, sizeof(p));
	if (!worker_guarded(pass_load, &p, err, sizeof(err), NULL))
		return -1;
	foreach(lc, p.list)
	{
		InDoubt    *x = (InDoubt *) lfirst(lc);
		Answers		a;
		const char *how;

		if (!x->overdue && x->decision < 0)
			continue;
		p.x = x;
		if (x->coordinator == NULL)
		{
			p.severity = "major";
			p.problem = "renewal switch in doubt";
			p.detail = psprintf("prepared at %s; its coordinator is not known from the rows it changed;"
								" an operator decides with ssn.resolve_prepared('%s', commit)",
								x->prepared_at, x->gid);
			(void) worker_guarded(pass_alarm, &p, err, sizeof(err), NULL);
			continue;
		}
		ask_peers(p.cat, x, &a);
		if (a.committed != NIL && a.aborted != NIL)
		{
			p.severity = "critical";
			p.problem = "renewal switch in doubt";
			p.detail = psprintf("prepared at %s by coordinator \"%s\": committed on %s but rolled back on %s;"
								" left prepared for an operator", x->prepared_at, x->coordinator,
								name_list(a.committed), name_list(a.aborted));
			(void) worker_guarded(pass_alarm, &p, err, sizeof(err), NULL);
			continue;
		}
		if (x->decision >= 0)
		{
			/* the operator's, unless a peer's answer now contradicts it */
			if ((x->decision == 1 && a.aborted != NIL) || (x->decision == 0 && a.committed != NIL))
			{
				p.severity = "critical";
				p.problem = "renewal switch in doubt";
				p.detail = psprintf("the operator's %s of the switch prepared at %s by \"%s\" was not applied:"
									" answers %s", x->decision ? "commit" : "rollback", x->prepared_at,
									x->coordinator, a.text.data);
				(void) worker_guarded(pass_alarm, &p, err, sizeof(err), NULL);
				continue;
			}
			p.commit = x->decision == 1;
			how = "by an operator (ssn.resolve_prepared)";
		}
		else if (a.committed != NIL)
		{
			p.commit = true;
			how = psprintf("committed on %s", name_list(a.committed));
		}
		else if (a.aborted != NIL)
		{
			p.commit = false;
			how = psprintf("never prepared or rolled back on %s", name_list(a.aborted));
		}
		else
		{
			p.severity = "major";
			p.problem = "renewal switch in doubt";
			p.detail = psprintf("prepared at %s by coordinator \"%s\", which has not finished it; answers: %s;"
								" no holder knows the outcome: an operator decides with"
								" ssn.resolve_prepared('%s', commit)",
								x->prepared_at, x->coordinator, a.text.data, x->gid);
			(void) worker_guarded(pass_alarm, &p, err, sizeof(err), NULL);
			continue;
		}
		/* raised first, so that a resolution is never silent */
		p.severity = "major";
		p.problem = "renewal switch in doubt";
		p.detail = psprintf("prepared at %s by coordinator \"%s\"; answers: %s; %s here: %s",
							x->prepared_at, x->coordinator, a.text.data,
							p.commit ? "committing" : "rolling back", how);
		(void) worker_guarded(pass_alarm, &p, err, sizeof(err), NULL);
		if (!worker_guarded(pass_finish, &p, err, sizeof(err), NULL))
			continue;
		ereport(LOG,
				(errmsg("ssn: renewal switch %s of coordinator \"%s\" %s on this node",
						x->gid, x->coordinator, p.commit ? "committed" : "rolled back"),
				 errdetail_internal("Prepared at %s; %s.", x->prepared_at, how)));
		(void) worker_guarded(pass_settled, &p, err, sizeof(err), NULL);
	}
	return -1;
}

/* ---- the operator ---- */

Datum
ssn_resolve_prepared(PG_FUNCTION_ARGS)
{
	char	   *gid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		commit = PG_GETARG_BOOL(1);
	PrivilegedScope priv;
	ShareholderList *cat;
	List	   *l;
	InDoubt    *x;
	Answers		a;
	Oid			types[3] = {TEXTOID, BOOLOID, TEXTOID};
	Datum		values[3];
	char	   *who = GetUserNameFromId(GetSessionUserId(), false);

	catalog_begin_privileged(&priv);
	cat = catalog_load();
	l = load_prepared(gid);
	if (l == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no renewal switch \"%s\" is prepared on this node", gid),
				 errhint("ssn.prepared_switches lists those that are.")));
	x = (InDoubt *) linitial(l);
	if (x->coordinator == NULL)
		x->coordinator = "?";
	ask_peers(cat, x, &a);
	if (commit && a.aborted != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("renewal switch \"%s\" cannot be committed: it never prepared or was rolled back on %s",
						gid, name_list(a.aborted)),
				 errdetail("Answers: %s.", a.text.data),
				 errhint("Roll it back: ssn.resolve_prepared('%s', false).", gid)));
	if (!commit && a.committed != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("renewal switch \"%s\" cannot be rolled back: it committed on %s",
						gid, name_list(a.committed)),
				 errdetail("Answers: %s.", a.text.data),
				 errhint("Commit it: ssn.resolve_prepared('%s', true).", gid)));
	values[0] = CStringGetTextDatum(gid);
	values[1] = BoolGetDatum(commit);
	values[2] = CStringGetTextDatum(who);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi_run("INSERT INTO ssn.prepared_decision AS d (gid, commit, decided_by) VALUES ($1, $2, $3)"
			" ON CONFLICT (gid) DO UPDATE SET commit = $2, decided_by = $3, decided_at = now()"
			" WHERE d.applied_at IS NULL", 3, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();
	/* the audit trail: an operator's decision stays an active alarm until acknowledged */
	(void) alarm_raise("channel", gid, "major", "renewal switch resolved by an operator",
					   psprintf("%s by role %s; coordinator \"%s\", prepared at %s; answers: %s",
								commit ? "commit" : "rollback", who, x->coordinator, x->prepared_at,
								a.text.len ? a.text.data : "no peer"));
	catalog_end_privileged(&priv);
	ssn_worker_wake();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s queued: the node worker finishes it",
											  commit ? "commit" : "rollback")));
}

void
prepared_init(void)
{
	static bool hooked = false;

	if (hooked)
		return;					/* _PG_init again in the same process */
	hooked = true;
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = prepared_utility;
	worker_pass_register("prepared switches", prepared_pass, WORKER_PASS_AFTER_HEALTH);
}
