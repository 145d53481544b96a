/*
 * spi_run.h - the SPI steps every plane repeats: a statement that must succeed,
 * and whether a table of the installed extension version exists.
 */
#ifndef SSN_SPI_RUN_H
#define SSN_SPI_RUN_H

#include "postgres.h"

/* run sql (SPI connected, not read-only); ERROR naming it unless SPI returns expect */
extern void spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect);

/* ssn.<name> exists: the extension is installed here, at a version that has it */
extern bool ssn_table_exists(const char *name);

#endif							/* SSN_SPI_RUN_H */
