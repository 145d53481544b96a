/*
 * share_batch.h - the plaintext of a channel message that carries shares: each
 * share as its length (LEB128: 1 byte for a number, 2 for up to 16 KiB) and its
 * binary form (share_format.h).
 * Plain C, fuzzed: the receiver parses it only after the MAC verified, but a
 * faulty or compromised peer can still send anything.
 */
#ifndef SSN_SHARE_BATCH_H
#define SSN_SHARE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "share/share_format.h"

/* most bytes a length takes (shares are < 2^32 bytes) */
#define SHARE_BATCH_PREFIX 5

/* append one share (len bytes) at out (room for len + SHARE_BATCH_PREFIX);
 * returns the bytes written */
extern size_t share_batch_put(uint8_t *out, const uint8_t *share, size_t len);

/*
 * The next share at *off: validates framing and the share itself (CRC, header).
 * Returns false at the end (*err empty) or on a malformed batch (*err set).
 */
extern bool share_batch_next(const uint8_t *buf, size_t len, size_t *off,
							 const uint8_t **share, size_t *share_len, ShareHeader *h,
							 char *err, size_t errlen);

/*
 * On the wire a batch travels in two parts (crypto/envelope.h, version 2): what
 * needs secrecy, one-time-pad encrypted, and what needs only integrity, sent in
 * clear under the same MAC.  The secret part of a share is the start of its
 * payload: its 32-byte elements in the prime field (y; y and t; y and the salt),
 * its whole payload in GF(2^8).  The rest of the payload (a commitment record, a
 * served digest) and its header are clear, but never its checksum: a CRC of the
 * payload would tell something about y.
 *
 *   clear:  per share, its header without the CRC (SHARE_SPLIT_HEADER bytes) and
 *           the public end of its payload
 *   secret: per share, the secret start of its payload
 */
#define SHARE_SPLIT_HEADER (SHARE_HEADER_SIZE - 4)

/* bytes of a share's payload that are secret (the rest is public) */
static inline uint32_t
share_secret_len(const ShareHeader *h)
{
	uint32_t	s;

	if (h->field != SHARE_FIELD_PRIME)
		return h->payload_len;
	s = 32 * (uint32_t) share_scalars(h);
	return h->payload_len < s ? h->payload_len : s;
}

/*
 * Split a valid batch of len bytes into clear and secret (each with room for len
 * bytes).  false with *err set if the batch is malformed.
 */
extern bool share_batch_split(const uint8_t *batch, size_t len, uint8_t *clear, size_t *clear_len,
							  uint8_t *secret, size_t *secret_len, char *err, size_t errlen);

/* room share_batch_join needs for a batch rebuilt from these parts */
static inline size_t
share_batch_join_bound(size_t clear_len, size_t secret_len)
{
	return clear_len + secret_len + (clear_len / SHARE_SPLIT_HEADER + 1) * (4 + SHARE_BATCH_PREFIX);
}

/*
 * Rebuild the batch from its two parts (out: share_batch_join_bound bytes), each
 * share's checksum computed again and the share validated; every byte of both
 * parts must be used.  false with *err set otherwise.
 */
extern bool share_batch_join(const uint8_t *clear, size_t clear_len, const uint8_t *secret,
							 size_t secret_len, uint8_t *out, size_t *out_len, char *err, size_t errlen);

#endif							/* SSN_SHARE_BATCH_H */
