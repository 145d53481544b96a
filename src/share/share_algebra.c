/*
 * share_algebra.c - arithmetic on shares without rebuilding the secret.
 *
 * Shamir sharing is linear: adding the shares of a and b held at the same x gives a
 * share of a + b; multiplying by a public constant scales the secret.  share * share
 * gives a share of the product on a polynomial of degree d_a + d_b, so rebuilding it
 * needs d_a + d_b + 1 shares.  In GF(2^8) addition is XOR, so + and - of byte-string
 * shares give a share of the XOR of the two values (as bytea).
 *
 * A result gets a secret id derived from its inputs and the operation, identical at
 * every shareholder, so results of different computations never mix.  The id of a
 * sum is the XOR of the ids of its terms and the id of a product hashes its factors'
 * ids in sorted order, so a sum (or product) of many shares gets the same id at every
 * shareholder whatever order each one adds them in.
 */
#include "share/share_type.h"

#include <sodium.h>

#include "share/value_codec.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ssn_share_add);
PG_FUNCTION_INFO_V1(ssn_share_sub);
PG_FUNCTION_INFO_V1(ssn_share_mul);
PG_FUNCTION_INFO_V1(ssn_share_neg);
PG_FUNCTION_INFO_V1(ssn_share_add_const);
PG_FUNCTION_INFO_V1(ssn_share_sub_const);
PG_FUNCTION_INFO_V1(ssn_const_sub_share);
PG_FUNCTION_INFO_V1(ssn_share_mul_const);

typedef enum AlgebraOp
{
	OP_ADD = 1,
	OP_SUB,
	OP_MUL,
	OP_NEG,
	OP_ADD_CONST,
	OP_SUB_CONST,
	OP_CONST_SUB,
	OP_MUL_CONST
} AlgebraOp;

static const char *const op_names[] = {
	NULL, "add", "subtract", "multiply", "negate",
	"add a constant to", "subtract a constant from", "subtract from a constant",
	"multiply by a constant"
};

/* id of a result: BLAKE2b of the operation and everything it depends on */
static void
derive_id(uint8 *id, AlgebraOp op, const ShareHeader *a, const ShareHeader *b,
		  const fp_t *c, uint16 cscale)
{
	crypto_generichash_state st;
	uint8		tag[3] = {(uint8) op, (uint8) cscale, (uint8) (cscale >> 8)};

	if (op == OP_ADD)
	{
		int			i;

		for (i = 0; i < SHARE_ID_SIZE; i++)
			id[i] = a->id[i] ^ b->id[i];
		return;
	}
	if (op == OP_MUL && memcmp(a->id, b->id, SHARE_ID_SIZE) > 0)
	{
		const ShareHeader *t = a;

		a = b;
		b = t;
	}
	crypto_generichash_init(&st, (const uint8 *) "ssn-share-op-v1", 15, SHARE_ID_SIZE);
	crypto_generichash_update(&st, tag, sizeof(tag));
	crypto_generichash_update(&st, a->id, SHARE_ID_SIZE);
	if (b)
		crypto_generichash_update(&st, b->id, SHARE_ID_SIZE);
	if (c)
	{
		uint8		cb[FP_BYTES];

		fp_to_bytes(cb, c);
		crypto_generichash_update(&st, cb, FP_BYTES);
	}
	crypto_generichash_final(&st, id, SHARE_ID_SIZE);
}

static void
need_prime(const ShareHeader *h, AlgebraOp op)
{
	if (h->field != SHARE_FIELD_PRIME)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s shares of type %s", op_names[op],
						format_type_be(value_type_oid(h->type))),
				 errdetail("Byte strings are shared in GF(2^8), where only + and - (bytewise XOR) of two shares exist.")));
}

static void
check_pair(const ShareHeader *a, const ShareHeader *b, AlgebraOp op)
{
	if (a->x != b->x)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s shares with different x-coordinates (%d and %d)",
						op_names[op], a->x, b->x),
				 errdetail("Arithmetic combines the shares one shareholder holds, which share an x-coordinate.")));
	if (a->epoch != b->epoch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s shares of different epochs (%u and %u)",
						op_names[op], a->epoch, b->epoch)));
	if (a->k != b->k || a->n != b->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s shares of different sharings: (k=%d, n=%d) and (k=%d, n=%d)",
						op_names[op], a->k, a->n, b->k, b->n)));
	if (a->field != b->field)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot %s shares of type %s and shares of type %s",
						op_names[op], format_type_be(value_type_oid(a->type)),
						format_type_be(value_type_oid(b->type))),
				 errdetail("Numbers and byte strings live in different fields.")));
}

