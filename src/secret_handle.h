/*
 * secret_handle.h - ssn_secret, the handle of a stored value that user tables
 * keep: which secret (id, epoch), what type, which sharing (k, n) and which
 * shareholders (their share indexes, i.e. x-coordinates).  No share material.
 *
 * Layout after the varlena header (integers little-endian):
 *   0  1 version (1)     1 1 value type (SHARE_TYPE_*)   2 1 k   3 1 n
 *   4  4 epoch           8 16 secret id                 24 n share indexes
 */
#ifndef SSN_SECRET_HANDLE_H
#define SSN_SECRET_HANDLE_H

#include "postgres.h"

#include "fmgr.h"
#include "share_format.h"

#define HANDLE_VERSION 1
#define HANDLE_FIXED 24

typedef struct SecretHandle
{
	int			type;
	int			k;
	int			n;
	uint32		epoch;
	uint8		id[SHARE_ID_SIZE];
	uint8		holders[SHARE_MAX_N];	/* share indexes, ascending */
} SecretHandle;

/* a new ssn_secret datum */
extern Datum handle_make(const SecretHandle *h);

/* decode and validate a datum (22P02/XX001 on a bad one) */
extern void handle_read(Datum d, SecretHandle *h);

#endif							/* SSN_SECRET_HANDLE_H */
