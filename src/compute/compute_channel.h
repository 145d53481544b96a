/*
 * compute_channel.h - the shareholder's side of computing on shares: evaluate the
 * SSA's programs on this node's shares, re-share products, keep staged results
 * (compute/compute_channel.c).
 */
#ifndef SSN_COMPUTE_CHANNEL_H
#define SSN_COMPUTE_CHANNEL_H

#include "postgres.h"

#include "net/catalog.h"

/* move staged shares of new secrets of origin into ssn.held_share; how many */
extern int	compute_confirm_local(const char *origin, Datum idarr);
extern void compute_materialize_local(const uint8 *prog, size_t plen, const char *origin, int x);
extern void compute_reshare_local(const uint8 *prog, size_t plen, const char *origin,
								  ShareholderList *cat, Shareholder *self,
								  const uint8 *contrib, int ncontrib,
								  const uint8 *recv, int nrecv);

/* registers the message kind 'parts' */
extern void compute_channel_init(void);

#endif							/* SSN_COMPUTE_CHANNEL_H */
