/*
 * value_codec.c - SQL values to field elements and back; see value_codec.h.
 *
 * Numbers pass through a 256-bit magnitude ("mag", four 64-bit limbs, little
 * endian) on their way between decimal text and the field.  Conversions at this SQL
 * boundary follow PostgreSQL's own (not constant-time) number formatting; the
 * arithmetic on shares is constant-time.
 */
#include "share/value_codec.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "share/share_format.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

typedef struct Mag
{
	uint64		w[4];
} Mag;

static const struct
{
	int			type;
	Oid			oid;
}			type_oids[] = {
	{SHARE_TYPE_BOOL, BOOLOID},
	{SHARE_TYPE_INT2, INT2OID},
	{SHARE_TYPE_INT4, INT4OID},
	{SHARE_TYPE_INT8, INT8OID},
	{SHARE_TYPE_NUMERIC, NUMERICOID},
	{SHARE_TYPE_TEXT, TEXTOID},
	{SHARE_TYPE_VARCHAR, VARCHAROID},
	{SHARE_TYPE_BPCHAR, BPCHAROID},
	{SHARE_TYPE_BYTEA, BYTEAOID},
	{SHARE_TYPE_DATE, DATEOID},
	{SHARE_TYPE_TIMESTAMP, TIMESTAMPOID},
	{SHARE_TYPE_TIMESTAMPTZ, TIMESTAMPTZOID},
	{SHARE_TYPE_UUID, UUIDOID},
	{SHARE_TYPE_JSON, JSONOID},
	{SHARE_TYPE_JSONB, JSONBOID},
	{SHARE_TYPE_FLOAT4, FLOAT4OID},
	{SHARE_TYPE_FLOAT8, FLOAT8OID},
};

int
value_type_for_oid(Oid typid)
{
	Oid			base = getBaseType(typid);
	int			i;

	for (i = 0; i < lengthof(type_oids); i++)
		if (type_oids[i].oid == base)
			return type_oids[i].type;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("ssn cannot share values of type %s", format_type_be(typid)),
			 errhint("Supported types: bool, int2, int4, int8, numeric, text, varchar, bpchar, bytea, date, timestamp, timestamptz, uuid, json, jsonb, float4, float8; cast other values to text.")));
	return -1;					/* not reached */
}

Oid
value_type_oid(int type)
{
	int			i;

	for (i = 0; i < lengthof(type_oids); i++)
		if (type_oids[i].type == type)
			return type_oids[i].oid;
	return InvalidOid;
}

/* ---- 256-bit magnitudes ---- */

/* m = m * 10 + d; false on overflow past 2^256 */
static bool
mag_mul10_add(Mag *m, unsigned d)
{
	unsigned __int128 carry = d;
	int			i;

	for (i = 0; i < 4; i++)
	{
		unsigned __int128 t = (unsigned __int128) m->w[i] * 10 + carry;

		m->w[i] = (uint64) t;
		carry = t >> 64;
	}
	return carry == 0;
}

/* m = m / d, returns m % d */
static unsigned
mag_divmod(Mag *m, unsigned d)
{
	unsigned __int128 rem = 0;
	int			i;

	for (i = 3; i >= 0; i--)
	{
		unsigned __int128 cur = (rem << 64) | m->w[i];

		m->w[i] = (uint64) (cur / d);
		rem = cur % d;
	}
	return (unsigned) rem;
}

static bool
mag_is_zero(const Mag *m)
{
	return (m->w[0] | m->w[1] | m->w[2] | m->w[3]) == 0;
}

static void
mag_from_bytes(Mag *m, const uint8 b[FP_BYTES])
{
	int			i,
				j;

	for (i = 0; i < 4; i++)
	{
		m->w[i] = 0;
		for (j = 7; j >= 0; j--)
			m->w[i] = (m->w[i] << 8) | b[i * 8 + j];
	}
}

