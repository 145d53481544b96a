/*
 * compute_eval.c - a shareholder evaluates a program on its own shares, in bulk:
 * it reads the shares of every secret the program names in one pass over its
 * share table, then sums each group's rows.  A term's value is its coefficient
 * times its factors' shares; decimal scales add up in products and are aligned
 * (multiplied by powers of ten) in sums, the same way at every shareholder, since
 * a secret's scale is in every one of its shares.
 */
#include "compute/compute_eval.h"

#include <sodium.h>

#include "access/heapam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "share/id_set.h"
#include "share/secret_expr.h"
#include "share/secret_handle.h"
#include "share/share_type.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#define FETCH_ROWS 10000
/* about 110 bytes of memory per reference while evaluating: at most ~1.8 GB */
#define COMPUTE_MAX_REFS (16 * 1024 * 1024)
#define SCAN_MIN_INPUTS 1000	/* from here on one pass over the table may beat index probes, */
#define SCAN_MAX_RATIO 20		/* if the inputs are a twentieth of the shares held or more */
#define SCAN_ROWS_PER_PAGE 20	/* (a page holds 20 verifiable shares, 40 others) */

typedef struct Input
{
	bool		found;
	uint8		type;
	uint8		degree;
	uint8		k;
	uint8		n;
	uint16		scale;
	uint32		epoch;
	fp_t		y;
} Input;

/* the program's distinct inputs (sorted ids) and their shares, position by position */
typedef struct InputTable
{
	IdSet		set;
	Input	   *items;
	uint32		count;
	uint32	   *refs;			/* the input of every factor, in program order */
} InputTable;

static Input *
input_find(InputTable *t, const uint8 *id)
{
	int64		pos = id_set_find(&t->set, id);

	return pos >= 0 ? &t->items[pos] : NULL;
}


