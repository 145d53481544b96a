/*
 * spi_run.c - see spi_run.h.
 */
#include "postgres.h"

#include "base/spi_run.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/guc.h"
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

int
spi_execute_plan_indexed(SPIPlanPtr plan, Datum *values, const char *nulls,
						 bool read_only, long count)
{
	int			nest = NewGUCNestLevel();
	int			rc;

	/* an error ends the nesting level with the (sub)transaction */
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_plan(plan, values, nulls, read_only, count);
	AtEOXact_GUC(true, nest);
	return rc;
}

/* syscache lookups only: cheap enough for every pass of a worker */
bool
ssn_table_exists(const char *name)
{
	Oid			nsp = get_namespace_oid("ssn", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}
