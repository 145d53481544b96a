/*
 * compute.h - computing on shares across the network.
 *
 * The SSA (compute.c) turns computed secrets and aggregates into programs
 * (secret_expr.h), has the shareholders evaluate them (compute_channel.c on
 * each shareholder, compute_eval.c for the arithmetic) and rebuilds only the
 * results; ssn_store(expression) makes a result a stored secret of its own.
 */
#ifndef SSN_COMPUTE_H
#define SSN_COMPUTE_H

#include "postgres.h"

#include "catalog.h"
#include "secret_handle.h"
#include "value_codec.h"

/* shareholder side (compute_channel.c) */
extern int	compute_receive_parts(const uint8 *pt, size_t len, Shareholder *self,
								  Shareholder *sender, char *why, size_t whylen);
/* move staged shares of new secrets of origin into ssn.held_share; how many */
extern int	compute_confirm_local(const char *origin, Datum idarr);
extern void compute_materialize_local(const uint8 *prog, size_t plen, const char *origin, int x);
extern void compute_reshare_local(const uint8 *prog, size_t plen, const char *origin,
								  ShareholderList *cat, Shareholder *self,
								  const uint8 *contrib, int ncontrib,
								  const uint8 *recv, int nrecv);

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
