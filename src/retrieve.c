/*
 * retrieve.c - ssn_retrieve(): the SSA collects shares of the requested secrets
 * from this node's own share table and from the fastest reachable shareholders,
 * in parallel, each reply a one-time-pad envelope; it rebuilds the values only
 * here.  Up to n-k shareholders may be down; when fewer than k answer, the error
 * names each one that failed and why.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog.h"
#include "catalog/pg_type.h"
#include "channel.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "guc.h"
#include "key_ledger.h"
#include "miscadmin.h"
#include "peer_conn.h"
#include "secret_handle.h"
#include "share_batch.h"
#include "split_combine.h"
#include "store.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_retrieve);
PG_FUNCTION_INFO_V1(ssn_retrieve_text);
PG_FUNCTION_INFO_V1(ssn_retrieve_array);
PG_FUNCTION_INFO_V1(ssn_grant);
PG_FUNCTION_INFO_V1(ssn_revoke);

typedef struct Wanted
{
	SecretHandle h;
	int			have;
	bool		access_checked;
	struct varlena *shares[SHARE_MAX_N];
	uint8		have_x[SHARE_MAX_N + 1];
} Wanted;

typedef struct PeerState
{
	Shareholder *s;
	bool		tried;
	char		error[256];
	int		   *asked;			/* indexes into the wanted array */
	int			nasked;
} PeerState;

static char *
uuid_text(const uint8 *id)
{
	pg_uuid_t	u;

	memcpy(u.data, id, SHARE_ID_SIZE);
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&u)));
}

static bool
holds(const SecretHandle *h, int share_index)
{
	for (int i = 0; i < h->n; i++)
		if (h->holders[i] == share_index)
			return true;
	return false;
}

/* secret id -> wanted entry: open addressing over the (random) ids */
static int *wanted_slots = NULL;
static uint32 wanted_mask = 0;

/* the last four bytes: random (the first six are a timestamp, see store.c) */
static uint32
id_hash(const uint8 *id)
{
	return (uint32) id[12] | ((uint32) id[13] << 8) | ((uint32) id[14] << 16) | ((uint32) id[15] << 24);
}

/* an index with room for n entries, holding the first nw of w */
static void
index_wanted(Wanted *w, int nw, int n)
{
	uint32		size = 16;

	while (size < (uint32) n * 2)
		size <<= 1;
	wanted_slots = palloc0(sizeof(int) * size);
	wanted_mask = size - 1;
	for (int i = 0; i < nw; i++)
	{
		uint32		h = id_hash(w[i].h.id) & wanted_mask;

		while (wanted_slots[h] != 0)
			h = (h + 1) & wanted_mask;
		wanted_slots[h] = i + 1;
	}
}

/* add w[i] (not yet indexed) to the index */
static void
index_add(Wanted *w, int i)
{
	uint32		h = id_hash(w[i].h.id) & wanted_mask;

	while (wanted_slots[h] != 0)
		h = (h + 1) & wanted_mask;
	wanted_slots[h] = i + 1;
}

static Wanted *
find_wanted(Wanted *w, int nw, const uint8 *id)
{
	uint32		h;

	for (h = id_hash(id) & wanted_mask; wanted_slots[h] != 0; h = (h + 1) & wanted_mask)
	{
		Wanted	   *t = &w[wanted_slots[h] - 1];

		if (memcmp(t->h.id, id, SHARE_ID_SIZE) == 0)
			return t;
	}
	return NULL;
}

static Datum
uuid_array(Wanted *w, int *idx, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

		memcpy(u->data, w[idx ? idx[i] : i].h.id, SHARE_ID_SIZE);
		d[i] = UUIDPGetDatum(u);
	}
	return PointerGetDatum(construct_array(d, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/* add a share to a wanted secret, after checking it is the one we expect */
static bool
attach_share(Wanted *w, const uint8 *bytes, size_t len, const ShareHeader *sh, int x,
			 char *why, size_t whylen)
{
	struct varlena *v;

	if (sh->x != x || sh->epoch != w->h.epoch || sh->k != w->h.k || sh->n != w->h.n ||
		sh->type != w->h.type)
	{
		snprintf(why, whylen, "its share of secret %s does not match the handle (x=%d, epoch %u, k=%d, n=%d)",
				 uuid_text(w->h.id), sh->x, sh->epoch, sh->k, sh->n);
		return false;
	}
	if (w->have_x[x])
		return true;			/* already have it (duplicate) */
	v = palloc(VARHDRSZ + len);
	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), bytes, len);
	w->shares[w->have++] = v;
	w->have_x[x] = 1;
	return true;
}

