/*
 * secret_handle.c - the ssn_secret type: input/output, typmod ssn_secret(k,n),
 * accessors and equality (by secret id).
 *
 * Text form: ssn_secret:1 id=<uuid> t=<type> k=<k> n=<n> e=<epoch> h=<i,i,...>
 * A computed secret: ssn_secret:2 t=<type> k=<k> n=<n> d=<degree> h=<i,i,...> x=<terms>
 * with terms separated by spaces, each <coefficient>[*<uuid>[*<uuid>]].
 */
#include "share/secret_handle.h"

#include "share/secret_expr.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "share/value_codec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

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

char *
secret_id_text(const uint8 *id)
{
	pg_uuid_t	u;

	memcpy(u.data, id, SHARE_ID_SIZE);
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&u)));
}

Datum
handle_make_computed(const SecretHandle *h, const SecretExpr *e)
{
	size_t		elen = expr_encoded_len(e);
	Size		size = VARHDRSZ + HANDLE_COMPUTED_FIXED + h->n + elen;
	bytea	   *v = palloc0(size);
	uint8	   *p;

	SET_VARSIZE(v, size);
	p = (uint8 *) VARDATA(v);
	p[0] = HANDLE_COMPUTED_VERSION;
	p[1] = (uint8) h->type;
	p[2] = (uint8) h->k;
	p[3] = (uint8) h->n;
	p[4] = (uint8) h->degree;
	memcpy(p + HANDLE_COMPUTED_FIXED, h->holders, h->n);
	expr_encode(p + HANDLE_COMPUTED_FIXED + h->n, e);
	return PointerGetDatum(v);
}

/* header_only: the fixed part and the holders, not the expression */
static bool
handle_parse_computed(const uint8 *p, size_t len, SecretHandle *h, SecretExpr *e,
					  bool header_only, char *err, size_t errlen)
{
	SecretExpr	local;
	size_t		used;

	memset(h, 0, sizeof(*h));
	if (e == NULL)
		e = &local;
	if (len < HANDLE_COMPUTED_FIXED)
		return snprintf(err, errlen, "%zu bytes is too short", len), false;
	h->computed = true;
	h->type = p[1];
	h->k = p[2];
	h->n = p[3];
	h->degree = p[4];
	if (p[5] || p[6] || p[7])
		return snprintf(err, errlen, "reserved bytes are not zero"), false;
	if (len < HANDLE_COMPUTED_FIXED + (size_t) h->n)
		return snprintf(err, errlen, "length %zu does not match n=%d", len, h->n), false;
	memcpy(h->holders, p + HANDLE_COMPUTED_FIXED, h->n);
	if (header_only)
	{
		if (len == HANDLE_COMPUTED_FIXED + (size_t) h->n || h->degree > EXPR_MAX_FACTORS)
			return snprintf(err, errlen, "malformed computed secret"), false;
	}
	else if (!expr_decode(p + HANDLE_COMPUTED_FIXED + h->n, len - HANDLE_COMPUTED_FIXED - h->n,
						  &used, e, err, errlen))
		return false;
	else if (used != len - HANDLE_COMPUTED_FIXED - h->n)
		return snprintf(err, errlen, "bytes after the expression"), false;
	else if (expr_degree(e) != h->degree)
		return snprintf(err, errlen, "degree %d does not match the expression", h->degree), false;
	if (h->type != SHARE_TYPE_INT8 && h->type != SHARE_TYPE_NUMERIC)
		return snprintf(err, errlen, "a computed secret is int8 or numeric, not type code %d", h->type), false;
	return handle_check(h, err, errlen);
}

