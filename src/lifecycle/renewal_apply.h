/*
 * renewal_apply.h - a shareholder's side of a renewal: add the coordinator's parts
 * to its shares inside the transaction the coordinator prepares
 * (lifecycle/renewal_apply.c).
 */
#ifndef SSN_RENEWAL_APPLY_H
#define SSN_RENEWAL_APPLY_H

#include "postgres.h"

/*
 * Add a message of renewal parts (a share batch of deltas, each at the new epoch)
 * from origin to this node's shares of its secrets, deleting the old epoch.
 * Returns how many shares were renewed, or -1 with why set (nothing is then
 * changed by the caller's transaction if it rolls back).  The coordinator's own
 * node applies its parts this way too.
 */
extern int	renewal_apply(const uint8 *pt, size_t len, const char *origin, int self_x,
						  char *why, size_t whylen);

/* registers the message kind 'renew' */
extern void renewal_apply_init(void);

#endif							/* SSN_RENEWAL_APPLY_H */
