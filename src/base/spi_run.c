/*
 * spi_run.c - see spi_run.h.
 */
#include "postgres.h"

#include "base/spi_run.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

void
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "ssn: statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

SPIPlanPtr
spi_saved_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (p == NULL)
			elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*cache = p;
	}
	return *cache;
}

/* syscache lookups only: cheap enough for every pass of a worker */
bool
ssn_table_exists(const char *name)
{
	Oid			nsp = get_namespace_oid("ssn", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}
