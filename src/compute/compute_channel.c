/*
 * compute_channel.c - the shareholder's side of computing on shares, called by the
 * SSA over libpq as role ssn_peer (SECURITY DEFINER, like net/receiver.c):
 *
 *   channel_compute      evaluate a program on this node's shares and seal the
 *                        result shares for the SSA (taken by channel_take)
 *   channel_materialize  evaluate a linear program and keep each result as a new
 *                        secret's share (no share leaves this node)
 *   channel_reshare      degree reduction: evaluate products, multiply by this
 *                        node's Lagrange coefficient among the contributors, and
 *                        re-share the result among the receivers, each part sealed
 *                        with one-time pads on the link to its receiver
 *
 * and compute_receive_parts(), the handler of message kind 'parts' (registered with
 * net/message_kind.h): a receiver keeps the parts until every contributor's has
 * arrived, then sums them into its share of the new secret.  Each part is a fresh random
 * sharing, so a receiver (or anyone holding fewer than k of a contributor's
 * parts) learns nothing; the sum over the contributors is a degree-(k-1) sharing
 * of the product (Gennaro-Rabin-Rabin).
 *
 * Message of parts: 1 byte length + SSA name, 1 byte number of contributors + their
 * share indexes, then the parts as a share batch (share_batch.h); on the wire the
 * header and the parts' share headers are in clear (authenticated), the parts'
 * values under the one-time pad.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "compute/compute_channel.h"
#include "compute/compute_eval.h"
#include "executor/spi.h"
#include "math/shamir.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "net/peer_identity.h"
#include "net/reply.h"
#include "share/id_set.h"
#include "share/share_batch.h"
#include "share/share_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

static int	compute_receive_parts(const uint8 *pt, size_t len, Shareholder *self,
								  Shareholder *sender, char *why, size_t whylen);

PG_FUNCTION_INFO_V1(ssn_channel_compute);
PG_FUNCTION_INFO_V1(ssn_channel_materialize);
PG_FUNCTION_INFO_V1(ssn_channel_reshare);
PG_FUNCTION_INFO_V1(ssn_channel_confirm);

/*
 * Serialises the parts of the same results at one receiver, so that the last
 * contribution sees all the others.  Contributors cut their parts into messages
 * at the same places (every PARTS_PER_MESSAGE results of the program, whatever
 * a node's settings), so one batch of results is named by its first result id;
 * other batches (and other re-sharings) do not wait.
 */
#define PARTS_LOCK_CLASS 1936944752	/* "ssnp" */
#define PARTS_PER_MESSAGE 8192		/* about 700 kB of parts */

static uint8 *
program_arg(FunctionCallInfo fcinfo, int argno, size_t *len)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(argno);

	*len = VARSIZE_ANY_EXHDR(b);
	return (uint8 *) VARDATA_ANY(b);
}

Datum
ssn_channel_compute(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		plen;
	uint8	   *prog = program_arg(fcinfo, 1, &plen);
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Shareholder *peer = peer_identity_require(cat, requester, "ssn.channel_compute");
	EvalGroup  *g;
	int			ng;
	StringInfoData pt;
	int64		bytes = 0;

	/* only the SSA's own secrets, and the results only sealed for it */
	g = compute_evaluate(prog, plen, requester, self->share_index, &ng);
	initStringInfo(&pt);
	for (int i = 0; i < ng; i++)
	{
		struct varlena *s = compute_result_share(&g[i], self->share_index);

		enlargeStringInfo(&pt, SHARE_BATCH_PREFIX + SHARE_SIZE(s));
		pt.len += share_batch_put((uint8 *) pt.data + pt.len, SHARE_BYTES(s), SHARE_SIZE(s));
		bytes += SHARE_SIZE(s);
		sodium_memzero(VARDATA(s), VARSIZE(s) - VARHDRSZ);
		pfree(s);
	}
	compute_wipe(g, ng);
	channel_reply_pending(self, peer, (uint8 *) pt.data, pt.len, ng, bytes, "compute");
	sodium_memzero(pt.data, pt.maxlen);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("ready: %d results", ng)));
}

static Datum
uuid_datum(const uint8 *id)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	memcpy(u->data, id, SHARE_ID_SIZE);
	return UUIDPGetDatum(u);
}

/*
 * Parts arrive in messages of thousands, each message a few statements: their
 * plans are kept for the session (generic: a one-off plan would copy each
 * message's megabyte of parts into the plan as a constant).
 */
