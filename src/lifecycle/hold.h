/*
 * hold.h - a shareholder keeps the shares an SSA sends it (lifecycle/hold.c).
 */
#ifndef SSN_HOLD_H
#define SSN_HOLD_H

#include "postgres.h"

/* the parameters ($1 ids, $2 epochs, $3 shares, $4 origin) of a bulk insert into ssn.held_share */
extern void held_share_args(Oid *types, Datum *values, Datum *ids, Datum *epochs, Datum *shares,
							int n, const char *origin);

/* registers the message kind 'shares' */
extern void hold_init(void);

#endif							/* SSN_HOLD_H */
