/*
 * retrieve.c - ssn_retrieve(): the SSA collects shares of the requested secrets
 * from this node's own share table and from the fastest reachable shareholders,
 * in parallel, each reply a one-time-pad envelope; it rebuilds the values only
 * here.  Up to n-k shareholders may be down; when fewer than k answer, the error
 * names each one that failed and why.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/heapam.h"
#include "access/table.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "compute/compute_eval.h"
#include "crypto/commitment.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lifecycle/check.h"
#include "lifecycle/renewal.h"
#include "lifecycle/signing_key.h"
#include "lifecycle/verify.h"
#include "math/shamir.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/alarm_queue.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/peer_conn.h"
#include "net/reply_key_copies.h"
#include "net/worker.h"
#include "qkd/key_ledger.h"
#include "share/id_set.h"
#include "share/secret_expr.h"
#include "share/secret_handle.h"
#include "share/share_batch.h"
#include "share/split_combine.h"
#include "ssa/compute.h"
#include "ssa/retrieve.h"
#include "ssa/delete.h"
#include "ssa/own_writes.h"
#include "ssa/store.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_retrieve);
PG_FUNCTION_INFO_V1(ssn_retrieve_text);
PG_FUNCTION_INFO_V1(ssn_retrieve_array);
PG_FUNCTION_INFO_V1(ssn_grant);
PG_FUNCTION_INFO_V1(ssn_revoke);
PG_FUNCTION_INFO_V1(ssn_verify);

typedef struct Wanted
{
	SecretHandle h;
	int			need;			/* shares to rebuild: k, or more for a product */
	int			extra;			/* more asked for, to check the results agree */
	bool		computed;		/* a result of a program: no handle to match */
	bool		all;			/* ssn_verify: every holder's share, and no error for missing ones */
	int			have;
	struct varlena *shares[SHARE_MAX_N];
	uint8		have_x[SHARE_MAX_N + 1];
	bytea	   *record;			/* signed commitments of its epoch (NULL: not verifiable) */
	bytea	   *check;			/* signed check value of a checked value (NULL: none) */
	bool		check_signed;	/* its signature was verified */
	int			checked_with;	/* the shares that last opened it, all fitting (0: none yet) */
	uint8		bad_x[SHARE_MAX_N + 1];	/* shareholders whose share failed verification */
} Wanted;

typedef struct PeerState
{
	Shareholder *s;
	bool		tried;
	bool		bad;			/* its reply was bad (not just missing): alarmed */
	bool		fresh_keys;		/* asked again: we lost our copies of its reply keys */
	char		error[512];
	int		   *asked;			/* indexes into the wanted array */
	int			nasked;
} PeerState;


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

/* the share is the one we expect of a wanted secret */
static bool
check_share(Wanted *w, const ShareHeader *sh, int x, char *why, size_t whylen)
{
	if (w->computed)
	{
		if (sh->x != x || sh->degree + 1 > w->need)
		{
			snprintf(why, whylen, "its result share (x=%d, degree %d) does not match the request",
					 sh->x, sh->degree);
			return false;
		}
	}
	else if (sh->x != x || sh->epoch != w->h.epoch || sh->k != w->h.k || sh->n != w->h.n ||
			 sh->type != w->h.type)
	{
		snprintf(why, whylen, "its share of secret %s does not match the handle (x=%d, epoch %u, k=%d, n=%d)",
				 secret_id_text(w->h.id), sh->x, sh->epoch, sh->k, sh->n);
		return false;
	}
	else if (w->check != NULL && !share_is_checked(sh))
	{
		snprintf(why, whylen, "its share of secret %s carries no salt, while the secret has a check value",
				 secret_id_text(w->h.id));
		return false;
	}
	return true;
}

/* add a share to a wanted secret, after checking it is the one we expect */
static bool
attach_share(Wanted *w, const uint8 *bytes, size_t len, const ShareHeader *sh, int x,
			 char *why, size_t whylen)
{
	struct varlena *v;

	if (!check_share(w, sh, x, why, whylen))
		return false;
	if (w->have_x[x])
		return true;			/* already have it (duplicate) */
	v = palloc(VARHDRSZ + len);
	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), bytes, len);
	w->shares[w->have++] = v;
	w->have_x[x] = 1;
	return true;
}

/* a reply that is there but wrong: this peer fails (named, alarmed), not the gathering */
static void
bad_reply(PeerState *p, const char *fmt,...) pg_attribute_printf(2, 3);

static void
bad_reply(PeerState *p, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->bad = true;
}

/* alarm the peers of a round whose reply was bad; the others answer for the value */
static void
alarm_bad_replies(PeerState *ps, const int *pick, int npick)
{
	PrivilegedScope priv;
	bool		any = false;

	for (int i = 0; i < npick; i++)
		any |= ps[pick[i]].bad;
	if (!any)
		return;
	catalog_begin_privileged(&priv);
	for (int i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];

		if (!p->bad)
			continue;
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("ssn: the reply of shareholder \"%s\" was refused: %s", p->s->name, p->error),
				 errdetail("Its shares were left out; other shareholders are asked instead.")));
		(void) alarm_raise("message", p->s->name, "major", "bad reply to a retrieval", p->error);
	}
	catalog_end_privileged(&priv);
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

/* key IDs to settle in one ledger request */
typedef struct KeyIds
{
	char	  **ids;
	int			n;
} KeyIds;

#define SETTLE_USED			0
#define SETTLE_DISCARDED	1

static void
key_ids_add(KeyIds *k, char **ids, int n)
{
	memcpy(k->ids + k->n, ids, sizeof(char *) * n);
	k->n += n;
}

/* the reply's keys were ours, fetched ahead, and are gone (a restart): reply_key_copies_lost */
static bool
copies_lost(char **ids, int n)
{
	PrivilegedScope priv;
	bool		lost;

	catalog_begin_privileged(&priv);
	lost = reply_key_copies_lost(ids, n);
	catalog_end_privileged(&priv);
	return lost;
}

/* Ask the given peers for their shares of the secrets they hold. */
typedef struct Program
{
	const uint8 *bytes;
	size_t		len;
} Program;

typedef struct LocalWork
{
	void		(*fn) (void *);
	void	   *arg;
} LocalWork;