static SPIPlanPtr plan_stage = NULL,
			plan_lock = NULL,
			plan_keep = NULL,
			plan_batch = NULL,
			plan_done = NULL;

/*
 * Shares of new secrets wait in ssn.held_part_batch (contributor 0: complete
 * shares, one row per batch, named by its first result) until the SSA confirms
 * them, once every shareholder has made its share; a store that fails half way
 * leaves nothing in ssn.held_share, and the worker prunes what was never
 * confirmed.
 */
static void
stage_held(Datum *ids, Datum *shares, int n, const char *origin)
{
	Oid			types[3] = {TEXTOID, UUIDOID, BYTEAOID};
	Datum		values[3];
	StringInfoData b;

	if (n == 0)
		return;
	initStringInfo(&b);
	appendStringInfoSpaces(&b, VARHDRSZ);
	for (int i = 0; i < n; i++)
	{
		struct varlena *sh = (struct varlena *) DatumGetPointer(shares[i]);

		enlargeStringInfo(&b, SHARE_BATCH_PREFIX + SHARE_SIZE(sh));
		b.len += share_batch_put((uint8 *) b.data + b.len, SHARE_BYTES(sh), SHARE_SIZE(sh));
	}
	SET_VARSIZE(b.data, b.len);
	values[0] = CStringGetTextDatum(origin);
	values[1] = ids[0];
	values[2] = PointerGetDatum(b.data);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(spi_saved_plan(&plan_stage, "INSERT INTO ssn.held_part_batch"
										" (origin, batch_id, contributor, contributors, parts)"
										" VALUES ($1, $2, 0, 0, $3) ON CONFLICT DO NOTHING",
										3, types, CURSOR_OPT_GENERIC_PLAN),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store into ssn.held_part_batch");
	SPI_finish();
	sodium_memzero(b.data, b.maxlen);
	pfree(b.data);
}

/* shares of new secrets with their ids (summed from parts, or unpacked from a staged batch) */
typedef struct Staged
{
	Datum	   *ids;
	Datum	   *shares;
	int			n;
	int			cap;
} Staged;

static void
staged_push(Staged *s, Datum id, Datum share)
{
	if (s->n == s->cap)
	{
		s->cap = s->cap ? 2 * s->cap : 256;
		s->ids = s->ids ? repalloc_huge(s->ids, sizeof(Datum) * s->cap) : palloc(sizeof(Datum) * s->cap);
		s->shares = s->shares ? repalloc_huge(s->shares, sizeof(Datum) * s->cap) : palloc(sizeof(Datum) * s->cap);
	}
	s->ids[s->n] = id;
	s->shares[s->n] = share;
	s->n++;
}

static void
staged_add(Staged *s, const uint8 *id, const uint8 *share, size_t len)
{
	struct varlena *v = palloc(VARHDRSZ + len);

	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), share, len);
	staged_push(s, uuid_datum(id), PointerGetDatum(v));
}

static void
staged_wipe(Staged *s)
{
	for (int i = 0; i < s->n; i++)
		sodium_memzero(VARDATA(DatumGetPointer(s->shares[i])), VARSIZE(DatumGetPointer(s->shares[i])) - VARHDRSZ);
}

