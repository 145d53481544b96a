/*
 * thresholds.c - alarms raised before trouble and cleared when it ends (the
 * node worker, every ssn.alarm_check_interval): a QKD link whose key pool holds
 * less than ssn.alarm_key_pool of traffic at the rate this node spends it, a
 * message waiting longer than ssn.alarm_outbox_age, a shareholder silent for
 * ssn.alarm_unreachable_after, a renewal job ssn.alarm_renewal_overdue behind.
 * The pools and rates land in ssn.link_rate for the network view.
 */
#include "postgres.h"

#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "net/alarm.h"
#include "net/thresholds.h"
#include "net/worker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define MAX_LINKS 256
#define KME_STATUS_TIMEOUT "3000"	/* ms: a KME that hangs must not hold the worker */

/* key spent per link as last seen, for the rate */
typedef struct LinkSample
{
	char		peer[NAMEDATALEN];
	int64		key_bytes;
	TimestampTz at;
	double		rate;			/* bytes/s, smoothed */
	bool		have_rate;
} LinkSample;

static LinkSample samples[MAX_LINKS];
static int	nsamples = 0;
static TimestampTz last_check = 0;

static LinkSample *
sample_for(const char *peer)
{
	for (int i = 0; i < nsamples; i++)
		if (strcmp(samples[i].peer, peer) == 0)
			return &samples[i];
	if (nsamples == MAX_LINKS)
		return NULL;
	memset(&samples[nsamples], 0, sizeof(LinkSample));
	strlcpy(samples[nsamples].peer, peer, NAMEDATALEN);
	return &samples[nsamples++];
}

/* raise or clear one alarm */
static void
alarm_set(bool on, const char *source, const char *object, const char *severity,
		  const char *problem, const char *detail)
{
	if (on)
		(void) alarm_raise(source, object, severity, problem, detail);
	else
		(void) alarm_clear(source, object, problem);
}

static char *
col_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

static double
col_float(int row, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? 0 : DatumGetFloat8(d);
}

