/*
 * thresholds.h - alarms raised before trouble (key pools, outbox age, silent
 * shareholders, renewals behind), checked by the node worker.
 */
#ifndef SSN_THRESHOLDS_H
#define SSN_THRESHOLDS_H

/* the worker pass (from _PG_init) */
extern void thresholds_init(void);

#endif							/* SSN_THRESHOLDS_H */