static void
fetch_round(Wanted *w, int nw, PeerState *ps, int *pick, int npick, const char *self,
			const Program *prog, const LocalWork *meanwhile)
{
	PeerCall   *serve = palloc0(sizeof(PeerCall) * npick);
	PeerCall   *take = palloc0(sizeof(PeerCall) * npick);
	PeerCall   *reply;			/* the calls whose result is the sealed reply */
	static Oid	types[2] = {TEXTOID, TEXTOID};
	static Oid	ctypes[2] = {TEXTOID, BYTEAOID};
	static const int cformats[2] = {0, 1};
	int			plen = prog ? (int) prog->len : 0;
	int			clengths[2] = {0, plen};
	EnvelopeView *views;
	char	 ***ids;
	LedgerEntries *entries;
	int			nentries = 0,
				total_keys = 0;
	bool	   *ahead;			/* its keys are our copies (net/reply_key_copies) */
	KeyIds		settle[2][2];	/* [ahead][SETTLE_USED or SETTLE_DISCARDED] */
	char	  **refused;
	LedgerRecording *recording;
	KmeKeyBatch **batches;
	char	  **failures;
	int		   *entry_of;
	int			i;

	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		const char **vals = palloc(sizeof(char *) * 2);

		vals[0] = self;
		serve[i].peer = p->s->name;
		serve[i].conninfo = p->s->conninfo;
		serve[i].nparams = 2;
		serve[i].values = vals;
		if (prog)
		{
			/* every asked shareholder evaluates the whole program */
			vals[1] = (const char *) prog->bytes;
			serve[i].sql = "SELECT ssn.channel_compute($1, $2)";
			serve[i].types = ctypes;
			serve[i].lengths = clengths;
			serve[i].formats = cformats;
		}
		else
		{
			/* one round trip: the reply comes back with the call */
			vals[1] = OidOutputFunctionCall(F_ARRAY_OUT, uuid_array(w, p->asked, p->nasked));
			serve[i].sql = p->fresh_keys ? "SELECT ssn.channel_fetch($1, $2::uuid[], true)"
				: "SELECT ssn.channel_fetch($1, $2::uuid[])";
			serve[i].types = types;
			serve[i].result_format = 1;
		}
		take[i].peer = p->s->name;
		take[i].conninfo = p->s->conninfo;
		take[i].sql = "SELECT ssn.channel_take()";
		take[i].result_format = 1;
		p->tried = true;
	}
	/* this node works on its own part while the peers work on theirs */
	peer_call_begin(serve, npick);
	if (meanwhile)
	{
		PG_TRY();
		{
			meanwhile->fn(meanwhile->arg);
		}
		PG_CATCH();
		{
			/* no request may stay in flight on a cached connection */
			peer_call_end(serve, npick, 0);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	peer_call_end(serve, npick, prog ? Max(ssn_peer_timeout_ms, 600000) : ssn_peer_timeout_ms);
	if (prog)
	{
		for (i = 0; i < npick; i++)
			take[i].skip = serve[i].res == NULL;
		peer_call_all(take, npick, ssn_peer_timeout_ms);
	}
	reply = prog ? take : serve;

	/* the replies' key IDs, recorded for all peers at once before any dec_keys */
	views = palloc0(sizeof(EnvelopeView) * npick);
	ahead = palloc0(sizeof(bool) * npick);
	batches = palloc0(sizeof(KmeKeyBatch *) * npick);
	ids = palloc0(sizeof(char **) * npick);
	entries = palloc0(sizeof(LedgerEntries) * npick);
	entry_of = palloc(sizeof(int) * npick);
	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		const uint8 *env;
		int			envlen;
		char		why[256];
		char	   *sender,
				   *receiver;

		if (serve[i].res == NULL || reply[i].res == NULL)
		{
			strlcpy(p->error, serve[i].res == NULL ? serve[i].error : reply[i].error, sizeof(p->error));
			continue;
		}
		env = (const uint8 *) peer_call_value(&reply[i], &envlen);
		if (env == NULL || !envelope_parse(env, envlen, &views[i], why, sizeof(why)))
		{
			bad_reply(p, "malformed reply: %s", env ? why : "empty");
			continue;
		}
		if (!channel_header_is_text(&views[i]))
		{
			bad_reply(p, "malformed reply: a node name or key ID of its header is not printable text");
			continue;
		}
		sender = channel_name(views[i].sender, views[i].sender_len);
		receiver = channel_name(views[i].receiver, views[i].receiver_len);
		if (views[i].kind != MSG_KIND_REPLY || strcmp(sender, p->s->name) != 0 || strcmp(receiver, self) != 0)
		{
			bad_reply(p, "unexpected reply (kind %s, from \"%s\" to \"%s\")",
					  channel_kind_name(views[i].kind), sender, receiver);
			continue;
		}
		ids[i] = channel_key_ids(&views[i]);
		if (key_ids_repeat(ids, i, views))
		{
			bad_reply(p, "its reply names a key ID already used");
			ids[i] = NULL;
			continue;
		}
		/* keys we fetched ahead: on the record already, no KME asked */
		batches[i] = reply_key_copies_take(p->s, &views[i], ids[i]);
		if (batches[i] != NULL)
		{
			ahead[i] = true;
			total_keys += views[i].nkeys;
			continue;
		}
		entry_of[nentries] = i;
		entries[nentries].direction = LEDGER_RECEIVE;
		entries[nentries].peer = p->s->name;
		entries[nentries].peer_sae = p->s->sae_id;
		entries[nentries].purpose = prog ? "compute" : "retrieve";
		entries[nentries].size_bits = channel_received_key_bits(&views[i], p->s->sae_id);
		entries[nentries].nids = views[i].nkeys;
		entries[nentries].key_ids = (const char *const *) ids[i];
		nentries++;
	}
	/* a reply whose key IDs the ledger has seen (a replay) fails that peer only */
	refused = palloc0(sizeof(char *) * Max(nentries, 1));
	/*
	 * The IDs go on the record while their keys are fetched (dec_keys): a key is
	 * used only once the record committed, and one refused then is wiped unused.
	 */
	recording = ledger_record_many_start(entries, nentries, refused);
	failures = palloc0(sizeof(char *) * npick);
	for (i = 0; i < npick; i++)
		if (ids[i] != NULL && !ahead[i])
			batches[i] = channel_keys_guarded(&views[i], ps[pick[i]].s->sae_id, ids[i], &failures[i]);
	ledger_record_many_wait(recording);
	for (i = 0; i < nentries; i++)
	{
		PeerState  *p = &ps[pick[entry_of[i]]];

		if (refused[i] == NULL)
		{
			total_keys += entries[i].nids;
			continue;
		}
		kme_batch_free(batches[entry_of[i]]);
		batches[entry_of[i]] = NULL;
		if (!p->fresh_keys && copies_lost(ids[entry_of[i]], views[entry_of[i]].nkeys))
		{
			/* not the peer's fault: ask it once more, under fresh keys */
			p->fresh_keys = true;
			p->tried = false;
		}
		else
			/* a replay's keys were delivered before, or are wiped here unused */
			bad_reply(p, "its reply reuses QKD key IDs (a replay?): %s", refused[i]);
		ids[entry_of[i]] = NULL;
	}
	for (int a = 0; a < 2; a++)
		for (int st = 0; st < 2; st++)
		{
			settle[a][st].ids = palloc(sizeof(char *) * Max(total_keys, 1));
			settle[a][st].n = 0;
		}

	for (i = 0; i < npick; i++)
	{
		PeerState  *p = &ps[pick[i]];
		EnvelopeView *v = &views[i];
		char		why[256];
		uint8	   *pt;
		char	   *failure;
		size_t		key_bytes = 0,
					ptlen,
					off = 0;
		const uint8 *sb;
		size_t		sblen;
		ShareHeader sh;
		bool		ok = true;

		if (ids[i] == NULL)
			continue;
		failure = failures[i];
		pt = batches[i] ? channel_open_with(v, batches[i], &key_bytes) : NULL;
		batches[i] = NULL;
		if (failure)
		{
			/* the KME refused its keys: this peer failed, not the retrieval */
			key_ids_add(&settle[ahead[i]][SETTLE_DISCARDED], ids[i], v->nkeys);
			bad_reply(p, "keys of its reply unavailable: %s", failure);
			continue;
		}
		if (pt == NULL)
		{
			key_ids_add(&settle[ahead[i]][SETTLE_DISCARDED], ids[i], v->nkeys);
			bad_reply(p, "its reply failed authentication (tampered or wrong keys)");
			continue;
		}
		key_ids_add(&settle[ahead[i]][SETTLE_USED], ids[i], v->nkeys);
		pt = channel_plaintext(v, pt, &ptlen, why, sizeof(why));
		if (pt == NULL)
		{
			bad_reply(p, "malformed reply: %s", why);
			continue;
		}
		{
			LinkCounts	rc = {0};
			int			envlen;

			(void) peer_call_value(&reply[i], &envlen);
			rc.messages = 1;
			rc.payload_bytes = v->len;
			rc.envelope_bytes = envlen;
			rc.key_bytes = key_bytes;
			audit_key_bytes(AUDIT_NOPS, (int64) key_bytes);
			for (size_t o = 0; share_batch_next(pt, ptlen, &o, &sb, &sblen, &sh, why, sizeof(why));)
			{
				rc.shares++;
				rc.share_bytes += sblen;
			}
			ssn_count_reply(p->s->name, &rc);
		}
		/* every share checked before any is kept: a bad reply leaves nothing behind */
		why[0] = '\0';
		while (share_batch_next(pt, ptlen, &off, &sb, &sblen, &sh, why, sizeof(why)))
		{
			Wanted	   *t = find_wanted(w, nw, sh.id);

			if (t == NULL || !holds(&t->h, p->s->share_index))
			{
				bad_reply(p, "it sent a share that was not asked for");
				ok = false;
				break;
			}
			if (!check_share(t, &sh, p->s->share_index, why, sizeof(why)))
			{
				bad_reply(p, "%s", why);
				ok = false;
				break;
			}
		}
		if (ok && why[0])
		{
			bad_reply(p, "malformed reply: %s", why);
			ok = false;
		}
		for (off = 0; ok && share_batch_next(pt, ptlen, &off, &sb, &sblen, &sh, why, sizeof(why));)
			(void) attach_share(find_wanted(w, nw, sh.id), sb, sblen, &sh, p->s->share_index,
								why, sizeof(why));
		sodium_memzero(pt, ptlen);
		pfree(pt);
	}
	/* on the record (committed) before any was used: settling them need not hold up the caller */
	for (int st = 0; st < 2; st++)
	{
		const char *state = st == SETTLE_USED ? "used" : "discarded";

		ledger_finish_unwaited((const char *const *) settle[0][st].ids, settle[0][st].n, state);
		ledger_finish_server_held((const char *const *) settle[1][st].ids, settle[1][st].n, state);
	}
	peer_call_reset(serve, npick);
	peer_call_reset(take, npick);
	alarm_bad_replies(ps, pick, npick);
}

