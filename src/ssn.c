/*
 * ssn.c - module entry point of the ssn extension (ITU-T Y.3808 secure storage
 * network).  _PG_init only initialises each module.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "guc.h"
#include "miscadmin.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("ssn could not initialise libsodium"),
				 errdetail("Without a working random number generator no secret can be shared.")));
	ssn_guc_init();
	if (process_shared_preload_libraries_in_progress)
		ssn_worker_register();
}
