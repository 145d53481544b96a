/*
 * share_batch.c - framing of shares in a channel message.
 */
#include "share_batch.h"

#include <stdio.h>
#include <string.h>

size_t
share_batch_put(uint8_t *out, const uint8_t *share, size_t len)
{
	out[0] = len & 0xff;
	out[1] = (len >> 8) & 0xff;
	out[2] = (len >> 16) & 0xff;
	out[3] = (len >> 24) & 0xff;
	memcpy(out + SHARE_BATCH_PREFIX, share, len);
	return len + SHARE_BATCH_PREFIX;
}

bool
share_batch_next(const uint8_t *buf, size_t len, size_t *off,
				 const uint8_t **share, size_t *share_len, ShareHeader *h,
				 char *err, size_t errlen)
{
	size_t		n;
	char		why[160];

	err[0] = '\0';
	if (*off == len)
		return false;
	if (len - *off < SHARE_BATCH_PREFIX)
	{
		snprintf(err, errlen, "truncated share length at offset %zu", *off);
		return false;
	}
	n = (size_t) buf[*off] | ((size_t) buf[*off + 1] << 8) |
		((size_t) buf[*off + 2] << 16) | ((size_t) buf[*off + 3] << 24);
	if (n > len - *off - SHARE_BATCH_PREFIX)
	{
		snprintf(err, errlen, "share at offset %zu claims %zu bytes, %zu remain",
				 *off, n, len - *off - SHARE_BATCH_PREFIX);
		return false;
	}
	if (!share_validate(buf + *off + SHARE_BATCH_PREFIX, n, h, why, sizeof(why)))
	{
		snprintf(err, errlen, "invalid share at offset %zu: %s", *off, why);
		return false;
	}
	*share = buf + *off + SHARE_BATCH_PREFIX;
	*share_len = n;
	*off += SHARE_BATCH_PREFIX + n;
	return true;
}
