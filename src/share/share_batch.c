/*
 * share_batch.c - framing of shares in a channel message.
 */
#include "share/share_batch.h"

#include <stdio.h>
#include <string.h>

/* a share's length as its prefix (LEB128); returns the bytes written */
static size_t
put_len(uint8_t *out, size_t v)
{
	size_t		n = 0;

	do
	{
		out[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	return n;
}

size_t
share_batch_put(uint8_t *out, const uint8_t *share, size_t len)
{
	size_t		n = put_len(out, len);

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

bool
share_batch_split(const uint8_t *batch, size_t len, uint8_t *clear, size_t *clear_len,
				  uint8_t *secret, size_t *secret_len, char *err, size_t errlen)
{
	size_t		off = 0,
				c = 0,
				k = 0,
				slen;
	const uint8_t *sb;
	ShareHeader h;

	while (share_batch_next(batch, len, &off, &sb, &slen, &h, err, errlen))
	{
		uint32_t	sec = share_secret_len(&h);

		memcpy(clear + c, sb, SHARE_SPLIT_HEADER);
		c += SHARE_SPLIT_HEADER;
		memcpy(secret + k, sb + SHARE_HEADER_SIZE, sec);
		k += sec;
		memcpy(clear + c, sb + SHARE_HEADER_SIZE + sec, h.payload_len - sec);
		c += h.payload_len - sec;
	}
	if (err[0])
		return false;
	*clear_len = c;
	*secret_len = k;
	return true;
}

bool
share_batch_join(const uint8_t *clear, size_t clear_len, const uint8_t *secret,
				 size_t secret_len, uint8_t *out, size_t *out_len, char *err, size_t errlen)
{
	size_t		c = 0,
				k = 0,
				o = 0;
	char		why[160];

	while (c < clear_len)
	{
		uint8_t    *sh;
		ShareHeader h;
		uint32_t	sec;
		size_t		pub,
					n;

		if (clear_len - c < SHARE_SPLIT_HEADER)
		{
			snprintf(err, errlen, "clear part truncated in a share header at offset %zu", c);
			return false;
		}
		/* the header as the share will hold it: its CRC written below */
		sh = out + o + SHARE_BATCH_PREFIX;
		memcpy(sh, clear + c, SHARE_SPLIT_HEADER);
		memset(sh + SHARE_SPLIT_HEADER, 0, 4);
		share_read_header(sh, &h);
		c += SHARE_SPLIT_HEADER;
		sec = share_secret_len(&h);
		pub = h.payload_len - sec;
		if (sec > secret_len - k || pub > clear_len - c)
		{
			snprintf(err, errlen, "share %zu claims a payload of %u bytes, the parts hold fewer",
					 o, h.payload_len);
			return false;
		}
		memcpy(sh + SHARE_HEADER_SIZE, secret + k, sec);
		memcpy(sh + SHARE_HEADER_SIZE + sec, clear + c, pub);
		k += sec;
		c += pub;
		share_seal(sh, &h);
		/* a header the share would not have written itself (reserved bytes) */
		if (memcmp(sh, clear + c - pub - SHARE_SPLIT_HEADER, SHARE_SPLIT_HEADER) != 0)
		{
			snprintf(err, errlen, "a share header in the clear part is not in its canonical form");
			return false;
		}
		n = SHARE_HEADER_SIZE + (size_t) h.payload_len;
		if (!share_validate(sh, n, &h, why, sizeof(why)))
		{
			snprintf(err, errlen, "invalid share in the parts: %s", why);
			return false;
		}
		/* frame it: the length in front (memmove: the prefix may be shorter) */
		{
			uint8_t		pre[SHARE_BATCH_PREFIX];
			size_t		np = put_len(pre, n);

			memmove(out + o + np, sh, n);
			memcpy(out + o, pre, np);
			o += np + n;
		}
	}
	/* the last share moved down over its prefix: no copy of its end left behind */
	memset(out + o, 0, SHARE_BATCH_PREFIX);
	if (k != secret_len)
	{
		snprintf(err, errlen, "secret part has %zu bytes no share claims", secret_len - k);
		return false;
	}
	err[0] = '\0';
	*out_len = o;
	return true;
}
