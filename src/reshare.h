/*
 * reshare.h - rebuilding a failed shareholder's shares on a replacement.
 */
#ifndef SSN_RESHARE_H
#define SSN_RESHARE_H

#include "postgres.h"

#include "catalog.h"

/* helper: a request of the SSA (origin); sends the contributions; how many, or -1 */
extern int	reshare_help(const uint8 *pt, size_t len, Shareholder *self, const char *origin,
						 char *why, size_t whylen);

/* helper: keep a request of the SSA until it asks for the contributions */
extern int	reshare_queue(const uint8 *pt, size_t len, const uint8 *msg_id, const char *origin);

/* replacement: contributions from a helper, kept until the SSA finishes; how many, or -1 */
extern int	reshare_receive(const uint8 *pt, size_t len, Shareholder *self, Shareholder *sender,
							char *why, size_t whylen);

/* node worker: re-share onto a standby a shareholder unreachable beyond ssn.failover_after */
extern void reshare_failover_pass(void);

#endif							/* SSN_RESHARE_H */
