/*
 * secret_ops.c - operators on ssn_secret: a + b, a - b, a * b, -a, and + - * with
 * public numbers.  They build a computed secret (an expression over stored
 * secrets, secret_handle.h) and send nothing: the shareholders evaluate it when
 * it is retrieved, aggregated or stored (compute.c).
 *
 * Only numbers live in the prime field where shares add and multiply; a product
 * of two secrets has degree 2(k-1), so it needs 2k-1 shareholders that hold both.
 */
#include "postgres.h"

#include "share/secret_expr.h"
#include "share/secret_handle.h"
#include "share/value_codec.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(ssn_secret_add);
PG_FUNCTION_INFO_V1(ssn_secret_sub);
PG_FUNCTION_INFO_V1(ssn_secret_mul);
PG_FUNCTION_INFO_V1(ssn_secret_neg);
PG_FUNCTION_INFO_V1(ssn_secret_add_const);
PG_FUNCTION_INFO_V1(ssn_const_add_secret);
PG_FUNCTION_INFO_V1(ssn_secret_sub_const);
PG_FUNCTION_INFO_V1(ssn_const_sub_secret);
PG_FUNCTION_INFO_V1(ssn_secret_mul_const);
PG_FUNCTION_INFO_V1(ssn_const_mul_secret);

/* a secret usable in arithmetic: its handle and expression */
static void
operand(Datum d, const char *what, SecretHandle *h, SecretExpr *e)
{
	handle_read_any(d, h, e);
	if (share_type_field(h->type) != SHARE_FIELD_PRIME)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot %s a secret of type %s", what,
						format_type_be(value_type_oid(h->type))),
				 errdetail("Only numbers (boolean, smallint, integer, bigint, numeric) are shared in the field where shares add and multiply; other values are shared byte by byte."),
				 errhint("Compute on numeric secrets only.")));
}

static int
result_type(const SecretHandle *a, const SecretHandle *b, int cscale)
{
	if (cscale > 0 || a->type == SHARE_TYPE_NUMERIC || (b && b->type == SHARE_TYPE_NUMERIC))
		return SHARE_TYPE_NUMERIC;
	return SHARE_TYPE_INT8;
}

static void
expr_failed(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("cannot %s these secrets: %s", what, why),
			 errhint("Store an intermediate result with ssn_store(expression) and compute on the stored secret.")));
}

/* the handle of a result: the shareholders of both, and enough of them for its degree */
static Datum
make_result(const char *what, const SecretHandle *a, const SecretHandle *b, int type,
			const SecretExpr *e)
{
	SecretHandle r;
	int			need;

	memset(&r, 0, sizeof(r));
	r.computed = true;
	r.type = type;
	r.k = a->k;
	r.degree = expr_degree(e);
	if (b == NULL)
	{
		r.n = a->n;
		memcpy(r.holders, a->holders, a->n);
	}
	else
	{
		if (a->k != b->k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot %s secrets shared with different thresholds (k=%d and k=%d)",
							what, a->k, b->k),
					 errdetail("Their shares lie on polynomials of different degrees.")));
		for (int i = 0; i < a->n; i++)
			for (int j = 0; j < b->n; j++)
				if (a->holders[i] == b->holders[j])
					r.holders[r.n++] = a->holders[i];
	}
	need = r.degree <= 1 ? r.k : r.degree * (r.k - 1) + 1;
	if (r.n < need)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s these secrets: the result needs %d shareholders that hold every input, but %d do",
						what, need, r.n),
				 r.degree == 2 ?
				 errdetail("A product of two secrets has degree 2(k-1) = %d and needs 2k-1 = %d shares to rebuild.",
						   2 * (r.k - 1), need) :
				 errdetail("Any k = %d shareholders of every input are needed.", r.k),
				 errhint("Store the secrets with n >= %d on the same shareholders.", need)));
	if (r.degree == 0)
		r.n = Max(r.n, 1);
	return handle_make_computed(&r, e);
}

