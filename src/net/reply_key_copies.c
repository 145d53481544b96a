/*
 * reply_key_copies.c - see reply_key_copies.h.
 *
 * One entry per peer (and database) in shared memory: twice as many slots as the
 * peer keeps keys for this node, room for its whole reserve and the keys of
 * replies still on their way.  Only when a peer announces more than that (it
 * restarted, or dropped its reserve, and its old keys will never come) are the
 * oldest copies pushed out, settled 'discarded'.  A copy whose ledger row stays
 * 'fetched' while no slot holds it (an error between taking and settling it) is
 * settled 'lost' by the node worker's pass (reconcile_pass).
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "base/preload.h"
#include "base/spi_run.h"
#include "base/subxact.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "net/channel.h"
#include "net/key_reserve.h"
#include "net/message_kind.h"
#include "net/reply_key_copies.h"
#include "net/worker.h"
#include "qkd/key_id_list.h"
#include "qkd/key_ledger.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define COPY_SLOTS	(2 * KEY_RESERVE_KEYS)
#define RECONCILE_MS	(60 * 1000)
#define RECONCILE_AGE_S	120			/* older than any fetch still under way */
#define COPY_BYTES	(KEY_RESERVE_KEY_BITS / 8)

typedef struct CopySlot
{
	bool		held;
	uint64		hash;			/* of id: the scan under the spinlock compares these first */
	uint64		seq;			/* order of arrival: the oldest is pushed out first */
	KeyIdText	id;
} CopySlot;

typedef struct CopyEntry
{
	Oid			dboid;			/* the ledger the copies are on */
	char		peer[SSN_NAME_MAXLEN + 1];
	char		sae[SSN_SAE_ID_MAXLEN + 1];
	uint64		next_seq;
	uint64		generation;		/* of the peer's reserve the copies are of */
	CopySlot	slots[COPY_SLOTS];
} CopyEntry;

typedef struct KeyCopies
{
	slock_t		mutex;
	int			nentries;
	CopyEntry	entries[SSN_MAX_PEERS];
} KeyCopies;

typedef uint8 CopyMaterial[SSN_MAX_PEERS][COPY_SLOTS][COPY_BYTES];

static KeyCopies *copies = NULL;
static void *material_raw = NULL;

#define MATERIAL_PAGE 4096
#define material() ((CopyMaterial *) TYPEALIGN(MATERIAL_PAGE, material_raw))
#define KEY_AT(i, j) ((*material())[(i)][(j)])

static void
copies_init(void *p)
{
	SpinLockInit(&((KeyCopies *) p)->mutex);
}

static void
material_init(void *p)
{
	key_pages_protect((void *) TYPEALIGN(MATERIAL_PAGE, p), sizeof(CopyMaterial), "reply key copies");
}

static uint64
id_hash(const char *id)
{
	return hash_bytes_extended((const unsigned char *) id, (int) strlen(id), 0);
}

/* wipe every copy of entry e (under the mutex), their IDs appended to out */
static void
drop_copies(CopyEntry *e, KeyIdText *out, int *nout)
{
	for (int j = 0; j < COPY_SLOTS; j++)
		if (e->slots[j].held)
		{
			memcpy(out[(*nout)++], e->slots[j].id, sizeof(KeyIdText));
			e->slots[j].held = false;
		}
	sodium_memzero(KEY_AT(e - copies->entries, 0), sizeof((*material())[0]));
}

/*
 * The entry of the peer under the mutex, or NULL.  To create (if there is room),
 * out gets the IDs of copies wiped because the peer has another SAE now (its old
 * keys are of no link it has): room for COPY_SLOTS.
 */
static CopyEntry *
entry_of(const Shareholder *peer, KeyIdText *out, int *nout)
{
	CopyEntry  *e;

	for (int i = 0; i < copies->nentries; i++)
	{
		e = &copies->entries[i];
		if (e->dboid != MyDatabaseId || strcmp(e->peer, peer->name) != 0)
			continue;
		if (strcmp(e->sae, peer->sae_id) == 0)
			return e;
		if (out == NULL)
			return NULL;
		drop_copies(e, out, nout);
		strlcpy(e->sae, peer->sae_id, sizeof(e->sae));
		return e;
	}
	if (out == NULL || copies->nentries == SSN_MAX_PEERS)
		return NULL;
	e = &copies->entries[copies->nentries++];
	memset(e, 0, sizeof(*e));
	e->dboid = MyDatabaseId;
	strlcpy(e->peer, peer->name, sizeof(e->peer));
	strlcpy(e->sae, peer->sae_id, sizeof(e->sae));
	return e;
}