int
compute_confirm_local(const char *origin, Datum idarr)
{
	Oid			share_oid = catalog_type_oid("ssn_share");
	Oid			types[3] = {TEXTOID, UUIDARRAYOID, get_array_type(share_oid)};
	Datum		values[3];
	bool		isnull;
	int			n;
	int64		conflicts;
	Staged		asked = {0},
				other = {0};
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *arr = DatumGetArrayTypeP(idarr);
	int			nids = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	IdSet		set;
	uint8	   (*sorted)[SHARE_ID_SIZE] = palloc(sizeof(*sorted) * Max(nids, 1));
	void	   *work = palloc(id_set_work_size() * Max(nids, 1));

	/* the ids asked for, to keep a batch's other results staged */
	if (ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the ids to confirm contain NULL")));
	id_set_build(&set, (const uint8 *) ARR_DATA_PTR(arr), nids, sorted, NULL, work);

	values[0] = CStringGetTextDatum(origin);
	values[1] = idarr;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM ssn.held_part_batch WHERE origin = $1 AND contributor = 0"
							  " AND batch_id = ANY($2) RETURNING parts",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not read ssn.held_part_batch");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bytea	   *b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		size_t		off = 0;
		const uint8 *sb;
		size_t		sblen;
		ShareHeader sh;
		char		why[256] = "";
		MemoryContext spi = MemoryContextSwitchTo(caller);

		while (share_batch_next((uint8 *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &off, &sb, &sblen, &sh,
								why, sizeof(why)))
			staged_add(id_set_find(&set, sh.id) >= 0 ? &asked : &other, sh.id, sb, sblen);
		MemoryContextSwitchTo(spi);
		sodium_memzero(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		if (why[0])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a batch of staged shares in ssn.held_part_batch is malformed: %s", why)));
	}
	/* a share held already must be this very share (a confirmation repeated), never another */
	n = 0;
	conflicts = 0;
	if (asked.n > 0)
	{
		values[1] = PointerGetDatum(construct_array(asked.ids, asked.n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
		values[2] = PointerGetDatum(construct_array(asked.shares, asked.n, share_oid, -1, false, TYPALIGN_INT));
		/* unnest in the target list: streamed, not materialized (and spilled) first */
		if (SPI_execute_with_args("INSERT INTO ssn.held_share (secret_id, epoch, origin, share)"
								  " SELECT unnest($2), 0, $1, unnest($3)"
								  " ON CONFLICT DO NOTHING",
								  3, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not confirm shares into ssn.held_share");
		n = (int) SPI_processed;
		/* only a slot held before can hold a different share: compare when some were */
		if (n < asked.n)
		{
			if (SPI_execute_with_args("SELECT count(*) FROM unnest($2, $3) AS s(result_id, share)"
									  " JOIN ssn.held_share h ON h.origin = $1 AND h.secret_id = s.result_id"
									  " AND h.epoch = 0 WHERE h.share::text <> s.share::text",
									  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not compare shares with ssn.held_share");
			conflicts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		sodium_memzero(VARDATA(DatumGetPointer(values[2])), VARSIZE(DatumGetPointer(values[2])) - VARHDRSZ);
	}
	SPI_finish();
	/* results of the same batches not asked for stay staged */
	stage_held(other.ids, other.shares, other.n, origin);
	staged_wipe(&asked);
	staged_wipe(&other);
	if (conflicts > 0)
	{
		alarm_raise_durable("message", origin, "major", "different share for a held slot",
							psprintf(INT64_FORMAT " computed shares to confirm differ from the shares already held under their ids",
									 conflicts));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg(INT64_FORMAT " shares to confirm differ from the shares held under their ids", conflicts),
				 errdetail("A share is kept once per origin, secret and epoch; the held ones stay.")));
	}
	return n;
}

Datum
ssn_channel_confirm(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ShareholderList *cat = catalog_load();

	(void) catalog_require_self(cat);
	(void) peer_identity_require(cat, requester, "ssn.channel_confirm");
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("confirmed %d",
											  compute_confirm_local(requester, PG_GETARG_DATUM(1)))));
}

/* results of a linear program kept here as shares of new secrets */
void
compute_materialize_local(const uint8 *prog, size_t plen, const char *origin, int x)
{
	EvalGroup  *g;
	int			ng;
	Datum	   *ids,
			   *shares;

	g = compute_evaluate(prog, plen, origin, x, &ng);
	ids = palloc(sizeof(Datum) * Max(ng, 1));
	shares = palloc(sizeof(Datum) * Max(ng, 1));
	for (int i = 0; i < ng; i++)
	{
		if (g[i].degree != g[i].k - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a result of degree %d needs re-sharing, not local evaluation", g[i].degree)));
		ids[i] = uuid_datum(g[i].id);
		shares[i] = PointerGetDatum(compute_result_share(&g[i], x));
	}
	compute_wipe(g, ng);
	stage_held(ids, shares, ng, origin);
	for (int i = 0; i < ng; i++)
		sodium_memzero(VARDATA(DatumGetPointer(shares[i])), VARSIZE(DatumGetPointer(shares[i])) - VARHDRSZ);
}

Datum
ssn_channel_materialize(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		plen;
	uint8	   *prog = program_arg(fcinfo, 1, &plen);
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);

	(void) peer_identity_require(cat, requester, "ssn.channel_materialize");
	compute_materialize_local(prog, plen, requester, self->share_index);
	PG_RETURN_TEXT_P(cstring_to_text("stored"));
}

static int
int_array(ArrayType *a, uint8 *out, const char *what)
{
	Datum	   *d;
	bool	   *nulls;
	int			n;

	deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &d, &nulls, &n);
	if (n < 1 || n > SHARE_MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d %s: 1 to %d are allowed", n, what, SHARE_MAX_N)));
	for (int i = 0; i < n; i++)
	{
		int			v = nulls[i] ? 0 : DatumGetInt32(d[i]);

		if (v < 1 || v > SHARE_MAX_N)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("share index %d of the %s is outside 1..%d", v, what, SHARE_MAX_N)));
		for (int j = 0; j < i; j++)
			if (out[j] == v)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("share index %d appears twice among the %s", v, what)));
		out[i] = (uint8) v;
	}
	return n;
}

/* the header of a message of parts */
static size_t
parts_header(uint8 *out, const char *origin, const uint8 *contrib, int ncontrib)
{
	size_t		nl = strlen(origin);

	out[0] = (uint8) nl;
	memcpy(out + 1, origin, nl);
	out[1 + nl] = (uint8) ncontrib;
	memcpy(out + 2 + nl, contrib, ncontrib);
	return 2 + nl + ncontrib;
}

void
compute_reshare_local(const uint8 *prog, size_t plen, const char *origin,
					  ShareholderList *cat, Shareholder *self,
					  const uint8 *contrib, int ncontrib, const uint8 *recv, int nrecv, List **own)
{
	EvalGroup  *g;
	int			ng,
				me = -1;
	fp_t		lambda[SHARE_MAX_N];
	fp_t	   *parts;
	StringInfoData *msg;
	size_t		hdr_len;
	uint8		hdr[2 + SSN_NAME_MAXLEN + SHARE_MAX_N];
	List	   *mine = NIL;		/* this node's own messages of parts, kept for the end */

	for (int i = 0; i < ncontrib; i++)
		if (contrib[i] == self->share_index)
			me = i;
	if (me < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this node (share index %d) is not among the contributors", self->share_index)));
	if (strlen(origin) > SSN_NAME_MAXLEN)
		elog(ERROR, "node name too long");
	/* the peers of every receiver, before any evaluation */
	for (int j = 0; j < nrecv; j++)
		if (recv[j] != self->share_index && catalog_find_index(cat, recv[j]) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no shareholder has share index %d", recv[j])));

	g = compute_evaluate(prog, plen, origin, self->share_index, &ng);
	shamir_lagrange_fp(contrib, ncontrib, 0, lambda);
	hdr_len = parts_header(hdr, origin, contrib, ncontrib);
	msg = palloc0(sizeof(StringInfoData) * nrecv);
	parts = palloc(sizeof(fp_t) * nrecv);
	for (int j = 0; j < nrecv; j++)
	{
		initStringInfo(&msg[j]);
		appendBinaryStringInfo(&msg[j], (char *) hdr, hdr_len);
	}

	for (int i = 0; i <= ng; i++)
	{
		bool		last = i == ng;

		/*
		 * Send what would overflow a message, and everything at the end.  This
		 * node's own parts are cut at the same places but kept until the end:
		 * keeping them takes the receiver's parts lock until this transaction
		 * ends, and other contributors may still be delivering parts here.
		 */
		for (int j = 0; j < nrecv; j++)
		{
			Shareholder *r;
			char	   *status,
					   *error;

			if (msg[j].len == (int) hdr_len || !(last || i % PARTS_PER_MESSAGE == 0))
				continue;
			if (recv[j] == self->share_index)
			{
				bytea	   *copy = palloc(VARHDRSZ + msg[j].len);

				SET_VARSIZE(copy, VARHDRSZ + msg[j].len);
				memcpy(VARDATA(copy), msg[j].data, msg[j].len);
				mine = lappend(mine, copy);
			}
			else
			{
				r = catalog_find_index(cat, recv[j]);
				status = channel_send_now(self->name, r, MSG_KIND_PARTS, (uint8 *) msg[j].data,
										  msg[j].len, "reshare", &error);
				if (status == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("could not deliver re-sharing parts to shareholder \"%s\"", r->name),
							 errdetail("%s", error)));
			}
			/* the parts go; the header (SSA, contributors) stays for the next message */
			sodium_memzero(msg[j].data + hdr_len, msg[j].maxlen - hdr_len);
			msg[j].len = (int) hdr_len;
		}
		if (last)
		{
			if (own)
				*own = mine;
			else
				compute_reshare_keep_own(mine, self);
			break;
		}
		if (g[i].degree > g[i].n - 1 || 2 * (g[i].k - 1) < g[i].degree || ncontrib < g[i].degree + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a result of degree %d cannot be re-shared by %d contributors",
							g[i].degree, ncontrib)));
		{
			fp_t		s;
			ShareHeader h;

			/* this node's weighted contribution, shared afresh at degree k-1 */
			fp_mul(&s, &g[i].y, &lambda[me]);
			shamir_split_fp(&s, g[i].k - 1, nrecv, recv, parts);
			sodium_memzero(&s, sizeof(s));
			for (int j = 0; j < nrecv; j++)
			{
				uint8	   *p;

				share_header_init(&h, SHARE_FIELD_PRIME, g[i].type, g[i].k, nrecv, g[i].k - 1,
								  recv[j], 0, g[i].id);
				h.scale = (uint16) g[i].scale;
				h.payload_len = FP_BYTES;
				enlargeStringInfo(&msg[j], SHARE_BATCH_PREFIX + SHARE_HEADER_SIZE + FP_BYTES);
				p = palloc(SHARE_HEADER_SIZE + FP_BYTES);
				fp_to_bytes(p + SHARE_HEADER_SIZE, &parts[j]);
				share_seal(p, &h);
				msg[j].len += share_batch_put((uint8 *) msg[j].data + msg[j].len, p,
											  SHARE_HEADER_SIZE + FP_BYTES);
				sodium_memzero(p, SHARE_HEADER_SIZE + FP_BYTES);
				pfree(p);
			}
			sodium_memzero(parts, sizeof(fp_t) * nrecv);
		}
		CHECK_FOR_INTERRUPTS();
	}
	compute_wipe(g, ng);
}