/* true if reply i names a key ID that an earlier reply (or itself) names too */
static bool
key_ids_repeat(char ***ids, int i, const EnvelopeView *views)
{
	for (int a = 0; a < views[i].nkeys; a++)
	{
		for (int b = a + 1; b < views[i].nkeys; b++)
			if (strcmp(ids[i][a], ids[i][b]) == 0)
				return true;
		for (int j = 0; j < i; j++)
			for (int b = 0; ids[j] && b < views[j].nkeys; b++)
				if (strcmp(ids[i][a], ids[j][b]) == 0)
					return true;
	}
	return false;
}

/* Ask the given peers for their shares of the secrets they hold. */
static void
fetch_round(Wanted *w, int nw, PeerState *ps, int *pick, int npick, const char *self)
{
	PeerCall   *serve = palloc0(sizeof(PeerCall) * npick);
	PeerCall   *take = palloc0(sizeof(PeerCall) * npick);
	Oid			types[2] = {TEXTOID, TEXTOID};
	EnvelopeView *views;
	char	 ***ids;
	LedgerEntries *entries;
	int			nentries = 0,
				nused = 0,
				ndiscarded = 0,
				total_keys = 0;
	char	  **used,
			  **discarded;
	int			i;

	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		const char **vals = palloc(sizeof(char *) * 2);
		Datum		arr = uuid_array(w, p->asked, p->nasked);

		vals[0] = self;
		vals[1] = OidOutputFunctionCall(F_ARRAY_OUT, arr);
		serve[i].peer = p->s->name;
		serve[i].conninfo = p->s->conninfo;
		serve[i].sql = "SELECT ssn.channel_serve($1, $2::uuid[])";
		serve[i].nparams = 2;
		serve[i].types = types;
		serve[i].values = vals;
		take[i].peer = p->s->name;
		take[i].conninfo = p->s->conninfo;
		take[i].sql = "SELECT ssn.channel_take()";
		take[i].result_format = 1;
		p->tried = true;
	}
	peer_call_all(serve, npick, ssn_peer_timeout_ms);
	for (i = 0; i < npick; i++)
		take[i].skip = serve[i].res == NULL;
	peer_call_all(take, npick, ssn_peer_timeout_ms);

	/* the replies' key IDs, recorded for all peers at once before any dec_keys */
	views = palloc0(sizeof(EnvelopeView) * npick);
	ids = palloc0(sizeof(char **) * npick);
	entries = palloc0(sizeof(LedgerEntries) * npick);
	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		const uint8 *env;
		int			envlen;
		char		why[256];
		char	   *sender,
				   *receiver;

		if (serve[i].res == NULL || take[i].res == NULL)
		{
			strlcpy(p->error, serve[i].res == NULL ? serve[i].error : take[i].error, sizeof(p->error));
			continue;
		}
		env = (const uint8 *) peer_call_value(&take[i], &envlen);
		if (env == NULL || !envelope_parse(env, envlen, &views[i], why, sizeof(why)))
		{
			snprintf(p->error, sizeof(p->error), "malformed reply: %s", env ? why : "empty");
			continue;
		}
		sender = channel_name(views[i].sender, views[i].sender_len);
		receiver = channel_name(views[i].receiver, views[i].receiver_len);
		if (views[i].kind != MSG_KIND_REPLY || strcmp(sender, p->s->name) != 0 || strcmp(receiver, self) != 0)
		{
			snprintf(p->error, sizeof(p->error), "unexpected reply (kind %s, from \"%s\" to \"%s\")",
					 channel_kind_name(views[i].kind), sender, receiver);
			continue;
		}
		ids[i] = channel_key_ids(&views[i]);
		if (key_ids_repeat(ids, i, views))
		{
			snprintf(p->error, sizeof(p->error), "its reply names a key ID already used");
			ids[i] = NULL;
			continue;
		}
		entries[nentries].direction = LEDGER_RECEIVE;
		entries[nentries].peer = p->s->name;
		entries[nentries].peer_sae = p->s->sae_id;
		entries[nentries].purpose = "retrieve";
		entries[nentries].size_bits = channel_received_key_bits(&views[i], p->s->sae_id);
		entries[nentries].nids = views[i].nkeys;
		entries[nentries].key_ids = (const char *const *) ids[i];
		nentries++;
	}
	ledger_record_many(entries, nentries, true);
	for (i = 0; i < nentries; i++)
		total_keys += entries[i].nids;
	used = palloc(sizeof(char *) * Max(total_keys, 1));
	discarded = palloc(sizeof(char *) * Max(total_keys, 1));

	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		EnvelopeView *v = &views[i];
		char		why[256];
		uint8	   *pt;
		char	   *failure;
		size_t		key_bytes,
					off = 0;
		const uint8 *sb;
		size_t		sblen;
		ShareHeader sh;
		bool		ok = true;

		if (ids[i] == NULL)
			continue;
		pt = channel_open_guarded(v, p->s->sae_id, ids[i], &key_bytes, &failure);
		if (failure)
		{
			/* the KME refused its keys: this peer failed, not the retrieval */
			for (int j = 0; j < v->nkeys; j++)
				discarded[ndiscarded++] = ids[i][j];
			snprintf(p->error, sizeof(p->error), "keys of its reply unavailable: %s", failure);
			continue;
		}
		if (pt == NULL)
		{
			for (int j = 0; j < v->nkeys; j++)
				discarded[ndiscarded++] = ids[i][j];
			snprintf(p->error, sizeof(p->error), "its reply failed authentication (tampered or wrong keys)");
			ereport(WARNING,
					(errmsg("ssn: reply from shareholder \"%s\" failed authentication", p->s->name)));
			continue;
		}
		for (int j = 0; j < v->nkeys; j++)
			used[nused++] = ids[i][j];
		while (share_batch_next(pt, v->len, &off, &sb, &sblen, &sh, why, sizeof(why)))
		{
			Wanted	   *t = find_wanted(w, nw, sh.id);

			if (t == NULL || !holds(&t->h, p->s->share_index))
			{
				snprintf(p->error, sizeof(p->error), "it sent a share that was not asked for");
				ok = false;
				break;
			}
			if (!attach_share(t, sb, sblen, &sh, p->s->share_index, p->error, sizeof(p->error)))
			{
				ok = false;
				break;
			}
		}
		if (ok && why[0])
			snprintf(p->error, sizeof(p->error), "malformed reply: %s", why);
		sodium_memzero(pt, v->len);
		pfree(pt);
	}
	ledger_finish((const char *const *) used, nused, "used", true);
	ledger_finish((const char *const *) discarded, ndiscarded, "discarded", true);
	peer_call_reset(serve, npick);
	peer_call_reset(take, npick);
}

