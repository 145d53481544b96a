/*
 * share_format.h - the ssn_share wire and disk format, and its text form.
 *
 * A share is one point (x, y) of one secret's sharing polynomial plus the metadata
 * needed to combine it safely with others.  Binary layout (all integers little-endian,
 * identical on disk, in COPY BINARY / send-recv, and on the network):
 *
 *   off len field
 *     0   1 format version (SHARE_FORMAT_VERSION)
 *     1   1 field: 1 = prime field F_l, 2 = GF(2^8)
 *     2   1 value type code (SHARE_TYPE_*)
 *     3   1 x-coordinate, 1..255: the holder's share index
 *     4   1 threshold k, 2..255
 *     5   1 total shares n, k..255
 *     6   1 polynomial degree: k-1 after a split, larger after share*share
 *     7   1 flags: 0, or SHARE_FLAG_CHECKED (a checked share, see below)
 *     8   2 decimal scale of a numeric value (prime field only, else 0)
 *    10   2 reserved, 0
 *    12   4 epoch (renewal generation)
 *    16  16 secret id (random at split; derived for results of algebra)
 *    32   4 payload length in bytes
 *    36   4 CRC-32C of bytes 0..35 and the payload
 *    40   - payload: 32-byte canonical field element (prime), or one byte per
 *           byte of the value (GF(2^8))
 *
 * Text form, fields in this fixed order, separated by single spaces:
 *
 *   ssn1 x=1 k=3 n=5 d=2 e=0 f=prime t=int8 s=0 id=<32 hex> p=<base64> c=<8 hex>
 *
 * with " g=<flags>" (decimal) after s= when the flags are not 0.
 * "ssn1" names format version 1, id and c (the CRC-32C) are lower-case hex, p is the
 * payload in canonical standard base64 with padding: each share has exactly one text
 * form.  Everything is validated on input.
 *
 * Plain C (no PostgreSQL headers): unit tests and fuzzers link it.
 */
#ifndef SSN_SHARE_FORMAT_H
#define SSN_SHARE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"

#define SHARE_FORMAT_VERSION	1
#define SHARE_HEADER_SIZE		40
#define SHARE_ID_SIZE			16
#define SHARE_MAX_N				255
#define SHARE_MAX_SCALE			1000	/* NUMERIC_MAX_DISPLAY_SCALE */
#define SHARE_MAX_PAYLOAD		(1000 * 1000 * 1000)	/* below MaxAllocSize */

typedef enum ShareField
{
	SHARE_FIELD_PRIME = 1,
	SHARE_FIELD_GF256 = 2
} ShareField;

typedef enum ShareType
{
	SHARE_TYPE_BOOL = 1,
	SHARE_TYPE_INT2 = 2,
	SHARE_TYPE_INT4 = 3,
	SHARE_TYPE_INT8 = 4,
	SHARE_TYPE_NUMERIC = 5,
	SHARE_TYPE_TEXT = 16,
	SHARE_TYPE_VARCHAR = 17,
	SHARE_TYPE_BPCHAR = 18,
	SHARE_TYPE_BYTEA = 19,
	SHARE_TYPE_DATE = 20,
	SHARE_TYPE_TIMESTAMP = 21,
	SHARE_TYPE_TIMESTAMPTZ = 22,
	SHARE_TYPE_UUID = 23,
	SHARE_TYPE_JSON = 24,
	SHARE_TYPE_JSONB = 25,
	SHARE_TYPE_FLOAT4 = 26,
	SHARE_TYPE_FLOAT8 = 27
} ShareType;

/* Decoded header: what the binary layout holds, in host form. */
typedef struct ShareHeader
{
	uint8_t		version;
	uint8_t		field;
	uint8_t		type;
	uint8_t		x;
	uint8_t		k;
	uint8_t		n;
	uint8_t		degree;
	uint8_t		flags;
	uint16_t	scale;
	uint32_t	epoch;
	uint8_t		id[SHARE_ID_SIZE];
	uint32_t	payload_len;
	uint32_t	crc;
} ShareHeader;

