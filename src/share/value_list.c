/*
 * value_list.c - values in text form for the SSN-U link (see value_list.h).
 */
#include "share/value_list.h"

#include <stdio.h>
#include <string.h>

#define HEAD_FIXED (4 + VALUE_LIST_REQUEST_ID + 1)

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

size_t
value_list_head_size(const ValueListHead *h)
{
	size_t		t = strnlen(h->type_name, VALUE_LIST_TYPE_MAX + 1);

	return t > VALUE_LIST_TYPE_MAX ? 0 : HEAD_FIXED + t + 4;
}

size_t
value_list_put_head(uint8_t *out, const ValueListHead *h)
{
	size_t		t = strnlen(h->type_name, VALUE_LIST_TYPE_MAX);

	out[0] = VALUE_LIST_FORMAT;
	out[1] = h->k;
	out[2] = h->n;
	out[3] = h->verify;
	memcpy(out + 4, h->request_id, VALUE_LIST_REQUEST_ID);
	out[4 + VALUE_LIST_REQUEST_ID] = (uint8_t) t;
	memcpy(out + HEAD_FIXED, h->type_name, t);
	put32(out + HEAD_FIXED + t, h->count);
	return HEAD_FIXED + t + 4;
}

size_t
value_list_put_value(uint8_t *out, const uint8_t *v, uint32_t len, bool isnull)
{
	out[0] = isnull ? VALUE_LIST_NULL : 0;
	if (isnull)
		len = 0;
	put32(out + 1, len);
	if (len > 0)
		memcpy(out + VALUE_LIST_VALUE_OVERHEAD, v, len);
	return VALUE_LIST_VALUE_OVERHEAD + len;
}

bool
value_list_get_head(const uint8_t *buf, size_t len, ValueListHead *h, size_t *off,
					char *err, size_t errlen)
{
	size_t		t;

	memset(h, 0, sizeof(*h));
	if (len < HEAD_FIXED + 4)
	{
		snprintf(err, errlen, "the value list is %zu bytes, shorter than its head", len);
		return false;
	}
	if (buf[0] != VALUE_LIST_FORMAT)
	{
		snprintf(err, errlen, "unknown value list format %u", buf[0]);
		return false;
	}
	if (buf[3] > 2)
	{
		snprintf(err, errlen, "invalid verify setting %u", buf[3]);
		return false;
	}
	t = buf[4 + VALUE_LIST_REQUEST_ID];
	if (len < HEAD_FIXED + t + 4)
	{
		snprintf(err, errlen, "the value list ends inside its head");
		return false;
	}
	h->k = buf[1];
	h->n = buf[2];
	h->verify = buf[3];
	memcpy(h->request_id, buf + 4, VALUE_LIST_REQUEST_ID);
	if (memchr(buf + HEAD_FIXED, 0, t) != NULL)
	{
		snprintf(err, errlen, "the type name contains a zero byte");
		return false;
	}
	memcpy(h->type_name, buf + HEAD_FIXED, t);
	h->type_name[t] = '\0';
	h->count = get32(buf + HEAD_FIXED + t);
	*off = HEAD_FIXED + t + 4;
	if ((len - *off) / VALUE_LIST_VALUE_OVERHEAD < h->count)
	{
		snprintf(err, errlen, "the value list announces %u values but has room for %zu",
				 h->count, (len - *off) / VALUE_LIST_VALUE_OVERHEAD);
		return false;
	}
	return true;
}

bool
value_list_get_value(const uint8_t *buf, size_t len, size_t *off, const uint8_t **v,
					 uint32_t *vlen, bool *isnull, char *err, size_t errlen)
{
	size_t		o = *off;
	uint32_t	l;

	if (o > len || len - o < VALUE_LIST_VALUE_OVERHEAD)
	{
		snprintf(err, errlen, "the value list ends inside a value's head");
		return false;
	}
	if (buf[o] & ~VALUE_LIST_NULL)
	{
		snprintf(err, errlen, "unknown value flags 0x%02x", buf[o]);
		return false;
	}
	*isnull = (buf[o] & VALUE_LIST_NULL) != 0;
	l = get32(buf + o + 1);
	if (*isnull && l != 0)
	{
		snprintf(err, errlen, "a NULL value has a length");
		return false;
	}
	o += VALUE_LIST_VALUE_OVERHEAD;
	if (l > len - o)
	{
		snprintf(err, errlen, "a value of %u bytes runs past the end of the list", l);
		return false;
	}
	*v = buf + o;
	*vlen = l;
	*off = o + l;
	return true;
}

bool
value_list_get_end(size_t len, size_t off, char *err, size_t errlen)
{
	if (off == len)
		return true;
	snprintf(err, errlen, "%zu bytes follow the last value", len - off);
	return false;
}