static void
check_access(Wanted *w, int nw, Oid caller)
{
	Oid			types[2] = {UUIDARRAYOID, OIDOID};
	Datum		values[2];
	int			i;

	values[0] = uuid_array(w, NULL, nw);
	values[1] = ObjectIdGetDatum(caller);
	if (SPI_execute_with_args("SELECT s.id, pg_has_role($2, s.owner, 'USAGE')"
							  " OR EXISTS (SELECT FROM ssn.secret_grant g WHERE g.secret_id = s.id"
							  "            AND pg_has_role($2, g.grantee, 'USAGE')),"
							  " s.owner::regrole::text"
							  " FROM ssn.secret s WHERE s.id = ANY($1)",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.secret");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t  *u = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		Wanted	   *t = find_wanted(w, nw, u->data);

		if (t == NULL)
			continue;
		t->access_checked = true;
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to retrieve secret %s", uuid_text(t->h.id)),
					 errdetail("It belongs to role %s, which has not granted it to you.",
							   SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3)),
					 errhint("Its owner can run ssn_grant(handle, role).")));
	}
	for (i = 0; i < nw; i++)
		if (!w[i].access_checked)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("secret %s is not known on this node", uuid_text(w[i].h.id)),
					 errdetail("Only the node that stored a secret (its SSA) keeps its owner and can rebuild it."),
					 errhint("Retrieve it on the node where ssn_store() ran.")));
}

static void
load_local(Wanted *w, int nw, Shareholder *self, MemoryContext caller)
{
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];

	values[0] = uuid_array(w, NULL, nw);
	values[1] = CStringGetTextDatum(self->name);
	/* this node's own shares only: a peer's message cannot stand in for one */
	if (SPI_execute_with_args("SELECT share FROM ssn.held_share WHERE secret_id IN (SELECT unnest($1))"
							  " AND origin = $2",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_share");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		ShareHeader sh;
		struct varlena *s = share_open(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull), &sh);
		Wanted	   *t = find_wanted(w, nw, sh.id);
		char		why[256];

		MemoryContext spi;
		bool		ok;

		if (t == NULL || sh.epoch != t->h.epoch || !holds(&t->h, self->share_index))
			continue;
		spi = MemoryContextSwitchTo(caller);
		ok = attach_share(t, SHARE_BYTES(s), SHARE_SIZE(s), &sh, self->share_index, why, sizeof(why));
		MemoryContextSwitchTo(spi);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("this node's own share is damaged: %s", why)));
	}
}

