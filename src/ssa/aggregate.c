/*
 * aggregate.c - ssn_sum and ssn_avg: aggregates the shareholders compute.
 *
 * The transition function collects, per group, the expressions of its rows (a
 * stored secret is 1 * its id; a * b is one term of two factors) into a group
 * of a program (secret_expr.h).  The holders evaluate a program of many groups
 * in one round: each sums its shares of every group's rows and returns one
 * sealed result share per group, and only the results are rebuilt.
 *
 * One round per query, not per group: every group's state is registered with
 * the memory context PostgreSQL keeps the states in (the aggregate context).
 * When a final function meets a state whose result is not known yet, all the
 * states of that context are finished, so they are computed together.  That
 * holds for a hashed aggregate (every group is complete before the first is
 * output: one round per hash batch) and for the several aggregates of one
 * group (a sorted aggregate: one round per group).  A window aggregate's state
 * may still grow after a final call: it is computed alone, every time.
 *
 * The rows of those states are spooled, not kept in the states: a state stays
 * about 150 bytes however many rows its group has, so a hashed aggregate over
 * many rows fits work_mem in one hash batch, and one round, instead of spilling
 * into a round per batch.  The spool is 64 kB of memory per context, then a
 * temporary file: expressions (secret ids and the query's constants), never a
 * value or a share.  The file is not the transaction's resource owner's: the
 * context's reset callback closes (and so deletes) it, whether the query ended
 * or failed, and closing writes nothing.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/wait_event.h"
#include "share/secret_expr.h"
#include "share/value_codec.h"
#include "ssa/compute.h"
#include "ssa/retrieve.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(ssn_agg_add);
PG_FUNCTION_INFO_V1(ssn_agg_sum_final);
PG_FUNCTION_INFO_V1(ssn_agg_avg_final);

/* a round's program stops growing here (a single larger group goes alone) */
#define AGG_ROUND_MAX_BYTES (64 * 1024 * 1024)

typedef struct AggBatch AggBatch;

typedef struct SecretAggState
{
	StringInfoData prog;		/* room for the program's headers, then the rows (unspooled) */
	uint64		spooled;		/* bytes of its rows in the batch's spool */
	int			index;			/* its place in the batch */
	uint32		nrows;
	int			k;
	int			degree;
	int			nholders;
	uint8	   *holders;		/* nholders of them (the common holders of its rows) */
	AggBatch   *batch;			/* the states finished with this one; NULL: alone */
	bool		done;			/* sum below is the rebuilt result */
	Datum		sum;			/* numeric, in the aggregate context */
} SecretAggState;

#define AGG_PREFIX (PROGRAM_HEADER + PROGRAM_GROUP_HEADER)

/* the states of one aggregate context, living (and dying) in it */
struct AggBatch
{
	MemoryContext cxt;
	SecretAggState **states;
	int			nstates;
	int			cap;
	AggBatch   *next;			/* the backend's list of live batches */
	MemoryContextCallback on_reset;
	/* the states' rows as (SpoolRow, expression): the file's, then pending's */
	File		spool;			/* 0 until pending first overflows */
	off_t		spooled;		/* bytes in the file */
	StringInfoData pending;		/* not written yet (data NULL until the first row) */
};

#define SPOOL_PENDING_MAX (64 * 1024)
/* a group's rows must fit one program buffer */
#define GROUP_ROWS_MAX ((uint64) MaxAllocSize - PROGRAM_HEADER - PROGRAM_GROUP_HEADER - 1)

/* a spooled row's head: the state it belongs to, the length of its expression */
typedef struct SpoolRow
{
	int32		index;
	uint32		len;
} SpoolRow;

static AggBatch *live_batches = NULL;

/* the aggregate context was reset or deleted: forget its batch, wipe the results */
static void
batch_forget(void *arg)
{
	AggBatch   *b = (AggBatch *) arg;

	for (AggBatch **p = &live_batches; *p; p = &(*p)->next)
		if (*p == b)
		{
			*p = b->next;
			break;
		}
	for (int i = 0; i < b->nstates; i++)
		if (b->states[i]->done)
		{
			Numeric		n = DatumGetNumeric(b->states[i]->sum);

			sodium_memzero(n, VARSIZE_ANY(n));
		}
	if (b->spool > 0)
		FileClose(b->spool);
	b->spool = 0;
}

static AggBatch *
batch_of(MemoryContext aggcxt)
{
	AggBatch   *b;

	for (b = live_batches; b; b = b->next)
		if (b->cxt == aggcxt)
			return b;
	b = MemoryContextAllocZero(aggcxt, sizeof(AggBatch));
	b->cxt = aggcxt;
	b->cap = 16;
	b->states = MemoryContextAlloc(aggcxt, sizeof(SecretAggState *) * b->cap);
	b->on_reset.func = batch_forget;
	b->on_reset.arg = b;
	MemoryContextRegisterResetCallback(aggcxt, &b->on_reset);
	b->next = live_batches;
	live_batches = b;
	return b;
}

