/*
 * ssn.c - module entry point of the ssn extension (ITU-T Y.3808 secure storage
 * network).  _PG_init only initialises each module: the settings, the node worker,
 * and what each subsystem registers with the planes below it (the message kinds
 * it handles, the worker passes it runs).
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "base/log_privacy.h"
#include "compute/compute_channel.h"
#include "fmgr.h"
#include "lifecycle/audit_seal.h"
#include "lifecycle/catalog_sync.h"
#include "lifecycle/held_record.h"
#include "lifecycle/hold.h"
#include "lifecycle/prepared.h"
#include "lifecycle/renewal.h"
#include "lifecycle/renewal_apply.h"
#include "lifecycle/reshare.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"
#include "net/audit.h"
#include "net/key_reserve.h"
#include "net/reply_key_copies.h"
#include "net/receiver.h"
#include "net/thresholds.h"
#include "net/worker.h"
#include "qkd/key_ledger.h"
#include "ssa/records.h"

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
	log_privacy_init();
	alarm_queue_init();
	audit_init();
	thresholds_init();
	key_reserve_init();
	reply_key_copies_init();
	receiver_init();
	hold_init();
	held_record_init();
	compute_channel_init();
	renewal_apply_init();
	renewal_init();
	prepared_init();
	reshare_init();
	records_init();
	audit_seal_init();
	catalog_sync_init();
	if (process_shared_preload_libraries_in_progress)
	{
		ssn_worker_register();
		ledger_writer_register();
	}
}
