/*
 * alarm_queue.h - alarms that outlive the transaction that raised them.
 *
 * A refusal caused by the caller (a peer speaking in another node's name, say)
 * must be alarmed even if the caller rolls its transaction back or the refusal
 * is an ERROR: such alarms go through shared memory to the node worker, which
 * records them in ssn.alarm in a transaction of its own.
 */
#ifndef SSN_ALARM_QUEUE_H
#define SSN_ALARM_QUEUE_H

#include "postgres.h"

/* shared memory and the worker pass that drains it (from _PG_init, any time) */
extern void alarm_queue_init(void);

/*
 * Queue an alarm for the node worker; without a worker (ssn not preloaded)
 * raised in the current transaction instead.  Also logged at once.
 */
extern void alarm_raise_durable(const char *source, const char *object, const char *severity,
								const char *problem, const char *detail);

#endif							/* SSN_ALARM_QUEUE_H */
