/*
 * split_combine.c - ssn_split() and ssn_combine(): a value to n shares and back.
 */
#include "share/share_type.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "math/shamir.h"
#include "share/split_combine.h"
#include "share/value_codec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(ssn_split);
PG_FUNCTION_INFO_V1(ssn_combine);
PG_FUNCTION_INFO_V1(ssn_combine_text);

void
check_k_n(int32 k, int32 n)
{
	if (k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold k must be at least 2, not %d", k),
				 errdetail("With k = 1 every share would be the secret itself.")));
	if (n > SHARE_MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("total n must be at most %d, not %d", SHARE_MAX_N, n),
				 errdetail("x-coordinates are the bytes 1..255.")));
	if (k > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold k (%d) cannot exceed total n (%d)", k, n)));
}

/*
 * A one-dimensional array of n shares of payload_len bytes each, whose elements the
 * caller fills in place: building the shares first and then the array would copy a
 * large value's n shares once more.
 */
static ArrayType *
share_array_alloc(Oid share_oid, int n, uint32 payload_len, struct varlena **elems)
{
	Size		share_size = VARHDRSZ + SHARE_HEADER_SIZE + (Size) payload_len;
	Size		elem_size = INTALIGN(share_size);
	Size		total = ARR_OVERHEAD_NONULLS(1) + elem_size * n;
	ArrayType  *a;
	char	   *p;
	int			i;

	if (payload_len > SHARE_MAX_PAYLOAD || !AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value is too large to split into %d shares: %u bytes", n, payload_len),
				 errdetail("The %d shares together must fit in one array of at most 1 GB.", n)));
	a = palloc(total);
	memset(a, 0, ARR_OVERHEAD_NONULLS(1));
	SET_VARSIZE(a, total);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = share_oid;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	p = ARR_DATA_PTR(a);
	for (i = 0; i < n; i++)
	{
		elems[i] = (struct varlena *) p;
		SET_VARSIZE(elems[i], share_size);
		memset(p + share_size, 0, elem_size - share_size);	/* alignment padding */
		p += elem_size;
	}
	return a;
}

Datum
ssn_split(PG_FUNCTION_ARGS)
{
	Datum		value = PG_GETARG_DATUM(0);
	int32		k = PG_GETARG_INT32(1);
	int32		n = PG_GETARG_INT32(2);
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			share_oid = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	ShareValue	v;
	uint8		id[SHARE_ID_SIZE];
	uint8		xs[SHARE_MAX_N];
	struct varlena *shares[SHARE_MAX_N];
	ArrayType  *result;
	int			i;

	check_k_n(k, n);
	if (!OidIsValid(argtype) || !OidIsValid(share_oid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the type of the value to split")));
	value_encode(value, argtype, &v);

	randombytes_buf(id, sizeof(id));
	for (i = 0; i < n; i++)
		xs[i] = (uint8) (i + 1);
	result = share_array_alloc(share_oid, n,
							   v.field == SHARE_FIELD_PRIME ? FP_BYTES : (uint32) v.len,
							   shares);
	split_into(&v, k, n, xs, id, 0, shares);
	value_wipe(&v);
	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * Fill n preallocated shares (payload length fitting the value) with a fresh
 * sharing of v at the points xs.
 */
void
split_into(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id, uint32 epoch,
		   struct varlena **shares)
{
	ShareHeader h;
	int			i;

	if (v->field == SHARE_FIELD_PRIME)
	{
		fp_t		ys[SHARE_MAX_N];

		shamir_split_fp(&v->fp, k - 1, n, xs, ys);
		for (i = 0; i < n; i++)
			fp_to_bytes(SHARE_PAYLOAD(shares[i]), &ys[i]);
		sodium_memzero(ys, sizeof(fp_t) * n);
	}
	else
	{
		uint8	  **ys = palloc(sizeof(uint8 *) * n);

		for (i = 0; i < n; i++)
			ys[i] = SHARE_PAYLOAD(shares[i]);
		shamir_split_gf256(v->bytes, v->len, k - 1, n, xs, ys);
		pfree(ys);
	}

	for (i = 0; i < n; i++)
	{
		share_header_init(&h, v->field, v->type, k, n, k - 1, xs[i], epoch, id);
		h.scale = v->scale;
		h.payload_len = (uint32) (SHARE_SIZE(shares[i]) - SHARE_HEADER_SIZE);
		share_seal_varlena(shares[i], &h);
	}
}

/* The shares given to ssn_combine, checked to belong to one sharing. */
typedef struct ShareSet
{
	int			m;				/* shares present */
	ShareHeader h;				/* header of the first (all agree) */
	struct varlena **s;
	uint8		xs[SHARE_MAX_N];
} ShareSet;

static void
mismatch(const char *what, const ShareHeader *a, const ShareHeader *b,
		 const char *va, const char *vb)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("shares do not belong to the same sharing: %s differ", what),
			 errdetail("Share x=%d has %s, share x=%d has %s.", a->x, va, b->x, vb)));
}