/*
 * A verifiable share (prime field only): its payload is the 32-byte value, the
 * 32-byte value of the Pedersen blinding polynomial at x, and the SSA's signed
 * commitment record (commitment.h) for this secret and epoch.  Its degree is k-1.
 * Served back to the SSA, it travels without the record (the SSA keeps its own).
 */
#define SHARE_VERIFIABLE_PAYLOAD(k)	(64 + 128 + 32 * (size_t) (k))
/*
 * As a shareholder serves it back to its SSA: y, t and a 16-byte BLAKE2b digest of
 * the commitment points its record holds (the SSA has the record itself).
 */
#define SHARE_SERVED_PAYLOAD		80
#define SHARE_SERVED_DIGEST			16

/*
 * A checked share: its payload is a share of the value followed by a share of a
 * random salt (GF(2^8): SHARE_CHECK_SALT bytes; prime field: one 32-byte element, so
 * 64 bytes in all), and the SSA keeps a signed digest of value and salt
 * (crypto/check_record.h).  The salt keeps the digest from confirming guesses of a
 * low-entropy value; being shared like the value, renewal and re-sharing refresh it
 * and leave the digest valid.  Numbers stored without Pedersen commitments are
 * checked shares.
 */
#define SHARE_FLAG_CHECKED		0x01
#define SHARE_CHECK_SALT		32

static inline bool
share_is_checked(const ShareHeader *h)
{
	return (h->flags & SHARE_FLAG_CHECKED) != 0;
}

/* bytes of the value itself in a share's payload */
static inline uint32_t
share_value_len(const ShareHeader *h)
{
	return share_is_checked(h) ? h->payload_len - SHARE_CHECK_SALT : h->payload_len;
}

static inline bool
share_is_verifiable(const ShareHeader *h)
{
	return h->field == SHARE_FIELD_PRIME && h->payload_len > 32 && !share_is_checked(h);
}

/* prime field: the 32-byte elements a share carries before any record (y; y, t; y, z) */
static inline int
share_scalars(const ShareHeader *h)
{
	return h->field == SHARE_FIELD_PRIME && h->payload_len > 32 ? 2 : 1;
}

static inline bool
share_has_record(const ShareHeader *h)
{
	return h->field == SHARE_FIELD_PRIME && h->payload_len > SHARE_SERVED_PAYLOAD && !share_is_checked(h);
}

/* Names and properties of value types; NULL / -1 / 0 for an unknown code. */
extern const char *share_type_name(int type);
extern int	share_type_from_name(const char *name, size_t len);
extern int	share_type_field(int type);
extern int	share_type_fixed_len(int type);	/* -1 if variable length */
extern const char *share_field_name(int field);

/*
 * Write a header (computing the CRC over header and payload) in front of a payload
 * that the caller already placed at buf + SHARE_HEADER_SIZE.
 */
extern void share_seal(uint8_t *buf, const ShareHeader *h);

/* Read the header fields without checking anything. */
extern void share_read_header(const uint8_t *buf, ShareHeader *h);

/*
 * Check everything a share can say about itself: length, version, field/type
 * agreement, ranges of x, k, n, degree and scale, reserved bytes, payload length,
 * canonical field element, CRC.  Returns true if valid; else false with a message
 * for the user in errbuf.
 */
extern bool share_validate(const uint8_t *buf, size_t len, ShareHeader *h,
						   char *errbuf, size_t errlen);

/* Text form.  share_text_len() is the exact length without the terminating NUL. */
extern size_t share_text_len(const uint8_t *buf, size_t len);
extern void share_to_text(char *out, const uint8_t *buf, size_t len);

/*
 * Parse a text form into a freshly allocated binary share (allocated with alloc(size),
 * so the backend can pass palloc).  Returns NULL with a message in errbuf if the text
 * is malformed or the share fails share_validate().
 */
extern uint8_t *share_from_text(const char *text, size_t textlen, size_t *outlen,
								void *(*alloc) (size_t), char *errbuf, size_t errlen);

#endif							/* SSN_SHARE_FORMAT_H */