static void
mag_to_bytes(uint8 b[FP_BYTES], const Mag *m)
{
	int			i,
				j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 8; j++)
			b[i * 8 + j] = (uint8) (m->w[i] >> (8 * j));
}

/* Decimal digits of m into buf (at least 80 bytes); returns the length. */
static int
mag_to_decimal(char *buf, const Mag *m)
{
	Mag			t = *m;
	char		rev[80];
	int			n = 0,
				i;

	do
		rev[n++] = (char) ('0' + mag_divmod(&t, 10));
	while (!mag_is_zero(&t));
	for (i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	buf[n] = '\0';
	explicit_bzero(rev, sizeof(rev));
	return n;
}

/*
 * Parse PostgreSQL's numeric text ("-123.4500") into a field element and scale.
 * what names the value in errors ("value" or "constant").
 */
static void
decimal_to_field(const char *str, fp_t *out, uint16 *scale, const char *what)
{
	const char *p = str;
	bool		negative = false;
	bool		point = false;
	int			frac = 0;
	Mag			m = {{0, 0, 0, 0}};
	uint8		bytes[FP_BYTES];
	bool		ok;

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	if (!(*p >= '0' && *p <= '9'))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ssn cannot share the numeric %s %s", what,
						strcmp(what, "constant") == 0 ? str : "NaN or Infinity"),
				 errdetail("Only finite numbers live in the prime field.")));
	for (; *p; p++)
	{
		if (*p == '.')
		{
			point = true;
			continue;
		}
		if (point)
			frac++;
		if (!mag_mul10_add(&m, (unsigned) (*p - '0')))
			break;
	}
	mag_to_bytes(bytes, &m);
	ok = *p == '\0' && fp_from_signed(out, bytes, negative) && frac <= SHARE_MAX_SCALE;
	sodium_memzero(bytes, sizeof(bytes));
	sodium_memzero(&m, sizeof(m));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("numeric %s is out of range for ssn's prime field", what),
				 errdetail("Numbers are exact while |value| * 10^scale <= (l-1)/2, about 3.6e75, with scale <= %d.",
						   SHARE_MAX_SCALE)));
	*scale = (uint16) frac;
}

void
numeric_to_field(Datum num, fp_t *out, uint16 *scale)
{
	char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, num));

	decimal_to_field(str, out, scale, "constant");
	pfree(str);
}

void
field_pow10(fp_t *out, int e)
{
	fp_t		ten;

	fp_from_u64(&ten, 10);
	*out = fp_one;
	while (e-- > 0)
		fp_mul(out, out, &ten);
}

/* Integer part of a prime value whose scale must leave no fraction. */
static void
value_integer(const ShareValue *v, Mag *m, bool *negative)
{
	uint8		bytes[FP_BYTES];
	int			i;

	fp_to_signed(bytes, negative, &v->fp);
	mag_from_bytes(m, bytes);
	sodium_memzero(bytes, sizeof(bytes));
	for (i = 0; i < v->scale; i++)
		if (mag_divmod(m, 10) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the rebuilt number has a fractional part"),
					 errhint("Combine it as numeric.")));
}

static int64
value_int64(const ShareValue *v, int64 min, int64 max, const char *tname)
{
	Mag			m;
	bool		negative;

	value_integer(v, &m, &negative);
	if (m.w[1] | m.w[2] | m.w[3] ||
		(!negative && m.w[0] > (uint64) max) ||
		(negative && m.w[0] > (uint64) 0 - (uint64) min))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the rebuilt number is out of range for type %s", tname),
				 errhint("Combine it as numeric or as text.")));
	return negative ? (int64) ((uint64) 0 - m.w[0]) : (int64) m.w[0];
}

