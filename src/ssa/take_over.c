/*
 * take_over.c - ssn.take_over(failed): this node becomes the SSA of every secret
 * that the lost node `failed` stored, from the records and shares its holders
 * keep (lifecycle/held_record.c), so that losing the storing node loses no
 * committed secret.
 *
 * Trust: this node must hold a share of each secret it takes over; its own
 * record of it came from the failed SSA over an authenticated channel and is the
 * reference.  The record's fixed part (owner, type, k, n, holders, check record)
 * must be reported identically by k holders, this node included; grants (and a
 * deletion) by the newest version that k holders report; the epoch by the newest
 * one k holders hold, with the same commitment record.  With at most k - 1 lying
 * holders, no lie reaches k.  The failed node's signing keys become trusted as
 * far as this node's own shares carry them.  A holder hands the secrets over
 * only if its operator allowed this successor (ssn.allow_take_over), which is
 * also what keeps the old SSA out should it come back.
 */
#include "postgres.h"

#include "base/spi_run.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/held_record.h"
#include "miscadmin.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/peer_conn.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_take_over);

#define TAKE_OVER_PAGE	10000
#define TAKE_OVER_TIMEOUT_MS 120000

/* keep a page of a holder's reports; returns how many secrets it held and the last one */
static int
keep_page(const char *holder, const char *json, char *last, size_t lastlen)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(holder), CStringGetTextDatum(json)};
	bool		isnull;
	int			n;

	spi_run("INSERT INTO pg_temp.ssn_take_over_report"
		   " SELECT $1, t.* FROM pg_catalog.json_to_recordset($2::json) AS t(secret_id uuid, version bigint,"
		   "   deleted boolean, owner_name text, value_type text, k int, n int, holders int[], check_record text,"
		   "   grantees text[], epoch bigint, commitment text)",
		   2, types, values, NULL, SPI_OK_INSERT);
	if (SPI_execute_with_args("SELECT count(DISTINCT t.secret_id)::int, (array_agg(t.secret_id ORDER BY t.secret_id DESC))[1]::text"
							  " FROM pg_catalog.json_to_recordset($2::json) AS t(secret_id uuid)",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read a take-over report");
	n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (n > 0)
		strlcpy(last, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), lastlen);
	return n;
}

typedef struct PageArgs
{
	const char *holder;
	const char *json;
	char	   *last;
	size_t		lastlen;
	int			n;
} PageArgs;

