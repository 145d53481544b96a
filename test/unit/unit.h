/*
 * unit.h - the few lines every C unit test needs.  Each test program prints one line
 * per failed check and closes with "<name>: N passed, N failed"; exit status 1 on any
 * failure.
 */
#ifndef SSN_UNIT_H
#define SSN_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int	unit_passed;
static int	unit_failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

static inline int
unit_finish(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