static void
check_same(const ShareHeader *a, const ShareHeader *b)
{
	char		va[64],
				vb[64];

	if (memcmp(a->id, b->id, SHARE_ID_SIZE) != 0)
	{
		char		ha[33],
					hb[33];

		sodium_bin2hex(ha, sizeof(ha), a->id, SHARE_ID_SIZE);
		sodium_bin2hex(hb, sizeof(hb), b->id, SHARE_ID_SIZE);
		snprintf(va, sizeof(va), "secret id %s", ha);
		snprintf(vb, sizeof(vb), "secret id %s", hb);
		mismatch("secrets", a, b, va, vb);
	}
#define SAME(field, what, fmt) \
	if (a->field != b->field) \
	{ \
		snprintf(va, sizeof(va), what " " fmt, a->field); \
		snprintf(vb, sizeof(vb), what " " fmt, b->field); \
		mismatch(what "s", a, b, va, vb); \
	}
	SAME(epoch, "epoch", "%u");
	SAME(k, "threshold k", "%d");
	SAME(n, "total n", "%d");
	SAME(degree, "degree", "%d");
	SAME(scale, "scale", "%d");
	SAME(flags, "flag", "0x%02x");
#undef SAME
	if (a->type != b->type)
		mismatch("value types", a, b, share_type_name(a->type), share_type_name(b->type));
	if (a->payload_len != b->payload_len)
	{
		snprintf(va, sizeof(va), "%u payload bytes", a->payload_len);
		snprintf(vb, sizeof(vb), "%u payload bytes", b->payload_len);
		mismatch("lengths", a, b, va, vb);
	}
}

static void
share_set_add(ShareSet *set, struct varlena *s, const ShareHeader *h, bool *seen)
{
	if (set->m == 0)
		set->h = *h;
	else
		check_same(&set->h, h);
	if (seen[h->x])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duplicate share: x=%d appears more than once", h->x),
				 errdetail("Each share of a secret has its own x-coordinate.")));
	seen[h->x] = true;
	set->s[set->m] = s;
	set->xs[set->m] = h->x;
	set->m++;
}

static void
share_set_check_count(ShareSet *set)
{
	int			j = set->h.degree + 1;

	if (set->m > 0 && set->m < j)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not enough shares to rebuild the secret: %d given, %d needed",
						set->m, j),
				 set->h.degree == set->h.k - 1 ?
				 errdetail("The threshold is k=%d.", set->h.k) :
				 errdetail("These shares are of a product with polynomial degree %d, so %d shares are needed (threshold k=%d).",
						   set->h.degree, j, set->h.k)));
}

static void
collect_shares(ArrayType *arr, ShareSet *set)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count,
				i;
	bool		seen[SHARE_MAX_N + 1] = {false};

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("shares must be a one-dimensional array")));
	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT,
					  &elems, &nulls, &count);
	set->m = 0;
	set->s = palloc(sizeof(struct varlena *) * Max(count, 1));
	for (i = 0; i < count; i++)
	{
		ShareHeader h;
		struct varlena *sh;

		if (nulls[i])
			continue;			/* a missing share */
		sh = share_open(elems[i], &h);
		share_set_add(set, sh, &h, seen);
	}
	share_set_check_count(set);
}

/*
 * Lagrange coefficients at 0 for the first d+1 shares, cached: a query combines
 * many secrets from the same shareholders.
 */
static const uint8 *
lagrange_gf256_cached(const uint8 *xs, int m)
{
	static uint8 cache_xs[SHARE_MAX_N];
	static uint8 cache_lambda[SHARE_MAX_N];
	static int	cache_m = 0;

	if (m != cache_m || memcmp(xs, cache_xs, m) != 0)
	{
		shamir_lagrange_gf256(xs, m, 0, cache_lambda);
		memcpy(cache_xs, xs, m);
		cache_m = m;
	}
	return cache_lambda;
}

static const fp_t *
lagrange_fp_cached(const uint8 *xs, int m)
{
	static uint8 cache_xs[SHARE_MAX_N];
	static fp_t cache_lambda[SHARE_MAX_N];
	static int	cache_m = 0;

	if (m != cache_m || memcmp(xs, cache_xs, m) != 0)
	{
		shamir_lagrange_fp(xs, m, 0, cache_lambda);
		memcpy(cache_xs, xs, m);
		cache_m = m;
	}
	return cache_lambda;
}

