/*
 * check_record.h - the signed check value of a byte-string secret (a checked
 * GF(2^8) sharing, share_format.h): a digest of the value and its salt, which the
 * SSA signs at store and checks before it rebuilds the value.
 *
 * Why a salted digest and not per-share commitments: GF(2^8) has no homomorphic
 * commitment that renewal could update without the secret, while the value (and so
 * its digest) never changes under renewal or re-sharing.  The 32 salt bytes are
 * shared with the value, so fewer than k holders know nothing of them and cannot
 * test guesses of a low-entropy value against the digest.
 *
 * Binary layout (integers little-endian), CHECK_RECORD_SIZE = 160 bytes:
 *
 *   off  len  field
 *     0    1  version (CHECK_RECORD_VERSION)
 *     1    1  k
 *     2    1  n
 *     3    1  value type code (SHARE_TYPE_*)
 *     4    4  reserved, 0
 *     8   16  secret id
 *    24    8  signed_at: microseconds since 1970-01-01 UTC (signed)
 *    32   32  signer: Ed25519 public key of the signing node
 *    64   32  digest: BLAKE2b-256 of CHECK_DIGEST_TAG, the secret id, and the
 *             value's bytes followed by its salt
 *    96   64  Ed25519 signature over CHECK_RECORD_TAG (with its NUL) followed by
 *             bytes [0, 96)
 *
 * The parser takes untrusted bytes and checks the structure only.  Plain C, fuzzed.
 */
#ifndef SSN_CHECK_RECORD_H
#define SSN_CHECK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHECK_RECORD_VERSION	1
#define CHECK_RECORD_SIZE		160
#define CHECK_RECORD_SIGNED		96
#define CHECK_RECORD_ID_SIZE	16
#define CHECK_DIGEST_SIZE		32

#define CHECK_RECORD_TAG		"ssn-check-record-v1"
#define CHECK_DIGEST_TAG		"ssn-check-value-v1"

typedef struct CheckRecord
{
	uint8_t		version;
	int			k;
	int			n;
	int			type;
	uint8_t		id[CHECK_RECORD_ID_SIZE];
	int64_t		signed_at;
	const uint8_t *data;		/* the record itself */
	const uint8_t *signer;		/* 32 bytes */
	const uint8_t *digest;		/* 32 bytes */
	const uint8_t *signature;	/* 64 bytes */
} CheckRecord;

/* the digest of a secret's salted value (its bytes, then the salt) */
extern void check_digest(uint8_t out[CHECK_DIGEST_SIZE], const uint8_t id[CHECK_RECORD_ID_SIZE],
						 const uint8_t *salted, size_t len);

/* write the record (CHECK_RECORD_SIZE bytes), signed with sk (libsodium's 64-byte form) */
extern void check_record_build(uint8_t *out, int k, int n, int type,
							   const uint8_t id[CHECK_RECORD_ID_SIZE], int64_t signed_at,
							   const uint8_t digest[CHECK_DIGEST_SIZE], const uint8_t *sk);

/* structural checks; a message in err if not */
extern bool check_record_parse(CheckRecord *r, const uint8_t *buf, size_t len,
							   char *err, size_t errlen);

/* does the parsed record's signature verify under its own signer key? */
extern bool check_record_signature_ok(const CheckRecord *r)
			__attribute__((warn_unused_result));

/* do the rebuilt salted value's bytes have the record's digest?  (constant time) */
extern bool check_record_matches(const CheckRecord *r, const uint8_t *salted, size_t len)
			__attribute__((warn_unused_result));

#endif							/* SSN_CHECK_RECORD_H */
