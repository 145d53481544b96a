/*
 * secret_record.c - a secret's record for its holders (see secret_record.h).
 */
#include <stdio.h>
#include <string.h>

#include "base/bytes.h"
#include "share/secret_record.h"

static bool
name_ok(const char *s, size_t len, size_t max)
{
	if (len < 1 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool
holders_ok(const uint8_t *h, int k, int n)
{
	if (k < 2 || n < k || n > 255)
		return false;
	for (int i = 0; i < n; i++)
		if (h[i] == 0 || (i > 0 && h[i] <= h[i - 1]))
			return false;
	return true;
}

size_t
secret_record_size(const SecretRecord *r)
{
	size_t		size = SECRET_RECORD_ID_SIZE + 8 + 1 + 2 + (size_t) r->n;

	if (!holders_ok(r->holders, r->k, r->n) || r->owner == NULL || r->type == NULL ||
		!name_ok(r->owner, strlen(r->owner), SECRET_RECORD_MAX_ROLE) ||
		!name_ok(r->type, strlen(r->type), SECRET_RECORD_MAX_TYPE) ||
		r->check_len > SECRET_RECORD_MAX_CHECK || (r->check_len > 0 && r->check == NULL) ||
		r->ngrantees < 0 || r->ngrantees > SECRET_RECORD_MAX_GRANTEES)
		return 0;
	size += 1 + strlen(r->owner) + 1 + strlen(r->type) + 2 + r->check_len + 2;
	for (int i = 0; i < r->ngrantees; i++)
	{
		size_t		l = strlen(r->grantees[i]);

		if (!name_ok(r->grantees[i], l, SECRET_RECORD_MAX_ROLE))
			return 0;
		size += 1 + l;
	}
	return size;
}

static size_t
put_name(uint8_t *out, const char *s)
{
	size_t		l = strlen(s);

	out[0] = (uint8_t) l;
	memcpy(out + 1, s, l);
	return 1 + l;
}

size_t
secret_record_write(uint8_t *out, const SecretRecord *r)
{
	size_t		o = 0;

	memcpy(out, r->id, SECRET_RECORD_ID_SIZE);
	o += SECRET_RECORD_ID_SIZE;
	le_put_u32(out + o, (uint32_t) (uint64_t) r->version);
	le_put_u32(out + o + 4, (uint32_t) ((uint64_t) r->version >> 32));
	o += 8;
	out[o++] = r->flags;
	out[o++] = (uint8_t) r->k;
	out[o++] = (uint8_t) r->n;
	memcpy(out + o, r->holders, r->n);
	o += r->n;
	o += put_name(out + o, r->owner);
	o += put_name(out + o, r->type);
	le_put_u16(out + o, (uint16_t) r->check_len);
	o += 2;
	if (r->check_len)
		memcpy(out + o, r->check, r->check_len);
	o += r->check_len;
	le_put_u16(out + o, (uint16_t) r->ngrantees);
	o += 2;
	for (int i = 0; i < r->ngrantees; i++)
		o += put_name(out + o, r->grantees[i]);
	return o;
}

static bool
fail(char *err, size_t errlen, const char *what, size_t at)
{
	snprintf(err, errlen, "malformed secret record at offset %zu: %s", at, what);
	return false;
}

bool
secret_record_format_ok(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	if (len < 1 || buf[0] != SECRET_RECORD_FORMAT)
		return fail(err, errlen, "unknown format", 0);
	return true;
}

/* a framed name at *o: checked, *o moved past it */
static bool
take_name(const uint8_t *buf, size_t len, size_t *o, size_t max, const char **s, size_t *l)
{
	if (*o >= len)
		return false;
	*l = buf[*o];
	if (*l > len - *o - 1 || !name_ok((const char *) buf + *o + 1, *l, max))
		return false;
	*s = (const char *) buf + *o + 1;
	*o += 1 + *l;
	return true;
}

bool
secret_record_next(const uint8_t *buf, size_t len, size_t *off, SecretRecord *r,
				   char *err, size_t errlen)
{
	size_t		o = *off,
				start = *off;

	err[0] = '\0';
	memset(r, 0, sizeof(*r));
	if (o >= len)
		return false;
	if (len - o < SECRET_RECORD_ID_SIZE + 8 + 1 + 2)
		return fail(err, errlen, "truncated", start);
	memcpy(r->id, buf + o, SECRET_RECORD_ID_SIZE);
	o += SECRET_RECORD_ID_SIZE;
	r->version = (int64_t) ((uint64_t) le_get_u32(buf + o) | ((uint64_t) le_get_u32(buf + o + 4) << 32));
	o += 8;
	r->flags = buf[o++];
	if (r->flags & ~SECRET_RECORD_DELETED)
		return fail(err, errlen, "unknown flags", start);
	r->k = buf[o++];
	r->n = buf[o++];
	if ((size_t) r->n > len - o)
		return fail(err, errlen, "truncated in its holders", start);
	memcpy(r->holders, buf + o, r->n);
	o += r->n;
	if (!holders_ok(r->holders, r->k, r->n))
		return fail(err, errlen, "bad k, n or share indexes", start);
	if (!take_name(buf, len, &o, SECRET_RECORD_MAX_ROLE, &r->owner, &r->owner_len))
		return fail(err, errlen, "bad owner name", start);
	if (!take_name(buf, len, &o, SECRET_RECORD_MAX_TYPE, &r->type, &r->type_len))
		return fail(err, errlen, "bad type name", start);
	if (len - o < 2)
		return fail(err, errlen, "truncated before its check record", start);
	r->check_len = le_get_u16(buf + o);
	o += 2;
	if (r->check_len > SECRET_RECORD_MAX_CHECK || r->check_len > len - o)
		return fail(err, errlen, "bad check record length", start);
	r->check = r->check_len ? buf + o : NULL;
	o += r->check_len;
	if (len - o < 2)
		return fail(err, errlen, "truncated before its grantees", start);
	r->ngrantees = le_get_u16(buf + o);
	o += 2;
	if (r->ngrantees > SECRET_RECORD_MAX_GRANTEES)
		return fail(err, errlen, "too many grantees", start);
	r->grantee_data = buf + o;
	for (int i = 0; i < r->ngrantees; i++)
	{
		const char *s;
		size_t		l;

		if (!take_name(buf, len, &o, SECRET_RECORD_MAX_ROLE, &s, &l))
			return fail(err, errlen, "bad grantee name", start);
	}
	*off = o;
	return true;
}

void
secret_record_grantee(const SecretRecord *r, int i, const char **name, size_t *len)
{
	const uint8_t *p = r->grantee_data;

	for (int j = 0; j < i; j++)
		p += 1 + p[0];
	*len = p[0];
	*name = (const char *) p + 1;
}
