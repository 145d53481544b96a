/*
 * prepared.h - renewal switches prepared on this holder whose coordinator may
 * never return: the evidence of how each ended, the status peers ask for, and
 * the resolution of those in doubt (see prepared.c).
 */
#ifndef SSN_PREPARED_H
#define SSN_PREPARED_H

#include "postgres.h"

extern void prepared_init(void);

/* renewal parts from coordinator were applied in the current transaction */
extern void prepared_note_switch(const char *coordinator);

/* a renewal's prepared transactions start with this (renewal.c names them) */
#define PREPARED_GID_PREFIX "ssn_renew_"

#endif							/* SSN_PREPARED_H */