static void
keep_page_fn(void *arg)
{
	PageArgs   *a = (PageArgs *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	a->n = keep_page(a->holder, a->json, a->last, a->lastlen);
	SPI_finish();
}

/* this node's own shares and records of the failed SSA's secrets, handed over to itself */
static int64
report_own(const char *failed, const char *self)
{
	char		last[64] = "";
	int64		held = 0;
	int64		moved;

	for (;;)
	{
		bool		first = last[0] == '\0';
		Datum		after = first ? (Datum) 0 : DirectFunctionCall1(uuid_in, CStringGetDatum(last));
		char	   *json = held_record_hand_over(failed, self, after, !first, TAKE_OVER_PAGE, &moved);
		int			n = keep_page(self, json, last, sizeof(last));

		held += n;
		if (n < TAKE_OVER_PAGE)
			return held;
		CHECK_FOR_INTERRUPTS();
	}
}

/* a peer's, through ssn.channel_take_over; false (why set) if it did not hand them over */
static bool
report_peer(const char *failed, Shareholder *peer, int64 *held, char *why, size_t whylen)
{
	char		last[64] = "";
	Oid			ptypes[3] = {TEXTOID, UUIDOID, INT4OID};
	char		page[16];

	snprintf(page, sizeof(page), "%d", TAKE_OVER_PAGE);
	*held = 0;
	for (;;)
	{
		const char *values[3] = {failed, last[0] ? last : NULL, page};
		PeerCall	c;
		const char *json;
		int			len;
		int			n;

		memset(&c, 0, sizeof(c));
		c.peer = peer->name;
		c.conninfo = peer->conninfo;
		c.sql = "SELECT ssn.channel_take_over($1, $2, $3)";
		c.nparams = 3;
		c.types = ptypes;
		c.values = values;
		peer_call_all(&c, 1, TAKE_OVER_TIMEOUT_MS);
		json = peer_call_value(&c, &len);
		if (json == NULL)
		{
			strlcpy(why, c.error[0] ? c.error : "no answer", whylen);
			peer_call_reset(&c, 1);
			return false;
		}
		/* a page this code cannot read fails that holder only, not the take-over */
		{
			PageArgs	pa = {peer->name, json, last, sizeof(last), 0};
			ErrorData  *ed = try_in_subxact(keep_page_fn, &pa);

			peer_call_reset(&c, 1);
			if (ed)
			{
				snprintf(why, whylen, "a report this node cannot read: %s", ed->message);
				FreeErrorData(ed);
				spi_run("DELETE FROM pg_temp.ssn_take_over_report WHERE holder = $1", 1,
						(Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(peer->name)}, NULL, SPI_OK_DELETE);
				return false;
			}
			n = pa.n;
		}
		*held += n;
		if (n < TAKE_OVER_PAGE)
			return true;
		CHECK_FOR_INTERRUPTS();
	}
}

/* the failed node answers (a health query): then it is not lost */
static bool
still_answers(Shareholder *failed)
{
	PeerCall	c;
	bool		up;

	if (failed->conninfo == NULL)
		return false;
	memset(&c, 0, sizeof(c));
	c.peer = failed->name;
	c.conninfo = failed->conninfo;
	c.sql = "SELECT 1";
	peer_call_all(&c, 1, 5000);
	up = peer_call_value(&c, NULL) != NULL;
	peer_call_reset(&c, 1);
	return up;
}

/*
 * One row per secret this node holds of the failed SSA: its own record and
 * what k holders agree on (refusal NULL), or why they do not.  The reports are
 * grouped by hash on indexed temporary tables: no step is quadratic.
 */
#define OWN \
	"CREATE TEMP TABLE ssn_take_over_own ON COMMIT DROP AS" \
	" SELECT DISTINCT ON (secret_id) * FROM pg_temp.ssn_take_over_report WHERE holder = $1" \
	" ORDER BY secret_id, epoch DESC NULLS LAST"
#define DECIDE \
	"CREATE TEMP TABLE ssn_take_over_decision ON COMMIT DROP AS" \
	" WITH fixed AS (SELECT o.secret_id, count(DISTINCT r.holder) AS agree" \
	"           FROM pg_temp.ssn_take_over_own o JOIN pg_temp.ssn_take_over_report r" \
	"           ON r.secret_id = o.secret_id AND r.owner_name = o.owner_name AND r.value_type = o.value_type" \
	"           AND r.k = o.k AND r.n = o.n AND r.holders = o.holders" \
	"           AND r.check_record IS NOT DISTINCT FROM o.check_record GROUP BY o.secret_id)," \
	" changes AS (SELECT DISTINCT ON (g.secret_id) g.secret_id, g.version, g.deleted, g.grantees" \
	"             FROM (SELECT secret_id, version, deleted, grantees, count(DISTINCT holder) AS c" \
	"                   FROM pg_temp.ssn_take_over_report GROUP BY 1, 2, 3, 4) g" \
	"             JOIN pg_temp.ssn_take_over_own o USING (secret_id)" \
	"             WHERE g.c >= o.k ORDER BY g.secret_id, g.version DESC)," \
	" epochs AS (SELECT DISTINCT ON (e.secret_id) e.secret_id, e.epoch, e.commitment" \
	"            FROM (SELECT secret_id, epoch, commitment, count(DISTINCT holder) AS c" \
	"                  FROM pg_temp.ssn_take_over_report WHERE epoch IS NOT NULL GROUP BY 1, 2, 3) e" \
	"            JOIN pg_temp.ssn_take_over_own o USING (secret_id)" \
	"            WHERE e.c >= o.k ORDER BY e.secret_id, e.epoch DESC)" \
	" SELECT o.secret_id, o.owner_name, o.value_type, o.k, o.n, o.holders," \
	"   decode(o.check_record, 'hex') AS check_record, f.agree," \
	"   c.deleted, c.grantees, e.epoch, decode(e.commitment, 'hex') AS commitment," \
	"   CASE WHEN f.agree < o.k THEN pg_catalog.format('%s holders report this node''s record of it, %s needed'," \
	"                                f.agree, o.k)" \
	"        WHEN c.secret_id IS NULL THEN 'no k holders report the same grants'" \
	"        WHEN e.secret_id IS NULL THEN 'no k holders hold shares of one epoch with one commitment'" \
	"   END AS refusal" \
	" FROM pg_temp.ssn_take_over_own o JOIN fixed f USING (secret_id) LEFT JOIN changes c USING (secret_id)" \
	" LEFT JOIN epochs e USING (secret_id)"

Datum
ssn_take_over(PG_FUNCTION_ARGS)
{
	char	   *failed = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		force = PG_GETARG_BOOL(1);
	PrivilegedScope ps;
	ShareholderList *cat;
	Shareholder *self,
			   *lost;
	StringInfoData handed,
				missing;
	int			nhanded = 1;
	int64		taken;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	catalog_begin_privileged(&ps);
	cat = catalog_load();
	self = catalog_require_self(cat);
	lost = catalog_find(cat, failed);
	if (lost == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("shareholder \"%s\" does not exist", failed)));
	if (lost->is_self)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a node cannot take over its own secrets")));
	if (!force && still_answers(lost))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("\"%s\" still answers: it is not lost", failed),
				 errdetail("A take-over makes this node the SSA of every secret \"%s\" stored.", failed),
				 errhint("If it must not act any more although it answers, use ssn.take_over('%s', force => true).",
						 failed)));
	values[0] = CStringGetTextDatum(self->name);
	values[1] = CStringGetTextDatum(failed);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi_run("CREATE TEMP TABLE ssn_take_over_report (holder text, secret_id uuid, version bigint, deleted boolean,"
		   " owner_name text, value_type text, k int, n int, holders int[], check_record text, grantees text[],"
		   " epoch bigint, commitment text) ON COMMIT DROP", 0, NULL, NULL, NULL, SPI_OK_UTILITY);

	/* the holders: this node, then every other one with a connection */
	initStringInfo(&handed);
	initStringInfo(&missing);
	appendStringInfoString(&handed, self->name);
	(void) report_own(failed, self->name);
	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];
		int64		held;
		char		why[512];

		/* a node without a share index (a spare) holds no share of them */
		if (s->is_self || s == lost || s->conninfo == NULL || s->share_index <= 0)
			continue;
		if (report_peer(failed, s, &held, why, sizeof(why)))
		{
			appendStringInfo(&handed, ", %s", s->name);
			nhanded++;
		}
		else
			appendStringInfo(&missing, "%s%s (%s)", missing.len ? "; " : "", s->name, why);
	}
	spi_run("CREATE INDEX ON pg_temp.ssn_take_over_report (secret_id)", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_run("ANALYZE pg_temp.ssn_take_over_report", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_run(OWN, 1, types, values, NULL, SPI_OK_UTILITY);
	spi_run("CREATE INDEX ON pg_temp.ssn_take_over_own (secret_id)", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_run("ANALYZE pg_temp.ssn_take_over_own", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_run(DECIDE, 1, types, values, NULL, SPI_OK_UTILITY);

	/* refusals: none is taken over while one is in doubt (run again once holders are back) */
	if (SPI_execute("SELECT count(*), (array_agg(secret_id::text || ': ' || refusal ORDER BY secret_id))[1:3]::text"
					" FROM pg_temp.ssn_take_over_decision WHERE refusal IS NOT NULL", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the take-over decision");
	if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot take over %s secrets of \"%s\": their holders do not agree",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), failed),
				 errdetail("First ones: %s.  Holders that handed over: %s.%s%s",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), handed.data,
						   missing.len ? "  Not: " : "", missing.data),
				 errhint("Each holder's operator runs SELECT ssn.allow_take_over('%s', '%s'); once k holders of every secret have, run ssn.take_over again.",
						 failed, self->name)));
	/* secrets that another holder reports and this node holds no share of */
	if (SPI_execute("SELECT count(DISTINCT secret_id) FROM pg_temp.ssn_take_over_report r"
					" WHERE NOT EXISTS (SELECT FROM pg_temp.ssn_take_over_own o WHERE o.secret_id = r.secret_id)",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the take-over reports");
	if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0)
		ereport(WARNING,
				(errmsg("%s secrets of \"%s\" were reported by other holders, but this node holds no share of them",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), failed),
				 errdetail("A node takes over only secrets whose record it received from their SSA itself."),
				 errhint("Their holders now serve this node; take them over on a node that holds them after allowing it there.")));
	/* the owners and grantees must be roles here, by the same names */
	if (SPI_execute("SELECT string_agg(DISTINCT pg_catalog.quote_ident(name), ', ')"
					" FROM (SELECT owner_name AS name FROM pg_temp.ssn_take_over_decision WHERE NOT deleted"
					"       UNION SELECT unnest(grantees) FROM pg_temp.ssn_take_over_decision WHERE NOT deleted) x"
					" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = x.name)", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the take-over decision");
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owners or grantees of secrets of \"%s\" are no roles on this node: %s", failed,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Create these roles (CREATE ROLE), then run ssn.take_over again.")));

	spi_run("INSERT INTO ssn.secret (id, owner, value_type, k, n, epoch, holders, commitment, check_record)"
		   " SELECT d.secret_id, r.oid, d.value_type::regtype, d.k, d.n, d.epoch, d.holders, d.commitment, d.check_record"
		   " FROM pg_temp.ssn_take_over_decision d JOIN pg_catalog.pg_roles r ON r.rolname = d.owner_name"
		   " WHERE NOT d.deleted ON CONFLICT (id) DO NOTHING", 0, NULL, NULL, NULL, SPI_OK_INSERT);
	taken = (int64) SPI_processed;
	spi_run("INSERT INTO ssn.secret_grant (secret_id, grantee, granted_by)"
		   " SELECT d.secret_id, g.oid, o.oid FROM pg_temp.ssn_take_over_decision d"
		   " JOIN pg_catalog.pg_roles o ON o.rolname = d.owner_name"
		   " CROSS JOIN LATERAL unnest(d.grantees) AS gn(name) JOIN pg_catalog.pg_roles g ON g.rolname = gn.name"
		   " WHERE NOT d.deleted ON CONFLICT DO NOTHING", 0, NULL, NULL, NULL, SPI_OK_INSERT);
	/* the lost node's signing keys, as this node's own shares carry them */
	spi_run("INSERT INTO ssn.trusted_signer (public_key, node)"
		   " SELECT DISTINCT substring(x FROM 33 FOR 32), $2 FROM"
		   " (SELECT decode(commitment, 'hex') AS x FROM pg_temp.ssn_take_over_report WHERE holder = $1"
		   "  UNION ALL SELECT decode(check_record, 'hex') FROM pg_temp.ssn_take_over_report WHERE holder = $1) k"
		   " WHERE octet_length(x) >= 64 ON CONFLICT DO NOTHING", 2, types, values, NULL, SPI_OK_INSERT);
	spi_run("UPDATE ssn.shareholder SET state = 'out of service' WHERE name = $2 AND state = 'in service'",
		   2, types, values, NULL, SPI_OK_UPDATE);
	{
		Oid			t3[3] = {TEXTOID, TEXTOID, INT8OID};
		Datum		v3[3] = {values[0], values[1], Int64GetDatum(taken)};

		spi_run("INSERT INTO ssn.take_over AS t (failed, successor, taken_at, secrets) VALUES ($2, $1, now(), $3)"
			   " ON CONFLICT ON CONSTRAINT take_over_pkey DO UPDATE SET successor = $1, taken_at = now(),"
			   "   secrets = coalesce(t.secrets, 0) + $3",
			   3, t3, v3, NULL, SPI_OK_INSERT);
	}
	SPI_finish();
	catalog_end_privileged(&ps);
	ereport(NOTICE,
			(errmsg("took over " INT64_FORMAT " secrets of \"%s\"", taken, failed),
			 errdetail("Holders that handed them over: %s.%s%s", handed.data,
					   missing.len ? "  Not: " : "", missing.data),
			 missing.len ?
			 errhint("A holder that did not hand them over does not serve this node: allow the take-over there, then run ssn.take_over again.") : 0));
	audit_note_count(AUDIT_TAKE_OVER, taken);
	PG_RETURN_INT64(taken);
}