static void
batch_add(AggBatch *b, SecretAggState *st)
{
	if (b->nstates == b->cap)
	{
		b->cap *= 2;
		b->states = repalloc_huge(b->states, sizeof(SecretAggState *) * b->cap);
	}
	st->index = b->nstates;
	b->states[b->nstates++] = st;
	st->batch = b;
}

/* the pending rows to the end of the batch's file (opened on first use) */
static void
spool_flush(AggBatch *b)
{
	int			rc;

	if (b->spool <= 0)
		b->spool = OpenTemporaryFile(true);
	rc = FileWrite(b->spool, b->pending.data, b->pending.len, b->spooled, WAIT_EVENT_BUFFILE_WRITE);
	if (rc != b->pending.len)
	{
		if (rc >= 0)
			errno = ENOSPC;		/* a short write: out of space */
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the temporary file of an aggregate's rows: %m")));
	}
	b->spooled += rc;
	resetStringInfo(&b->pending);
}

static void append_expression(StringInfo buf, Datum d, const SecretHandle *h);

/* one row of state st (the expression of handle d), after the batch's others */
static void
spool_row(AggBatch *b, SecretAggState *st, Datum d, const SecretHandle *h)
{
	SpoolRow	head;
	int			at;

	if (b->pending.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(b->cxt);

		initStringInfo(&b->pending);
		MemoryContextSwitchTo(old);
	}
	/* the head's room, then the expression written in place after it */
	at = b->pending.len;
	appendStringInfoSpaces(&b->pending, sizeof(head));
	append_expression(&b->pending, d, h);
	head.index = st->index;
	head.len = (uint32) (b->pending.len - at - sizeof(head));
	memcpy(b->pending.data + at, &head, sizeof(head));
	if (st->spooled + head.len > GROUP_ROWS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the rows of one aggregate group exceed what one program may name (1 GB)"),
				 errhint("Aggregate fewer rows per group, or in parts.")));
	st->spooled += head.len;
	if (b->pending.len >= SPOOL_PENDING_MAX)
		spool_flush(b);
}

/* a sequential reader of a batch's rows: the file in chunks, or the pending rows */
typedef struct SpoolReader
{
	AggBatch   *b;
	off_t		pos;			/* read of the file */
	char	   *chunk;
	int			len;			/* bytes in chunk */
	int			at;				/* read of them */
} SpoolReader;

/* the next n bytes of the rows to dst (NULL: skip them); false at their end */
static bool
spool_read(SpoolReader *r, char *dst, size_t n)
{
	while (n > 0)
	{
		size_t		take;

		if (r->at == r->len)
		{
			AggBatch   *b = r->b;
			int			want;
			int			rc;

			if (r->pos >= b->spooled)
				return false;
			want = (int) Min((off_t) SPOOL_PENDING_MAX, b->spooled - r->pos);
			rc = FileRead(b->spool, r->chunk, want, r->pos, WAIT_EVENT_BUFFILE_READ);
			if (rc != want)
			{
				if (rc >= 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("the temporary file of an aggregate's rows ended early")));
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read the temporary file of an aggregate's rows: %m")));
			}
			r->pos += rc;
			r->len = rc;
			r->at = 0;
		}
		take = Min(n, (size_t) (r->len - r->at));
		if (dst)
		{
			memcpy(dst, r->chunk + r->at, take);
			dst += take;
		}
		r->at += (int) take;
		n -= take;
	}
	return true;
}

/*
 * The rows of the round's states, each to its group's place: at[i] is where the
 * next row of the state with index i goes (-1: not in the round).  With a file,
 * the pending rows join it first, so the rows are read from one place.
 */
static void
spool_gather(AggBatch *b, char *prog, int64 *at)
{
	SpoolReader r = {b};
	SpoolRow	head;

	if (b->spool > 0)
	{
		if (b->pending.len > 0)
			spool_flush(b);
		r.chunk = palloc(SPOOL_PENDING_MAX);
	}
	else if (b->pending.data != NULL)
	{
		r.chunk = b->pending.data;
		r.len = b->pending.len;
	}
	while (spool_read(&r, (char *) &head, sizeof(head)))
	{
		CHECK_FOR_INTERRUPTS();
		if (head.index < 0 || head.index >= b->nstates)
			elog(ERROR, "corrupt temporary file of an aggregate's rows");
		if (!spool_read(&r, at[head.index] >= 0 ? prog + at[head.index] : NULL, head.len))
			elog(ERROR, "corrupt temporary file of an aggregate's rows");
		if (at[head.index] >= 0)
			at[head.index] += head.len;
	}
	if (b->spool > 0)
		pfree(r.chunk);
}