static void
inconsistent(const ShareSet *set, int extra)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("shares are inconsistent: share x=%d does not lie on the polynomial of the others",
					set->xs[extra]),
			 errdetail("One or more of the %d shares given was altered or belongs to another sharing; any %d of them that are intact rebuild the secret.",
					   set->m, set->h.degree + 1)));
}

/* Rebuild from the first d+1 shares; any further shares must agree with them. */
static void
rebuild(const ShareSet *set, ShareValue *v)
{
	int			need = set->h.degree + 1;
	int			i,
				e;

	memset(v, 0, sizeof(*v));
	v->type = set->h.type;
	v->field = set->h.field;
	v->scale = set->h.scale;

	if (v->field == SHARE_FIELD_PRIME)
	{
		fp_t		ys[SHARE_MAX_N];
		fp_t		lambda[SHARE_MAX_N];
		fp_t		y;

		for (i = 0; i < set->m; i++)
			(void) fp_from_bytes(&ys[i], SHARE_PAYLOAD(set->s[i]));	/* validated */
		shamir_combine_fp(&v->fp, need, lagrange_fp_cached(set->xs, need), ys);
		for (e = need; e < set->m; e++)
		{
			shamir_lagrange_fp(set->xs, need, set->xs[e], lambda);
			shamir_combine_fp(&y, need, lambda, ys);
			if (!fp_equal(&y, &ys[e]))
				inconsistent(set, e);
		}
		sodium_memzero(ys, sizeof(fp_t) * set->m);
		sodium_memzero(&y, sizeof(y));
	}
	else
	{
		const uint8 **ys = palloc(sizeof(uint8 *) * set->m);
		size_t		len = set->h.payload_len;

		for (i = 0; i < set->m; i++)
			ys[i] = SHARE_PAYLOAD(set->s[i]);
		value_alloc_bytes(v, len);
		shamir_combine_gf256(v->bytes, len, need, lagrange_gf256_cached(set->xs, need),
							 (const uint8 *const *) ys);
		if (set->m > need)
		{
			uint8		lambda[SHARE_MAX_N];
			uint8	   *y = palloc(len > 0 ? len : 1);

			for (e = need; e < set->m; e++)
			{
				shamir_lagrange_gf256(set->xs, need, set->xs[e], lambda);
				shamir_combine_gf256(y, len, need, lambda, (const uint8 *const *) ys);
				if (sodium_memcmp(y, ys[e], len) != 0)
					inconsistent(set, e);
			}
			sodium_memzero(y, len);
			pfree(y);
		}
		pfree(ys);
		if (share_is_checked(&set->h))
		{
			/* the salt served its check (ssa/retrieve): the value alone goes on */
			sodium_memzero(v->bytes + share_value_len(&set->h), SHARE_CHECK_SALT);
			v->len = share_value_len(&set->h);
			v->block_len = VARHDRSZ + v->len;
		}
	}
}

Datum
ssn_combine(PG_FUNCTION_ARGS)
{
	Oid			want;
	ShareSet	set;
	ShareValue	v;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	want = value_result_type_arg(fcinfo, 1);
	collect_shares(PG_GETARG_ARRAYTYPE_P(0), &set);
	if (set.m == 0)
		PG_RETURN_NULL();
	rebuild(&set, &v);
	result = value_decode(&v, want);
	value_wipe(&v);
	PG_RETURN_DATUM(result);
}

Datum
ssn_combine_text(PG_FUNCTION_ARGS)
{
	ShareSet	set;
	ShareValue	v;

	collect_shares(PG_GETARG_ARRAYTYPE_P(0), &set);
	if (set.m == 0)
		PG_RETURN_NULL();
	rebuild(&set, &v);
	PG_RETURN_TEXT_P(value_to_text_wiped(&v));
}

void
shares_rebuild(struct varlena **shares, int m, ShareValue *v)
{
	ShareSet	set;
	bool		seen[SHARE_MAX_N + 1] = {false};
	int			i;

	set.m = 0;
	set.s = palloc(sizeof(struct varlena *) * Max(m, 1));
	for (i = 0; i < m; i++)
	{
		ShareHeader h;
		struct varlena *sh = share_open(PointerGetDatum(shares[i]), &h);

		share_set_add(&set, sh, &h, seen);
	}
	share_set_check_count(&set);
	rebuild(&set, v);
	pfree(set.s);
}
