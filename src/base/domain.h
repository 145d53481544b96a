/*
 * domain.h - forced into every backend file of the extension (Makefile): its
 * ereports carry the message domain "ssn", by which base/log_privacy.c knows them.
 */
#ifndef SSN_DOMAIN_H
#define SSN_DOMAIN_H

#include "postgres.h"

#undef TEXTDOMAIN
#define TEXTDOMAIN "ssn"

#endif							/* SSN_DOMAIN_H */
