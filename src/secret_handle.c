/*
 * secret_handle.c - the ssn_secret type: input/output, typmod ssn_secret(k,n),
 * accessors and equality (by secret id).
 *
 * Text form: ssn_secret:1 id=<uuid> t=<type> k=<k> n=<n> e=<epoch> h=<i,i,...>
 */
#include "secret_handle.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
#include "value_codec.h"

PG_FUNCTION_INFO_V1(ssn_secret_in);
PG_FUNCTION_INFO_V1(ssn_secret_out);
PG_FUNCTION_INFO_V1(ssn_secret_recv);
PG_FUNCTION_INFO_V1(ssn_secret_send);
PG_FUNCTION_INFO_V1(ssn_secret_typmod_in);
PG_FUNCTION_INFO_V1(ssn_secret_typmod_out);
PG_FUNCTION_INFO_V1(ssn_secret_enforce_typmod);
PG_FUNCTION_INFO_V1(ssn_secret_id);
PG_FUNCTION_INFO_V1(ssn_secret_k);
PG_FUNCTION_INFO_V1(ssn_secret_n);
PG_FUNCTION_INFO_V1(ssn_secret_value_type);
PG_FUNCTION_INFO_V1(ssn_secret_holders);
PG_FUNCTION_INFO_V1(ssn_secret_eq);

#define TYPMOD(k, n) ((k) * 256 + (n))

static bool
handle_check(const SecretHandle *h, char *err, size_t errlen)
{
	int			i;

	if (share_type_name(h->type) == NULL)
		return snprintf(err, errlen, "unknown value type code %d", h->type), false;
	if (h->k < 2 || h->n > SHARE_MAX_N || h->k > h->n)
		return snprintf(err, errlen, "k=%d and n=%d are not a valid sharing", h->k, h->n), false;
	for (i = 0; i < h->n; i++)
		if (h->holders[i] == 0 || (i > 0 && h->holders[i] <= h->holders[i - 1]))
			return snprintf(err, errlen, "share indexes must be 1..255 in ascending order"), false;
	return true;
}

Datum
handle_make(const SecretHandle *h)
{
	Size		size = VARHDRSZ + HANDLE_FIXED + h->n;
	uint8	   *p;
	bytea	   *v = palloc(size);

	SET_VARSIZE(v, size);
	p = (uint8 *) VARDATA(v);
	p[0] = HANDLE_VERSION;
	p[1] = (uint8) h->type;
	p[2] = (uint8) h->k;
	p[3] = (uint8) h->n;
	p[4] = h->epoch & 0xff;
	p[5] = (h->epoch >> 8) & 0xff;
	p[6] = (h->epoch >> 16) & 0xff;
	p[7] = (h->epoch >> 24) & 0xff;
	memcpy(p + 8, h->id, SHARE_ID_SIZE);
	memcpy(p + HANDLE_FIXED, h->holders, h->n);
	return PointerGetDatum(v);
}

static bool
handle_parse_bytes(const uint8 *p, size_t len, SecretHandle *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (len < HANDLE_FIXED)
		return snprintf(err, errlen, "%zu bytes is too short", len), false;
	if (p[0] != HANDLE_VERSION)
		return snprintf(err, errlen, "unknown version %d", p[0]), false;
	h->type = p[1];
	h->k = p[2];
	h->n = p[3];
	h->epoch = p[4] | (p[5] << 8) | (p[6] << 16) | ((uint32) p[7] << 24);
	memcpy(h->id, p + 8, SHARE_ID_SIZE);
	if (len != HANDLE_FIXED + (size_t) h->n)
		return snprintf(err, errlen, "length %zu does not match n=%d", len, h->n), false;
	memcpy(h->holders, p + HANDLE_FIXED, h->n);
	return handle_check(h, err, errlen);
}

void
handle_read(Datum d, SecretHandle *h)
{
	bytea	   *v = DatumGetByteaPP(d);
	char		err[128];

	if (!handle_parse_bytes((uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), h, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ssn_secret: %s", err)));
}

static void
check_typmod(const SecretHandle *h, int32 typmod)
{
	if (typmod >= 0 && (h->k != typmod / 256 || h->n != typmod % 256))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a secret shared with k=%d, n=%d does not fit ssn_secret(%d,%d)",
						h->k, h->n, typmod / 256, typmod % 256),
				 errhint("Store it with ssn_store(value, %d, %d).", typmod / 256, typmod % 256)));
}

static void
bad_text(const char *s, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type ssn_secret: \"%s\"", s),
			 errdetail("%s", why),
			 errhint("A handle reads: ssn_secret:1 id=<uuid> t=<type> k=<k> n=<n> e=<epoch> h=<i,i,...>")));
}

