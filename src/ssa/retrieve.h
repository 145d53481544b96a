/*
 * retrieve.h - what the SSA's retrieval (ssa/retrieve.c) offers the SSA's side of
 * computing: gathering result shares from the holders under the renewal lock,
 * checking them and rebuilding each result.
 */
#ifndef SSN_RETRIEVE_H
#define SSN_RETRIEVE_H

#include "postgres.h"

#include "share/value_codec.h"

/*
 * Evaluate a program's groups at the shareholders and
 * rebuild each result.  holders/nholders: who may be asked (they hold every
 * input); need[g]: shares needed for group g.  The caller must be allowed to
 * retrieve every input (checked here).  out[g] gets the rebuilt value.
 */
extern void compute_gather_rebuild(const uint8 *program, size_t len,
								   const uint8 *holders, int nholders, int k,
								   const int *need, ShareValue *out);

/* check the current role may retrieve every secret the program names (SSA) */
/* ssn_retrieve(ssn_secret[]): the values as text, with the caller's access checks */
extern Datum ssn_retrieve_array(PG_FUNCTION_ARGS);

extern void compute_check_inputs(const uint8 *program, size_t len, Oid role);

#endif							/* SSN_RETRIEVE_H */