/* Decimal text of a prime value with its scale: "-12.50". */
static char *
value_decimal(const ShareValue *v)
{
	uint8		bytes[FP_BYTES];
	bool		negative;
	Mag			m;
	char		digits[80];
	int			n;
	char	   *out;
	char	   *p;

	fp_to_signed(bytes, &negative, &v->fp);
	mag_from_bytes(&m, bytes);
	n = mag_to_decimal(digits, &m);
	out = p = palloc(n + v->scale + 4);
	if (negative)
		*p++ = '-';
	if (v->scale == 0)
		strcpy(p, digits);
	else if (n > v->scale)
	{
		memcpy(p, digits, n - v->scale);
		p += n - v->scale;
		*p++ = '.';
		strcpy(p, digits + n - v->scale);
	}
	else
	{
		*p++ = '0';
		*p++ = '.';
		memset(p, '0', v->scale - n);
		strcpy(p + v->scale - n, digits);
	}
	sodium_memzero(bytes, sizeof(bytes));
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(digits, sizeof(digits));
	return out;
}

static void
put_le(uint8 *p, uint64 v, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		p[i] = (uint8) (v >> (8 * i));
}

static uint64
get_le(const uint8 *p, int len)
{
	uint64		v = 0;
	int			i;

	for (i = len - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
set_bytes(ShareValue *out, const void *data, size_t len)
{
	value_alloc_bytes(out, len);
	memcpy(out->bytes, data, len);
}

void
value_alloc_bytes(ShareValue *v, size_t len)
{
	v->block_len = VARHDRSZ + len;
	v->block = palloc(v->block_len);
	v->bytes = (uint8 *) VARDATA(v->block);
	v->len = len;
}

void
value_encode(Datum value, Oid typid, ShareValue *out)
{
	memset(out, 0, sizeof(*out));
	out->type = value_type_for_oid(typid);
	out->field = share_type_field(out->type);

	switch (out->type)
	{
		case SHARE_TYPE_BOOL:
			fp_from_i64(&out->fp, DatumGetBool(value) ? 1 : 0);
			break;
		case SHARE_TYPE_INT2:
			fp_from_i64(&out->fp, DatumGetInt16(value));
			break;
		case SHARE_TYPE_INT4:
			fp_from_i64(&out->fp, DatumGetInt32(value));
			break;
		case SHARE_TYPE_INT8:
			fp_from_i64(&out->fp, DatumGetInt64(value));
			break;
		case SHARE_TYPE_NUMERIC:
			{
				char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, value));

				decimal_to_field(str, &out->fp, &out->scale, "value");
				explicit_bzero(str, strlen(str));
				pfree(str);
			}
			break;
		case SHARE_TYPE_TEXT:
		case SHARE_TYPE_VARCHAR:
		case SHARE_TYPE_BPCHAR:
		case SHARE_TYPE_BYTEA:
		case SHARE_TYPE_JSON:
			{
				/* no copy: share straight from the (detoasted) datum */
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

				out->bytes = (uint8 *) VARDATA_ANY(v);
				out->len = VARSIZE_ANY_EXHDR(v);
				if ((Pointer) v != DatumGetPointer(value))
				{
					out->block = v;		/* our own copy: wipe it when done */
					out->block_len = VARSIZE_ANY(v);
				}
			}
			break;
		case SHARE_TYPE_JSONB:
			{
				/* the text form is portable; the binary form is not */
				char	   *str = DatumGetCString(DirectFunctionCall1(jsonb_out, value));

				set_bytes(out, str, strlen(str));
				explicit_bzero(str, strlen(str));
				pfree(str);
			}
			break;
		case SHARE_TYPE_DATE:
		case SHARE_TYPE_FLOAT4:
			{
				uint8		b[4];
				uint32		v = out->type == SHARE_TYPE_DATE ?
					(uint32) DatumGetDateADT(value) :
					(uint32) (DatumGetUInt64(value) & 0xFFFFFFFF);

				if (out->type == SHARE_TYPE_FLOAT4)
				{
					float4		f = DatumGetFloat4(value);

					memcpy(&v, &f, 4);
				}
				put_le(b, v, 4);
				set_bytes(out, b, 4);
			}
			break;
		case SHARE_TYPE_TIMESTAMP:
		case SHARE_TYPE_TIMESTAMPTZ:
		case SHARE_TYPE_FLOAT8:
			{
				uint8		b[8];
				uint64		v;

				if (out->type == SHARE_TYPE_FLOAT8)
				{
					float8		f = DatumGetFloat8(value);

					memcpy(&v, &f, 8);
				}
				else
					v = (uint64) DatumGetInt64(value);
				put_le(b, v, 8);
				set_bytes(out, b, 8);
			}
			break;
		case SHARE_TYPE_UUID:
			set_bytes(out, DatumGetUUIDP(value)->data, UUID_LEN);
			break;
	}
}