#define SCAN_MIN_SECRETS 1000	/* from here on one pass over ssn.secret beats the executor */

static int	scan_owners(const uint8 *ids, int n, Oid caller, uint8 **foreign, int *nforeign);

/*
 * Reads of a few secrets keep one generic plan each for the session (one
 * retrieval of one value would otherwise spend a third of its time planning);
 * reads of many are planned for their size every time.
 */
#define FEW_SECRETS 64
static SPIPlanPtr plan_access = NULL;
static SPIPlanPtr plan_local = NULL;
static SPIPlanPtr plan_epochs[3];

static int
read_secrets(SPIPlanPtr *few, const char *sql, int nargs, Oid *types, Datum *values, int n)
{
	if (n <= FEW_SECRETS)
		return SPI_execute_plan(spi_saved_plan(few, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN),
								values, NULL, true, 0);
	return SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);
}

/* an array of uuids from 16-byte ids */
static Datum
uuid_array_of(const uint8 *ids, int n)
{
	Datum	   *d = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		d[i] = UUIDPGetDatum((pg_uuid_t *) (ids + (size_t) i * SHARE_ID_SIZE));
	return PointerGetDatum(construct_array(d, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * The caller may retrieve every one of n distinct secrets (ids: n * 16 bytes):
 * it owns them (or is a member of the owner) or was granted them.  One pass
 * over ssn.secret; the roles the caller belongs to are looked up once.
 */
static void
check_access_ids(const uint8 *ids, int n, Oid caller)
{
	Oid			types[2] = {UUIDARRAYOID, OIDOID};
	Datum		values[2];
	bool		isnull;
	int64		found;
	Datum		denied;

	if (n == 0)
		return;
	values[1] = ObjectIdGetDatum(caller);
	if (n >= SCAN_MIN_SECRETS)
	{
		uint8	   *foreign;
		int			nforeign;

		found = scan_owners(ids, n, caller, &foreign, &nforeign);
		if (found == n && nforeign == 0)
			return;
		if (found == n)
		{
			/* only these need a grant: checked the slow way */
			ids = foreign;
			n = nforeign;
		}
	}
	values[0] = uuid_array_of(ids, n);
	if (read_secrets(&plan_access, "WITH mine AS MATERIALIZED (SELECT array_agg(oid) AS roles FROM pg_catalog.pg_authid"
							  "                          WHERE pg_has_role($2, oid, 'USAGE'))"
							  " SELECT count(*),"
							  "  (array_agg(s.id) FILTER (WHERE NOT s.owner = ANY(mine.roles)"
							  "     AND NOT EXISTS (SELECT FROM ssn.secret_grant g WHERE g.secret_id = s.id"
							  "                     AND g.grantee = ANY(mine.roles))))[1],"
							  "  (array_agg(s.owner::regrole::text) FILTER (WHERE NOT s.owner = ANY(mine.roles)"
							  "     AND NOT EXISTS (SELECT FROM ssn.secret_grant g WHERE g.secret_id = s.id"
							  "                     AND g.grantee = ANY(mine.roles))))[1]"
							  " FROM ssn.secret s, mine WHERE s.id = ANY($1)",
					 2, types, values, n) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read ssn.secret");
	found = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	denied = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to retrieve secret %s", secret_id_text(DatumGetUUIDP(denied)->data)),
				 errdetail("It belongs to role %s, which has not granted it to you.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errhint("Its owner can run ssn_grant(handle, role).")));
	if (found < n)
	{
		/* name one that is missing */
		if (SPI_execute_with_args("SELECT u FROM unnest($1) AS u WHERE NOT EXISTS"
								  " (SELECT FROM ssn.secret s WHERE s.id = u) LIMIT 1",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read ssn.secret");
		{
			bool		isnull;

			delete_report_if_deleted(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret %s is not known on this node",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("Only the SSA of a secret (the node that stored it, or took it over) keeps its owner and can rebuild it."),
				 errhint("Retrieve it on the node where ssn_store() ran.")));
	}
}

/*
 * Many secrets: one pass over ssn.secret without the executor.  Returns how
 * many of the ids it found; ids whose owner the caller does not act for are
 * copied to *foreign (16 bytes each, *nforeign of them) for the grants check.
 */
static int
scan_owners(const uint8 *ids, int n, Oid caller, uint8 **foreign, int *nforeign)
{
	Oid			relid = get_relname_relid("secret", get_namespace_oid("ssn", false));
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	td = RelationGetDescr(rel);
	AttrNumber	a_id = get_attnum(relid, "id"),
				a_owner = get_attnum(relid, "owner");
	IdSet		set;
	void	   *work = palloc_extended(id_set_work_size() * Max(n, 1), MCXT_ALLOC_HUGE);
	int			found = 0,
				cap = 16;
	TableScanDesc scan;
	HeapTuple	tup;
	uint64		seen = 0;
	Oid			last_owner = InvalidOid;
	bool		last_ok = false;

	id_set_build(&set, ids, (uint32) n,
				 palloc_extended((size_t) Max(n, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE), NULL, work);
	pfree(work);
	*foreign = palloc(SHARE_ID_SIZE * cap);
	*nforeign = 0;
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		pg_uuid_t  *u = DatumGetUUIDP(heap_getattr(tup, a_id, td, &isnull));
		Oid			owner;

		if ((++seen & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (id_set_find(&set, u->data) < 0)
			continue;
		found++;
		owner = DatumGetObjectId(heap_getattr(tup, a_owner, td, &isnull));
		if (owner != last_owner)
		{
			last_owner = owner;
			last_ok = has_privs_of_role(caller, owner);
		}
		if (last_ok)
			continue;
		if (*nforeign == cap)
		{
			cap *= 2;
			*foreign = repalloc_huge(*foreign, (size_t) SHARE_ID_SIZE * cap);
		}
		memcpy(*foreign + (size_t) (*nforeign)++ * SHARE_ID_SIZE, u->data, SHARE_ID_SIZE);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	pfree(set.ids);
	return found;
}

static void
check_access(Wanted *w, int nw, Oid caller)
{
	uint8	   *ids = palloc_extended((size_t) Max(nw, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE);

	for (int i = 0; i < nw; i++)
		memcpy(ids + (size_t) i * SHARE_ID_SIZE, w[i].h.id, SHARE_ID_SIZE);
	check_access_ids(ids, nw, caller);
	pfree(ids);
}

static void
load_local(Wanted *w, int nw, Shareholder *self, MemoryContext caller)
{
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];

	values[0] = uuid_array(w, NULL, nw);
	values[1] = CStringGetTextDatum(self->name);
	/* this node's own shares only: a peer's message cannot stand in for one */
	if (read_secrets(&plan_local, "SELECT share FROM ssn.held_share WHERE secret_id IN (SELECT unnest($1))"
					 " AND origin = $2", 2, types, values, nw) != SPI_OK_SELECT)
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

/* call fn(arg, id) for every factor of every row of a checked program */
static void
program_each_input(const Program *prog, void (*fn) (void *, const uint8 *), void *arg)
{
	ProgramReader r;
	const uint8 *gid;
	uint32		rows;
	SecretExpr *e = palloc(sizeof(SecretExpr));
	char		err[128];

	(void) program_begin(&r, prog->bytes, prog->len, err, sizeof(err));
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
		for (uint32 i = 0; i < rows; i++)
		{
			(void) program_next_row(&r, e, err, sizeof(err));
			for (int j = 0; j < e->nterms; j++)
				for (int f = 0; f < e->terms[j].nfactors; f++)
					fn(arg, e->terms[j].ids[f]);
		}
	pfree(e);
}

typedef struct RefList
{
	uint8	   *ids;
	uint64		n;
	uint64		cap;
} RefList;

static void
count_ref(void *arg, const uint8 *id)
{
	((RefList *) arg)->cap++;
}

static void
add_ref(void *arg, const uint8 *id)
{
	RefList    *l = arg;

	memcpy(l->ids + (size_t) l->n++ * SHARE_ID_SIZE, id, SHARE_ID_SIZE);
}

/* the distinct secrets a program names, as n * 16 bytes in ascending order */
static uint8 *
program_inputs(const Program *prog, int *n)
{
	RefList		l = {0};
	IdSet		set;
	uint32		ng;
	uint64		rows;
	char		err[128];
	void	   *work;
	uint8		(*out)[SHARE_ID_SIZE];

	if (!program_check(prog->bytes, prog->len, &ng, &rows, err, sizeof(err)))
		elog(ERROR, "ssn: a program built here is malformed: %s", err);
	program_each_input(prog, count_ref, &l);
	if (l.cap > (uint64) 256 * 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a computation over %llu secrets is too large", (unsigned long long) l.cap)));
	l.ids = palloc_extended(Max(l.cap, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE);
	program_each_input(prog, add_ref, &l);
	work = palloc_extended(id_set_work_size() * Max(l.n, 1), MCXT_ALLOC_HUGE);
	out = palloc_extended(Max(l.n, 1) * SHARE_ID_SIZE, MCXT_ALLOC_HUGE);
	id_set_build(&set, l.ids, (uint32) l.n, out, NULL, work);
	pfree(work);
	pfree(l.ids);
	*n = (int) set.count;
	return (uint8 *) out;
}

/* this node's result of a program, attached to the wanted results */
static void
evaluate_local(Wanted *w, int nw, const Program *prog, Shareholder *self, MemoryContext caller)
{
	int			ng;
	EvalGroup  *g = compute_evaluate(prog->bytes, prog->len, self->name, self->share_index, &ng);
	MemoryContext old = MemoryContextSwitchTo(caller);

	for (int i = 0; i < ng; i++)
	{
		struct varlena *s = compute_result_share(&g[i], self->share_index);
		ShareHeader sh;
		Wanted	   *t = find_wanted(w, nw, g[i].id);
		char		why[256];

		share_read_header(SHARE_BYTES(s), &sh);
		if (t && !attach_share(t, SHARE_BYTES(s), SHARE_SIZE(s), &sh, self->share_index, why, sizeof(why)))
			elog(ERROR, "ssn: this node's own result does not fit: %s", why);
		sodium_memzero(VARDATA(s), VARSIZE(s) - VARHDRSZ);
	}
	compute_wipe(g, ng);
	MemoryContextSwitchTo(old);
}

typedef struct LocalEval
{
	Wanted	   *w;
	int			nw;
	const Program *prog;
	Shareholder *self;
	MemoryContext caller;
} LocalEval;

static void
local_eval_fn(void *arg)
{
	LocalEval  *le = arg;
	PrivilegedScope priv;

	catalog_begin_privileged(&priv);
	evaluate_local(le->w, le->nw, le->prog, le->self, le->caller);
	catalog_end_privileged(&priv);
}

/* the current epoch of each wanted secret (renewals move it on; handles keep the first) */
static void
load_epochs(Wanted *w, int nw, MemoryContext caller)
{
	Oid			types[1] = {UUIDARRAYOID};
	Datum		values[1];
	Oid			relid = get_relname_relid("secret", get_namespace_oid("ssn", false));
	bool		has_commitments = get_attnum(relid, "commitment") != InvalidAttrNumber;
	bool		has_checks = get_attnum(relid, "check_record") != InvalidAttrNumber;

	values[0] = uuid_array(w, NULL, nw);
	/* the gathering's own snapshot (gather): a switch committed before the renewal lock counts */
	if (read_secrets(&plan_epochs[has_checks ? 2 : has_commitments ? 1 : 0],
					 has_checks ? "SELECT id, epoch, commitment, check_record FROM ssn.secret WHERE id = ANY($1)"
					 : has_commitments ? "SELECT id, epoch, commitment, NULL::bytea FROM ssn.secret WHERE id = ANY($1)"
					 : "SELECT id, epoch, NULL::bytea, NULL::bytea FROM ssn.secret WHERE id = ANY($1)",
					 1, types, values, nw) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.secret");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t  *id = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		Wanted	   *t = find_wanted(w, nw, id->data);
		Datum		rec;

		if (t == NULL)
			continue;
		t->h.epoch = (uint32) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		rec = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			t->record = DatumGetByteaPCopy(rec);
			MemoryContextSwitchTo(spi);
		}
		rec = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4, &isnull);
		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			t->check = DatumGetByteaPCopy(rec);
			MemoryContextSwitchTo(spi);
		}
	}
}

/* the shareholders whose shares of t are gathered, for a message */
static char *
gathered_from(Wanted *t, ShareholderList *cat)
{
	StringInfoData d;

	initStringInfo(&d);
	for (int i = 0; i < t->have; i++)
	{
		ShareHeader sh;
		Shareholder *s;

		share_read_header(SHARE_BYTES(t->shares[i]), &sh);
		s = catalog_find_index(cat, sh.x);
		appendStringInfo(&d, "%s%s (share index %d)", i ? ", " : "", s ? s->name : "?", sh.x);
	}
	return d.data;
}

/*
 * Keep the shares q of t whose flags[q] equals flags_mark_good, drop the others:
 * their holders are named in named (unless NULL: who lies is not known) and not
 * asked again.  Returns how many were dropped.
 */
static int
drop_shares(Wanted *t, const bool *flags, bool flags_mark_good, ShareholderList *cat, StringInfo named)
{
	int			keep = 0,
				dropped = 0;

	for (int q = 0; q < t->have; q++)
	{
		ShareHeader sh;
		Shareholder *s;

		if (flags[q] == flags_mark_good)
		{
			t->shares[keep++] = t->shares[q];
			continue;
		}
		if (named)
		{
			share_read_header(SHARE_BYTES(t->shares[q]), &sh);
			s = catalog_find_index(cat, sh.x);
			t->bad_x[sh.x] = 1;
			appendStringInfo(named, "%s%s (share index %d) for secret %s", named->len ? "; " : "",
							 s ? s->name : "?", sh.x, secret_id_text(t->h.id));
		}
		sodium_memzero(VARDATA(t->shares[q]), VARSIZE(t->shares[q]) - VARHDRSZ);
		dropped++;
	}
	t->have = keep;
	return dropped;
}

/*
 * Checked values (a signed check value, no commitments): rebuilt only from k
 * shares that open it.  A share off their polynomial is dropped and named; when
 * the k gathered do not open it, or too few to tell who lies, one more shareholder
 * is asked, until none is left.  Returns how many secrets changed the gathering.
 */
static int
check_gathered(Wanted *w, int nw, ShareholderList *cat, StringInfo named)
{
	int			changed = 0;

	for (int j = 0; j < nw; j++)
	{
		Wanted	   *t = &w[j];
		const char *problem;
		bool		fits[SHARE_MAX_N];
		bool		ambiguous;
		int			nfit;

		/* checked once per set of shares: a later pass sees the same ones */
		if (t->check == NULL || t->all || t->computed || t->have < t->need || t->checked_with == t->have)
			continue;
		problem = t->check_signed ? NULL : check_record_problem(t->check, t->h.id);
		if (problem)
		{
			alarm_raise_durable("secret", secret_id_text(t->h.id), "critical",
								"check value of a secret not valid", problem);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("cannot retrieve secret %s: its signed check value is not valid", secret_id_text(t->h.id)),
					 errdetail("The record in ssn.secret.check_record: %s.", problem),
					 errhint("This node's own catalog of secrets was altered; restore it from a backup.")));
		}
		t->check_signed = true;
		nfit = check_find(t->check, t->shares, t->have, t->need, fits, &ambiguous);
		if ((nfit == 0 || ambiguous) && t->need + t->extra < t->h.n && t->have == t->need + t->extra)
		{
			t->extra++;			/* k shares that do not open it: one more tells which */
			changed++;
			continue;
		}
		if (nfit > 0 && ambiguous)
		{
			/* the value is right either way; who lies is not known */
			appendStringInfo(named, "%ssecret %s: the shares from %s disagree, and too few answered to tell which holders lie",
							 named->len ? "; " : "", secret_id_text(t->h.id), gathered_from(t, cat));
			(void) drop_shares(t, fits, true, cat, NULL);
			t->checked_with = t->have;
			continue;
		}
		if (nfit == 0)
		{
			alarm_raise_durable("secret", secret_id_text(t->h.id), "critical",
								"shares do not open the check value", gathered_from(t, cat));
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("cannot retrieve secret %s: no %d of its shares gathered rebuild the value its signed check value names",
							secret_id_text(t->h.id), t->need),
					 errdetail("Shares from %s; a shareholder holds a wrong share, and there are too few others to leave it out.",
							   gathered_from(t, cat)),
					 errhint("Bring the other shareholders of the secret back, then retry; ssn_verify(handle) shows each share; see ssn.active_alarms.")));
		}
		changed += drop_shares(t, fits, true, cat, named);
		t->checked_with = t->have;
		/* the shares left open it: no holder more to ask for them */
		t->extra = Max(0, t->have - t->need);
	}
	return changed;
}

/*
 * Check the shares gathered of verifiable secrets against their signed
 * commitments; a share that fails is dropped (its holder is not asked again)
 * and named.  Returns how many failed.
 */
static int
verify_gathered(Wanted *w, int nw, ShareholderList *cat, StringInfo named)
{
	VerifyItem *items = palloc(sizeof(VerifyItem) * Max(nw, 1));
	int		   *of = palloc(sizeof(int) * Max(nw, 1));
	int			n = 0,
				total = 0;

	for (int j = 0; j < nw; j++)
		if (w[j].record && w[j].have > 0 && !w[j].all)
		{
			items[n].record = (uint8 *) VARDATA_ANY(w[j].record);
			items[n].reclen = VARSIZE_ANY_EXHDR(w[j].record);
			items[n].shares = w[j].shares;
			items[n].m = w[j].have;
			items[n].bad = palloc(sizeof(bool) * w[j].have);
			of[n++] = j;
		}
	if (n == 0)
		return 0;
	verify_items(items, n);
	for (int i = 0; i < n; i++)
	{
		if (items[i].nbad > 0)
			total += drop_shares(&w[of[i]], items[i].bad, false, cat, named);
	}
	return total;
}

/* the m result shares lie on one polynomial of degree need-1 */
static bool
results_agree(struct varlena **s, int m, int need, int skip)
{
	uint8		xs[SHARE_MAX_N];
	fp_t		ys[SHARE_MAX_N];
	fp_t		lambda[SHARE_MAX_N];
	int			n = 0;
	bool		ok = true;

	for (int i = 0; i < m && n < need; i++)
	{
		ShareHeader h;

		if (i == skip)
			continue;
		share_read_header(SHARE_BYTES(s[i]), &h);
		xs[n] = h.x;
		(void) fp_from_bytes(&ys[n], SHARE_PAYLOAD(s[i]));
		n++;
	}
	for (int i = 0; i < m && ok; i++)
	{
		ShareHeader h;
		fp_t		want,
					got;
		bool		base = false;

		if (i == skip)
			continue;
		share_read_header(SHARE_BYTES(s[i]), &h);
		for (int j = 0; j < n; j++)
			base |= xs[j] == h.x;
		if (base)
			continue;
		shamir_lagrange_fp(xs, n, h.x, lambda);
		shamir_combine_fp(&want, n, lambda, ys);
		(void) fp_from_bytes(&got, SHARE_PAYLOAD(s[i]));
		ok = fp_equal(&want, &got);
		sodium_memzero(&want, sizeof(want));
		sodium_memzero(&got, sizeof(got));
	}
	sodium_memzero(ys, sizeof(ys));
	return ok;
}

/*
 * Computed results come from one more shareholder than they need when there is
 * one: all must lie on one polynomial.  A lone wrong result (a corrupted share, a
 * lying shareholder) is left out and named when the others agree without it;
 * with just one extra, one more shareholder is asked.  Returns how many results
 * changed the gathering (0: all agree, or nothing more to try).
 */
static int
check_results(Wanted *w, int nw, ShareholderList *cat, StringInfo named)
{
	int			changed = 0;

	for (int j = 0; j < nw; j++)
	{
		Wanted	   *t = &w[j];
		int			culprit = -1,
					found = 0;

		if (!t->computed || t->have <= t->need || results_agree(t->shares, t->have, t->need, -1))
			continue;
		if (t->have >= t->need + 2)
			for (int i = 0; i < t->have; i++)
				if (results_agree(t->shares, t->have, t->need, i))
				{
					culprit = i;
					found++;
				}
		if (found == 1)
		{
			ShareHeader sh;
			Shareholder *s;

			share_read_header(SHARE_BYTES(t->shares[culprit]), &sh);
			s = catalog_find_index(cat, sh.x);
			t->bad_x[sh.x] = 1;
			appendStringInfo(named, "%s%s (share index %d) for a computed result", named->len ? "; " : "",
							 s ? s->name : "?", sh.x);
			sodium_memzero(VARDATA(t->shares[culprit]), VARSIZE(t->shares[culprit]) - VARHDRSZ);
			t->shares[culprit] = t->shares[--t->have];
			changed++;
		}
		else if (t->need + t->extra < t->h.n && t->have == t->need + t->extra)
		{
			t->extra++;
			changed++;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the shareholders' results do not agree: a shareholder computed on a wrong share"),
					 errdetail("Results from %s; no single one can be left out.", gathered_from(t, cat)),
					 errhint("Check the inputs with ssn_verify(handle); see ssn.active_alarms.")));
	}
	return changed;
}

static void
raise_bad_shares(const char *named)
{
	PrivilegedScope priv;

	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("shares that fail verification were left out: %s", named),
			 errdetail("They do not match the signed commitments or check values of their secrets; the secrets were rebuilt from other shareholders' shares."),
			 errhint("Check the shareholders named (ssn_verify(handle) shows every share of a secret); see ssn.active_alarms.")));
	catalog_begin_privileged(&priv);
	(void) alarm_raise("peer", "shares", "major", "share fails verification", named);
	catalog_end_privileged(&priv);
}

static void gather_locked(Wanted *w, int nw, const Program *prog);

/*
 * Gather enough shares of every wanted secret (or result of prog), or fail
 * naming the peers.  Under the renewal lock: no batch switches epochs meanwhile.
 */
/* the catalog row of secret id was written by this transaction (the secret is not delivered yet) */
static bool
stored_in_this_transaction(const uint8 *id)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	bool		isnull;

	PrivilegedScope priv;
	bool		mine;

	memcpy(u->data, id, SHARE_ID_SIZE);
	values[0] = UUIDPGetDatum(u);
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT xmin FROM ssn.secret WHERE id = $1", 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.secret");
	mine = SPI_processed == 1 &&
		TransactionIdIsCurrentTransactionId(DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																			  SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	catalog_end_privileged(&priv);
	return mine;
}

static void
gather(Wanted *w, int nw, const Program *prog)
{
	/* what this transaction buffered is written first, and read below */
	store_flush_pending();
	CommandCounterIncrement();
	renewal_lock_shared();
	PG_TRY();
	{
		/*
		 * This node's shares, epochs and local evaluation are read as of now,
		 * under the lock, like the peers read theirs: not as of the statement's
		 * (or, in REPEATABLE READ, the transaction's) older snapshot, which may
		 * predate a renewal's switch.
		 */
		PushActiveSnapshot(GetLatestSnapshot());
		gather_locked(w, nw, prog);
		PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		renewal_unlock_shared();
	}
	PG_END_TRY();
}

static void
gather_locked(Wanted *w, int nw, const Program *prog)
{
	List	   *stale;
	StringInfoData badnames;
	PrivilegedScope priv;
	ShareholderList *cat;
	Shareholder *self;
	PeerState  *ps;
	int			np = 0,
				i,
				j;
	int		   *pick;
	MemoryContext caller = CurrentMemoryContext;
	bool		local_pending = false;
	LocalEval	le;
	LocalWork	lw = {local_eval_fn, &le};

	index_wanted(w, nw, nw);
	catalog_begin_privileged(&priv);
	cat = catalog_load();
	self = catalog_require_self(cat);
	stale = renewal_stale_peers();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (prog)
	{
		int			ninputs;
		uint8	   *inputs = program_inputs(prog, &ninputs);

		check_access_ids(inputs, ninputs, priv.caller);
		pfree(inputs);
		local_pending = holds(&w[0].h, self->share_index);
	}
	else
	{
		check_access(w, nw, priv.caller);
		load_epochs(w, nw, caller);
		load_local(w, nw, self, caller);
	}
	SPI_finish();
	catalog_end_privileged(&priv);

	/* peers holding any of the secrets, best first (stable by share index) */
	ps = palloc0(sizeof(PeerState) * Max(cat->count, 1));
	for (int rank = 0; rank <= 2; rank++)
		for (i = 0; i < cat->count; i++)
		{
			Shareholder *s = &cat->items[i];
			bool		any = false;

			/* a holder whose switch to the new epoch is pending would answer stale */
			if (s->is_self || s->share_index <= 0 || peer_rank(s) != rank || renewal_is_stale(stale, s->name))
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
	initStringInfo(&badnames);

again:
	for (;;)
	{
		int			deficit = 0,
					npick = 0;

		for (j = 0; j < nw; j++)
			deficit = Max(deficit, w[j].need + w[j].extra - w[j].have - (local_pending ? 1 : 0));
		if (deficit <= 0)
			break;
		for (i = 0; i < np && npick < deficit; i++)
		{
			PeerState  *p = &ps[i];

			if (p->tried)
				continue;
			p->nasked = 0;
			for (j = 0; j < nw; j++)
				if (w[j].have < w[j].need + w[j].extra && holds(&w[j].h, p->s->share_index) &&
					!w[j].have_x[p->s->share_index])
					p->asked[p->nasked++] = j;
			if (p->nasked > 0)
				pick[npick++] = i;
		}
		if (npick == 0)
			break;
		le.w = w;
		le.nw = nw;
		le.prog = prog;
		le.self = self;
		le.caller = caller;
		fetch_round(w, nw, ps, pick, npick, self->name, prog, local_pending ? &lw : NULL);
		local_pending = false;
		CHECK_FOR_INTERRUPTS();
	}
	/* shares that fail verification are dropped: ask other shareholders */
	if (prog == NULL && verify_gathered(w, nw, cat, &badnames) > 0)
		goto again;
	/* checked values: k shares must open the signed check value */
	if (prog == NULL && check_gathered(w, nw, cat, &badnames) > 0)
		goto again;
	/* results that do not agree: leave out the wrong one, or ask one more */
	if (prog != NULL && check_results(w, nw, cat, &badnames) > 0)
		goto again;
	if (badnames.len > 0)
	{
		bool		short_of = false;

		for (j = 0; j < nw; j++)
			short_of |= !w[j].all && w[j].have < w[j].need;
		if (!short_of)
			raise_bad_shares(badnames.data);
	}

	for (j = 0; j < nw; j++)
		if (w[j].have < w[j].need && !w[j].all)
		{
			StringInfoData d;

			initStringInfo(&d);
			if (badnames.len > 0)
				appendStringInfo(&d, "shares failing verification: %s; ", badnames.data);
			for (i = 0; i < np; i++)
				if (ps[i].tried && ps[i].error[0] && holds(&w[j].h, ps[i].s->share_index))
					appendStringInfo(&d, "%s%s: %s", d.len ? "; " : "", ps[i].s->name, ps[i].error);
			for (i = 0; i < np; i++)
				if (!ps[i].tried && holds(&w[j].h, ps[i].s->share_index))
					appendStringInfo(&d, "%s%s: not asked (%s)", d.len ? "; " : "", ps[i].s->name, ps[i].s->state);
			if (!w[j].computed && stored_in_this_transaction(w[j].h.id))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot retrieve secret %s: it was stored in this transaction",
								secret_id_text(w[j].h.id)),
						 errdetail("Its shareholders get their shares when the transaction commits; this node holds only its own."),
						 errhint("Retrieve it after COMMIT (ssn.synchronous_store = 'k' makes the commit wait for the delivery).")));
			if (w[j].computed)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cannot compute the result: %d of the %d shares needed could be collected",
								w[j].have, w[j].need),
						 errdetail("Shareholders that failed: %s.", d.len ? d.data : "none answered"),
						 errhint("See ssn.channels and ssn.active_alarms; any %d of the %d shareholders that hold every input are enough.",
								 w[j].need, w[j].h.n)));
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot retrieve secret %s: %d of the %d shares needed could be collected",
							secret_id_text(w[j].h.id), w[j].have, w[j].need),
					 errdetail("Shareholders that failed: %s.", d.len ? d.data : "none answered"),
					 errhint("See ssn.channels and ssn.active_alarms; any %d of its %d shareholders are enough.",
							 w[j].h.k, w[j].h.n)));
		}
}