/* the expression of a handle, in wire form, without decoding it */
static void
append_expression(StringInfo buf, Datum d, const SecretHandle *h)
{
	bytea	   *v = DatumGetByteaPP(d);

	if (h->computed)
	{
		size_t		off = HANDLE_COMPUTED_FIXED + h->n;

		appendBinaryStringInfo(buf, VARDATA_ANY(v) + off, VARSIZE_ANY_EXHDR(v) - off);
	}
	else
	{
		char		one[2 + SHARE_ID_SIZE] = {1, 1 | 4};

		memcpy(one + 2, h->id, SHARE_ID_SIZE);
		appendBinaryStringInfo(buf, one, sizeof(one));
	}
}

/* read a handle's header fields only (the expression was checked when it was made) */
static void
agg_operand(Datum d, SecretHandle *h)
{
	handle_read_header(d, h);
	if (share_type_field(h->type) != SHARE_FIELD_PRIME)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot aggregate secrets of type %s", format_type_be(value_type_oid(h->type))),
				 errdetail("Only numbers (boolean, smallint, integer, bigint, numeric) are shared in the field where shares add up."),
				 errhint("Use ssn_count() to count secrets of any type.")));
	if (!h->computed)
		h->degree = 1;
}

Datum
ssn_agg_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	SecretAggState *st = PG_ARGISNULL(0) ? NULL : (SecretAggState *) PG_GETARG_POINTER(0);
	SecretHandle h;
	int			kind;

	if (!(kind = AggCheckCallContext(fcinfo, &aggcxt)))
		elog(ERROR, "ssn_agg_add called in non-aggregate context");
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);
	agg_operand(PG_GETARG_DATUM(1), &h);
	old = MemoryContextSwitchTo(aggcxt);
	if (st == NULL)
	{
		st = palloc0(sizeof(SecretAggState));
		st->k = h.k;
		st->nholders = h.n;
		st->holders = palloc(h.n);
		memcpy(st->holders, h.holders, h.n);
		if (kind == AGG_CONTEXT_AGGREGATE)
			batch_add(batch_of(aggcxt), st);	/* its rows go to the spool */
		else
		{
			/* a window's: in memory, starting small */
			st->prog.maxlen = AGG_PREFIX + 4 * (2 + SHARE_ID_SIZE);
			st->prog.data = palloc(st->prog.maxlen);
			resetStringInfo(&st->prog);
			appendStringInfoSpaces(&st->prog, AGG_PREFIX);
		}
	}
	else
	{
		if (h.k != st->k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot aggregate secrets shared with different thresholds (k=%d and k=%d)",
							st->k, h.k)));
		if (h.n != st->nholders || memcmp(h.holders, st->holders, h.n) != 0)
		{
			/* only shareholders of every row can add them up */
			int			m = 0;

			for (int i = 0; i < st->nholders; i++)
				for (int j = 0; j < h.n; j++)
					if (st->holders[i] == h.holders[j])
						st->holders[m++] = st->holders[i];
			st->nholders = m;
		}
	}
	st->degree = Max(st->degree, h.degree);
	if (st->batch)
		spool_row(st->batch, st, PG_GETARG_DATUM(1), &h);
	else
		append_expression(&st->prog, PG_GETARG_DATUM(1), &h);
	st->nrows++;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* the shares a group's result needs, or an error if its rows have too few common holders */
static int
state_need(const SecretAggState *st)
{
	SecretHandle h;
	int			need;

	memset(&h, 0, sizeof(h));
	h.k = st->k;
	h.degree = st->degree;
	need = compute_need(&h);
	if (st->nholders < need)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot aggregate these secrets: the result needs %d shareholders that hold every input row's secret, but %d do",
						need, st->nholders),
				 errhint("Store the secrets on the same shareholders%s.",
						 st->degree > 1 ? ", with n >= 2k-1 for products" : "")));
	return need;
}

static bool
same_holders(const SecretAggState *a, const SecretAggState *b)
{
	return a->k == b->k && a->nholders == b->nholders &&
		memcmp(a->holders, b->holders, a->nholders) == 0;
}

/* the bytes of a state's rows: spooled, or after the headers' room in memory */
static uint64
rows_bytes(const SecretAggState *st)
{
	return st->batch ? st->spooled : (uint64) (st->prog.len - AGG_PREFIX);
}

/*
 * One round: the states st[0..m) (same k and holders) as the groups of one
 * program; each gets its rebuilt sum, kept in its aggregate context.
 */