static int
peer_rank(const Shareholder *s)
{
	if (s->in_service && s->reachable)
		return 0;
	if (s->in_service)
		return 1;
	return 2;
}

/* Gather at least k shares of every wanted secret, or fail naming the peers. */
static void
gather(Wanted *w, int nw)
{
	PrivilegedScope priv;
	ShareholderList *cat;
	Shareholder *self;
	PeerState  *ps;
	int			np = 0,
				i,
				j;
	int		   *pick;
	MemoryContext caller = CurrentMemoryContext;

	store_flush_pending();
	index_wanted(w, nw, nw);
	catalog_begin_privileged(&priv);
	cat = catalog_load();
	self = catalog_require_self(cat);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_access(w, nw, priv.caller);
	load_local(w, nw, self, caller);
	SPI_finish();
	catalog_end_privileged(&priv);

	/* peers holding any of the secrets, best first (stable by share index) */
	ps = palloc0(sizeof(PeerState) * Max(cat->count, 1));
	for (int rank = 0; rank <= 2; rank++)
		for (i = 0; i < cat->count; i++)
		{
			Shareholder *s = &cat->items[i];
			bool		any = false;

			if (s->is_self || s->share_index <= 0 || peer_rank(s) != rank)
				continue;
			for (j = 0; j < nw && !any; j++)
				any = holds(&w[j].h, s->share_index);
			if (any)
			{
				ps[np].s = s;
				ps[np].asked = palloc(sizeof(int) * nw);
				np++;
			}
		}
	/* within a rank, the fastest first (round trip of the last health check) */
	for (i = 1; i < np; i++)
	{
		PeerState	t = ps[i];

		for (j = i; j > 0 && peer_rank(ps[j - 1].s) == peer_rank(t.s) &&
			 ps[j - 1].s->rtt_ms > t.s->rtt_ms; j--)
			ps[j] = ps[j - 1];
		ps[j] = t;
	}
	pick = palloc(sizeof(int) * Max(np, 1));

	for (;;)
	{
		int			deficit = 0,
					npick = 0;

		for (j = 0; j < nw; j++)
			deficit = Max(deficit, w[j].h.k - w[j].have);
		if (deficit <= 0)
			break;
		for (i = 0; i < np && npick < deficit; i++)
		{
			PeerState  *p = &ps[i];

			if (p->tried)
				continue;
			p->nasked = 0;
			for (j = 0; j < nw; j++)
				if (w[j].have < w[j].h.k && holds(&w[j].h, p->s->share_index) &&
					!w[j].have_x[p->s->share_index])
					p->asked[p->nasked++] = j;
			if (p->nasked > 0)
				pick[npick++] = i;
		}
		if (npick == 0)
			break;
		fetch_round(w, nw, ps, pick, npick, self->name);
		CHECK_FOR_INTERRUPTS();
	}

	for (j = 0; j < nw; j++)
		if (w[j].have < w[j].h.k)
		{
			StringInfoData d;

			initStringInfo(&d);
			for (i = 0; i < np; i++)
				if (ps[i].tried && ps[i].error[0] && holds(&w[j].h, ps[i].s->share_index))
					appendStringInfo(&d, "%s%s: %s", d.len ? "; " : "", ps[i].s->name, ps[i].error);
			for (i = 0; i < np; i++)
				if (!ps[i].tried && holds(&w[j].h, ps[i].s->share_index))
					appendStringInfo(&d, "%s%s: not asked (%s)", d.len ? "; " : "", ps[i].s->name, ps[i].s->state);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot retrieve secret %s: %d of the %d shares needed could be collected",
							uuid_text(w[j].h.id), w[j].have, w[j].h.k),
					 errdetail("Shareholders that failed: %s.", d.len ? d.data : "none answered"),
					 errhint("See ssn.channels and ssn.active_alarms; any %d of its %d shareholders are enough.",
							 w[j].h.k, w[j].h.n)));
		}
}

static void
rebuild_wanted(Wanted *w, ShareValue *v)
{
	shares_rebuild(w->shares, w->have, v);
	for (int i = 0; i < w->have; i++)
		sodium_memzero(VARDATA(w->shares[i]), VARSIZE(w->shares[i]) - VARHDRSZ);
}

