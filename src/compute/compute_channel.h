/*
 * compute_channel.h - the shareholder's side of computing on shares: evaluate the
 * SSA's programs on this node's shares, re-share products, keep staged results
 * (compute/compute_channel.c).
 */
#ifndef SSN_COMPUTE_CHANNEL_H
#define SSN_COMPUTE_CHANNEL_H

#include "postgres.h"

#include "net/catalog.h"
#include "nodes/pg_list.h"

/* move staged shares of new secrets of origin into ssn.held_share; how many */
extern int	compute_confirm_local(const char *origin, Datum idarr);
extern void compute_materialize_local(const uint8 *prog, size_t plen, const char *origin, int x);

/*
 * Evaluate the products, re-share this node's weighted results and send each
 * receiver its parts.  This node's own parts come back in *own (a List of bytea,
 * one message each) when own is not NULL, for compute_reshare_keep_own once
 * no other contributor can still be delivering parts here; otherwise they are
 * kept at the end.
 */
extern void compute_reshare_local(const uint8 *prog, size_t plen, const char *origin,
								  ShareholderList *cat, Shareholder *self,
								  const uint8 *contrib, int ncontrib,
								  const uint8 *recv, int nrecv, List **own);
extern void compute_reshare_keep_own(List *own, Shareholder *self);
/* wipe this node's own parts unkept (keep_own wipes them too) */
extern void compute_reshare_wipe_own(List *own);

/* registers the message kind 'parts' */
extern void compute_channel_init(void);

#endif							/* SSN_COMPUTE_CHANNEL_H */