/* copies of this peer's keys can be kept: it has an entry, or there is room for one */
static bool
has_room(const Shareholder *peer)
{
	bool		room;

	SpinLockAcquire(&copies->mutex);
	room = copies->nentries < SSN_MAX_PEERS;
	for (int i = 0; i < copies->nentries && !room; i++)
		room = copies->entries[i].dboid == MyDatabaseId && strcmp(copies->entries[i].peer, peer->name) == 0;
	SpinLockRelease(&copies->mutex);
	return room;
}

KmeKeyBatch *
reply_key_copies_take(const Shareholder *sender, const EnvelopeView *v, char **ids)
{
	KmeKeyBatch *b;
	CopyEntry  *e;
	int			at[COPY_SLOTS];
	uint64		h[COPY_SLOTS];
	int			found = 0;

	if (copies == NULL || v->key_bits != KEY_RESERVE_KEY_BITS || v->nkeys > COPY_SLOTS)
		return NULL;
	/* allocated first: nothing may fail while the mutex is held */
	b = kme_batch_new(v->nkeys, KEY_RESERVE_KEY_BITS);
	for (int i = 0; i < v->nkeys; i++)
	{
		b->keys[i].key_id = pstrdup(ids[i]);
		h[i] = id_hash(ids[i]);
	}

	SpinLockAcquire(&copies->mutex);
	e = entry_of(sender, NULL, NULL);
	for (int i = 0; e != NULL && i < v->nkeys && found == i; i++)
		for (int j = 0; j < COPY_SLOTS; j++)
			if (e->slots[j].held && e->slots[j].hash == h[i] && strcmp(e->slots[j].id, ids[i]) == 0)
			{
				at[found++] = j;
				break;
			}
	if (e != NULL && found == v->nkeys)
	{
		int			ei = e - copies->entries;

		for (int i = 0; i < found; i++)
		{
			memcpy(b->keys[i].key, KEY_AT(ei, at[i]), COPY_BYTES);
			sodium_memzero(KEY_AT(ei, at[i]), COPY_BYTES);
			e->slots[at[i]].held = false;
		}
	}
	SpinLockRelease(&copies->mutex);

	if (e == NULL || found != v->nkeys)
	{
		kme_batch_free(b);
		return NULL;
	}
	return b;
}

bool
reply_key_copies_lost(char **ids, int n)
{
	/* fetched ahead and not used here: the copies went with a restart, or never came */
	return ledger_received_unused((const char *const *) ids, n, REPLY_KEYS_AHEAD_PURPOSE);
}

/* ---- a peer's announcement ---- */
typedef struct FetchArgs
{
	const char *sae;
	const char *const *ids;
	int			n;
	KmeKeyBatch *batch;
} FetchArgs;

static void
fetch_fn(void *arg)
{
	FetchArgs  *a = (FetchArgs *) arg;

	a->batch = kme_get_dec_keys(a->sae, a->ids, a->n, KEY_RESERVE_KEY_BITS);
}

/*
 * The copies into the sender's ring; returns how many were kept, the IDs pushed
 * out in out (room for COPY_SLOTS + the batch's keys)
 */
static int
keep(const Shareholder *sender, uint64 generation, KmeKeyBatch *b, KeyIdText *out, int *nout)
{
	CopyEntry  *e;
	int			kept = 0;
	uint64	   *h = palloc(sizeof(uint64) * Max(b->nkeys, 1));
	int		   *freeslot = palloc(sizeof(int) * Max(b->nkeys, 1));

	for (int k = 0; k < b->nkeys; k++)
		h[k] = id_hash(b->keys[k].key_id);
	*nout = 0;
	SpinLockAcquire(&copies->mutex);
	e = entry_of(sender, out, nout);
	if (e != NULL && e->generation != generation)
	{
		/* the peer started again, or dropped its reserve: it will use none of these */
		drop_copies(e, out, nout);
		e->generation = generation;
	}
	if (e != NULL)
	{
		int			ei = e - copies->entries;
		int			nfree = 0;

		/* the free slots in one pass; only beyond them the oldest copies go */
		for (int j = 0; j < COPY_SLOTS && nfree < b->nkeys; j++)
			if (!e->slots[j].held)
				freeslot[nfree++] = j;
		for (int k = 0; k < b->nkeys; k++)
		{
			int			at;
			CopySlot   *s;

			if (k < nfree)
				at = freeslot[k];
			else
			{
				at = 0;
				for (int j = 1; j < COPY_SLOTS; j++)
					if (e->slots[j].seq < e->slots[at].seq)
						at = j;
				/* (the buffer was allocated before: nothing may fail here) */
				memcpy(out[(*nout)++], e->slots[at].id, sizeof(KeyIdText));
				sodium_memzero(KEY_AT(ei, at), COPY_BYTES);
			}
			s = &e->slots[at];
			strlcpy(s->id, b->keys[k].key_id, sizeof(s->id));
			s->hash = h[k];
			s->seq = ++e->next_seq;
			memcpy(KEY_AT(ei, at), b->keys[k].key, COPY_BYTES);
			s->held = true;
			kept++;
		}
	}
	SpinLockRelease(&copies->mutex);
	return kept;
}