static bool
is_text_like(int type)
{
	return type == SHARE_TYPE_TEXT || type == SHARE_TYPE_VARCHAR ||
		type == SHARE_TYPE_BPCHAR || type == SHARE_TYPE_JSON;
}

/*
 * Checks of a rebuilt value whose errors must not quote it (PostgreSQL's own
 * encoding and JSON errors show the offending bytes, and logs keep them).
 */
static void
check_text_quietly(const ShareValue *v)
{
	if (!pg_verifymbstr((const char *) v->bytes, (int) v->len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the rebuilt value is not valid text in encoding \"%s\"",
						GetDatabaseEncodingName()),
				 errhint("Combine it as bytea.")));
}

static void
check_json_quietly(const ShareValue *v)
{
	JsonLexContext *lex;

	check_text_quietly(v);
	lex = makeJsonLexContextCstringLen((char *) v->bytes, (int) v->len,
									   GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the rebuilt value is not valid JSON"),
				 errhint("Combine it as text or bytea.")));
}

/* The bytes as a text or bytea datum; takes over v's block when it is one. */
static Datum
text_like_datum(ShareValue *v, bool check_encoding)
{
	size_t		len = v->len;
	struct varlena *t;

	if (check_encoding)
		check_text_quietly(v);
	if (v->block != NULL && v->bytes == (uint8 *) VARDATA(v->block) &&
		v->block_len == VARHDRSZ + len)
	{
		t = v->block;
		v->block = NULL;		/* now the result's */
		v->bytes = NULL;
		v->len = 0;
	}
	else
	{
		t = palloc(VARHDRSZ + len);
		memcpy(VARDATA(t), v->bytes, len);
	}
	SET_VARSIZE(t, VARHDRSZ + len);
	return PointerGetDatum(t);
}

static void
cannot_combine_as(const ShareValue *v, Oid want)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("shares of a %s value cannot be combined as %s",
					format_type_be(value_type_oid(v->type)), format_type_be(want)),
			 errhint("Numbers combine as int2, int4, int8 or numeric; text, varchar, bpchar and bytea as each other; other types as themselves or as bytea.")));
}