static void
rebuild_wanted(Wanted *w, ShareValue *v)
{
	/* checked already: the value alone, in one form whether served or this node's own */
	for (int i = 0; i < w->have; i++)
	{
		ShareHeader h;

		share_read_header(SHARE_BYTES(w->shares[i]), &h);
		if (share_is_verifiable(&h))
		{
			sodium_memzero(SHARE_PAYLOAD(w->shares[i]) + FP_BYTES, h.payload_len - FP_BYTES);
			h.payload_len = FP_BYTES;
			SET_VARSIZE(w->shares[i], VARHDRSZ + SHARE_HEADER_SIZE + FP_BYTES);
			share_seal_varlena(w->shares[i], &h);
		}
	}
	shares_rebuild(w->shares, w->have, v);
	for (int i = 0; i < w->have; i++)
		sodium_memzero(VARDATA(w->shares[i]), VARSIZE(w->shares[i]) - VARHDRSZ);
}

static bool own_write_readable(const uint8 *id);

/* an input's value as this transaction stored it (compute_evaluate_values) */
static bool
own_input_value(const uint8 *id, fp_t *y, int *type, int *scale, int *k, void *arg)
{
	ShareValue	v;

	if (!own_writes_get(id, &v, k) || v.field != SHARE_FIELD_PRIME)
		return false;
	*y = v.fp;
	*type = v.type;
	*scale = v.scale;
	value_wipe(&v);
	return true;
}