Datum
ssn_retrieve_text(PG_FUNCTION_ARGS)
{
	Wanted	   *w = palloc0(sizeof(Wanted));
	ShareValue	v;

	handle_read(PG_GETARG_DATUM(0), &w->h);
	gather(w, 1);
	rebuild_wanted(w, &v);
	PG_RETURN_TEXT_P(value_to_text_wiped(&v));
}

Datum
ssn_retrieve(PG_FUNCTION_ARGS)
{
	Oid			want;
	Wanted	   *w;
	ShareValue	v;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	want = value_result_type_arg(fcinfo, 1);
	w = palloc0(sizeof(Wanted));
	handle_read(PG_GETARG_DATUM(0), &w->h);
	gather(w, 1);
	rebuild_wanted(w, &v);
	result = value_decode(&v, want);
	value_wipe(&v);
	PG_RETURN_DATUM(result);
}

Datum
ssn_retrieve_array(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			count,
				nw = 0,
				i;
	Wanted	   *w;
	int		   *map;
	Datum	   *out;
	bool	   *outnull;
	int			dims[1],
				lbs[1] = {1};

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("handles must be a one-dimensional array")));
	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	w = palloc0(sizeof(Wanted) * Max(count, 1));
	map = palloc(sizeof(int) * Max(count, 1));
	index_wanted(w, 0, count);
	for (i = 0; i < count; i++)
	{
		SecretHandle h;
		Wanted	   *t;

		map[i] = -1;
		if (nulls[i])
			continue;
		handle_read(elems[i], &h);
		t = find_wanted(w, nw, h.id);
		if (t == NULL)
		{
			t = &w[nw];
			t->h = h;
			index_add(w, nw);
			nw++;
		}
		map[i] = (int) (t - w);
	}
	if (nw > 0)
		gather(w, nw);
	out = palloc(sizeof(Datum) * Max(count, 1));
	outnull = palloc(sizeof(bool) * Max(count, 1));
	{
		text	  **texts = palloc0(sizeof(text *) * Max(nw, 1));

		for (i = 0; i < nw; i++)
		{
			ShareValue	v;

			rebuild_wanted(&w[i], &v);
			texts[i] = value_to_text_wiped(&v);
		}
		for (i = 0; i < count; i++)
		{
			outnull[i] = map[i] < 0;
			out[i] = outnull[i] ? (Datum) 0 : PointerGetDatum(texts[map[i]]);
		}
	}
	dims[0] = count;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, outnull, count ? 1 : 0, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/* the owner (or a member of it) grants or revokes retrieval of one secret */
static void
grant_or_revoke(Datum handle, Oid grantee, bool grant, bool *changed)
{
	SecretHandle h;
	PrivilegedScope priv;
	Oid			types[3] = {UUIDOID, OIDOID, OIDOID};
	Datum		values[3];
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
	int			rc;

	handle_read(handle, &h);
	memcpy(u->data, h.id, SHARE_ID_SIZE);
	values[0] = UUIDPGetDatum(u);
	values[1] = ObjectIdGetDatum(grantee);
	catalog_begin_privileged(&priv);
	values[2] = ObjectIdGetDatum(priv.caller);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT pg_has_role($3, owner, 'USAGE') FROM ssn.secret WHERE id = $1",
							   3, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret %s is not known on this node", uuid_text(h.id))));
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only the owner of secret %s can grant or revoke it", uuid_text(h.id))));
	}
	if (grant)
		rc = SPI_execute_with_args("INSERT INTO ssn.secret_grant (secret_id, grantee, granted_by)"
								   " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
								   3, types, values, NULL, false, 0);
	else
		rc = SPI_execute_with_args("DELETE FROM ssn.secret_grant WHERE secret_id = $1 AND grantee = $2 AND $3 IS NOT NULL",
								   3, types, values, NULL, false, 0);
	*changed = SPI_processed > 0;
	SPI_finish();
	catalog_end_privileged(&priv);
}

Datum
ssn_grant(PG_FUNCTION_ARGS)
{
	bool		changed;

	grant_or_revoke(PG_GETARG_DATUM(0), PG_GETARG_OID(1), true, &changed);
	PG_RETURN_VOID();
}

Datum
ssn_revoke(PG_FUNCTION_ARGS)
{
	bool		changed;

	grant_or_revoke(PG_GETARG_DATUM(0), PG_GETARG_OID(1), false, &changed);
	PG_RETURN_BOOL(changed);
}
