/*
 * share_type.c - ssn_share input/output, send/receive and metadata accessors.
 */
#include "share/share_type.h"

#include "libpq/pqformat.h"
#include "share/value_codec.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_share_in);
PG_FUNCTION_INFO_V1(ssn_share_out);
PG_FUNCTION_INFO_V1(ssn_share_recv);
PG_FUNCTION_INFO_V1(ssn_share_send);
PG_FUNCTION_INFO_V1(ssn_share_x);
PG_FUNCTION_INFO_V1(ssn_share_k);
PG_FUNCTION_INFO_V1(ssn_share_n);
PG_FUNCTION_INFO_V1(ssn_share_degree);
PG_FUNCTION_INFO_V1(ssn_share_epoch);
PG_FUNCTION_INFO_V1(ssn_share_field);
PG_FUNCTION_INFO_V1(ssn_share_value_type);
PG_FUNCTION_INFO_V1(ssn_share_scale);
PG_FUNCTION_INFO_V1(ssn_share_secret_id);
PG_FUNCTION_INFO_V1(ssn_share_payload);

struct varlena *
share_open(Datum d, ShareHeader *h)
{
	struct varlena *s = PG_DETOAST_DATUM(d);
	char		err[256];

	if (!share_validate(SHARE_BYTES(s), SHARE_SIZE(s), h, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid ssn_share: %s", err)));
	return s;
}

struct varlena *
share_alloc(uint32 payload_len)
{
	struct varlena *s;

	if (payload_len > SHARE_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value is too large to share: %u bytes", payload_len),
				 errdetail("A share holds at most %d bytes.", SHARE_MAX_PAYLOAD)));
	s = palloc(VARHDRSZ + SHARE_HEADER_SIZE + payload_len);
	SET_VARSIZE(s, VARHDRSZ + SHARE_HEADER_SIZE + payload_len);
	return s;
}

void
share_seal_varlena(struct varlena *s, const ShareHeader *h)
{
	Assert(h->payload_len == SHARE_SIZE(s) - SHARE_HEADER_SIZE);
	share_seal(SHARE_BYTES(s), h);
}

void
share_header_init(ShareHeader *h, int field, int type, int k, int n,
				  int degree, int x, uint32 epoch, const uint8 *id)
{
	memset(h, 0, sizeof(*h));
	h->version = SHARE_FORMAT_VERSION;
	h->field = field;
	h->type = type;
	h->k = k;
	h->n = n;
	h->degree = degree;
	h->x = x;
	h->epoch = epoch;
	memcpy(h->id, id, SHARE_ID_SIZE);
}

static void *
palloc_wrapper(size_t size)
{
	return palloc(size);
}

Datum
ssn_share_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len;
	uint8_t    *bin;
	char		err[256];
	struct varlena *s;

	bin = share_from_text(str, strlen(str), &len, palloc_wrapper, err, sizeof(err));
	if (bin == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type ssn_share: %s", err),
				 errhint("A share looks like \"ssn1 x=1 k=3 n=5 d=2 e=0 f=prime t=int8 s=0 id=<32 hex> p=<base64> c=<8 hex>\".")));
	s = share_alloc(len - SHARE_HEADER_SIZE);
	memcpy(SHARE_BYTES(s), bin, len);
	pfree(bin);
	PG_RETURN_POINTER(s);
}

Datum
ssn_share_out(PG_FUNCTION_ARGS)
{
	ShareHeader h;
	struct varlena *s = share_open(PG_GETARG_DATUM(0), &h);
	char	   *out = palloc(share_text_len(SHARE_BYTES(s), SHARE_SIZE(s)) + 1);

	share_to_text(out, SHARE_BYTES(s), SHARE_SIZE(s));
	PG_RETURN_CSTRING(out);
}

Datum
ssn_share_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	ShareHeader h;
	char		err[256];
	struct varlena *s;

	if (len < SHARE_HEADER_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary ssn_share: %d bytes, the header alone is %d",
						len, SHARE_HEADER_SIZE)));
	s = share_alloc(len - SHARE_HEADER_SIZE);
	pq_copymsgbytes(buf, (char *) SHARE_BYTES(s), len);
	if (!share_validate(SHARE_BYTES(s), SHARE_SIZE(s), &h, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary ssn_share: %s", err)));
	PG_RETURN_POINTER(s);
}

Datum
ssn_share_send(PG_FUNCTION_ARGS)
{
	ShareHeader h;
	struct varlena *s = share_open(PG_GETARG_DATUM(0), &h);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) SHARE_BYTES(s), SHARE_SIZE(s));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Accessors validate too: a corrupted share should never answer questions. */
#define SHARE_ACCESSOR(fn, expr) \
Datum \
fn(PG_FUNCTION_ARGS) \
{ \
	ShareHeader h; \
	struct varlena *s = share_open(PG_GETARG_DATUM(0), &h); \
	(void) s; \
	expr; \
}

SHARE_ACCESSOR(ssn_share_x, PG_RETURN_INT32(h.x))
SHARE_ACCESSOR(ssn_share_k, PG_RETURN_INT32(h.k))
SHARE_ACCESSOR(ssn_share_n, PG_RETURN_INT32(h.n))
SHARE_ACCESSOR(ssn_share_degree, PG_RETURN_INT32(h.degree))
SHARE_ACCESSOR(ssn_share_epoch, PG_RETURN_INT64(h.epoch))
SHARE_ACCESSOR(ssn_share_scale, PG_RETURN_INT32(h.scale))
SHARE_ACCESSOR(ssn_share_field, PG_RETURN_TEXT_P(cstring_to_text(share_field_name(h.field))))
SHARE_ACCESSOR(ssn_share_value_type, PG_RETURN_OID(value_type_oid(h.type)))

Datum
ssn_share_secret_id(PG_FUNCTION_ARGS)
{
	ShareHeader h;
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	share_open(PG_GETARG_DATUM(0), &h);
	memcpy(u->data, h.id, SHARE_ID_SIZE);
	PG_RETURN_UUID_P(u);
}

Datum
ssn_share_payload(PG_FUNCTION_ARGS)
{
	ShareHeader h;
	struct varlena *s = share_open(PG_GETARG_DATUM(0), &h);
	bytea	   *b = palloc(VARHDRSZ + h.payload_len);

	SET_VARSIZE(b, VARHDRSZ + h.payload_len);
	memcpy(VARDATA(b), SHARE_PAYLOAD(s), h.payload_len);
	PG_RETURN_BYTEA_P(b);
}