/*
 * This node's own parts: keeping them takes this node's parts lock until the
 * transaction ends, so the SSA keeps its own only once every other contributor
 * has delivered here.
 */
static void
keep_own_parts(List *own, Shareholder *self)
{
	ListCell   *lc;

	foreach(lc, own)
	{
		char		why[256] = "";
		bytea	   *m = lfirst(lc);

		if (compute_receive_parts((uint8 *) VARDATA(m), VARSIZE(m) - VARHDRSZ, self, self, why, sizeof(why)) < 0)
			elog(ERROR, "ssn: own re-sharing parts refused: %s", why);
	}
}

void
compute_reshare_keep_own(List *own, Shareholder *self)
{
	PG_TRY();
	{
		keep_own_parts(own, self);
	}
	PG_CATCH();
	{
		compute_reshare_wipe_own(own);
		PG_RE_THROW();
	}
	PG_END_TRY();
	compute_reshare_wipe_own(own);
}

void
compute_reshare_wipe_own(List *own)
{
	ListCell   *lc;

	foreach(lc, own)
	{
		bytea	   *m = lfirst(lc);

		sodium_memzero(VARDATA(m), VARSIZE(m) - VARHDRSZ);
	}
}

Datum
ssn_channel_reshare(PG_FUNCTION_ARGS)
{
	char	   *requester = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		plen;
	uint8	   *prog = program_arg(fcinfo, 1, &plen);
	uint8		contrib[SHARE_MAX_N],
				recv[SHARE_MAX_N];
	int			nc = int_array(PG_GETARG_ARRAYTYPE_P(2), contrib, "contributors");
	int			nr = int_array(PG_GETARG_ARRAYTYPE_P(3), recv, "receivers");
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);

	(void) peer_identity_require(cat, requester, "ssn.channel_reshare");
	compute_reshare_local(prog, plen, requester, cat, self, contrib, nc, recv, nr, NULL);
	PG_RETURN_TEXT_P(cstring_to_text("re-shared"));
}

