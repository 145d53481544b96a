/*
 * spi_run.h - the SPI steps every plane repeats: a statement that must succeed,
 * and whether a table of the installed extension version exists.
 */
#ifndef SSN_SPI_RUN_H
#define SSN_SPI_RUN_H

#include "postgres.h"

#include "executor/spi.h"

/* run sql (SPI connected, not read-only); ERROR naming it unless SPI returns expect */
extern void spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect);

/*
 * The plan of sql kept in *cache for the session, prepared on first use (call
 * inside SPI_connect).  The plan cache re-plans it after DDL on what it reads or
 * a change of search_path; hot paths skip parsing and planning every call.
 */
extern SPIPlanPtr spi_saved_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes,
								 int cursor_options);

/*
 * SPI_execute_plan with sequential scans disabled while it runs (and plans): for
 * kept generic plans that must find rows by index whatever the table's size was
 * when they were planned (a plan made while a table was nearly empty would scan
 * it whole until the next ANALYZE).
 */
extern int	spi_execute_plan_indexed(SPIPlanPtr plan, Datum *values, const char *nulls,
									 bool read_only, long count);

/* ssn.<name> exists: the extension is installed here, at a version that has it */
extern bool ssn_table_exists(const char *name);

#endif							/* SSN_SPI_RUN_H */