/* decode a datum; a computed secret's expression only if e is given */
static bool
handle_decode(Datum d, SecretHandle *h, SecretExpr *e, bool header_only)
{
	bytea	   *v = DatumGetByteaPP(d);
	const uint8 *p = (const uint8 *) VARDATA_ANY(v);
	size_t		len = VARSIZE_ANY_EXHDR(v);
	char		err[128];
	bool		ok;

	if (len > 0 && p[0] == HANDLE_COMPUTED_VERSION)
		ok = handle_parse_computed(p, len, h, e, header_only, err, sizeof(err));
	else
	{
		ok = handle_parse_bytes(p, len, h, err, sizeof(err));
		if (ok && e)
			expr_of_secret(e, h->id);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ssn_secret: %s", err)));
	return h->computed;
}

bool
handle_read_header(Datum d, SecretHandle *h)
{
	return handle_decode(d, h, NULL, true);
}

bool
handle_read_any(Datum d, SecretHandle *h, SecretExpr *e)
{
	return handle_decode(d, h, e, false);
}

void
handle_read(Datum d, SecretHandle *h)
{
	if (handle_read_any(d, h, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a computed secret is not a stored secret"),
				 errdetail("It is an expression over stored secrets, evaluated by the shareholders when it is retrieved."),
				 errhint("Store it as a secret of its own with ssn_store(expression).")));
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

static void check_typmod(const SecretHandle *h, int32 typmod);

/* "1,2,5" into h->holders; false if malformed */
static bool
parse_holders(char *list, SecretHandle *h)
{
	char	   *tok,
			   *save;
	int			i = 0;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;
		long		v = strtol(tok, &end, 10);

		if (*end != '\0' || v < 1 || v > 255 || i >= h->n)
			return false;
		h->holders[i++] = (uint8) v;
	}
	return i == h->n;
}

static Datum
computed_in(char *s, int32 typmod)
{
	SecretHandle h;
	SecretExpr	e;
	char		tname[32],
				list[1024];
	unsigned int k,
				n,
				degree;
	int			consumed = -1;
	char	   *tok,
			   *save,
			   *terms;
	char		err[128];

	memset(&h, 0, sizeof(h));
	if (strlen(s) >= 65536 ||
		sscanf(s, "ssn_secret:2 t=%31[a-z0-9] k=%u n=%u d=%u h=%1000[0-9,] x=%n",
			   tname, &k, &n, &degree, list, &consumed) != 5 || consumed < 0)
		bad_text(s, "It does not have the fields of a computed secret.");
	h.computed = true;
	h.type = share_type_from_name(tname, strlen(tname));
	if (k > 255 || n > 255 || degree > EXPR_MAX_FACTORS)
		bad_text(s, "k and n are at most 255, the degree at most 2.");
	h.k = (int) k;
	h.n = (int) n;
	h.degree = (int) degree;
	if (!parse_holders(list, &h))
		bad_text(s, "The shareholder list must have n share indexes 1..255.");
	e.nterms = 0;
	terms = pstrdup(s + consumed);
	for (tok = strtok_r(terms, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		ExprTerm	t;
		char	   *star = strchr(tok, '*');
		char	   *f;
		char	   *fsave;

		memset(&t, 0, sizeof(t));
		if (star)
			*star = '\0';
		numeric_to_field(DirectFunctionCall3(numeric_in, CStringGetDatum(tok),
											 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
						 &t.coef, &t.cscale);
		for (f = star ? strtok_r(star + 1, "*", &fsave) : NULL; f; f = strtok_r(NULL, "*", &fsave))
		{
			pg_uuid_t  *u;

			if (t.nfactors >= EXPR_MAX_FACTORS)
				bad_text(s, "A term has at most two factors.");
			u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(f)));
			memcpy(t.ids[t.nfactors++], u->data, SHARE_ID_SIZE);
		}
		if (fp_is_zero(&t.coef))
			continue;			/* "0": nothing to add */
		if (e.nterms >= EXPR_MAX_TERMS)
			bad_text(s, "Too many terms.");
		e.terms[e.nterms++] = t;
	}
	{
		/* the canonical form: checked by decoding its own encoding */
		Datum		d = handle_make_computed(&h, &e);
		bytea	   *v = DatumGetByteaPP(d);
		SecretHandle h2;
		SecretExpr	e2;

		if (!handle_parse_computed((uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &h2, &e2, false,
								   err, sizeof(err)))
			bad_text(s, err);
		for (int i = 0; i < e.nterms; i++)
			if (e.terms[i].nfactors == 2 &&
				memcmp(e.terms[i].ids[0], e.terms[i].ids[1], SHARE_ID_SIZE) > 0)
				bad_text(s, "The factors of a term must be in ascending order.");
		check_typmod(&h, typmod);
		return d;
	}
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
	int			consumed = -1;
	char		err[128];
	pg_uuid_t  *u;

	if (strncmp(s, "ssn_secret:2 ", 13) == 0)
		PG_RETURN_DATUM(computed_in(s, typmod));
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
	if (!parse_holders(list, &h))
		bad_text(s, "The shareholder list must have n share indexes 1..255.");
	if (!handle_check(&h, err, sizeof(err)))
		bad_text(s, err);
	check_typmod(&h, typmod);
	PG_RETURN_DATUM(handle_make(&h));
}

Datum
ssn_secret_out(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	SecretExpr	e;
	StringInfoData buf;
	pg_uuid_t	u;
	int			i;

	initStringInfo(&buf);
	if (handle_read_any(PG_GETARG_DATUM(0), &h, &e))
	{
		appendStringInfo(&buf, "ssn_secret:2 t=%s k=%d n=%d d=%d h=",
						 share_type_name(h.type), h.k, h.n, h.degree);
		for (i = 0; i < h.n; i++)
			appendStringInfo(&buf, i ? ",%d" : "%d", h.holders[i]);
		appendStringInfoString(&buf, " x=");
		if (e.nterms == 0)
			appendStringInfoChar(&buf, '0');	/* every term cancelled */
		for (i = 0; i < e.nterms; i++)
		{
			ShareValue	c;

			memset(&c, 0, sizeof(c));
			c.type = SHARE_TYPE_NUMERIC;
			c.field = SHARE_FIELD_PRIME;
			c.scale = e.terms[i].cscale;
			c.fp = e.terms[i].coef;
			appendStringInfo(&buf, "%s%s", i ? " " : "", value_to_cstring(&c));
			for (int f = 0; f < e.terms[i].nfactors; f++)
			{
				memcpy(u.data, e.terms[i].ids[f], SHARE_ID_SIZE);
				appendStringInfo(&buf, "*%s", DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&u))));
			}
		}
		PG_RETURN_CSTRING(buf.data);
	}
	memcpy(u.data, h.id, SHARE_ID_SIZE);
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
	SecretExpr	e;
	char		err[128];
	const uint8 *p = (uint8 *) msg->data + msg->cursor;
	size_t		len = msg->len - msg->cursor;

	if (len > 0 && p[0] == HANDLE_COMPUTED_VERSION)
	{
		if (!handle_parse_computed(p, len, &h, &e, false, err, sizeof(err)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary ssn_secret: %s", err)));
		msg->cursor = msg->len;
		check_typmod(&h, typmod);
		PG_RETURN_DATUM(handle_make_computed(&h, &e));
	}
	if (!handle_parse_bytes(p, len, &h, err, sizeof(err)))
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

	handle_read_any(PG_GETARG_DATUM(0), &h, NULL);
	check_typmod(&h, PG_GETARG_INT32(1));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

Datum
ssn_secret_id(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	if (handle_read_any(PG_GETARG_DATUM(0), &h, NULL))
		PG_RETURN_NULL();		/* a computed secret has no id of its own */
	memcpy(u->data, h.id, SHARE_ID_SIZE);
	PG_RETURN_UUID_P(u);
}

Datum
ssn_secret_k(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read_any(PG_GETARG_DATUM(0), &h, NULL);
	PG_RETURN_INT32(h.k);
}

Datum
ssn_secret_n(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read_any(PG_GETARG_DATUM(0), &h, NULL);
	PG_RETURN_INT32(h.n);
}

Datum
ssn_secret_value_type(PG_FUNCTION_ARGS)
{
	SecretHandle h;

	handle_read_any(PG_GETARG_DATUM(0), &h, NULL);
	PG_RETURN_OID(value_type_oid(h.type));
}

Datum
ssn_secret_holders(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	Datum		d[SHARE_MAX_N];
	int			i;

	handle_read_any(PG_GETARG_DATUM(0), &h, NULL);
	for (i = 0; i < h.n; i++)
		d[i] = Int32GetDatum(h.holders[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, h.n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
ssn_secret_eq(PG_FUNCTION_ARGS)
{
	SecretHandle a,
				b;
	bytea	   *va,
			   *vb;

	if (handle_read_any(PG_GETARG_DATUM(0), &a, NULL) | handle_read_any(PG_GETARG_DATUM(1), &b, NULL))
	{
		/* computed secrets: the same expression (encodings are canonical) */
		va = PG_GETARG_BYTEA_PP(0);
		vb = PG_GETARG_BYTEA_PP(1);
		PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(va) == VARSIZE_ANY_EXHDR(vb) &&
					   memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) == 0);
	}
	PG_RETURN_BOOL(memcmp(a.id, b.id, SHARE_ID_SIZE) == 0 && a.epoch == b.epoch);
}
