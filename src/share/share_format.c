/*
 * share_format.c - binary layout, validation and text form of a share.
 * See share_format.h for the layout.
 */
#include "share/share_format.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/errbuf.h"

#include "crypto/commitment.h"
#include "math/crc32c.h"
#include "math/field_p.h"

typedef struct TypeInfo
{
	int			code;
	const char *name;
	int			field;
	int			fixed_len;		/* payload bytes for fixed-width GF(2^8) types */
} TypeInfo;

static const TypeInfo type_info[] = {
	{SHARE_TYPE_BOOL, "bool", SHARE_FIELD_PRIME, FP_BYTES},
	{SHARE_TYPE_INT2, "int2", SHARE_FIELD_PRIME, FP_BYTES},
	{SHARE_TYPE_INT4, "int4", SHARE_FIELD_PRIME, FP_BYTES},
	{SHARE_TYPE_INT8, "int8", SHARE_FIELD_PRIME, FP_BYTES},
	{SHARE_TYPE_NUMERIC, "numeric", SHARE_FIELD_PRIME, FP_BYTES},
	{SHARE_TYPE_TEXT, "text", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_VARCHAR, "varchar", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_BPCHAR, "bpchar", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_BYTEA, "bytea", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_DATE, "date", SHARE_FIELD_GF256, 4},
	{SHARE_TYPE_TIMESTAMP, "timestamp", SHARE_FIELD_GF256, 8},
	{SHARE_TYPE_TIMESTAMPTZ, "timestamptz", SHARE_FIELD_GF256, 8},
	{SHARE_TYPE_UUID, "uuid", SHARE_FIELD_GF256, 16},
	{SHARE_TYPE_JSON, "json", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_JSONB, "jsonb", SHARE_FIELD_GF256, -1},
	{SHARE_TYPE_FLOAT4, "float4", SHARE_FIELD_GF256, 4},
	{SHARE_TYPE_FLOAT8, "float8", SHARE_FIELD_GF256, 8},
};

static const TypeInfo *
type_lookup(int code)
{
	size_t		i;

	for (i = 0; i < sizeof(type_info) / sizeof(type_info[0]); i++)
		if (type_info[i].code == code)
			return &type_info[i];
	return NULL;
}

const char *
share_type_name(int type)
{
	const TypeInfo *t = type_lookup(type);

	return t ? t->name : NULL;
}

int
share_type_from_name(const char *name, size_t len)
{
	size_t		i;

	for (i = 0; i < sizeof(type_info) / sizeof(type_info[0]); i++)
		if (strlen(type_info[i].name) == len &&
			memcmp(type_info[i].name, name, len) == 0)
			return type_info[i].code;
	return -1;
}

int
share_type_field(int type)
{
	const TypeInfo *t = type_lookup(type);

	return t ? t->field : 0;
}

int
share_type_fixed_len(int type)
{
	const TypeInfo *t = type_lookup(type);

	return t ? t->fixed_len : -1;
}

const char *
share_field_name(int field)
{
	switch (field)
	{
		case SHARE_FIELD_PRIME:
			return "prime";
		case SHARE_FIELD_GF256:
			return "gf256";
	}
	return NULL;
}

static uint32_t
share_crc(const uint8_t *buf, uint32_t payload_len)
{
	uint32_t	crc = ssn_crc32c(0, buf, 36);

	return ssn_crc32c(crc, buf + SHARE_HEADER_SIZE, payload_len);
}

void
share_seal(uint8_t *buf, const ShareHeader *h)
{
	buf[0] = h->version;
	buf[1] = h->field;
	buf[2] = h->type;
	buf[3] = h->x;
	buf[4] = h->k;
	buf[5] = h->n;
	buf[6] = h->degree;
	buf[7] = h->flags;
	le_put_u16(buf + 8, h->scale);
	le_put_u16(buf + 10, 0);
	le_put_u32(buf + 12, h->epoch);
	memcpy(buf + 16, h->id, SHARE_ID_SIZE);
	le_put_u32(buf + 32, h->payload_len);
	le_put_u32(buf + 36, share_crc(buf, h->payload_len));
}