static void
compute_round(SecretAggState **st, int m, MemoryContext keep)
{
	StringInfoData prog;
	int		   *need = palloc(sizeof(int) * m);
	ShareValue *vals = palloc0(sizeof(ShareValue) * m);
	AggBatch   *b = st[0]->batch;
	int64	   *at = NULL;
	size_t		len = PROGRAM_HEADER;

	for (int g = 0; g < m; g++)
	{
		need[g] = state_need(st[g]);
		len += PROGRAM_GROUP_HEADER + rows_bytes(st[g]);
	}
	if (b)
	{
		at = palloc(sizeof(int64) * b->nstates);
		for (int i = 0; i < b->nstates; i++)
			at[i] = -1;
	}
	initStringInfo(&prog);
	enlargeStringInfo(&prog, len);
	program_put_header((uint8 *) prog.data, m);
	prog.len = PROGRAM_HEADER;
	for (int g = 0; g < m; g++)
	{
		uint8		gid[SHARE_ID_SIZE];
		SecretAggState *s = st[g];

		randombytes_buf(gid, sizeof(gid));
		program_put_group((uint8 *) prog.data + prog.len, gid, s->nrows, SHARE_TYPE_NUMERIC,
						  (uint8) s->k, (uint8) s->nholders);
		prog.len += PROGRAM_GROUP_HEADER;
		if (s->batch)
			at[s->index] = prog.len;	/* filled from the spool below */
		else
			memcpy(prog.data + prog.len, s->prog.data + AGG_PREFIX, s->prog.len - AGG_PREFIX);
		prog.len += rows_bytes(s);
	}
	if (b)
		spool_gather(b, prog.data, at);
	compute_gather_rebuild((uint8 *) prog.data, prog.len, st[0]->holders, st[0]->nholders,
						   st[0]->k, need, vals);
	for (int g = 0; g < m; g++)
	{
		Datum		d = value_decode(&vals[g], NUMERICOID);
		MemoryContext old = MemoryContextSwitchTo(keep);

		st[g]->sum = datumCopy(d, false, -1);
		st[g]->done = true;
		MemoryContextSwitchTo(old);
		value_wipe(&vals[g]);
	}
	pfree(prog.data);
	pfree(vals);
	pfree(need);
	if (at)
		pfree(at);
}

/*
 * Every unfinished state of the batch: one round per set of holders (and per
 * 64 MB of program; a state that does not fit opens a later round).
 */
static void
batch_finish(AggBatch *b)
{
	int			n = 0;
	SecretAggState **todo = palloc(sizeof(SecretAggState *) * b->nstates);
	bool	   *taken = palloc0(sizeof(bool) * b->nstates);

	for (int i = 0; i < b->nstates; i++)
		if (!b->states[i]->done)
			todo[n++] = b->states[i];
	for (int i = 0; i < n; i++)
	{
		SecretAggState **round;
		int			m = 0;
		uint64		bytes = 0;

		if (taken[i])
			continue;
		round = palloc(sizeof(SecretAggState *) * (n - i));
		for (int j = i; j < n; j++)
		{
			uint64		more = PROGRAM_GROUP_HEADER + rows_bytes(todo[j]);

			if (taken[j] || !same_holders(todo[i], todo[j]))
				continue;
			if (m > 0 && bytes + more > AGG_ROUND_MAX_BYTES)
				break;
			bytes += more;
			round[m++] = todo[j];
			taken[j] = true;
		}
		compute_round(round, m, b->cxt);
		pfree(round);
	}
	pfree(taken);
	pfree(todo);
}

/* the rebuilt sum of the group's rows, as numeric; false if there were none */
static bool
agg_sum(FunctionCallInfo fcinfo, Datum *result, uint32 *rows)
{
	SecretAggState *st = PG_ARGISNULL(0) ? NULL : (SecretAggState *) PG_GETARG_POINTER(0);

	if (st == NULL || st->nrows == 0)
		return false;
	if (!st->done)
	{
		if (st->batch)
			batch_finish(st->batch);
		else
		{
			/* a window's state: alone, and again at the next call */
			compute_round(&st, 1, CurrentMemoryContext);
			st->done = false;
			*result = st->sum;
			*rows = st->nrows;
			return true;
		}
	}
	*result = datumCopy(st->sum, false, -1);
	*rows = st->nrows;
	return true;
}

Datum
ssn_agg_sum_final(PG_FUNCTION_ARGS)
{
	Datum		sum;
	uint32		rows;

	if (!agg_sum(fcinfo, &sum, &rows))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(sum);
}

Datum
ssn_agg_avg_final(PG_FUNCTION_ARGS)
{
	Datum		sum;
	uint32		rows;

	if (!agg_sum(fcinfo, &sum, &rows))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall2(numeric_div, sum,
										NumericGetDatum(int64_to_numeric(rows))));
}
