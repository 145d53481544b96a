/*
 * compute.c - the SSA's side of computing on shares: ssn_store(expression)
 * (aggregates are in aggregate.c).
 *
 * ssn_store(expression) makes a result a stored secret with its own id and
 * shares, created at commit by the shareholders: a linear expression each of them
 * evaluates on its own shares; a product (degree 2(k-1)) is reduced to degree k-1
 * by 2k-1 contributors re-sharing their weighted results among all holders
 * (compute_channel.c), so no node ever sees the value.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/guc.h"
#include "catalog/pg_type.h"
#include "compute/compute_channel.h"
#include "executor/spi.h"
#include "lifecycle/renewal.h"
#include "miscadmin.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/peer_conn.h"
#include "share/secret_expr.h"
#include "ssa/compute.h"
#include "ssa/retrieve.h"
#include "ssa/store.h"
#include "ssa/store_policy.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_store_computed);

/* ---------------------------------------------------------------------------
 * ssn_store(expression): new secrets made by the shareholders at commit
 * ------------------------------------------------------------------------- */

typedef struct MatJob
{
	SubTransactionId subid;
	Oid			owner;
	SecretHandle h;				/* the new secret: id, type, k, n, holders */
	int			degree;			/* of the expression */
	uint8	   *expr;
	size_t		expr_len;
} MatJob;

static MatJob *jobs = NULL;
static int	njobs = 0,
			jobs_cap = 0;
static bool mat_callbacks = false;

static void
forget_jobs(void)
{
	jobs = NULL;				/* TopTransactionContext goes with the transaction */
	njobs = jobs_cap = 0;
}

#define COMPUTE_CALL_TIMEOUT_MS Max(ssn_peer_timeout_ms, 600000)

/*
 * Start calls on peers, do this node's own part (local) while they do theirs,
 * then wait for their answers; if the own part fails, the calls are abandoned.
 * A peer that failed already (unreachable, refused) leaves the own part undone:
 * the caller raises for it without spending key on the rest.
 */
static void
beside_peers(PeerCall *calls, int n, void (*local) (void *), void *arg)
{
	PG_TRY();
	{
		bool		failed = false;

		peer_call_begin(calls, n);
		peer_call_sent(calls, n, COMPUTE_CALL_TIMEOUT_MS);
		for (int i = 0; i < n; i++)
			failed |= !calls[i].skip && calls[i].res == NULL && calls[i].error[0] != '\0';
		if (!failed)
			local(arg);
	}
	PG_CATCH();
	{
		peer_call_abandon(calls, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	peer_call_end(calls, n, COMPUTE_CALL_TIMEOUT_MS);
}

/* raise naming the first of the calls that failed, this node's own parts wiped */
static void
check_peers(PeerCall *calls, int n, const char *what, List *own_parts)
{
	for (int i = 0; i < n; i++)
	{
		if (calls[i].skip)
			continue;
		if (calls[i].res == NULL)
		{
			compute_reshare_wipe_own(own_parts);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not %s at shareholder \"%s\"", what, calls[i].peer),
					 errdetail("%s", calls[i].error),
					 errhint("Every shareholder of the new secrets must be reachable at commit; see ssn.channels.")));
		}
	}
	peer_call_reset(calls, n);
}

/* a program of one group per job: its expression, under the new secret's id and sharing */
static void
jobs_program(StringInfo prog, const MatJob *j, int m)
{
	initStringInfo(prog);
	enlargeStringInfo(prog, PROGRAM_HEADER);
	program_put_header((uint8 *) prog->data, m);
	prog->len = PROGRAM_HEADER;
	for (int i = 0; i < m; i++)
	{
		enlargeStringInfo(prog, PROGRAM_GROUP_HEADER + j[i].expr_len);
		program_put_group((uint8 *) prog->data + prog->len, j[i].h.id, 1, (uint8) j[i].h.type,
						  (uint8) j[i].h.k, (uint8) j[i].h.n);
		prog->len += PROGRAM_GROUP_HEADER;
		memcpy(prog->data + prog->len, j[i].expr, j[i].expr_len);
		prog->len += j[i].expr_len;
	}
}

/* shareholders whose switch to a new epoch is pending (renewal.c), while jobs run */
static List *stale_holders = NIL;

/* the catalog entry of a new secret's shareholder */
static Shareholder *
holder_of(ShareholderList *cat, int share_index)
{
	Shareholder *s = catalog_find_index(cat, share_index);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no shareholder has share index %d", share_index)));
	if (renewal_is_stale(stale_holders, s->name))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shareholder \"%s\" has not committed its last renewal yet", s->name),
				 errdetail("Its shares are of an older epoch than the other shareholders'."),
				 errhint("The node worker commits it once the shareholder answers; see ssn.renewal_batch.")));
	return s;
}

