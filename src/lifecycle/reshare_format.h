/*
 * reshare_format.h - the re-sharing request an SSA sends a helper (reshare.c).
 *
 *   1 byte  length L of the replacement's name, then L bytes of it (1..63)
 *   1 byte  xf, the share index to rebuild (1..255)
 *   items to the end, one per secret:
 *     16 bytes  secret id
 *      1 byte   k, the number of helpers (1..255)
 *      k bytes  their share indexes: distinct, none of them xf
 *     32 bytes  this helper's mask seed, 32 bytes the next helper's
 *
 * Plain C (no PostgreSQL headers): the fuzzer links it.
 */
#ifndef SSN_RESHARE_FORMAT_H
#define SSN_RESHARE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESHARE_SEED_BYTES	32
#define RESHARE_NAME_MAX	63

typedef struct ReshareItem
{
	const uint8_t *id;			/* 16 bytes */
	int			k;
	const uint8_t *xs;			/* k share indexes */
	const uint8_t *seed_a;
	const uint8_t *seed_b;
} ReshareItem;

/* the header: name (NUL-terminated into name[64]) and xf; *off set past it */
extern bool reshare_request_header(const uint8_t *buf, size_t len, char *name, int *xf,
								   size_t *off, char *err, size_t errlen);

/* the next item at *off; false at the end (err empty) or on malformed input (err set) */
extern bool reshare_request_next(const uint8_t *buf, size_t len, size_t *off, int xf,
								 ReshareItem *item, char *err, size_t errlen);

#endif							/* SSN_RESHARE_FORMAT_H */