Datum
ssn_secret_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	SecretHandle h;
	char		idtext[37],
				tname[32],
				list[1024];
	unsigned int k,
				n,
				epoch;
	int			consumed = -1,
				i;
	char	   *tok,
			   *save;
	char		err[128];
	pg_uuid_t  *u;

	memset(&h, 0, sizeof(h));
	if (strlen(s) >= 1000 ||
		sscanf(s, "ssn_secret:1 id=%36[0-9a-f-] t=%31[a-z0-9] k=%u n=%u e=%u h=%1000[0-9,]%n",
			   idtext, tname, &k, &n, &epoch, list, &consumed) != 6 ||
		consumed < 0 || s[consumed] != '\0')
		bad_text(s, "It does not have the fields of a handle.");
	u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(idtext)));
	memcpy(h.id, u->data, SHARE_ID_SIZE);
	h.type = share_type_from_name(tname, strlen(tname));
	if (h.type <= 0)
		bad_text(s, "Unknown value type.");
	if (k > 255 || n > 255)
		bad_text(s, "k and n are at most 255.");
	h.k = (int) k;
	h.n = (int) n;
	h.epoch = epoch;
	i = 0;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;
		long		v = strtol(tok, &end, 10);

		if (*end != '\0' || v < 1 || v > 255 || i >= h.n)
			bad_text(s, "The shareholder list must have n share indexes 1..255.");
		h.holders[i++] = (uint8) v;
	}
	if (i != h.n)
		bad_text(s, "The shareholder list must have n share indexes.");
	if (!handle_check(&h, err, sizeof(err)))
		bad_text(s, err);
	check_typmod(&h, typmod);
	PG_RETURN_DATUM(handle_make(&h));
}

Datum
ssn_secret_out(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	StringInfoData buf;
	pg_uuid_t	u;
	int			i;

	handle_read(PG_GETARG_DATUM(0), &h);
	memcpy(u.data, h.id, SHARE_ID_SIZE);
	initStringInfo(&buf);
	appendStringInfo(&buf, "ssn_secret:1 id=%s t=%s k=%d n=%d e=%u h=",
					 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&u))),
					 share_type_name(h.type), h.k, h.n, h.epoch);
	for (i = 0; i < h.n; i++)
		appendStringInfo(&buf, i ? ",%d" : "%d", h.holders[i]);
	PG_RETURN_CSTRING(buf.data);
}

Datum
ssn_secret_recv(PG_FUNCTION_ARGS)
{
	StringInfo	msg = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	SecretHandle h;
	char		err[128];

	if (!handle_parse_bytes((uint8 *) msg->data + msg->cursor, msg->len - msg->cursor, &h,
							err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary ssn_secret: %s", err)));
	msg->cursor = msg->len;
	check_typmod(&h, typmod);
	PG_RETURN_DATUM(handle_make(&h));
}

Datum
ssn_secret_send(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	bytea	   *out = palloc(VARHDRSZ + VARSIZE_ANY_EXHDR(v));

	SET_VARSIZE(out, VARHDRSZ + VARSIZE_ANY_EXHDR(v));
	memcpy(VARDATA(out), VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(out);
}

Datum
ssn_secret_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);
	if (n != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ssn_secret takes two modifiers: ssn_secret(k, n)")));
	if (tl[0] < 2 || tl[1] > SHARE_MAX_N || tl[0] > tl[1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ssn_secret(%d,%d) is not a valid sharing", tl[0], tl[1]),
				 errdetail("It needs 2 <= k <= n <= %d.", SHARE_MAX_N)));
	PG_RETURN_INT32(TYPMOD(tl[0], tl[1]));
}

Datum
ssn_secret_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	PG_RETURN_CSTRING(psprintf("(%d,%d)", typmod / 256, typmod % 256));
}

Datum
ssn_secret_enforce_typmod(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read(PG_GETARG_DATUM(0), &h);
	check_typmod(&h, PG_GETARG_INT32(1));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

Datum
ssn_secret_id(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	handle_read(PG_GETARG_DATUM(0), &h);
	memcpy(u->data, h.id, SHARE_ID_SIZE);
	PG_RETURN_UUID_P(u);
}

Datum
ssn_secret_k(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read(PG_GETARG_DATUM(0), &h);
	PG_RETURN_INT32(h.k);
}

Datum
ssn_secret_n(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read(PG_GETARG_DATUM(0), &h);
	PG_RETURN_INT32(h.n);
}

Datum
ssn_secret_value_type(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read(PG_GETARG_DATUM(0), &h);
	PG_RETURN_OID(value_type_oid(h.type));
}

Datum
ssn_secret_holders(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	Datum		d[SHARE_MAX_N];
	int			i;

	handle_read(PG_GETARG_DATUM(0), &h);
	for (i = 0; i < h.n; i++)
		d[i] = Int32GetDatum(h.holders[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, h.n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
ssn_secret_eq(PG_FUNCTION_ARGS)
{
	SecretHandle a,
				b;

	handle_read(PG_GETARG_DATUM(0), &a);
	handle_read(PG_GETARG_DATUM(1), &b);
	PG_RETURN_BOOL(memcmp(a.id, b.id, SHARE_ID_SIZE) == 0 && a.epoch == b.epoch);
}