/*
 * A program over secrets this transaction stored, all of them: their holders get
 * their shares only at COMMIT, so the SSA evaluates it on the values it still
 * has (false: none of its inputs is such a secret).
 */
static bool
evaluate_own_writes(const Program *prog, ShareValue *out)
{
	int			n,
				nown = 0,
				ng;
	uint8	   *ids;
	EvalGroup  *g;
	const uint8 *first = NULL;

	if (!own_writes_any())
		return false;
	ids = program_inputs(prog, &n);
	for (int i = 0; i < n; i++)
	{
		/* the caller's right to each: as for a retrieval of it */
		if (own_write_readable(ids + (size_t) i * SHARE_ID_SIZE))
			nown++;
		else if (first == NULL)
			first = ids + (size_t) i * SHARE_ID_SIZE;
	}
	if (nown == 0)
		return false;
	if (nown < n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot compute on secrets stored in this transaction together with secret %s, stored before",
						secret_id_text(first)),
				 errdetail("The shareholders get the shares of this transaction's secrets when it commits."),
				 errhint("Compute after COMMIT.")));
	g = compute_evaluate_values(prog->bytes, prog->len, own_input_value, NULL, &ng);
	for (int i = 0; i < ng; i++)
	{
		memset(&out[i], 0, sizeof(ShareValue));
		out[i].type = g[i].type;
		out[i].field = SHARE_FIELD_PRIME;
		out[i].scale = (uint16) g[i].scale;
		out[i].fp = g[i].y;
	}
	compute_wipe(g, ng);
	return true;
}

