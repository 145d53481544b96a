/*
 * shmem_struct.c - structs of ssn in shared memory (see shmem_struct.h).
 */
#include "postgres.h"

#include "base/shmem_struct.h"
#include "miscadmin.h"
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
shmem_struct_register(const char *name, Size size, void **ptr, void (*init) (void *))
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