/* a share from the sum of a result's parts (in the caller's context) */
static Datum
finish_sum(ShareHeader *h, fp_t *acc)
{
	struct varlena *s = share_alloc(FP_BYTES);

	h->payload_len = FP_BYTES;
	fp_to_bytes(SHARE_PAYLOAD(s), acc);
	share_seal_varlena(s, h);
	sodium_memzero(acc, sizeof(fp_t));
	return PointerGetDatum(s);
}

/*
 * The contributors' batches of the same results, complete: the sum of each
 * result's parts (the same position in every batch) is this node's share of it,
 * added to done in the caller's context; false (why set) if the batches disagree.
 */
static bool
sum_batches(bytea **batch, int nb, Staged *done, MemoryContext caller, char *why, size_t whylen)
{
	size_t	   *off = palloc0(sizeof(size_t) * nb);

	for (;;)
	{
		ShareHeader first;
		fp_t		acc = fp_zero;
		int			ended = 0;
		MemoryContext old;

		for (int b = 0; b < nb; b++)
		{
			const uint8 *sb;
			size_t		sblen;
			ShareHeader ph;
			fp_t		y;

			if (!share_batch_next((uint8 *) VARDATA_ANY(batch[b]), VARSIZE_ANY_EXHDR(batch[b]), &off[b],
								  &sb, &sblen, &ph, why, whylen))
			{
				if (why[0])
					return false;
				ended++;
				continue;
			}
			if (b == 0)
				first = ph;
			else if (ended > 0 || memcmp(first.id, ph.id, SHARE_ID_SIZE) != 0 || ph.scale != first.scale ||
					 ph.type != first.type || ph.k != first.k || ph.n != first.n)
			{
				snprintf(why, whylen, "the contributors' parts of result %d disagree (a different result, sharing or count)",
						 done->n + 1);
				return false;
			}
			(void) fp_from_bytes(&y, sb + SHARE_HEADER_SIZE);
			fp_add(&acc, &acc, &y);
			sodium_memzero(&y, sizeof(y));
		}
		if (ended == nb)
			return true;
		if (ended > 0)
		{
			snprintf(why, whylen, "the contributors sent different numbers of parts");
			return false;
		}
		old = MemoryContextSwitchTo(caller);
		staged_push(done, uuid_datum(first.id), finish_sum(&first, &acc));
		MemoryContextSwitchTo(old);
	}
}