int
compute_need(const SecretHandle *h)
{
	return Max(h->degree, 1) * (h->k - 1) + 1;
}

void
compute_gather_rebuild(const uint8 *program, size_t len, const uint8 *holders, int nholders,
					   int k, const int *need, ShareValue *out)
{
	Program		prog = {program, len};
	ProgramReader r;
	const uint8 *gid;
	uint32		rows;
	char		err[128];
	Wanted	   *w;
	int			ng = 0;

	if (!program_begin(&r, program, len, err, sizeof(err)))
		elog(ERROR, "ssn: a program built here is malformed: %s", err);
	{
		int			nin;
		uint8	   *in = program_inputs(&prog, &nin);

		for (int i = 0; i < nin; i++)
			audit_note(AUDIT_COMPUTE, in + (Size) i * SHARE_ID_SIZE);
		pfree(in);
	}
	if (evaluate_own_writes(&prog, out))
		return;
	w = palloc0_array(Wanted, Max(r.ngroups, 1));
	index_wanted(w, 0, r.ngroups);
	while (program_next_group(&r, &gid, &rows, err, sizeof(err)))
	{
		Wanted	   *t = &w[ng];

		memcpy(t->h.id, gid, SHARE_ID_SIZE);
		t->h.k = k;
		t->h.n = nholders;
		memcpy(t->h.holders, holders, nholders);
		t->h.computed = true;
		t->computed = true;
		t->need = need[ng];
		/* one more than needed, when there is one, to check the results agree */
		t->extra = nholders > need[ng] ? 1 : 0;
		index_add(w, ng);
		ng++;
		/* skip the rows: only the group headers matter here */
		for (uint32 i = 0; i < rows; i++)
		{
			SecretExpr	e;

			if (!program_next_row(&r, &e, err, sizeof(err)))
				elog(ERROR, "ssn: a program built here is malformed: %s", err);
		}
	}
	gather(w, ng, &prog);
	for (int g = 0; g < ng; g++)
		rebuild_wanted(&w[g], &out[g]);
}

