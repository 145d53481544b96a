/*
 * subxact.h - running a step in an internal subtransaction, so that its error
 * can be looked at (and the step undone) without ending the caller's transaction.
 */
#ifndef SSN_SUBXACT_H
#define SSN_SUBXACT_H

#include "postgres.h"

/* run fn in a subtransaction: NULL if it succeeded, else its error (rolled back) */
extern ErrorData *try_in_subxact(void (*fn) (void *), void *arg);

#endif							/* SSN_SUBXACT_H */