/*
 * A peer announces keys of its own link only: dec_keys asks for them from its
 * SAE, and the KME refuses an ID of another link (settled 'lost' here, no key
 * spent).  An ID the ledger has already, of any link, is left out first.  A
 * lying peer that saw another peer's announcement on its way here and names
 * its IDs first gets them settled 'lost' under its own name: that peer's
 * announcement then keeps nothing, and its replies under those keys are asked
 * for again under fresh keys (they are never taken for a replay, nor blamed).
 * Announcements beyond the room for copies are not recorded at all.
 */
static bool
reply_keys_receive(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	KeyIdText  *ids = palloc(sizeof(KeyIdText) * KEY_ID_LIST_MAX);
	const char **idp;
	const char **ok;
	KeyIdText  *pushed;
	LedgerEntries e;
	char	   *refused;
	uint32		bits;
	uint64		generation;
	int			n,
				nok = 0,
				npushed,
				kept;
	FetchArgs	a;
	ErrorData  *ed;
	int			holder_pid;
	TimestampTz holder_start;

	if (!key_id_list_parse(m->pt, m->len, &bits, &generation, &n, ids, why, whylen))
		return false;
	if (bits != KEY_RESERVE_KEY_BITS)
	{
		snprintf(why, whylen, "keys of %u bits; replies are set aside in keys of %d bits",
				 bits, KEY_RESERVE_KEY_BITS);
		return false;
	}
	if (copies == NULL || !ledger_server_holder(&holder_pid, &holder_start))
	{
		out->reply = psprintf("kept 0 of %d reply keys: ssn is not in shared_preload_libraries here", n);
		return true;
	}
	if (!has_room(m->sender))
	{
		out->reply = psprintf("kept 0 of %d reply keys: copies of %d peers are kept already", n, SSN_MAX_PEERS);
		return true;
	}

	/*
	 * On the record first.  An ID the ledger has already (a reply came under it
	 * before this announcement) is left out; one recorded meanwhile refuses the
	 * lot, which then comes the slow way.
	 */
	idp = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		idp[i] = ids[i];
	ok = palloc(sizeof(char *) * n);
	nok = ledger_unrecorded(idp, n, ok);
	if (nok == 0)
	{
		out->reply = psprintf("kept 0 of %d reply keys: the key ledger has every ID already", n);
		return true;
	}
	e.direction = LEDGER_RECEIVE;
	e.peer = m->sender->name;
	e.peer_sae = m->sender->sae_id;
	e.purpose = REPLY_KEYS_AHEAD_PURPOSE;
	e.size_bits = KEY_RESERVE_KEY_BITS;
	e.nids = nok;
	e.key_ids = ok;
	refused = NULL;
	ledger_record_server_held(&e, 1, &refused);
	if (refused)
	{
		out->reply = psprintf("kept 0 of %d reply keys: %s", n, refused);
		return true;
	}

	a.sae = m->sender->sae_id;
	a.ids = ok;
	a.n = nok;
	a.batch = NULL;
	ed = try_in_subxact(fetch_fn, &a);
	if (ed)
	{
		/* the KME may have handed them out all the same: burnt */
		ledger_finish_server_held(ok, nok, "lost");
		out->reply = psprintf("%s %d reply keys: %s", REPLY_KEYS_BURNT, nok, ed->message ? ed->message : "KME error");
		FreeErrorData(ed);
		return true;
	}
	pushed = palloc(sizeof(KeyIdText) * (COPY_SLOTS + a.batch->nkeys));
	kept = keep(m->sender, generation, a.batch, pushed, &npushed);
	kme_batch_free(a.batch);
	if (kept < nok)
		ledger_finish_server_held(ok + kept, nok - kept, "discarded");	/* no room for the peer */
	if (npushed > 0)
	{
		const char **pp = palloc(sizeof(char *) * npushed);

		for (int i = 0; i < npushed; i++)
			pp[i] = pushed[i];
		ledger_finish_server_held(pp, npushed, "discarded");
	}
	out->items = kept;
	out->reply = psprintf("kept %d of %d reply keys", kept, n);
	return true;
}

