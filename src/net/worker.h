/*
 * worker.h - the node's background worker (channels and health) and the shared
 * memory through which backends wake it and wait for delivery.
 */
#ifndef SSN_WORKER_H
#define SSN_WORKER_H

#include "postgres.h"

#include "net/channel.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define SSN_MAX_PEERS 64

typedef struct SsnPeerProgress
{
	char		name[64];
	int64		min_pending;	/* smallest outbox id not yet delivered; INT64_MAX if none */
} SsnPeerProgress;

/* replies this node received as an SSA, counted until the worker adds them to ssn.link_stats */
typedef struct SsnReplyCounts
{
	char		name[64];
	LinkCounts	c;
} SsnReplyCounts;

typedef struct SsnShared
{
	slock_t		mutex;
	Latch	   *worker_latch;	/* NULL while no worker runs */
	int			worker_pid;
	uint64		scan_started;	/* incremented when a delivery pass begins */
	uint64		scan_done;		/* scan_started of the last pass that finished */
	int			npeers;
	SsnPeerProgress peers[SSN_MAX_PEERS];
	int			nreplies;
	SsnReplyCounts replies[SSN_MAX_PEERS];
} SsnShared;

/* NULL unless ssn is in shared_preload_libraries */
extern SsnShared *ssn_shared;

/* called from _PG_init while preloading */
extern void ssn_worker_register(void);

/*
 * A pass another subsystem runs in the node worker (registered at _PG_init):
 * returns the milliseconds until it wants to run again, or -1 for no wish.
 */
typedef long (*WorkerPass) (void);

#define WORKER_PASS_EVERY_LOOP		0	/* every turn of the worker's loop */
#define WORKER_PASS_AFTER_HEALTH	1	/* after each health check of the peers */

extern void worker_pass_register(const char *name, WorkerPass fn, int when);

/* wake the worker (after committing rows to the outbox) */
extern void ssn_worker_wake(void);

/* run fn in a transaction of the worker; on error: logged, reported in err, rolled back */
extern bool worker_guarded(void (*fn) (void *), void *arg, char *err, size_t errlen, int *sqlstate);

/*
 * Count a reply received from peer (a retrieval's or a computation's).  Sessions
 * do not write ssn.link_stats themselves: its row for the link would stay locked
 * until their transaction ends, holding up deliveries from that peer.
 */
extern void ssn_count_reply(const char *peer, const LinkCounts *c);

/*
 * Wait (after commit) until `need` of the given peers hold every outbox row up
 * to max_id, or the timeout passes.  Returns how many peers got there.
 */
extern int	ssn_worker_wait_delivered(char **peers, int npeers, int need, int64 max_id,
									  int timeout_ms);

#endif							/* SSN_WORKER_H */
