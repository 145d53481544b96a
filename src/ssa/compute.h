/*
 * compute.h - computing on shares across the network, the SSA's side.
 *
 * The SSA (compute.c) turns computed secrets and aggregates into programs
 * (secret_expr.h), has the shareholders evaluate them (compute_channel.c on
 * each shareholder, compute_eval.c for the arithmetic) and rebuilds only the
 * results; ssn_store(expression) makes a result a stored secret of its own.
 */
#ifndef SSN_COMPUTE_H
#define SSN_COMPUTE_H

#include "postgres.h"

#include "net/catalog.h"
#include "share/secret_handle.h"
#include "share/value_codec.h"

/*
 * SSA side (retrieve.c): evaluate a program's groups at the shareholders and
 * rebuild each result.  holders/nholders: who may be asked (they hold every
 * input); need[g]: shares needed for group g.  The caller must be allowed to
 * retrieve every input (checked here).  out[g] gets the rebuilt value.
 */
extern void compute_gather_rebuild(const uint8 *program, size_t len,
								   const uint8 *holders, int nholders, int k,
								   const int *need, ShareValue *out);

/* the shares a computed handle needs: degree * (k - 1) + 1, at least k */
extern int	compute_need(const SecretHandle *h);

/* check the current role may retrieve every secret the program names (SSA) */
extern void compute_check_inputs(const uint8 *program, size_t len, Oid role);

#endif							/* SSN_COMPUTE_H */