static Datum
decode_base(ShareValue *v, int want)
{
	Oid			want_oid = value_type_oid(want);

	if (v->field == SHARE_FIELD_PRIME)
	{
		switch (want)
		{
			case SHARE_TYPE_BOOL:
				{
					int64		b = value_int64(v, 0, 1, "boolean");

					return BoolGetDatum(b != 0);
				}
			case SHARE_TYPE_INT2:
				return Int16GetDatum((int16) value_int64(v, PG_INT16_MIN, PG_INT16_MAX, "smallint"));
			case SHARE_TYPE_INT4:
				return Int32GetDatum((int32) value_int64(v, PG_INT32_MIN, PG_INT32_MAX, "integer"));
			case SHARE_TYPE_INT8:
				return Int64GetDatum(value_int64(v, PG_INT64_MIN, PG_INT64_MAX, "bigint"));
			case SHARE_TYPE_NUMERIC:
				{
					char	   *str = value_decimal(v);
					Datum		d = DirectFunctionCall3(numeric_in, CStringGetDatum(str),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1));

					explicit_bzero(str, strlen(str));
					pfree(str);
					return d;
				}
		}
		cannot_combine_as(v, want_oid);
	}

	/* GF(2^8): the same type, a text-like or bytea reading of the bytes */
	if (want == SHARE_TYPE_BYTEA)
		return text_like_datum(v, false);
	if (is_text_like(want) && (v->type == want || is_text_like(v->type) ||
							   v->type == SHARE_TYPE_BYTEA))
	{
		if (want == SHARE_TYPE_JSON)
			check_json_quietly(v);
		return text_like_datum(v, true);
	}
	if (v->type != want)
		cannot_combine_as(v, want_oid);

	switch (want)
	{
		case SHARE_TYPE_JSONB:
			{
				char	   *str;
				Datum		d;

				check_json_quietly(v);
				str = pnstrdup((const char *) v->bytes, v->len);
				d = DirectFunctionCall1(jsonb_in, CStringGetDatum(str));
				explicit_bzero(str, v->len);
				pfree(str);
				return d;
			}
		case SHARE_TYPE_DATE:
			return DateADTGetDatum((DateADT) (int32) get_le(v->bytes, 4));
		case SHARE_TYPE_TIMESTAMP:
		case SHARE_TYPE_TIMESTAMPTZ:
			return Int64GetDatum((int64) get_le(v->bytes, 8));
		case SHARE_TYPE_FLOAT4:
			{
				uint32		u = (uint32) get_le(v->bytes, 4);
				float4		f;

				memcpy(&f, &u, 4);
				return Float4GetDatum(f);
			}
		case SHARE_TYPE_FLOAT8:
			{
				uint64		u = get_le(v->bytes, 8);
				float8		f;

				memcpy(&f, &u, 8);
				return Float8GetDatum(f);
			}
		case SHARE_TYPE_UUID:
			{
				pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

				memcpy(u->data, v->bytes, UUID_LEN);
				return UUIDPGetDatum(u);
			}
	}
	cannot_combine_as(v, want_oid);
	return (Datum) 0;			/* not reached */
}

Datum
value_decode(ShareValue *v, Oid want)
{
	Oid			base = getBaseType(want);
	Datum		d = decode_base(v, value_type_for_oid(base));

	if (base != want)
		domain_check(d, false, want, NULL, NULL);
	return d;
}

char *
value_to_cstring(ShareValue *v)
{
	Oid			own = value_type_oid(v->type);
	Oid			out_func;
	bool		varlena;

	if (v->field == SHARE_FIELD_PRIME && v->type != SHARE_TYPE_BOOL)
		return value_decimal(v);
	/* as bool::text spells it, not as boolout does */
	if (v->type == SHARE_TYPE_BOOL)
		return pstrdup(DatumGetBool(decode_base(v, v->type)) ? "true" : "false");
	getTypeOutputInfo(own, &out_func, &varlena);
	return OidOutputFunctionCall(out_func, decode_base(v, v->type));
}

void
value_wipe(ShareValue *v)
{
	if (v->block)
	{
		sodium_memzero(v->block, v->block_len);
		pfree(v->block);
		v->block = NULL;
	}
	v->bytes = NULL;
	sodium_memzero(&v->fp, sizeof(v->fp));
}

Oid
value_result_type_arg(FunctionCallInfo fcinfo, int argno)
{
	Oid			want = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (!OidIsValid(want))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the result type"),
				 errhint("Pass a typed NULL as the second argument, e.g. NULL::int8.")));
	return want;
}

text *
value_to_text_wiped(ShareValue *v)
{
	char	   *str = value_to_cstring(v);
	text	   *result;

	value_wipe(v);
	result = cstring_to_text(str);
	explicit_bzero(str, strlen(str));
	pfree(str);
	return result;
}
