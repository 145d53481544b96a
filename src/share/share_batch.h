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

#endif							/* SSN_SHARE_BATCH_H */