/* Type of a numeric result: numeric if any input has decimals, else int8. */
static int
number_type(const ShareHeader *a, const ShareHeader *b, int scale)
{
	if (scale > 0 || a->type == SHARE_TYPE_NUMERIC ||
		(b && b->type == SHARE_TYPE_NUMERIC))
		return SHARE_TYPE_NUMERIC;
	return SHARE_TYPE_INT8;
}

static void
check_scale(int scale)
{
	if (scale > SHARE_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("result scale %d exceeds the maximum of %d", scale, SHARE_MAX_SCALE)));
}

static struct varlena *
new_prime_share(const ShareHeader *a, int type, int degree, int scale,
				const uint8 *id, const fp_t *y)
{
	struct varlena *r = share_alloc(FP_BYTES);
	ShareHeader h;

	share_header_init(&h, SHARE_FIELD_PRIME, type, a->k, a->n, degree, a->x,
					  a->epoch, id);
	h.scale = (uint16) scale;
	h.payload_len = FP_BYTES;
	fp_to_bytes(SHARE_PAYLOAD(r), y);
	share_seal_varlena(r, &h);
	return r;
}

/* y scaled from scale `from` up to scale `to` */
static void
rescale(fp_t *y, int from, int to)
{
	if (to > from)
	{
		fp_t		p;

		field_pow10(&p, to - from);
		fp_mul(y, y, &p);
	}
}

static Datum
add_sub_shares(FunctionCallInfo fcinfo, AlgebraOp op)
{
	ShareHeader ha,
				hb;
	struct varlena *a = share_open(PG_GETARG_DATUM(0), &ha);
	struct varlena *b = share_open(PG_GETARG_DATUM(1), &hb);
	uint8		id[SHARE_ID_SIZE];

	check_pair(&ha, &hb, op);
	derive_id(id, op, &ha, &hb, NULL, 0);

	if (ha.field == SHARE_FIELD_GF256)
	{
		struct varlena *r;
		ShareHeader h;
		uint32		i;

		if (ha.payload_len != hb.payload_len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot %s shares of byte strings of different lengths (%u and %u bytes)",
							op_names[op], ha.payload_len, hb.payload_len)));
		if (ha.flags != hb.flags)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot %s a checked share with an unchecked one", op_names[op])));
		r = share_alloc(ha.payload_len);
		for (i = 0; i < ha.payload_len; i++)
			SHARE_PAYLOAD(r)[i] = SHARE_PAYLOAD(a)[i] ^ SHARE_PAYLOAD(b)[i];
		share_header_init(&h, SHARE_FIELD_GF256, SHARE_TYPE_BYTEA, ha.k, ha.n,
						  ha.degree, ha.x, ha.epoch, id);
		h.payload_len = ha.payload_len;
		h.flags = ha.flags;		/* the salts add up like the values */
		share_seal_varlena(r, &h);
		PG_RETURN_POINTER(r);
	}
	else
	{
		fp_t		ya,
					yb;
		int			scale = Max(ha.scale, hb.scale);
		struct varlena *r;

		(void) fp_from_bytes(&ya, SHARE_PAYLOAD(a));
		(void) fp_from_bytes(&yb, SHARE_PAYLOAD(b));
		rescale(&ya, ha.scale, scale);
		rescale(&yb, hb.scale, scale);
		if (op == OP_ADD)
			fp_add(&ya, &ya, &yb);
		else
			fp_sub(&ya, &ya, &yb);
		r = new_prime_share(&ha, number_type(&ha, &hb, scale),
							Max(ha.degree, hb.degree), scale, id, &ya);
		sodium_memzero(&ya, sizeof(ya));
		sodium_memzero(&yb, sizeof(yb));
		PG_RETURN_POINTER(r);
	}
}

Datum
ssn_share_add(PG_FUNCTION_ARGS)
{
	return add_sub_shares(fcinfo, OP_ADD);
}