/*
 * Rebuild m computed secrets: the shareholders evaluate them, one program per
 * set of shareholders (a peer is asked only about results it can compute).
 */
static void
retrieve_computed(SecretHandle *h, Datum *handles, int m, ShareValue *out)
{
	bool	   *done = palloc0(sizeof(bool) * Max(m, 1));
	int		   *members = palloc(sizeof(int) * Max(m, 1));
	int		   *need = palloc(sizeof(int) * Max(m, 1));

	for (int i = 0; i < m; i++)
	{
		StringInfoData prog;
		ShareValue *vals;
		int			nm = 0;

		if (done[i])
			continue;
		for (int j = i; j < m; j++)
			if (!done[j] && h[j].k == h[i].k && h[j].n == h[i].n &&
				memcmp(h[j].holders, h[i].holders, h[i].n) == 0)
			{
				members[nm++] = j;
				done[j] = true;
			}
		initStringInfo(&prog);
		enlargeStringInfo(&prog, PROGRAM_HEADER);
		program_put_header((uint8 *) prog.data, nm);
		prog.len = PROGRAM_HEADER;
		for (int g = 0; g < nm; g++)
		{
			SecretExpr	e;
			SecretHandle hh;
			uint8		gid[SHARE_ID_SIZE];

			handle_read_any(handles[members[g]], &hh, &e);
			randombytes_buf(gid, sizeof(gid));
			enlargeStringInfo(&prog, PROGRAM_GROUP_HEADER + expr_encoded_len(&e));
			program_put_group((uint8 *) prog.data + prog.len, gid, 1, 0, (uint8) h[i].k, (uint8) h[i].n);
			prog.len += PROGRAM_GROUP_HEADER;
			prog.len += expr_encode((uint8 *) prog.data + prog.len, &e);
			need[g] = compute_need(&h[members[g]]);
		}
		vals = palloc0(sizeof(ShareValue) * nm);
		compute_gather_rebuild((uint8 *) prog.data, prog.len, h[i].holders, h[i].n, h[i].k,
							   need, vals);
		for (int g = 0; g < nm; g++)
			out[members[g]] = vals[g];
		pfree(vals);
		pfree(prog.data);
	}
}

/*
 * A secret this transaction stored, which the caller may read: it acts for the
 * role that stored it, or was granted it (the catalog says; ERROR otherwise).
 * false: not stored by this transaction.
 */
static bool
own_write_readable(const uint8 *id)
{
	Oid			owner;

	if (!own_writes_find(id, &owner))
		return false;
	if (!has_privs_of_role(GetUserId(), owner))
	{
		PrivilegedScope priv;

		store_flush_pending();
		CommandCounterIncrement();
		catalog_begin_privileged(&priv);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetLatestSnapshot());
		check_access_ids(id, 1, priv.caller);
		PopActiveSnapshot();
		SPI_finish();
		catalog_end_privileged(&priv);
	}
	return true;
}

/* its value, once the caller may read it */
static bool
retrieve_own_write(const uint8 *id, ShareValue *v)
{
	return own_write_readable(id) && own_writes_get(id, v, NULL);
}

/* one handle, stored or computed, rebuilt */
static void
retrieve_one(Datum handle, ShareValue *v)
{
	Wanted	   *w = palloc0(sizeof(Wanted));

	if (handle_read_any(handle, &w->h, NULL))
	{
		retrieve_computed(&w->h, &handle, 1, v);
		return;
	}
	audit_note(AUDIT_RETRIEVE, w->h.id);
	if (retrieve_own_write(w->h.id, v))
		return;
	w->need = w->h.k;
	gather(w, 1, NULL);
	rebuild_wanted(w, v);
}

Datum
ssn_retrieve_text(PG_FUNCTION_ARGS)
{
	ShareValue	v;

	retrieve_one(PG_GETARG_DATUM(0), &v);
	PG_RETURN_TEXT_P(value_to_text_wiped(&v));
}