/* ---- the node worker's pass: rows of copies no slot holds any more ---- */
static int
cmp_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a,
				y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* the row's ID is held (its hash among the sorted held ones; a hash match counts) */
static bool
held_hash(const uint64 *held, int nheld, const char *id)
{
	uint64		h = id_hash(id);

	return bsearch(&h, held, nheld, sizeof(uint64), cmp_uint64) != NULL;
}

static void
reconcile(void *arg)
{
	uint64	   *held = palloc(sizeof(uint64) * SSN_MAX_PEERS * COPY_SLOTS);
	int			nheld = 0;
	char	  **ids;
	const char **lost;
	int			n,
				nlost = 0;

	if (!ssn_table_exists("key_ledger"))
		return;
	SpinLockAcquire(&copies->mutex);
	for (int i = 0; i < copies->nentries; i++)
		if (copies->entries[i].dboid == MyDatabaseId)
			for (int j = 0; j < COPY_SLOTS; j++)
				if (copies->entries[i].slots[j].held)
					held[nheld++] = copies->entries[i].slots[j].hash;
	SpinLockRelease(&copies->mutex);
	qsort(held, nheld, sizeof(uint64), cmp_uint64);

	/* rows recorded after the copies were listed are young: left to the next pass */
	ids = ledger_server_held(REPLY_KEYS_AHEAD_PURPOSE, RECONCILE_AGE_S, &n);
	lost = palloc(sizeof(char *) * Max(n, 1));
	for (int r = 0; r < n; r++)
		if (!held_hash(held, nheld, ids[r]))
			lost[nlost++] = ids[r];
	if (nlost > 0)
	{
		ereport(LOG,
				(errmsg("ssn: %d copies of reply keys on the record are held no more: settled as lost", nlost)));
		ledger_finish_server_held(lost, nlost, "lost");
	}
}

static long
reconcile_pass(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	char		err[256];

	if (copies == NULL)
		return -1;
	if (last != 0 && !TimestampDifferenceExceeds(last, now, RECONCILE_MS))
		return TimestampDifferenceMilliseconds(now, TimestampTzPlusMilliseconds(last, RECONCILE_MS));
	last = now;
	(void) worker_guarded(reconcile, NULL, err, sizeof(err), NULL);
	return RECONCILE_MS;
}

/* ssn.reply_key_copies(): the copies held per peer, for the DBA and the tests */
PG_FUNCTION_INFO_V1(ssn_reply_key_copies);

Datum
ssn_reply_key_copies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		(*names)[SSN_NAME_MAXLEN + 1];
	int		   *held;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (copies == NULL)
		PG_RETURN_VOID();
	names = palloc(sizeof(*names) * SSN_MAX_PEERS);
	held = palloc0(sizeof(int) * SSN_MAX_PEERS);
	SpinLockAcquire(&copies->mutex);
	for (int i = 0; i < copies->nentries; i++)
	{
		if (copies->entries[i].dboid != MyDatabaseId)
			continue;
		memcpy(names[n], copies->entries[i].peer, sizeof(names[n]));
		for (int j = 0; j < COPY_SLOTS; j++)
			held[n] += copies->entries[i].slots[j].held ? 1 : 0;
		n++;
	}
	SpinLockRelease(&copies->mutex);
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(names[i]);
		values[1] = Int32GetDatum(held[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

void
reply_key_copies_init(void)
{
	static const MessageKind reply_keys = {
		.kind = MSG_KIND_REPLY_KEYS,
		.handle = reply_keys_receive,
		.flags = MESSAGE_SEEN_AFTER,
		.what = "reply key IDs",
		.refusal = "an announcement of reply keys this node cannot read",
		.duplicate = "duplicate message, reply keys handled before",
		.touches = "ssn.key_ledger (autonomously), shared memory",
		.batch_at = message_all_clear,
	};

	if (process_shared_preload_libraries_in_progress)
	{
		preload_shmem_struct("ssn reply key copies", sizeof(KeyCopies), (void **) &copies, copies_init);
		preload_shmem_struct("ssn reply key copy material", sizeof(CopyMaterial) + MATERIAL_PAGE,
							 &material_raw, material_init);
	}
	message_kind_register(&reply_keys);
	worker_pass_register("reply key copies", reconcile_pass, WORKER_PASS_EVERY_LOOP);
}