void
share_read_header(const uint8_t *buf, ShareHeader *h)
{
	h->version = buf[0];
	h->field = buf[1];
	h->type = buf[2];
	h->x = buf[3];
	h->k = buf[4];
	h->n = buf[5];
	h->degree = buf[6];
	h->flags = buf[7];
	h->scale = le_get_u16(buf + 8);
	h->epoch = le_get_u32(buf + 12);
	memcpy(h->id, buf + 16, SHARE_ID_SIZE);
	h->payload_len = le_get_u32(buf + 32);
	h->crc = le_get_u32(buf + 36);
}

bool
share_validate(const uint8_t *buf, size_t len, ShareHeader *h,
			   char *errbuf, size_t errlen)
{
	int			fixed;

	if (len < SHARE_HEADER_SIZE)
		return fail(errbuf, errlen,
					"share is truncated: %zu bytes, the header alone is %d bytes",
					len, SHARE_HEADER_SIZE);
	share_read_header(buf, h);
	if (h->version != SHARE_FORMAT_VERSION)
		return fail(errbuf, errlen, "unsupported share format version %d",
					h->version);
	if (share_field_name(h->field) == NULL)
		return fail(errbuf, errlen, "unknown field code %d", h->field);
	if (share_type_name(h->type) == NULL)
		return fail(errbuf, errlen, "unknown value type code %d", h->type);
	if (share_type_field(h->type) != h->field)
		return fail(errbuf, errlen,
					"value type %s does not live in the %s field",
					share_type_name(h->type), share_field_name(h->field));
	if (h->k < 2)
		return fail(errbuf, errlen, "threshold k=%d is below 2", h->k);
	if (h->n < h->k)
		return fail(errbuf, errlen, "total n=%d is below threshold k=%d",
					h->n, h->k);
	/* a holder's share index, not its rank: any of 1..255 (placement skips some) */
	if (h->x < 1)
		return fail(errbuf, errlen, "x-coordinate %d is outside 1..%d",
					h->x, SHARE_MAX_N);
	if (h->degree < h->k - 1 || h->degree > h->n - 1)
		return fail(errbuf, errlen,
					"polynomial degree %d is outside k-1=%d..n-1=%d",
					h->degree, h->k - 1, h->n - 1);
	if (h->field == SHARE_FIELD_GF256 && h->degree != h->k - 1)
		return fail(errbuf, errlen,
					"a GF(2^8) share must have degree k-1=%d, not %d",
					h->k - 1, h->degree);
	if ((h->flags & ~SHARE_FLAG_CHECKED) != 0)
		return fail(errbuf, errlen, "unknown flags 0x%02x", h->flags);
	if (share_is_checked(h) && h->field == SHARE_FIELD_PRIME &&
		(h->payload_len != 2 * FP_BYTES || h->degree != h->k - 1))
		return fail(errbuf, errlen,
					"a checked share of the prime field has degree k-1=%d and 64 payload bytes, not degree %d and %u",
					h->k - 1, h->degree, h->payload_len);
	if (h->scale > SHARE_MAX_SCALE ||
		(h->scale != 0 && h->type != SHARE_TYPE_NUMERIC))
		return fail(errbuf, errlen, "scale %d is not valid for type %s",
					h->scale, share_type_name(h->type));
	if (le_get_u16(buf + 10) != 0)
		return fail(errbuf, errlen, "reserved header bytes are not zero");
	if ((size_t) h->payload_len != len - SHARE_HEADER_SIZE)
		return fail(errbuf, errlen,
					"share is %s: header says %u payload bytes, found %zu",
					(size_t) h->payload_len > len - SHARE_HEADER_SIZE ?
					"truncated" : "too long",
					h->payload_len, len - SHARE_HEADER_SIZE);
	fixed = share_type_fixed_len(h->type);
	if (share_is_verifiable(h))
	{
		CommitRecord r;
		char		why[160];
		fp_t		t;
		bool		ok;

		if (h->payload_len != SHARE_VERIFIABLE_PAYLOAD(h->k) && h->payload_len != SHARE_SERVED_PAYLOAD)
			return fail(errbuf, errlen,
						"payload of a verifiable share with k=%d must be %zu (or, served, %d) bytes, not %u",
						h->k, SHARE_VERIFIABLE_PAYLOAD(h->k), SHARE_SERVED_PAYLOAD, h->payload_len);
		if (h->degree != h->k - 1)
			return fail(errbuf, errlen, "a verifiable share must have degree k-1=%d, not %d",
						h->k - 1, h->degree);
		if (share_has_record(h))
		{
			if (!commit_record_parse(&r, buf + SHARE_HEADER_SIZE + 64, h->payload_len - 64, why, sizeof(why)))
				return fail(errbuf, errlen, "its commitment record is malformed: %s", why);
			if (r.k != h->k || r.epoch != h->epoch || memcmp(r.id, h->id, SHARE_ID_SIZE) != 0)
				return fail(errbuf, errlen, "its commitment record is for another secret, epoch or k");
		}
		ok = fp_from_bytes(&t, buf + SHARE_HEADER_SIZE + 32);
		sodium_memzero(&t, sizeof(t));
		if (!ok)
			return fail(errbuf, errlen, "its blinding value is not a canonical element of the prime field");
	}
	else if (share_is_checked(h) && h->payload_len < SHARE_CHECK_SALT)
		return fail(errbuf, errlen,
					"payload of a checked share must hold its %d salt bytes, not only %u bytes",
					SHARE_CHECK_SALT, h->payload_len);
	else if (fixed >= 0 && share_value_len(h) != (uint32_t) fixed)
		return fail(errbuf, errlen,
					"payload of a share of type %s must be %d bytes%s, not %u",
					share_type_name(h->type), fixed,
					share_is_checked(h) ? " and its 32 salt bytes" : "", h->payload_len);
	if (h->crc != share_crc(buf, h->payload_len))
		return fail(errbuf, errlen,
					"share checksum mismatch: the share was altered or corrupted");
	if (h->field == SHARE_FIELD_PRIME)
	{
		fp_t		y;
		bool		ok = fp_from_bytes(&y, buf + SHARE_HEADER_SIZE);

		if (ok && share_is_checked(h))
			ok = fp_from_bytes(&y, buf + SHARE_HEADER_SIZE + FP_BYTES);
		sodium_memzero(&y, sizeof(y));
		if (!ok)
			return fail(errbuf, errlen,
						"payload is not a canonical element of the prime field");
	}
	return true;
}

