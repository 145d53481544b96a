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

#include "share/secret_handle.h"

/* the shares a computed handle needs: degree * (k - 1) + 1, at least k */
extern int	compute_need(const SecretHandle *h);

#endif							/* SSN_COMPUTE_H */
