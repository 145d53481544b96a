/*
 * share_batch.c - framing of shares in a channel message.
 */
#include "share/share_batch.h"

#include <stdio.h>
#include <string.h>

size_t
share_batch_put(uint8_t *out, const uint8_t *share, size_t len)
{
	size_t		n = 0,
				v = len;

	do
	{
		out[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	memcpy(out + n, share, len);
	return n + len;
}

bool
share_batch_next(const uint8_t *buf, size_t len, size_t *off,
				 const uint8_t **share, size_t *share_len, ShareHeader *h,
				 char *err, size_t errlen)
{
	size_t		n = 0,
				p = *off;
	int			shift = 0;
	char		why[160];

	err[0] = '\0';
	if (*off == len)
		return false;
	/* the length: LEB128, at most SHARE_BATCH_PREFIX bytes, minimal encoding */
	for (;;)
	{
		uint8_t		b;

		if (p == len || p - *off == SHARE_BATCH_PREFIX)
		{
			snprintf(err, errlen, "truncated or overlong share length at offset %zu", *off);
			return false;
		}
		b = buf[p++];
		n |= (size_t) (b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
		{
			if (b == 0 && p - *off > 1)
			{
				snprintf(err, errlen, "non-minimal share length at offset %zu", *off);
				return false;
			}
			break;
		}
	}
	if (n > len - p)
	{
		snprintf(err, errlen, "share at offset %zu claims %zu bytes, %zu remain", *off, n, len - p);
		return false;
	}
	if (!share_validate(buf + p, n, h, why, sizeof(why)))
	{
		snprintf(err, errlen, "invalid share at offset %zu: %s", *off, why);
		return false;
	}
	*share = buf + p;
	*share_len = n;
	*off = p + n;
	return true;
}
