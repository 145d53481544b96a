/*
 * commitment.h - signed, timestamped records of the Pedersen commitments of one
 * sharing (pedersen.h), as the dealing node publishes them to the shareholders.
 *
 * Binary layout (integers little-endian), COMMIT_RECORD_SIZE(k) = 128 + 32k bytes:
 *
 *   off    len  field
 *     0      1  version (COMMIT_RECORD_VERSION)
 *     1      1  k, the number of points, 1..255
 *     2      2  reserved, 0
 *     4      4  epoch (renewals count up)
 *     8     16  secret id
 *    24      8  signed_at: microseconds since 1970-01-01 UTC (signed)
 *    32     32  signer: Ed25519 public key of the signing node
 *    64    32k  points C_0 .. C_{k-1} (ristretto255 encodings)
 *  64+32k   64  Ed25519 signature over COMMIT_RECORD_TAG (18 bytes, with its NUL)
 *               followed by bytes [0, 64 + 32k)
 *
 * The parser takes untrusted bytes (network, disk) and checks the structure only;
 * commit_record_verify() also checks the signature under the embedded key.  Whether
 * that key is one the caller trusts, and whether the points are valid encodings
 * (pedersen.c refuses invalid ones), are the caller's checks.  Plain C, fuzzed.
 */
#ifndef SSN_COMMITMENT_H
#define SSN_COMMITMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMIT_RECORD_VERSION	1
#define COMMIT_RECORD_HEADER	64
#define COMMIT_RECORD_SIG		64
#define COMMIT_RECORD_POINT		32
#define COMMIT_RECORD_K_MAX		255
#define COMMIT_RECORD_ID_SIZE	16
#define COMMIT_RECORD_KEY_SIZE	32
#define COMMIT_RECORD_SIZE(k) \
	((size_t) COMMIT_RECORD_HEADER + (size_t) COMMIT_RECORD_POINT * (size_t) (k) + \
	 COMMIT_RECORD_SIG)
#define COMMIT_RECORD_MAX_SIZE	COMMIT_RECORD_SIZE(COMMIT_RECORD_K_MAX)

/* the domain tag the signature covers first: "ssn-commitment-v1" and its NUL */
#define COMMIT_RECORD_TAG		"ssn-commitment-v1"
#define COMMIT_RECORD_TAG_LEN	18

/* a parsed record: fields, and pointers into the buffer it was parsed from */
typedef struct CommitRecord
{
	uint8_t		version;
	int			k;
	uint32_t	epoch;
	uint8_t		id[COMMIT_RECORD_ID_SIZE];
	int64_t		signed_at;		/* microseconds since 1970-01-01 UTC */
	const uint8_t *data;		/* the record itself */
	const uint8_t *signer;		/* 32-byte Ed25519 public key */
	const uint8_t *points;		/* k * 32 bytes */
	const uint8_t *signature;	/* 64 bytes */
	size_t		signed_len;		/* bytes the signature covers after the tag */
} CommitRecord;

/*
 * Write the record for k (1..255) points into out (COMMIT_RECORD_SIZE(k) bytes),
 * signed with the Ed25519 secret key sk (64 bytes, libsodium's form; the signer
 * field is its public key).  Returns the size, or 0 if k is out of range.
 */
extern size_t commit_record_build(uint8_t *out, int k, uint32_t epoch,
								  const uint8_t id[COMMIT_RECORD_ID_SIZE],
								  int64_t signed_at, const uint8_t *points,
								  const uint8_t *sk);

/* Structural checks (length, version, k, reserved bytes); a message in err if not. */
extern bool commit_record_parse(CommitRecord *r, const uint8_t *buf, size_t len,
								char *err, size_t errlen);

/* Does the parsed record's signature verify under its own signer key? */
extern bool commit_record_signature_ok(const CommitRecord *r)
			__attribute__((warn_unused_result));

/* commit_record_parse() and commit_record_signature_ok() */
extern bool commit_record_verify(const uint8_t *buf, size_t len)
			__attribute__((warn_unused_result));

#endif							/* SSN_COMMITMENT_H */