/* ---- text form ---- */

#define TEXT_MAGIC "ssn1"

size_t
share_text_len(const uint8_t *buf, size_t len)
{
	ShareHeader h;
	char		tmp[160];

	share_read_header(buf, &h);
	/* the fixed part is printed into tmp to measure it; payload base64 added */
	return (size_t) snprintf(tmp, sizeof(tmp),
							 "%s x=%u k=%u n=%u d=%u e=%u f=%s t=%s s=%u id=%032d p= c=%08x",
							 TEXT_MAGIC, h.x, h.k, h.n, h.degree, h.epoch,
							 share_field_name(h.field), share_type_name(h.type),
							 h.scale, 0, h.crc) +
		(h.flags ? (size_t) snprintf(tmp, sizeof(tmp), " g=%u", h.flags) : 0) +
		sodium_base64_encoded_len(len - SHARE_HEADER_SIZE,
								  sodium_base64_VARIANT_ORIGINAL) - 1;
}

void
share_to_text(char *out, const uint8_t *buf, size_t len)
{
	ShareHeader h;
	char		idhex[2 * SHARE_ID_SIZE + 1];
	size_t		payload = len - SHARE_HEADER_SIZE;
	int			w;

	share_read_header(buf, &h);
	sodium_bin2hex(idhex, sizeof(idhex), h.id, SHARE_ID_SIZE);
	w = sprintf(out, "%s x=%u k=%u n=%u d=%u e=%u f=%s t=%s s=%u",
				TEXT_MAGIC, h.x, h.k, h.n, h.degree, h.epoch,
				share_field_name(h.field), share_type_name(h.type), h.scale);
	if (h.flags)
		w += sprintf(out + w, " g=%u", h.flags);
	w += sprintf(out + w, " id=%s p=", idhex);
	sodium_bin2base64(out + w,
					  sodium_base64_encoded_len(payload, sodium_base64_VARIANT_ORIGINAL),
					  buf + SHARE_HEADER_SIZE, payload,
					  sodium_base64_VARIANT_ORIGINAL);
	w += (int) strlen(out + w);
	sprintf(out + w, " c=%08x", h.crc);
}

