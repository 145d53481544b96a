/*
 * alarm.h - the manager's alarms (table ssn.alarm): raised once per (source,
 * object, problem) while active, counted while repeated, cleared when the
 * condition ends.  Run in the caller's transaction (SPI).
 */
#ifndef SSN_ALARM_H
#define SSN_ALARM_H

#include "postgres.h"

/* returns true if the alarm is new (was not active) */
extern bool alarm_raise(const char *source, const char *object, const char *severity,
						const char *problem, const char *detail);

/* clear the active alarms of source and object (problem NULL: all of them);
 * returns how many were cleared */
extern int	alarm_clear(const char *source, const char *object, const char *problem);

#endif							/* SSN_ALARM_H */
