/*
 * shmem_struct.h - structs of ssn in shared memory, each set up once by whichever
 * process attaches first (the postmaster at start, again after a crash reset).
 */
#ifndef SSN_SHMEM_STRUCT_H
#define SSN_SHMEM_STRUCT_H

#include "postgres.h"

/*
 * From _PG_init under shared_preload_libraries: reserve size bytes named name; at
 * shared memory start-up *ptr points at them, zeroed then passed to init (may be
 * NULL) the first time.
 */
extern void shmem_struct_register(const char *name, Size size, void **ptr, void (*init) (void *));

#endif							/* SSN_SHMEM_STRUCT_H */