/* A cursor over the text being parsed; every reader checks the bounds. */
typedef struct Cursor
{
	const char *p;
	const char *end;
} Cursor;

/* Expect the literal word (e.g. " x=") next. */
static bool
expect(Cursor *c, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Decimal number without sign or leading zeros, at most max. */
static bool
read_uint(Cursor *c, uint32_t max, uint32_t *out)
{
	uint64_t	v = 0;
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
	{
		v = v * 10 + (uint64_t) (*c->p - '0');
		if (v > max)
			return false;
		c->p++;
	}
	if (c->p == start || (c->p - start > 1 && *start == '0'))
		return false;
	*out = (uint32_t) v;
	return true;
}

/* A token up to the next space (or the end). */
static size_t
token_len(const Cursor *c)
{
	const char *q = c->p;

	while (q < c->end && *q != ' ')
		q++;
	return (size_t) (q - c->p);
}

/* Lower-case hex only: one text per share. */
static bool
read_hex(Cursor *c, uint8_t *out, size_t nbytes)
{
	size_t		bin_len;
	const char *hex_end;
	size_t		i;

	if (token_len(c) != 2 * nbytes)
		return false;
	for (i = 0; i < 2 * nbytes; i++)
		if (!((c->p[i] >= '0' && c->p[i] <= '9') || (c->p[i] >= 'a' && c->p[i] <= 'f')))
			return false;
	if (sodium_hex2bin(out, nbytes, c->p, 2 * nbytes, NULL, &bin_len, &hex_end) != 0 ||
		bin_len != nbytes || hex_end != c->p + 2 * nbytes)
		return false;
	c->p += 2 * nbytes;
	return true;
}

/* Does b64 equal the encoding of bin?  Re-encoded in small pieces, no allocation. */
static bool
base64_is_canonical(const uint8_t *bin, size_t len, const char *b64, size_t b64len)
{
	char		piece[4 * 64 / 3 + 4];
	size_t		off = 0,
				pos = 0;

	while (off < len || (len == 0 && off == 0))
	{
		size_t		n = len - off > 48 ? 48 : len - off;
		size_t		plen;

		sodium_bin2base64(piece, sizeof(piece), bin + off, n,
						  sodium_base64_VARIANT_ORIGINAL);
		plen = strlen(piece);
		if (pos + plen > b64len || memcmp(piece, b64 + pos, plen) != 0)
			return false;
		pos += plen;
		off += n;
		if (n == 0)
			break;
	}
	sodium_memzero(piece, sizeof(piece));
	return pos == b64len;
}

uint8_t *
share_from_text(const char *text, size_t textlen, size_t *outlen,
				void *(*alloc) (size_t), char *errbuf, size_t errlen)
{
	Cursor		c = {text, text + textlen};
	ShareHeader h;
	uint32_t	v;
	size_t		n,
				b64len,
				max_payload,
				payload_len;
	const char *b64;
	const char *b64_end;
	uint8_t		crcbytes[4];
	uint8_t    *buf;
	ShareHeader check;

	memset(&h, 0, sizeof(h));
	h.version = SHARE_FORMAT_VERSION;

#define FIELD(word, max, dst, what) \
	do { \
		if (!expect(&c, word) || !read_uint(&c, max, &v)) \
		{ \
			fail(errbuf, errlen, "expected \"%s\" followed by %s", word, what); \
			return NULL; \
		} \
		dst = v; \
	} while (0)

	if (!expect(&c, TEXT_MAGIC))
	{
		fail(errbuf, errlen, "a share's text form starts with \"%s\"", TEXT_MAGIC);
		return NULL;
	}
	FIELD(" x=", 255, h.x, "the x-coordinate (1..255)");
	FIELD(" k=", 255, h.k, "the threshold k (2..255)");
	FIELD(" n=", 255, h.n, "the total n (2..255)");
	FIELD(" d=", 255, h.degree, "the polynomial degree");
	FIELD(" e=", UINT32_MAX, h.epoch, "the epoch (0..4294967295)");

	if (!expect(&c, " f="))
	{
		fail(errbuf, errlen, "expected \" f=\" followed by the field (prime or gf256)");
		return NULL;
	}
	n = token_len(&c);
	if (n == 5 && memcmp(c.p, "prime", 5) == 0)
		h.field = SHARE_FIELD_PRIME;
	else if (n == 5 && memcmp(c.p, "gf256", 5) == 0)
		h.field = SHARE_FIELD_GF256;
	else
	{
		fail(errbuf, errlen, "unknown field \"%.*s\" (expected prime or gf256)",
			 (int) (n > 20 ? 20 : n), c.p);
		return NULL;
	}
	c.p += n;

	if (!expect(&c, " t="))
	{
		fail(errbuf, errlen, "expected \" t=\" followed by the value type");
		return NULL;
	}
	n = token_len(&c);
	{
		int			type = share_type_from_name(c.p, n);

		if (type < 0)
		{
			fail(errbuf, errlen, "unknown value type \"%.*s\"",
				 (int) (n > 20 ? 20 : n), c.p);
			return NULL;
		}
		h.type = (uint8_t) type;
	}
	c.p += n;

	FIELD(" s=", 65535, h.scale, "the decimal scale");
	/* flags only when not 0: one text per share */
	if ((size_t) (c.end - c.p) >= 3 && memcmp(c.p, " g=", 3) == 0)
	{
		FIELD(" g=", 255, h.flags, "the flags (1..255)");
		if (h.flags == 0)
		{
			fail(errbuf, errlen, "flags of 0 are written by leaving \" g=\" out");
			return NULL;
		}
	}
#undef FIELD

	if (!expect(&c, " id=") || !read_hex(&c, h.id, SHARE_ID_SIZE))
	{
		fail(errbuf, errlen, "expected \" id=\" followed by 32 hex digits");
		return NULL;
	}
	if (!expect(&c, " p="))
	{
		fail(errbuf, errlen, "expected \" p=\" followed by the base64 payload");
		return NULL;
	}
	b64 = c.p;
	b64len = token_len(&c);
	c.p += b64len;
	if (!expect(&c, " c=") || !read_hex(&c, crcbytes, 4))
	{
		fail(errbuf, errlen, "expected \" c=\" followed by 8 hex digits of checksum");
		return NULL;
	}
	if (c.p != c.end)
	{
		fail(errbuf, errlen, "unexpected text after the checksum");
		return NULL;
	}
	h.crc = ((uint32_t) crcbytes[0] << 24) | ((uint32_t) crcbytes[1] << 16) |
		((uint32_t) crcbytes[2] << 8) | crcbytes[3];

	max_payload = b64len / 4 * 3;
	if (b64len % 4 != 0 || max_payload > SHARE_MAX_PAYLOAD)
	{
		fail(errbuf, errlen, "payload is not valid base64 (length %zu)", b64len);
		return NULL;
	}
	buf = alloc(SHARE_HEADER_SIZE + max_payload + 1);
	if (sodium_base642bin(buf + SHARE_HEADER_SIZE, max_payload + 1, b64, b64len,
						  NULL, &payload_len, &b64_end,
						  sodium_base64_VARIANT_ORIGINAL) != 0 ||
		b64_end != b64 + b64len)
	{
		fail(errbuf, errlen, "payload is not valid base64");
		return NULL;
	}
	h.payload_len = (uint32_t) payload_len;

	/* canonical base64 only (no stray bits in the padding): one text per share */
	if (!base64_is_canonical(buf + SHARE_HEADER_SIZE, payload_len, b64, b64len))
	{
		fail(errbuf, errlen, "payload base64 is not in canonical form");
		return NULL;
	}

	/* build the binary share, then let the one validator judge it */
	{
		uint32_t	stated_crc = h.crc;

		share_seal(buf, &h);
		le_put_u32(buf + 36, stated_crc);
	}
	*outlen = SHARE_HEADER_SIZE + payload_len;
	if (!share_validate(buf, *outlen, &check, errbuf, errlen))
		return NULL;
	return buf;
}