/* this node's confirmation, done beside the peers' */
typedef struct OwnConfirm
{
	const char *origin;			/* NULL: this node holds no share */
	Datum		ids;
	int			confirmed;
} OwnConfirm;

static void
confirm_own(void *arg)
{
	OwnConfirm *o = arg;

	if (o->origin)
		o->confirmed = compute_confirm_local(o->origin, o->ids);
}

/*
 * Every shareholder made its share of the new secrets (staged): now they may
 * keep them.  Until this point a failure leaves nothing any node would serve.
 */
static void
confirm_class(MatJob *j, int m, ShareholderList *cat, Shareholder *self)
{
	const SecretHandle *h = &j[0].h;
	Datum	   *d = palloc(sizeof(Datum) * m);
	Datum		arr;
	PeerCall   *calls = palloc0(sizeof(PeerCall) * Max(h->n, 1));
	int			ncalls = 0;
	bool		self_in = false;
	OwnConfirm	own;
	static Oid	types[2] = {TEXTOID, UUIDARRAYOID};
	static const int formats[2] = {0, 1};
	const char **vals = palloc(sizeof(char *) * 2);
	int		   *lengths = palloc0(sizeof(int) * 2);
	bytea	   *idsbin;

	for (int i = 0; i < m; i++)
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

		memcpy(u->data, j[i].h.id, SHARE_ID_SIZE);
		d[i] = UUIDPGetDatum(u);
	}
	arr = PointerGetDatum(construct_array(d, m, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	/* in binary: the text of 100,000 uuids costs more than confirming them */
	idsbin = OidSendFunctionCall(F_ARRAY_SEND, arr);
	vals[0] = self->name;
	vals[1] = VARDATA(idsbin);
	lengths[1] = VARSIZE(idsbin) - VARHDRSZ;
	for (int i = 0; i < h->n; i++)
	{
		Shareholder *s = holder_of(cat, h->holders[i]);

		if (s->is_self)
		{
			self_in = true;
			continue;
		}
		calls[ncalls].peer = s->name;
		calls[ncalls].conninfo = s->conninfo;
		calls[ncalls].sql = "SELECT ssn.channel_confirm($1, $2)";
		calls[ncalls].nparams = 2;
		calls[ncalls].types = types;
		calls[ncalls].values = vals;
		calls[ncalls].lengths = lengths;
		calls[ncalls].formats = formats;
		ncalls++;
	}
	own.origin = self_in ? self->name : NULL;
	own.ids = arr;
	own.confirmed = 0;
	beside_peers(calls, ncalls, confirm_own, &own);
	for (int i = 0; i < ncalls; i++)
	{
		const char *v = peer_call_value(&calls[i], NULL);
		int			got = -1;

		if (v == NULL || sscanf(v, "confirmed %d", &got) != 1 || got != m)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("shareholder \"%s\" could not confirm its shares of the computed secrets", calls[i].peer),
					 errdetail("%s", v == NULL ? calls[i].error :
							   psprintf("It confirmed %d of %d.", got, m))));
	}
	peer_call_reset(calls, ncalls);
	if (self_in && own.confirmed != m)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("this node could not confirm its shares of the computed secrets")));
}

/* this node's part of a class's program, done beside the peers' */
typedef struct OwnPart
{
	bool		linear;
	StringInfo	prog;
	ShareholderList *cat;
	Shareholder *self;			/* NULL: this node holds no share */
	const uint8 *contrib;
	int			nc;
	const SecretHandle *h;
	List	   *parts;			/* re-sharing: this node's parts for itself, kept later */
} OwnPart;

/*
 * Its parts for the peers go on connections of their own (lane 1): lane 0's are
 * busy with the peers' calls.
 */
static void
own_part(void *arg)
{
	OwnPart    *o = arg;
	int			lane;

	if (o->self == NULL)
		return;
	if (o->linear)
	{
		compute_materialize_local((uint8 *) o->prog->data, o->prog->len, o->self->name, o->self->share_index);
		return;
	}
	lane = peer_conn_use_lane(1);
	PG_TRY();
	{
		compute_reshare_local((uint8 *) o->prog->data, o->prog->len, o->self->name, o->cat, o->self,
							  o->contrib, o->nc, o->h->holders, o->h->n, &o->parts);
	}
	PG_FINALLY();
	{
		peer_conn_use_lane(lane);
	}
	PG_END_TRY();
}