Datum
ssn_retrieve(PG_FUNCTION_ARGS)
{
	Oid			want;
	ShareValue	v;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	want = value_result_type_arg(fcinfo, 1);
	retrieve_one(PG_GETARG_DATUM(0), &v);
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
				nc = 0,
				i;
	Wanted	   *w;
	int		   *map;
	Datum	   *out;
	bool	   *outnull;
	int			dims[1],
				lbs[1] = {1};
	SecretHandle *ch;
	Datum	   *cd;
	int		   *cmap;
	text	  **texts;
	Datum	   *owntext;
	ShareValue	ownv;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("handles must be a one-dimensional array")));
	deconstruct_array(arr, ARR_ELEMTYPE(arr), -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	w = palloc0(sizeof(Wanted) * Max(count, 1));
	map = palloc(sizeof(int) * Max(count, 1));
	/* computed ones are evaluated apart: cmap[i] is the index of element i among them */
	ch = palloc(sizeof(SecretHandle) * Max(count, 1));
	cd = palloc(sizeof(Datum) * Max(count, 1));
	cmap = palloc(sizeof(int) * Max(count, 1));
	owntext = palloc0(sizeof(Datum) * Max(count, 1));
	index_wanted(w, 0, count);
	for (i = 0; i < count; i++)
	{
		SecretHandle h;
		Wanted	   *t;

		map[i] = cmap[i] = -1;
		if (nulls[i])
			continue;
		if (handle_read_any(elems[i], &h, NULL))
		{
			ch[nc] = h;
			cd[nc] = elems[i];
			cmap[i] = nc++;
			continue;
		}
		audit_note(AUDIT_RETRIEVE, h.id);
		if (retrieve_own_write(h.id, &ownv))
		{
			owntext[i] = PointerGetDatum(value_to_text_wiped(&ownv));
			continue;
		}
		t = find_wanted(w, nw, h.id);
		if (t == NULL)
		{
			t = &w[nw];
			t->h = h;
			t->need = h.k;
			index_add(w, nw);
			nw++;
		}
		map[i] = (int) (t - w);
	}
	if (nw > 0)
		gather(w, nw, NULL);
	out = palloc(sizeof(Datum) * Max(count, 1));
	outnull = palloc(sizeof(bool) * Max(count, 1));
	texts = palloc0(sizeof(text *) * Max(nw, 1));
	for (i = 0; i < nw; i++)
	{
		ShareValue	v;

		rebuild_wanted(&w[i], &v);
		texts[i] = value_to_text_wiped(&v);
	}
	if (nc > 0)
	{
		ShareValue *cv = palloc0(sizeof(ShareValue) * nc);

		retrieve_computed(ch, cd, nc, cv);
		for (i = 0; i < count; i++)
			if (cmap[i] >= 0)
				out[i] = PointerGetDatum(value_to_text_wiped(&cv[cmap[i]]));
	}
	for (i = 0; i < count; i++)
	{
		outnull[i] = map[i] < 0 && cmap[i] < 0 && owntext[i] == (Datum) 0;
		if (map[i] >= 0)
			out[i] = PointerGetDatum(texts[map[i]]);
		else if (owntext[i] != (Datum) 0)
			out[i] = owntext[i];
		else if (outnull[i])
			out[i] = (Datum) 0;
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
	/* a secret stored earlier in this transaction is still buffered */
	store_flush_new_secrets();
	memcpy(u->data, h.id, SHARE_ID_SIZE);
	values[0] = UUIDPGetDatum(u);
	values[1] = ObjectIdGetDatum(grantee);
	catalog_begin_privileged(&priv);
	values[2] = ObjectIdGetDatum(priv.caller);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* not read-only: it must see the rows a flush just wrote */
	rc = SPI_execute_with_args("SELECT pg_has_role($3, owner, 'USAGE') FROM ssn.secret WHERE id = $1",
							   3, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed == 0)
	{
		delete_report_if_deleted(values[0]);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret %s is not known on this node", secret_id_text(h.id))));
	}
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only the owner of secret %s can grant or revoke it", secret_id_text(h.id))));
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
	audit_note(grant ? AUDIT_GRANT : AUDIT_REVOKE, h.id);
	if (*changed)
		store_note_changed(h.id);
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

void
compute_check_inputs(const uint8 *program, size_t len, Oid role)
{
	Program		prog = {program, len};
	int			n;
	uint8	   *ids = program_inputs(&prog, &n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_access_ids(ids, n, role);
	SPI_finish();
	pfree(ids);
}

/*
 * ssn_verify(handle): the secret's signed commitments, and every shareholder's
 * share checked against them; one row per check, nothing rebuilt.
 */
Datum
ssn_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Wanted	   *w = palloc0(sizeof(Wanted));
	ShareholderList *cat;
	PrivilegedScope priv;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	const char *rec_problem = NULL;
	bool		fits[SHARE_MAX_N];
	bool		ambiguous = false;
	int			nfit = 0;
	bool		pending;

	if (handle_read_any(PG_GETARG_DATUM(0), &w->h, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ssn_verify() checks stored secrets, not computed ones"),
				 errhint("Verify each stored secret the expression uses.")));
	{
		Oid			owner;

		/* stored by this transaction: the peers get their shares at COMMIT */
		pending = own_writes_find(w->h.id, &owner);
	}
	InitMaterializedSRF(fcinfo, 0);
	audit_note(AUDIT_VERIFY, w->h.id);
	w->need = w->h.n;
	w->all = true;
	gather(w, 1, NULL);
	catalog_begin_privileged(&priv);
	cat = catalog_load();
	catalog_end_privileged(&priv);

	values[0] = CStringGetTextDatum("(commitments)");
	nulls[1] = true;
	values[2] = Int64GetDatum((int64) w->h.epoch);
	if (w->check != NULL)
	{
		rec_problem = check_record_problem(w->check, w->h.id);
		if (rec_problem == NULL)
		{
			nfit = check_find(w->check, w->shares, w->have, w->h.k, fits, &ambiguous);
			values[3] = CStringGetTextDatum(psprintf("valid: check value %s", check_record_describe(w->check)));
		}
		else
			values[3] = CStringGetTextDatum(psprintf("invalid: %s", rec_problem));
	}
	else if (w->record == NULL)
		values[3] = CStringGetTextDatum("not verifiable: stored without commitments");
	else
	{
		CommitRecord r;
		char		why[160];

		rec_problem = verify_record((uint8 *) VARDATA_ANY(w->record), VARSIZE_ANY_EXHDR(w->record),
									w->h.id, w->h.epoch);
		if (rec_problem == NULL &&
			commit_record_parse(&r, (uint8 *) VARDATA_ANY(w->record), VARSIZE_ANY_EXHDR(w->record), why, sizeof(why)))
			values[3] = CStringGetTextDatum(psprintf("valid: %s", signing_describe(r.signer, r.signed_at)));
		else
			values[3] = CStringGetTextDatum(psprintf("invalid: %s", rec_problem));
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	nulls[1] = false;

	for (int i = 0; i < w->h.n; i++)
	{
		int			x = w->h.holders[i];
		Shareholder *s = catalog_find_index(cat, x);
		const char *status = NULL;

		values[0] = CStringGetTextDatum(s ? s->name : "(no shareholder has this index)");
		values[1] = Int32GetDatum(x);
		for (int q = 0; q < w->have; q++)
		{
			ShareHeader sh;

			share_read_header(SHARE_BYTES(w->shares[q]), &sh);
			if (sh.x != x)
				continue;
			if (w->check != NULL)
				status = rec_problem ? "not checked: the check value is not valid" :
					w->have < w->h.k ? "not checked: fewer than k shares could be gathered" :
					nfit == 0 ? "not checked: no k of the shares open the signed check value" :
					ambiguous ? "not checked: the shares disagree, and too few agree to tell which are wrong" :
					fits[q] ? "valid" : "invalid: the share does not lie on the sharing that opens the signed check value";
			else if (w->record == NULL)
				status = "present (not verifiable)";
			else if (rec_problem)
				status = "not checked: the commitments are not valid";
			else
			{
				status = verify_one((uint8 *) VARDATA_ANY(w->record), VARSIZE_ANY_EXHDR(w->record),
									SHARE_BYTES(w->shares[q]), SHARE_SIZE(w->shares[q]));
				status = status ? psprintf("invalid: %s", status) : "valid";
			}
			sodium_memzero(VARDATA(w->shares[q]), VARSIZE(w->shares[q]) - VARHDRSZ);
		}
		if (status == NULL)
			status = pending ? "pending: it gets its share when this transaction commits" :
				"missing: the shareholder did not answer or holds no share of this epoch";
		values[3] = CStringGetTextDatum(status);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