/* every distinct secret the program names */
static void
collect_inputs(InputTable *t, const uint8 *program, size_t len)
{
	ProgramReader r;
	const uint8 *gid;
	uint32		rows;
	SecretExpr	e;
	char		err[128];
	uint64		refs = 0;
	uint8	   *ids;
	void	   *work;

	(void) program_begin(&r, program, len, err, sizeof(err));
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
		for (uint32 i = 0; i < rows; i++)
		{
			(void) program_next_row(&r, &e, err, sizeof(err));
			for (int j = 0; j < e.nterms; j++)
				refs += e.terms[j].nfactors;
		}
	if (refs > COMPUTE_MAX_REFS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a computation naming secrets %llu times is too large (at most %d)",
						(unsigned long long) refs, COMPUTE_MAX_REFS),
				 errhint("Aggregate in parts (e.g. GROUP BY ranges of rows) and add up the results.")));
	ids = palloc_extended((size_t) Max(refs, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE);
	refs = 0;
	(void) program_begin(&r, program, len, err, sizeof(err));
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
		for (uint32 i = 0; i < rows; i++)
		{
			(void) program_next_row(&r, &e, err, sizeof(err));
			for (int j = 0; j < e.nterms; j++)
				for (int f = 0; f < e.terms[j].nfactors; f++)
					memcpy(ids + (size_t) refs++ * SHARE_ID_SIZE, e.terms[j].ids[f], SHARE_ID_SIZE);
		}
	work = palloc_extended(id_set_work_size() * Max(refs, 1), MCXT_ALLOC_HUGE);
	t->refs = palloc_extended(sizeof(uint32) * Max(refs, 1), MCXT_ALLOC_HUGE);
	id_set_build(&t->set, ids, (uint32) refs,
				 palloc_extended((size_t) Max(refs, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE),
				 t->refs, work);
	pfree(work);
	pfree(ids);
	t->count = t->set.count;
	t->items = palloc_extended(sizeof(Input) * Max(t->count, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* take a share of an input (the newest epoch wins) */
static void
accept_share(InputTable *t, Datum d, int x)
{
	ShareHeader sh;
	struct varlena *s = share_open(d, &sh);
	Input	   *in = input_find(t, sh.id);

	if (in != NULL && sh.x == x && !(in->found && sh.epoch <= in->epoch))
	{
		if (sh.field != SHARE_FIELD_PRIME)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("secret %s is not a number", secret_id_text(sh.id)),
					 errdetail("Only numbers are shared in the field where shares add and multiply.")));
		in->found = true;
		in->type = sh.type;
		in->degree = sh.degree;
		in->k = sh.k;
		in->n = sh.n;
		in->scale = sh.scale;
		in->epoch = sh.epoch;
		(void) fp_from_bytes(&in->y, SHARE_PAYLOAD(s));
	}
	if ((Pointer) s != DatumGetPointer(d))
	{
		sodium_memzero(VARDATA(s), VARSIZE(s) - VARHDRSZ);
		pfree(s);
	}
}

/*
 * Many inputs: one pass over ssn.held_share, the ids looked up in the input
 * table (no executor, no copies of rows).  The caller runs privileged.
 */
static void
scan_inputs(InputTable *t, const char *origin, int x)
{
	Oid			relid = get_relname_relid("held_share", get_namespace_oid("ssn", false));
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	td = RelationGetDescr(rel);
	AttrNumber	a_id = get_attnum(relid, "secret_id"),
				a_origin = get_attnum(relid, "origin"),
				a_share = get_attnum(relid, "share");
	size_t		olen = strlen(origin);
	TableScanDesc scan;
	HeapTuple	tup;
	uint64		n = 0;
	bool		pushed = !ActiveSnapshotSet();

	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		pg_uuid_t  *u = DatumGetUUIDP(heap_getattr(tup, a_id, td, &isnull));
		text	   *o;

		if ((++n & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (input_find(t, u->data) == NULL)
			continue;
		o = (text *) DatumGetPointer(heap_getattr(tup, a_origin, td, &isnull));
		if (VARATT_IS_EXTENDED(o) && !VARATT_IS_SHORT(o))
			o = DatumGetTextPP(PointerGetDatum(o));
		if (VARSIZE_ANY_EXHDR(o) != olen || memcmp(VARDATA_ANY(o), origin, olen) != 0)
			continue;
		accept_share(t, heap_getattr(tup, a_share, td, &isnull), x);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (pushed)
		PopActiveSnapshot();
}

/* Few inputs: look them up through the primary key. */
static void
query_inputs(InputTable *t, const char *origin, int x)
{
	Datum	   *ids = palloc_extended(sizeof(Datum) * Max(t->count, 1), MCXT_ALLOC_HUGE);
	pg_uuid_t  *uu = palloc_extended(sizeof(pg_uuid_t) * Max(t->count, 1), MCXT_ALLOC_HUGE);
	int			n = 0;
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];
	Portal		cur;
	SPIPlanPtr	plan;

	for (uint32 i = 0; i < t->count; i++)
	{
		memcpy(uu[n].data, t->set.ids[i], SHARE_ID_SIZE);
		ids[n] = UUIDPGetDatum(&uu[n]);
		n++;
	}
	values[0] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = CStringGetTextDatum(origin);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare("SELECT share FROM ssn.held_share WHERE secret_id = ANY($1) AND origin = $2",
					   2, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the read of ssn.held_share");
	cur = SPI_cursor_open(NULL, plan, values, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(cur, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;

			accept_share(t, SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull), x);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(cur);
	SPI_finish();
	pfree(ids);
	pfree(uu);
}

/*
 * What a pass over this node's shares costs, in rows: its pages now, at the
 * density of rows the statistics last saw (as the planner estimates a table's
 * size), but at least SCAN_ROWS_PER_PAGE, since a page of dead rows is read too.
 */
static double
held_share_rows(void)
{
	Oid			relid = get_relname_relid("held_share", get_namespace_oid("ssn", false));
	Relation	rel = table_open(relid, AccessShareLock);
	double		tuples = rel->rd_rel->reltuples;
	BlockNumber pages = rel->rd_rel->relpages;
	BlockNumber blocks = RelationGetNumberOfBlocks(rel);
	double		density = tuples > 0 && pages > 0 ? tuples / pages : 0;

	table_close(rel, AccessShareLock);
	return (double) blocks * Max(density, SCAN_ROWS_PER_PAGE);
}

/* read this node's shares of the inputs (the newest epoch of each) */
static void
load_inputs(InputTable *t, const char *origin, int x)
{
	/* a pass over every share pays when the inputs are a good part of them */
	if (t->count >= SCAN_MIN_INPUTS && (double) t->count * SCAN_MAX_RATIO >= held_share_rows())
		scan_inputs(t, origin, x);
	else
		query_inputs(t, origin, x);
	for (uint32 i = 0; i < t->count; i++)
		if (!t->items[i].found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("this shareholder holds no share of secret %s stored by \"%s\"",
							secret_id_text(t->set.ids[i]), origin)));
}

/* powers of ten, computed as far as needed */
static fp_t pow10_cache[SHARE_MAX_SCALE + 1];
static int	pow10_known = -1;

static const fp_t *
pow10_of(int e)
{
	while (pow10_known < e)
	{
		fp_t		ten;

		if (pow10_known < 0)
			pow10_cache[0] = fp_one;
		else
		{
			fp_from_u64(&ten, 10);
			fp_mul(&pow10_cache[pow10_known + 1], &pow10_cache[pow10_known], &ten);
		}
		pow10_known++;
	}
	return &pow10_cache[e];
}

/*
 * A nonzero value at scale s is at least 10^-s: at a scale of 76 or more it
 * needs more than the field's 75 digits, so the result would wrap.
 */
#define EXACT_MAX_SCALE 75

static void
scale_error(int scale)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("a result would have scale %d, above the %d digits the field holds exactly", scale, EXACT_MAX_SCALE),
			 errhint("Round the inputs or the constants to fewer decimal places.")));
}

static EvalGroup *evaluate(const uint8 *program, size_t len, const char *origin, int x,
						   ComputeValueFn values, void *arg, int *ngroups);

EvalGroup *
compute_evaluate(const uint8 *program, size_t len, const char *origin, int x, int *ngroups)
{
	return evaluate(program, len, origin, x, NULL, NULL, ngroups);
}

EvalGroup *
compute_evaluate_values(const uint8 *program, size_t len, ComputeValueFn values, void *arg, int *ngroups)
{
	return evaluate(program, len, NULL, 0, values, arg, ngroups);
}

/* the inputs' values as the SSA has them: a constant polynomial each (degree 0) */
static void
value_inputs(InputTable *t, ComputeValueFn values, void *arg)
{
	for (uint32 i = 0; i < t->count; i++)
	{
		Input	   *in = &t->items[i];
		int			type,
					scale,
					k;

		if (!values(t->set.ids[i], &in->y, &type, &scale, &k, arg))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the value of secret %s is not at hand", secret_id_text(t->set.ids[i]))));
		in->found = true;
		in->type = (uint8) type;
		in->scale = (uint16) scale;
		in->k = (uint8) k;
		in->degree = 0;
	}
}

static EvalGroup *
evaluate(const uint8 *program, size_t len, const char *origin, int x, ComputeValueFn values, void *arg,
		 int *ngroups)
{
	uint32		ng;
	uint64		nrows;
	char		err[128];
	InputTable	t;
	ProgramReader r;
	const uint8 *gid;
	uint32		rows;
	SecretExpr *e = palloc(sizeof(SecretExpr));
	EvalGroup  *out;
	int			g = 0;
	uint64		ref = 0;

	if (!program_check(program, len, &ng, &nrows, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed computation request: %s", err)));
	if (ng > 10 * 1000 * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a computation request of %u results is too large", ng)));
	collect_inputs(&t, program, len);
	if (values)
		value_inputs(&t, values, arg);
	else
		load_inputs(&t, origin, x);

	out = palloc0_array(EvalGroup, Max(ng, 1));
	(void) program_begin(&r, program, len, err, sizeof(err));
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
	{
		EvalGroup  *o = &out[g++];

		memcpy(o->id, gid, SHARE_ID_SIZE);
		o->y = fp_zero;
		o->type = r.group_type ? r.group_type : SHARE_TYPE_INT8;
		for (uint32 i = 0; i < rows; i++)
		{
			(void) program_next_row(&r, e, err, sizeof(err));
			for (int j = 0; j < e->nterms; j++)
			{
				ExprTerm   *term = &e->terms[j];
				fp_t		v = term->coef;
				int			scale = term->cscale,
							degree = 0;

				for (int f = 0; f < term->nfactors; f++)
				{
					Input	   *in = &t.items[t.refs[ref++]];

					if (term->cscale == 0 && term->nfactors == 1 && fp_equal(&term->coef, &fp_one))
						v = in->y;
					else
						fp_mul(&v, &v, &in->y);
					scale += in->scale;
					degree += in->degree;
					if (in->type == SHARE_TYPE_NUMERIC)
						o->type = SHARE_TYPE_NUMERIC;
					if (o->k == 0)
						o->k = in->k;
					else if (o->k != in->k)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("cannot combine secrets shared with different thresholds (k=%d and k=%d)",
										o->k, in->k)));
				}
				if (scale > EXACT_MAX_SCALE)
					scale_error(scale);
				/* align: the group's sum and the term at the larger scale */
				if (scale > o->scale)
				{
					fp_mul(&o->y, &o->y, pow10_of(scale - o->scale));
					o->scale = scale;
				}
				else if (scale < o->scale)
					fp_mul(&v, &v, pow10_of(o->scale - scale));
				fp_add(&o->y, &o->y, &v);
				o->degree = Max(o->degree, degree);
				sodium_memzero(&v, sizeof(v));
			}
			if ((i & 0xffff) == 0xffff)
				CHECK_FOR_INTERRUPTS();
		}
		if (o->scale > 0)
			o->type = SHARE_TYPE_NUMERIC;
		/*
		 * A result is shared among the shareholders that hold every input: the
		 * SSA names their number (a result of constants alone gets its k too).
		 */
		o->n = r.group_n;
		if (o->k == 0)
			o->k = r.group_k;
		else if (o->k != r.group_k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the inputs are shared with k=%d, not the k=%d of the request", o->k, r.group_k)));
		/* a degree is an upper bound: a sum of constants still counts as degree k-1 */
		o->degree = Max(o->degree, o->k - 1);
		if (o->degree > o->n - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a result of degree %d cannot be rebuilt from the n=%d shares of its inputs",
							o->degree, o->n)));
	}
	sodium_memzero(t.items, sizeof(Input) * t.count);
	pfree(t.items);
	pfree(t.set.ids);
	pfree(t.refs);
	pfree(e);
	*ngroups = g;
	return out;
}

void
compute_wipe(EvalGroup *g, int ngroups)
{
	sodium_memzero(g, sizeof(EvalGroup) * ngroups);
}

struct varlena *
compute_result_share(const EvalGroup *g, int x)
{
	struct varlena *r = share_alloc(FP_BYTES);
	ShareHeader h;

	/* k and n of the inputs; the degree says how many shares rebuild it */
	share_header_init(&h, SHARE_FIELD_PRIME, g->type, g->k, g->n, g->degree, x, 0, g->id);
	h.scale = (uint16) g->scale;
	h.payload_len = FP_BYTES;
	fp_to_bytes(SHARE_PAYLOAD(r), &g->y);
	share_seal_varlena(r, &h);
	return r;
}
