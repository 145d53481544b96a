/*
 * preload.h - what ssn sets up when it is in shared_preload_libraries: its structs
 * in shared memory (each set up once by whichever process attaches first: the
 * postmaster at start, again after a crash reset) and its long-lived background
 * workers.
 */
#ifndef SSN_PRELOAD_H
#define SSN_PRELOAD_H

#include "postgres.h"

/*
 * Reserve size bytes named name; at shared memory start-up *ptr points at them,
 * zeroed then passed to init (may be NULL) the first time.
 */
extern void preload_shmem_struct(const char *name, Size size, void **ptr, void (*init) (void *));

/*
 * A background worker the postmaster keeps running (restarted a second after it
 * exits), connected to a database: function is its entry point in ssn.so, name
 * its name and type in pg_stat_activity.
 */
extern void preload_worker(const char *function, const char *name);

#endif							/* SSN_PRELOAD_H */
