/*
 * errbuf.h - how the plain-C modules (no PostgreSQL headers) report what is wrong:
 * a message in the caller's buffer and a false return; the backend side turns it
 * into an ereport with the right SQLSTATE.
 */
#ifndef SSN_ERRBUF_H
#define SSN_ERRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static inline bool
fail(char *errbuf, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return false;
}

#endif							/* SSN_ERRBUF_H */
