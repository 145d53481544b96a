/*
 * secret_record.h - what another SSA needs of a secret besides its shares: its
 * owner and grantees (by role name), value type, k, n, holders and signed check
 * record.  The SSA sends it to every holder with the shares and again on every
 * change (grant, revoke, deletion), so that the holders can hand a secret over to
 * a new SSA when the storing node is lost (ssa/take_over.c).  Integrity only:
 * it travels in the clear part of a message, under the link's one-time MAC.
 *
 * A message of kind 'records' is SECRET_RECORD_FORMAT (1 byte) and records
 * until its end.  One record (integers little-endian):
 *
 *   off len field
 *     0  16 secret id
 *    16   8 version: microseconds since 1970 of the change; a holder keeps the newest
 *    24   1 flags: SECRET_RECORD_DELETED
 *    25   1 k (2..255), then n (k..255), then n share indexes (1..255, ascending)
 *     .   1 length of the owner's role name (1..63), and the name
 *     .   1 length of the value type's name (1..255), and the name
 *     .   2 length of the check record (0 or CHECK_RECORD_SIZE), and the record
 *     .   2 number of grantees (0..SECRET_RECORD_MAX_GRANTEES), each a role name
 *           framed like the owner's
 *
 * Names hold no NUL and no control character.  Plain C, fuzzed.
 */
#ifndef SSN_SECRET_RECORD_H
#define SSN_SECRET_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_RECORD_FORMAT	1
#define SECRET_RECORD_DELETED	0x01
#define SECRET_RECORD_ID_SIZE	16
#define SECRET_RECORD_MAX_ROLE	63		/* NAMEDATALEN - 1 */
#define SECRET_RECORD_MAX_TYPE	255
#define SECRET_RECORD_MAX_GRANTEES 4096
#define SECRET_RECORD_MAX_CHECK	1024
/* a record without grantees, the largest: what a new secret's needs at most */
#define SECRET_RECORD_MAX_SIZE	(SECRET_RECORD_ID_SIZE + 8 + 3 + 255 + 1 + SECRET_RECORD_MAX_ROLE + \
								 1 + SECRET_RECORD_MAX_TYPE + 2 + SECRET_RECORD_MAX_CHECK + 2)

typedef struct SecretRecord
{
	uint8_t		id[SECRET_RECORD_ID_SIZE];
	int64_t		version;
	uint8_t		flags;
	int			k;
	int			n;
	uint8_t		holders[255];
	const char *owner;			/* writing: NUL-terminated; parsed: owner_len bytes */
	size_t		owner_len;
	const char *type;
	size_t		type_len;
	const uint8_t *check;		/* NULL or check_len bytes */
	size_t		check_len;
	int			ngrantees;
	const char *const *grantees;	/* writing only: ngrantees NUL-terminated names */
	const uint8_t *grantee_data;	/* parsed only: the framed names */
} SecretRecord;

/* bytes the record takes; 0 if it cannot be written (a bad name, k, n or size) */
extern size_t secret_record_size(const SecretRecord *r);

/* write it at out (secret_record_size() bytes); returns the bytes written */
extern size_t secret_record_write(uint8_t *out, const SecretRecord *r);

/*
 * The next record of a message at *off (start at 1, after the format byte, which
 * secret_record_format_ok checks).  false at the end (err empty) or on a
 * malformed record (err set).  The record's pointers point into buf.
 */
extern bool secret_record_format_ok(const uint8_t *buf, size_t len, char *err, size_t errlen);
extern bool secret_record_next(const uint8_t *buf, size_t len, size_t *off, SecretRecord *r,
							   char *err, size_t errlen);

/* grantee i (0-based) of a parsed record: *name points into the message */
extern void secret_record_grantee(const SecretRecord *r, int i, const char **name, size_t *len);

#endif							/* SSN_SECRET_RECORD_H */