/* The jobs j[0..m) share k, holders and linearity: one program, one round. */
static void
run_class(MatJob *j, int m, ShareholderList *cat, Shareholder *self)
{
	StringInfoData prog;
	bool		linear = j[0].degree <= 1;
	const SecretHandle *h = &j[0].h;
	uint8		contrib[SHARE_MAX_N];
	int			nc = 0;
	PeerCall   *calls;
	int			ncalls = 0;
	bool		self_in = false;
	OwnPart		own;
	static Oid	mtypes[2] = {TEXTOID, BYTEAOID};
	static Oid	rtypes[4] = {TEXTOID, BYTEAOID, INT4ARRAYOID, INT4ARRAYOID};
	static const int formats[4] = {0, 1, 0, 0};
	int		   *lengths = palloc0(sizeof(int) * 4);
	const char **vals = palloc(sizeof(char *) * 4);
	StringInfoData cl,
				rl;

	/* the owner may read every input: a program could otherwise copy anyone's secret */
	for (int i = 0, cnt; i < m; i += cnt)
	{
		for (cnt = 1; i + cnt < m && j[i + cnt].owner == j[i].owner; cnt++)
			;
		jobs_program(&prog, &j[i], cnt);
		compute_check_inputs((uint8 *) prog.data, prog.len, j[i].owner);
		pfree(prog.data);
	}
	jobs_program(&prog, j, m);

	if (!linear)
	{
		/* 2k-1 contributors: this node first, then reachable peers by share index */
		int			want = 2 * (h->k - 1) + 1;

		for (int pass = 0; pass < 2 && nc < want; pass++)
			for (int i = 0; i < h->n && nc < want; i++)
			{
				Shareholder *s = catalog_find_index(cat, h->holders[i]);

				if (s == NULL || (pass == 0) != s->is_self)
					continue;
				if (!s->is_self && (!s->in_service || !s->reachable || s->conninfo == NULL))
					continue;
				contrib[nc++] = h->holders[i];
			}
		if (nc < want)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot reduce the degree of a product: %d of the %d shareholders needed are reachable",
							nc, want),
					 errdetail("Re-sharing a product of two secrets needs 2k-1 = %d of its shareholders.", want),
					 errhint("See ssn.channels and ssn.active_alarms.")));
		for (int i = 1; i < nc; i++)
		{
			uint8		t = contrib[i];
			int			q = i;

			while (q > 0 && contrib[q - 1] > t)
			{
				contrib[q] = contrib[q - 1];
				q--;
			}
			contrib[q] = t;
		}
	}

	initStringInfo(&cl);
	initStringInfo(&rl);
	appendStringInfoChar(&cl, '{');
	for (int i = 0; i < nc; i++)
		appendStringInfo(&cl, i ? ",%d" : "%d", contrib[i]);
	appendStringInfoChar(&cl, '}');
	appendStringInfoChar(&rl, '{');
	for (int i = 0; i < h->n; i++)
		appendStringInfo(&rl, i ? ",%d" : "%d", h->holders[i]);
	appendStringInfoChar(&rl, '}');
	vals[0] = self->name;
	vals[1] = prog.data;
	vals[2] = cl.data;
	vals[3] = rl.data;
	lengths[1] = prog.len;

	/* the peers first: this node's own part goes last (compute_channel.c) */
	calls = palloc0(sizeof(PeerCall) * Max(h->n, 1));
	for (int i = 0; i < h->n; i++)
	{
		Shareholder *s;
		bool		act = linear;

		for (int q = 0; q < nc && !act; q++)
			act = contrib[q] == h->holders[i];
		if (!act)
			continue;
		s = holder_of(cat, h->holders[i]);
		if (s->is_self)
		{
			self_in = true;
			continue;
		}
		calls[ncalls].peer = s->name;
		calls[ncalls].conninfo = s->conninfo;
		calls[ncalls].sql = linear ? "SELECT ssn.channel_materialize($1, $2)"
			: "SELECT ssn.channel_reshare($1, $2, $3, $4)";
		calls[ncalls].nparams = linear ? 2 : 4;
		calls[ncalls].types = linear ? mtypes : rtypes;
		calls[ncalls].values = vals;
		calls[ncalls].lengths = lengths;
		calls[ncalls].formats = formats;
		ncalls++;
	}
	/*
	 * This node's part while the peers do theirs; it keeps its own parts only
	 * once every peer has answered (no contributor still delivering here):
	 * keeping them locks them until commit.
	 */
	own = (OwnPart) {
		.linear = linear,.prog = &prog,.cat = cat,.self = self_in ? self : NULL,
		.contrib = contrib,.nc = nc,.h = h,.parts = NIL
	};
	beside_peers(calls, ncalls, own_part, &own);
	check_peers(calls, ncalls, linear ? "store computed secrets" : "re-share products", own.parts);
	compute_reshare_keep_own(own.parts, self);
	pfree(prog.data);
	confirm_class(j, m, cat, self);
}

