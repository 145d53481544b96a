/*
 * share_batch.h - the plaintext of a channel message that carries shares: each
 * share as a 4-byte little-endian length and its binary form (share_format.h).
 * Plain C, fuzzed: the receiver parses it only after the MAC verified, but a
 * faulty or compromised peer can still send anything.
 */
#ifndef SSN_SHARE_BATCH_H
#define SSN_SHARE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "share_format.h"

#define SHARE_BATCH_PREFIX 4

/* append one share (len bytes) at out; returns bytes written (len + 4) */
extern size_t share_batch_put(uint8_t *out, const uint8_t *share, size_t len);

/*
 * The next share at *off: validates framing and the share itself (CRC, header).
 * Returns false at the end (*err empty) or on a malformed batch (*err set).
 */
extern bool share_batch_next(const uint8_t *buf, size_t len, size_t *off,
							 const uint8_t **share, size_t *share_len, ShareHeader *h,
							 char *err, size_t errlen);

#endif							/* SSN_SHARE_BATCH_H */