Datum
ssn_share_sub(PG_FUNCTION_ARGS)
{
	return add_sub_shares(fcinfo, OP_SUB);
}

Datum
ssn_share_mul(PG_FUNCTION_ARGS)
{
	ShareHeader ha,
				hb;
	struct varlena *a = share_open(PG_GETARG_DATUM(0), &ha);
	struct varlena *b = share_open(PG_GETARG_DATUM(1), &hb);
	uint8		id[SHARE_ID_SIZE];
	fp_t		ya,
				yb;
	int			degree = ha.degree + hb.degree;
	int			scale = ha.scale + hb.scale;
	struct varlena *r;

	check_pair(&ha, &hb, OP_MUL);
	need_prime(&ha, OP_MUL);
	if (degree > ha.n - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the product would need %d shares to rebuild, but only n=%d exist",
						degree + 1, ha.n),
				 errdetail("Multiplying shares of degrees %d and %d gives degree %d.",
						   ha.degree, hb.degree, degree),
				 errhint("Split with n >= 2k-1 to multiply two secrets.")));
	check_scale(scale);
	derive_id(id, OP_MUL, &ha, &hb, NULL, 0);
	(void) fp_from_bytes(&ya, SHARE_PAYLOAD(a));
	(void) fp_from_bytes(&yb, SHARE_PAYLOAD(b));
	fp_mul(&ya, &ya, &yb);
	r = new_prime_share(&ha, number_type(&ha, &hb, scale), degree, scale, id, &ya);
	sodium_memzero(&ya, sizeof(ya));
	sodium_memzero(&yb, sizeof(yb));
	PG_RETURN_POINTER(r);
}

/* share (op) constant, for the operations with one public number */
static Datum
share_const_op(FunctionCallInfo fcinfo, AlgebraOp op)
{
	/* c - share takes the constant first */
	int			share_arg = op == OP_CONST_SUB ? 1 : 0;
	ShareHeader ha;
	struct varlena *a = share_open(PG_GETARG_DATUM(share_arg), &ha);
	uint8		id[SHARE_ID_SIZE];
	fp_t		y,
				c;
	uint16		cscale = 0;
	int			scale;
	struct varlena *r;

	need_prime(&ha, op);
	if (op != OP_NEG)
		numeric_to_field(PG_GETARG_DATUM(1 - share_arg), &c, &cscale);
	derive_id(id, op, &ha, NULL, op == OP_NEG ? NULL : &c, cscale);
	(void) fp_from_bytes(&y, SHARE_PAYLOAD(a));

	if (op == OP_MUL_CONST)
	{
		scale = ha.scale + cscale;
		check_scale(scale);
		fp_mul(&y, &y, &c);
	}
	else if (op == OP_NEG)
	{
		scale = ha.scale;
		fp_neg(&y, &y);
	}
	else
	{
		/* every share moves by c: f(x) + c has constant term s + c */
		scale = Max(ha.scale, cscale);
		rescale(&y, ha.scale, scale);
		rescale(&c, cscale, scale);
		if (op == OP_ADD_CONST)
			fp_add(&y, &y, &c);
		else if (op == OP_SUB_CONST)
			fp_sub(&y, &y, &c);
		else
			fp_sub(&y, &c, &y);
	}
	r = new_prime_share(&ha, number_type(&ha, NULL, scale), ha.degree, scale, id, &y);
	sodium_memzero(&y, sizeof(y));
	PG_RETURN_POINTER(r);
}

Datum
ssn_share_neg(PG_FUNCTION_ARGS)
{
	return share_const_op(fcinfo, OP_NEG);
}

Datum
ssn_share_add_const(PG_FUNCTION_ARGS)
{
	return share_const_op(fcinfo, OP_ADD_CONST);
}

Datum
ssn_share_sub_const(PG_FUNCTION_ARGS)
{
	return share_const_op(fcinfo, OP_SUB_CONST);
}

Datum
ssn_const_sub_share(PG_FUNCTION_ARGS)
{
	return share_const_op(fcinfo, OP_CONST_SUB);
}

Datum
ssn_share_mul_const(PG_FUNCTION_ARGS)
{
	return share_const_op(fcinfo, OP_MUL_CONST);
}