static int
job_order(const void *a, const void *b)
{
	const MatJob *x = a,
			   *y = b;
	int			c;

	if ((x->degree > 1) != (y->degree > 1))
		return (x->degree > 1) - (y->degree > 1);
	if (x->h.k != y->h.k)
		return x->h.k - y->h.k;
	if (x->h.n != y->h.n)
		return x->h.n - y->h.n;
	c = memcmp(x->h.holders, y->h.holders, x->h.n);
	if (c != 0)
		return c;
	return (x->owner > y->owner) - (x->owner < y->owner);
}

static bool
same_class(const MatJob *x, const MatJob *y)
{
	return (x->degree > 1) == (y->degree > 1) && x->h.k == y->h.k && x->h.n == y->h.n &&
		memcmp(x->h.holders, y->h.holders, x->h.n) == 0;
}

static void
run_jobs(void)
{
	PrivilegedScope priv;
	ShareholderList *cat;
	Shareholder *self;
	bool		pushed;
	volatile int i = 0;

	if (njobs == 0)
		return;
	qsort(jobs, njobs, sizeof(MatJob), job_order);
	catalog_begin_privileged(&priv);
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	cat = catalog_load();
	self = catalog_require_self(cat);
	/* no renewal switches epochs while the shareholders compute */
	renewal_lock_shared();
	PG_TRY();
	{
		/* this node's shares as of now, under the lock, as the peers read theirs */
		PushActiveSnapshot(GetLatestSnapshot());
		stale_holders = renewal_stale_peers();
		while (i < njobs)
		{
			int			m = 1;

			while (i + m < njobs && same_class(&jobs[i], &jobs[i + m]))
				m++;
			run_class(&jobs[i], m, cat, self);
			i += m;
			CHECK_FOR_INTERRUPTS();
		}
		PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		stale_holders = NIL;
		renewal_unlock_shared();
	}
	PG_END_TRY();
	if (pushed)
		PopActiveSnapshot();
	catalog_end_privileged(&priv);
	forget_jobs();
}

static void
mat_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			run_jobs();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (njobs > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that stores computed secrets")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
			forget_jobs();
			break;
		default:
			break;
	}
}

static void
mat_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	int			m = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	for (int i = 0; i < njobs; i++)
	{
		if (jobs[i].subid == mySubid)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				continue;		/* rolled back with its savepoint */
			jobs[i].subid = parentSubid;
		}
		jobs[m++] = jobs[i];
	}
	njobs = m;
}

Datum
ssn_store_computed(PG_FUNCTION_ARGS)
{
	SecretHandle in,
				out;
	SecretExpr *e = palloc(sizeof(SecretExpr));
	MatJob	   *j;
	MemoryContext old;
	int			need;

	handle_read_any(PG_GETARG_DATUM(0), &in, e);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ssn_store(expression) needs isolation level READ COMMITTED"),
				 errdetail("At commit this node must see the shares the other shareholders made meanwhile.")));
	if (share_type_field(in.type) != SHARE_FIELD_PRIME)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("only a computed number can be stored from an expression"),
				 errhint("Retrieve the value and store it again with ssn_store(value).")));
	if (!in.computed)
		in.degree = 1;
	need = compute_need(&in);
	if (in.n < need)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot store this result: it needs %d shareholders that hold every input, but %d do",
						need, in.n)));
	if (!mat_callbacks)
	{
		RegisterXactCallback(mat_xact_callback, NULL);
		RegisterSubXactCallback(mat_subxact_callback, NULL);
		mat_callbacks = true;
	}

	memset(&out, 0, sizeof(out));
	out.type = in.computed ? in.type : (in.type == SHARE_TYPE_NUMERIC ? SHARE_TYPE_NUMERIC : SHARE_TYPE_INT8);
	/* a stored result is a new secret of its role: the store policy and placement hold for it */
	store_policy_check(store_policy_current(), value_type_oid(out.type), in.k, in.n, true, 2 * 32);
	store_check_placement(in.holders, in.n, in.k);
	out.k = in.k;
	out.n = in.n;
	memcpy(out.holders, in.holders, in.n);
	store_new_secret_id(out.id);
	store_note_secret(&out);
	audit_note(AUDIT_STORE, out.id);

	old = MemoryContextSwitchTo(TopTransactionContext);
	if (njobs == jobs_cap)
	{
		jobs_cap = jobs_cap ? jobs_cap * 2 : 256;
		jobs = jobs ? repalloc_huge(jobs, sizeof(MatJob) * jobs_cap)
			: palloc_extended(sizeof(MatJob) * jobs_cap, MCXT_ALLOC_HUGE);
	}
	j = &jobs[njobs++];
	j->subid = GetCurrentSubTransactionId();
	j->owner = GetUserId();
	j->h = out;
	j->degree = expr_degree(e);
	j->expr_len = expr_encoded_len(e);
	j->expr = palloc(j->expr_len);
	expr_encode(j->expr, e);
	MemoryContextSwitchTo(old);
	PG_RETURN_DATUM(handle_make(&out));
}
