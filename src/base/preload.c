/*
 * preload.c - ssn's shared memory structs and long-lived workers (see preload.h).
 */
#include "postgres.h"

#include "base/preload.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#define SHMEM_STRUCTS_MAX 8

typedef struct ShmemStruct
{
	const char *name;
	Size		size;
	void	  **ptr;
	void		(*init) (void *);
} ShmemStruct;

static ShmemStruct structs[SHMEM_STRUCTS_MAX];
static int	nstructs = 0;
static shmem_request_hook_type prev_request = NULL;
static shmem_startup_hook_type prev_startup = NULL;

static void
structs_request(void)
{
	if (prev_request)
		prev_request();
	for (int i = 0; i < nstructs; i++)
		RequestAddinShmemSpace(MAXALIGN(structs[i].size));
}

static void
structs_startup(void)
{
	if (prev_startup)
		prev_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < nstructs; i++)
	{
		bool		found;
		void	   *p = ShmemInitStruct(structs[i].name, structs[i].size, &found);

		if (!found)
		{
			memset(p, 0, structs[i].size);
			if (structs[i].init)
				structs[i].init(p);
		}
		*structs[i].ptr = p;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
preload_shmem_struct(const char *name, Size size, void **ptr, void (*init) (void *))
{
	if (nstructs == SHMEM_STRUCTS_MAX)
		elog(ERROR, "too many shared memory structs of ssn");
	if (nstructs == 0)
	{
		prev_request = shmem_request_hook;
		shmem_request_hook = structs_request;
		prev_startup = shmem_startup_hook;
		shmem_startup_hook = structs_startup;
	}
	structs[nstructs].name = name;
	structs[nstructs].size = size;
	structs[nstructs].ptr = ptr;
	structs[nstructs].init = init;
	nstructs++;
}

void
preload_worker(const char *function, const char *name)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "ssn", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(w.bgw_name, name, BGW_MAXLEN);
	strlcpy(w.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}
