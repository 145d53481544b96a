/*
 * alarm.c - raising and clearing alarms in ssn.alarm.
 */
#include "net/alarm.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

bool
alarm_raise(const char *source, const char *object, const char *severity,
			const char *problem, const char *detail)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', detail ? ' ' : 'n'};
	bool		isnew = false;

	values[0] = CStringGetTextDatum(source);
	values[1] = CStringGetTextDatum(object);
	values[2] = CStringGetTextDatum(severity);
	values[3] = CStringGetTextDatum(problem);
	values[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO ssn.alarm AS a (source, object, severity, problem, detail)"
							  " VALUES ($1, $2, $3, $4, $5)"
							  " ON CONFLICT (source, object, problem) WHERE cleared_at IS NULL"
							  " DO UPDATE SET count = a.count + 1, detail = excluded.detail"
							  " RETURNING (xmax = 0)",
							  5, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record an alarm in ssn.alarm");
	if (SPI_processed == 1)
	{
		bool		isnull;

		isnew = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	if (isnew)
		ereport(LOG,
				(errmsg("ssn alarm raised (%s, %s): %s: %s", severity, source, object, problem),
				 detail ? errdetail_internal("%s", detail) : 0));
	return isnew;
}

int
alarm_clear(const char *source, const char *object, const char *problem)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', problem ? ' ' : 'n'};
	int			n;

	values[0] = CStringGetTextDatum(source);
	values[1] = CStringGetTextDatum(object);
	values[2] = problem ? CStringGetTextDatum(problem) : (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("UPDATE ssn.alarm SET cleared_at = now()"
							  " WHERE cleared_at IS NULL AND source = $1 AND object = $2"
							  " AND ($3 IS NULL OR problem = $3)",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not clear alarms in ssn.alarm");
	n = (int) SPI_processed;
	SPI_finish();
	if (n > 0)
		ereport(LOG, (errmsg("ssn alarm cleared (%s): %s%s%s", source, object,
							 problem ? ": " : "", problem ? problem : "")));
	return n;
}