/*
 * Parts from one contributor: kept as one row per message (ssn.held_part_batch);
 * the message that completes a batch of results turns them into this node's
 * shares of the new secrets.  Returns the number of parts, or -1 with why set.
 */
static int
compute_receive_parts(const uint8 *pt, size_t len, Shareholder *self, Shareholder *sender,
					  char *why, size_t whylen)
{
	size_t		off,
				start;
	char		origin[SSN_NAME_MAXLEN + 1];
	int			ncontrib;
	bool		member = false;
	const uint8 *sb;
	size_t		sblen;
	ShareHeader sh;
	int			n = 0;
	uint8		batch_id[SHARE_ID_SIZE];
	Staged		done = {0};
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[5] = {TEXTOID, UUIDOID, INT4OID, INT4OID, BYTEAOID};
	Datum		values[5];
	bytea	   *kept;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("re-sharing parts can only be received at isolation level READ COMMITTED"),
				 errdetail("A receiver must see the parts other contributors committed meanwhile."),
				 errhint("Do not set default_transaction_isolation for the ssn_peer role or the SSA's session.")));
	if (len < 2 || pt[0] > SSN_NAME_MAXLEN || len < (size_t) pt[0] + 2)
		return snprintf(why, whylen, "truncated header of parts"), -1;
	memcpy(origin, pt + 1, pt[0]);
	origin[pt[0]] = '\0';
	off = 1 + pt[0];
	ncontrib = pt[off++];
	if (ncontrib < 1 || len - off < (size_t) ncontrib)
		return snprintf(why, whylen, "truncated list of contributors"), -1;
	for (int i = 0; i < ncontrib; i++)
		member |= pt[off + i] == sender->share_index;
	off += ncontrib;
	if (!member)
		return snprintf(why, whylen, "the sender (share index %d) is not among the contributors it names",
						sender->share_index), -1;
	if (strlen(origin) == 0 || memchr(origin, '\0', pt[0]) != NULL)
		return snprintf(why, whylen, "a part names no SSA"), -1;

	/* every part checked before any is kept */
	start = off;
	while (share_batch_next(pt, len, &off, &sb, &sblen, &sh, why, whylen))
	{
		if (sh.x != self->share_index || sh.field != SHARE_FIELD_PRIME || sh.degree != sh.k - 1 ||
			sh.payload_len != FP_BYTES)
			return snprintf(why, whylen, "a part for x=%d of degree %d arrived at share index %d",
							sh.x, sh.degree, self->share_index), -1;
		if (n++ == 0)
			memcpy(batch_id, sh.id, SHARE_ID_SIZE);
	}
	if (why[0])
		return -1;
	if (n == 0)
		return 0;

	kept = palloc(VARHDRSZ + (len - start));
	SET_VARSIZE(kept, VARHDRSZ + (len - start));
	memcpy(VARDATA(kept), pt + start, len - start);
	values[0] = CStringGetTextDatum(origin);
	values[1] = uuid_datum(batch_id);
	values[2] = Int32GetDatum(sender->share_index);
	values[3] = Int32GetDatum(ncontrib);
	values[4] = PointerGetDatum(kept);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Oid			lock_types[2] = {INT4OID, INT4OID};
		Datum		lock_key[2] = {Int32GetDatum(PARTS_LOCK_CLASS),
		Int32GetDatum((int32) hash_bytes(batch_id, SHARE_ID_SIZE))};

		if (SPI_execute_plan(spi_saved_plan(&plan_lock, "SELECT pg_catalog.pg_advisory_xact_lock($1, $2)",
											2, lock_types, CURSOR_OPT_GENERIC_PLAN),
							 lock_key, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not lock the parts");
	}
	if (SPI_execute_plan(spi_saved_plan(&plan_keep, "INSERT INTO ssn.held_part_batch"
										" (origin, batch_id, contributor, contributors, parts)"
										" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
										5, types, CURSOR_OPT_GENERIC_PLAN),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store into ssn.held_part_batch");
	sodium_memzero(VARDATA(kept), len - start);
	if (SPI_execute_plan(spi_saved_plan(&plan_batch, "SELECT contributors, parts FROM ssn.held_part_batch"
										" WHERE origin = $1 AND batch_id = $2 AND contributor > 0"
										" ORDER BY contributor", 2, types, CURSOR_OPT_GENERIC_PLAN),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_part_batch");
	if (SPI_processed >= (uint64) ncontrib)
	{
		int			nb = (int) SPI_processed;
		bytea	  **batch = palloc(sizeof(bytea *) * nb);
		bool		ok = true;

		for (int b = 0; b < nb; b++)
		{
			bool		isnull;

			ok &= DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[b], SPI_tuptable->tupdesc, 1, &isnull)) == ncontrib;
			batch[b] = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[b], SPI_tuptable->tupdesc, 2, &isnull));
		}
		if (!ok)
			snprintf(why, whylen, "the contributors' messages of parts name different numbers of contributors");
		else
			ok = sum_batches(batch, nb, &done, caller, why, whylen);
		for (int b = 0; b < nb; b++)
			sodium_memzero(VARDATA_ANY(batch[b]), VARSIZE_ANY_EXHDR(batch[b]));
		if (!ok)
		{
			SPI_finish();
			return -1;
		}
		if (SPI_execute_plan(spi_saved_plan(&plan_done, "DELETE FROM ssn.held_part_batch"
											" WHERE origin = $1 AND batch_id = $2 AND contributor > 0",
											2, types, CURSOR_OPT_GENERIC_PLAN),
							 values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from ssn.held_part_batch");
	}
	SPI_finish();
	stage_held(done.ids, done.shares, done.n, origin);
	staged_wipe(&done);
	return n;
}

/* the header of a message of parts (SSA, contributors) travels in clear, authenticated */
static ssize_t
parts_batch_at(const uint8 *msg, size_t len)
{
	size_t		off;

	if (len < 2 || len < (size_t) msg[0] + 2)
		return -1;
	off = 1 + msg[0];
	off += 1 + msg[off];
	return off <= len ? (ssize_t) off : -1;
}

/* kind 'parts': re-sharing parts of a degree reduction from one contributor */
static bool
receive_parts(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	int			n = compute_receive_parts(m->pt, m->len, m->self, m->sender, why, whylen);

	if (n < 0)
		return false;
	out->items = n;
	out->reply = psprintf("stored %d parts", n);
	return true;
}

void
compute_channel_init(void)
{
	static const MessageKind parts = {
		.kind = MSG_KIND_PARTS,
		.handle = receive_parts,
		.what = "re-sharing parts",
		.refusal = "malformed re-sharing parts in an authentic message",
		.duplicate = "duplicate message of parts",
		.touches = "ssn.held_part, ssn.held_share (staged results)",
		.batch_at = parts_batch_at,
	};

	message_kind_register(&parts);
}