static Datum
two_secrets(FunctionCallInfo fcinfo, const char *what, int op)
{
	SecretHandle ha,
				hb;
	SecretExpr *a = palloc(sizeof(SecretExpr));
	SecretExpr *b = palloc(sizeof(SecretExpr));
	char		err[128];
	bool		ok;

	operand(PG_GETARG_DATUM(0), what, &ha, a);
	operand(PG_GETARG_DATUM(1), what, &hb, b);
	if (op == '*')
	{
		if (expr_degree(a) > 1 || expr_degree(b) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot multiply a product of secrets by another secret"),
					 errdetail("A product of two secrets has degree 2(k-1); multiplying it again needs its degree reduced first."),
					 errhint("Store the product with ssn_store(a * b): the shareholders reduce its degree by re-sharing it among themselves; then multiply the stored product.")));
		ok = expr_mul(a, a, b, err, sizeof(err));
	}
	else
		ok = expr_add(a, a, b, op == '-' ? -1 : 1, err, sizeof(err));
	if (!ok)
		expr_failed(what, err);
	return make_result(what, &ha, &hb, result_type(&ha, &hb, 0), a);
}

Datum
ssn_secret_add(PG_FUNCTION_ARGS)
{
	return two_secrets(fcinfo, "add", '+');
}

Datum
ssn_secret_sub(PG_FUNCTION_ARGS)
{
	return two_secrets(fcinfo, "subtract", '-');
}

Datum
ssn_secret_mul(PG_FUNCTION_ARGS)
{
	return two_secrets(fcinfo, "multiply", '*');
}

/* secret (op) public number; secret_arg says which argument is the secret */
static Datum
with_constant(FunctionCallInfo fcinfo, const char *what, int op, int secret_arg)
{
	SecretHandle h;
	SecretExpr *e = palloc(sizeof(SecretExpr));
	SecretExpr *t;
	fp_t		c;
	uint16		cscale;
	char		err[128];
	bool		ok;

	operand(PG_GETARG_DATUM(secret_arg), what, &h, e);
	numeric_to_field(PG_GETARG_DATUM(1 - secret_arg), &c, &cscale);
	switch (op)
	{
		case '*':
			ok = expr_scale(e, e, &c, cscale, err, sizeof(err));
			break;
		case '+':
			ok = expr_add_const(e, e, &c, cscale, 1, err, sizeof(err));
			break;
		default:
			if (secret_arg == 0)	/* secret - c */
				ok = expr_add_const(e, e, &c, cscale, -1, err, sizeof(err));
			else
			{
				/* c - secret */
				t = palloc0(sizeof(SecretExpr));
				ok = expr_add_const(t, t, &c, cscale, 1, err, sizeof(err)) &&
					expr_add(e, t, e, -1, err, sizeof(err));
			}
			break;
	}
	if (!ok)
		expr_failed(what, err);
	return make_result(what, &h, NULL, result_type(&h, NULL, cscale), e);
}

Datum
ssn_secret_add_const(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "add", '+', 0);
}

Datum
ssn_const_add_secret(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "add", '+', 1);
}

Datum
ssn_secret_sub_const(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "subtract", '-', 0);
}

Datum
ssn_const_sub_secret(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "subtract", '-', 1);
}

Datum
ssn_secret_mul_const(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "multiply", '*', 0);
}

Datum
ssn_const_mul_secret(PG_FUNCTION_ARGS)
{
	return with_constant(fcinfo, "multiply", '*', 1);
}

Datum
ssn_secret_neg(PG_FUNCTION_ARGS)
{
	SecretHandle h;
	SecretExpr *e = palloc(sizeof(SecretExpr));
	fp_t		m;
	char		err[128];

	operand(PG_GETARG_DATUM(0), "negate", &h, e);
	fp_neg(&m, &fp_one);
	if (!expr_scale(e, e, &m, 0, err, sizeof(err)))
		expr_failed("negate", err);
	return make_result("negate", &h, NULL, result_type(&h, NULL, 0), e);
}
