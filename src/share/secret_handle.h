/*
 * secret_handle.h - ssn_secret, the handle of a stored value that user tables
 * keep: which secret (id, epoch), what type, which sharing (k, n) and which
 * shareholders (their share indexes, i.e. x-coordinates).  No share material.
 *
 * Layout after the varlena header (integers little-endian):
 *   0  1 version (1)     1 1 value type (SHARE_TYPE_*)   2 1 k   3 1 n
 *   4  4 epoch           8 16 secret id                 24 n share indexes
 *
 * A computed secret (a + b, 2 * a * b + c, ...) is a handle of version 2: an
 * expression over stored secrets (secret_expr.h) that the shareholders evaluate
 * when it is retrieved or aggregated.  Nothing is computed or sent when it is made.
 *   0  1 version (2)     1 1 result type (int8 or numeric)  2 1 k   3 1 n
 *   4  1 degree (0-2)    5 3 zero                           8 n share indexes
 *   8+n  the expression (wire form)
 */
#ifndef SSN_SECRET_HANDLE_H
#define SSN_SECRET_HANDLE_H

#include "postgres.h"

#include "fmgr.h"
#include "share/share_format.h"

#define HANDLE_VERSION 1
#define HANDLE_FIXED 24
#define HANDLE_COMPUTED_VERSION 2
#define HANDLE_COMPUTED_FIXED 8

struct SecretExpr;

typedef struct SecretHandle
{
	int			type;
	int			k;
	int			n;
	uint32		epoch;
	uint8		id[SHARE_ID_SIZE];
	uint8		holders[SHARE_MAX_N];	/* share indexes, ascending */
	bool		computed;		/* a version 2 handle: no id, an expression */
	int			degree;			/* of the expression (computed only) */
} SecretHandle;

/* a new ssn_secret datum */
extern Datum handle_make(const SecretHandle *h);

/* decode and validate a datum (XX001 on a bad one); a stored secret's handle only */
extern void handle_read(Datum d, SecretHandle *h);

/*
 * Decode any handle: a stored secret's (e, if given, becomes 1 * the secret) or a
 * computed one's (e gets its expression).  Returns h->computed.
 */
extern bool handle_read_any(Datum d, SecretHandle *h, struct SecretExpr *e);

/*
 * The header of any handle (type, k, n, holders, degree), without decoding a
 * computed secret's expression (whoever evaluates it checks it).
 */
extern bool handle_read_header(Datum d, SecretHandle *h);

/* a secret id as uuid text (for messages) */
extern char *secret_id_text(const uint8 *id);

/* a new computed handle */
extern Datum handle_make_computed(const SecretHandle *h, const struct SecretExpr *e);

#endif							/* SSN_SECRET_HANDLE_H */