/* the key pools, the rates, their alarms */
static void
check_key_pools(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n;
	char	  **peer;
	double	   *pool;
	bool	   *pool_null;
	char	  **kme_error;
	double	   *capacity;
	bool	   *capacity_null;
	double	   *spent;
	bool		isnull;

	/* the links' pools as their KMEs report them (one request per link) */
	if (SPI_execute("SELECT set_config('ssn.kme_timeout', '" KME_STATUS_TIMEOUT "', true)", false, 0) != SPI_OK_SELECT ||
		SPI_execute("SELECT l.shareholder, (l.stored_key_count::float8 * l.key_size / 8), l.error,"
					" (l.max_key_count::float8 * l.key_size / 8),"
					" (SELECT coalesce(sum(s.key_bytes), 0)::float8 FROM ssn.link_stats s WHERE s.peer = l.shareholder)"
					" FROM ssn.kme_links l ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.kme_links");
	n = (int) SPI_processed;
	peer = palloc(sizeof(char *) * Max(n, 1));
	pool = palloc(sizeof(double) * Max(n, 1));
	pool_null = palloc(sizeof(bool) * Max(n, 1));
	kme_error = palloc(sizeof(char *) * Max(n, 1));
	capacity = palloc(sizeof(double) * Max(n, 1));
	capacity_null = palloc(sizeof(bool) * Max(n, 1));
	spent = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		peer[i] = col_text(i, 1);
		pool[i] = col_float(i, 2, &pool_null[i]);
		kme_error[i] = col_text(i, 3);
		capacity[i] = col_float(i, 4, &capacity_null[i]);
		spent[i] = col_float(i, 5, &isnull);
	}

	for (int i = 0; i < n; i++)
	{
		Oid			types[7] = {TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, TIMESTAMPTZOID, TEXTOID, FLOAT8OID};
		Datum		v[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
		LinkSample *s = sample_for(peer[i]);
		double		left = -1;

		if (s != NULL)
		{
			if (s->at != 0 && now > s->at)
			{
				double		dt = (double) (now - s->at) / USECS_PER_SEC;
				double		r = (double) Max((int64) spent[i] - s->key_bytes, 0) / dt;

				/* smoothed, so that one quiet or busy interval does not decide alone */
				s->rate = s->have_rate ? 0.5 * s->rate + 0.5 * r : r;
				s->have_rate = true;
			}
			s->key_bytes = (int64) spent[i];
			s->at = now;
		}
		if (!pool_null[i] && s != NULL && s->have_rate && s->rate > 0)
			left = pool[i] / s->rate;

		v[0] = CStringGetTextDatum(peer[i]);
		v[1] = Float8GetDatum(pool[i]);
		nulls[1] = pool_null[i] ? 'n' : ' ';
		v[2] = Float8GetDatum(s && s->have_rate ? s->rate : 0);
		nulls[2] = s && s->have_rate ? ' ' : 'n';
		v[3] = Float8GetDatum(left);
		nulls[3] = left >= 0 ? ' ' : 'n';
		v[4] = TimestampTzGetDatum(now);
		v[5] = kme_error[i] ? CStringGetTextDatum(kme_error[i]) : (Datum) 0;
		nulls[5] = kme_error[i] ? ' ' : 'n';
		v[6] = Float8GetDatum(capacity[i]);
		nulls[6] = capacity_null[i] ? 'n' : ' ';
		if (SPI_execute_with_args("INSERT INTO ssn.link_rate (peer, pool_bytes, key_bytes_per_s, seconds_left,"
								  " checked_at, kme_error, capacity_bytes)"
								  " VALUES ($1, $2::bigint, $3, $4, $5, $6, $7::bigint)"
								  " ON CONFLICT (peer) DO UPDATE SET pool_bytes = EXCLUDED.pool_bytes,"
								  " key_bytes_per_s = EXCLUDED.key_bytes_per_s,"
								  " seconds_left = EXCLUDED.seconds_left, checked_at = EXCLUDED.checked_at,"
								  " kme_error = EXCLUDED.kme_error, capacity_bytes = EXCLUDED.capacity_bytes",
								  7, types, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write ssn.link_rate");
		alarm_set(left >= 0 && left < ssn_alarm_key_pool_s, "kme", peer[i], "warning", "key pool low",
				  left >= 0 ? psprintf("%.0f bytes of key: %.1f s of traffic at %.0f bytes/s (ssn.alarm_key_pool = %d s)",
									   pool[i], left, s->rate, ssn_alarm_key_pool_s) : NULL);
	}
}

/* rows (object, seconds) of a query, each alarmed if over limit; every other object cleared */
static void
check_ages(const char *objects_sql, const char *ages_sql, int limit_s, const char *source,
		   const char *severity, const char *problem, const char *what)
{
	int			nobj;
	char	  **obj;

	if (SPI_execute(objects_sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the objects of alarm \"%s\"", problem);
	nobj = (int) SPI_processed;
	obj = palloc(sizeof(char *) * Max(nobj, 1));
	for (int i = 0; i < nobj; i++)
		obj[i] = col_text(i, 1);
	if (SPI_execute(ages_sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ages of alarm \"%s\"", problem);
	{
		int			n = (int) SPI_processed;
		char	  **name = palloc(sizeof(char *) * Max(n, 1));
		double	   *age = palloc(sizeof(double) * Max(n, 1));

		for (int i = 0; i < n; i++)
		{
			bool		isnull;

			name[i] = col_text(i, 1);
			age[i] = col_float(i, 2, &isnull);
		}
		for (int i = 0; i < nobj; i++)
		{
			double		a = -1;

			for (int j = 0; j < n; j++)
				if (name[j] && obj[i] && strcmp(name[j], obj[i]) == 0)
					a = age[j];
			if (obj[i])
				alarm_set(a >= limit_s, source, obj[i], severity, problem,
						  a >= limit_s ? psprintf("%s %.0f s (limit %d s)", what, a, limit_s) : NULL);
		}
	}
}

static void
check_all(void *arg)
{
	if (!ssn_table_exists("link_rate"))
		return;					/* the extension predates the thresholds */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_key_pools();
	check_ages("SELECT name FROM ssn.shareholder WHERE name IS DISTINCT FROM ssn.node_name()",
			   "SELECT peer, extract(epoch FROM now() - min(queued_at))::float8 FROM ssn.outbox GROUP BY peer",
			   ssn_alarm_outbox_age_s, "channel", "major", "outbox not delivered",
			   "the oldest message has waited");
	check_ages("SELECT name FROM ssn.shareholder WHERE name IS DISTINCT FROM ssn.node_name()",
			   "SELECT h.peer, extract(epoch FROM now() - coalesce(h.last_ok, s.added_at))::float8"
			   " FROM ssn.peer_health h JOIN ssn.shareholder s ON s.name = h.peer"
			   " WHERE NOT h.reachable AND s.state = 'in service'",
			   ssn_alarm_unreachable_s, "peer", "major", "unreachable for long",
			   "no answer to a health check for");
	check_ages("SELECT name FROM ssn.renewal_job",
			   "SELECT name, extract(epoch FROM now() - next_run)::float8 FROM ssn.renewal_job WHERE enabled",
			   ssn_alarm_renewal_overdue_s, "job", "warning", "renewal overdue",
			   "its next run is behind by");
	SPI_finish();
}

/* worker pass: every ssn.alarm_check_interval */
static long
thresholds_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		interval_ms = (long) ssn_alarm_check_interval_s * 1000;
	char		err[256];

	if (last_check != 0 && !TimestampDifferenceExceeds(last_check, now, (int) interval_ms))
		return Max(1, interval_ms - (long) ((now - last_check) / 1000));
	last_check = now;
	(void) worker_guarded(check_all, NULL, err, sizeof(err), NULL);
	return interval_ms;
}

void
thresholds_init(void)
{
	worker_pass_register("thresholds", thresholds_pass, WORKER_PASS_EVERY_LOOP);
}
