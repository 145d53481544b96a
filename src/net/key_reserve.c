/*
 * key_reserve.c - QKD keys set aside for replies (see key_reserve.h).
 *
 * One entry per peer link that asked for a reply lately, in shared memory: a
 * ring of whole keys of KEY_RESERVE_KEY_BITS with their IDs, oldest first.  A
 * backend that seals a reply takes what it needs under the spinlock (copies,
 * wipes the slots);
 * the node worker refills an entry that fell below three quarters, and stops refilling a link
 * nobody asked a reply of for a while (its keys stay until used or lost).
 */
#include "postgres.h"

#include <sodium.h>
#include <sys/mman.h>

#include "base/guc.h"
#include "base/preload.h"
#include "base/subxact.h"
#include "crypto/envelope.h"
#include "miscadmin.h"
#include "net/channel.h"
#include "net/key_reserve.h"
#include "net/reply_key_copies.h"
#include "net/worker.h"
#include "qkd/key_id_list.h"
#include "qkd/key_ledger.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#define RESERVE_KEYS		KEY_RESERVE_KEYS	/* per link: 170 replies of one int8 share */
/*
 * Refilled below three quarters: the refill and its announcement must reach the
 * asking node before the keys still there are used up (a reply under a key it
 * has no copy of yet waits for its KME and the ledger again).
 */
#define REFILL_BELOW		(RESERVE_KEYS * 3 / 4)
#define RESERVE_KEY_BYTES	(KEY_RESERVE_KEY_BITS / 8)
#define RESERVE_ID_MAXLEN	63		/* longer key IDs are not kept (the KME's UUIDs are 36) */
#define RESERVE_IDLE_MS		(10 * 60 * 1000)	/* no refill for a link idle this long */
#define RESERVE_RETRY_MS	(30 * 1000) /* after a failed refill */
#define ANNOUNCE_TIMEOUT_MS	5000		/* the worker waits this long for the peer's copies */
#define ANNOUNCE_RETRY_MS	(60 * 1000) /* no announcement to a peer that failed one */
#define DROP_EVERY_MS		(10 * 1000) /* a reserve is dropped at most this often */

typedef struct ReserveEntry
{
	char		peer[SSN_NAME_MAXLEN + 1];
	char		sae[SSN_SAE_ID_MAXLEN + 1];
	bool		unusable;		/* the link's key sizes exclude KEY_RESERVE_KEY_BITS */
	int			head;			/* the oldest key: taken first (the peer has had */
	int			count;			/* the most time to fetch its copy), count of them */
	TimestampTz last_asked;		/* a reply was sealed for the peer (or tried to) */
	TimestampTz retry_at;		/* after a failed refill */
	TimestampTz announce_at;	/* refills are announced again from then on (after a failure) */
	TimestampTz dropped_at;		/* the peer asked for fresh keys */
	uint64		generation;		/* new with the entry and each drop: announced with the IDs */
	char		ids[RESERVE_KEYS][RESERVE_ID_MAXLEN + 1];
} ReserveEntry;

typedef struct KeyReserve
{
	slock_t		mutex;
	int			nentries;
	ReserveEntry entries[SSN_MAX_PEERS];
} KeyReserve;

/* the key material of entry i, slot j: pages of their own (see material_init) */
typedef uint8 ReserveMaterial[SSN_MAX_PEERS][RESERVE_KEYS][RESERVE_KEY_BYTES];

static KeyReserve *reserve = NULL;
static void *material_raw = NULL;

#define MATERIAL_PAGE 4096
#define material() ((ReserveMaterial *) TYPEALIGN(MATERIAL_PAGE, material_raw))
#define KEY_AT(i, j) ((*material())[(i)][(j)])

static void
reserve_init(void *p)
{
	SpinLockInit(&((KeyReserve *) p)->mutex);
}

/*
 * In the postmaster, before any process forks: the pages that hold key material
 * are left out of core dumps (inherited by every child) and locked against swap
 * (the postmaster's lock keeps the shared pages resident), as far as the system
 * allows; neither failing stops the server.
 */
void
key_pages_protect(void *pages, size_t len, const char *what)
{
#ifdef MADV_DONTDUMP
	if (madvise(pages, len, MADV_DONTDUMP) != 0)
		ereport(LOG, (errmsg("ssn: %s: madvise(MADV_DONTDUMP) failed: %m", what)));
#endif
	if (mlock(pages, len) != 0)
		ereport(LOG, (errmsg("ssn: %s: mlock failed: %m", what),
					  errhint("Raise the memory lock limit (RLIMIT_MEMLOCK) of the server to keep reserved keys out of swap.")));
}

static void
material_init(void *p)
{
	key_pages_protect((void *) TYPEALIGN(MATERIAL_PAGE, p), sizeof(ReserveMaterial), "reply key reserve");
}

/* wipe entry i's keys (on the record as spent already), under the mutex: a new generation */
static void
entry_empty(int i, uint64 generation)
{
	sodium_memzero(KEY_AT(i, 0), sizeof((*material())[i]));
	reserve->entries[i].count = 0;
	reserve->entries[i].generation = generation;
}

/*
 * The entry of peer (created if room), under the mutex; NULL if no room.  A new
 * entry, or one whose peer has another SAE now, starts generation (drawn before
 * the mutex was taken).
 */
static ReserveEntry *
entry_of(const Shareholder *peer, uint64 generation)
{
	ReserveEntry *e;

	for (int i = 0; i < reserve->nentries; i++)
	{
		e = &reserve->entries[i];
		if (strcmp(e->peer, peer->name) != 0)
			continue;
		if (strcmp(e->sae, peer->sae_id) != 0)
		{
			/* the peer has another SAE now: its old keys are for nobody */
			entry_empty(i, generation);
			e->unusable = false;
			strlcpy(e->sae, peer->sae_id, sizeof(e->sae));
		}
		return e;
	}
	if (reserve->nentries == SSN_MAX_PEERS)
		return NULL;
	e = &reserve->entries[reserve->nentries++];
	memset(e, 0, sizeof(*e));
	e->generation = generation;
	strlcpy(e->peer, peer->name, sizeof(e->peer));
	strlcpy(e->sae, peer->sae_id, sizeof(e->sae));
	return e;
}

KmeKeyBatch *
key_reserve_take(const Shareholder *peer, size_t need_bytes)
{
	int			n = (int) ((need_bytes + RESERVE_KEY_BYTES - 1) / RESERVE_KEY_BYTES);
	KmeKeyBatch *b;
	ReserveEntry *e;
	uint64		generation;
	bool		wake;
	bool		taken = false;
	TimestampTz now;

	if (reserve == NULL || n > RESERVE_KEYS / 2 || strlen(peer->sae_id) > SSN_SAE_ID_MAXLEN)
		return NULL;
	/* allocated first: nothing may fail while the mutex is held */
	b = kme_batch_new(n, KEY_RESERVE_KEY_BITS);
	for (int i = 0; i < n; i++)
		b->keys[i].key_id = palloc(RESERVE_ID_MAXLEN + 1);

	now = GetCurrentTimestamp();
	randombytes_buf(&generation, sizeof(generation));
	SpinLockAcquire(&reserve->mutex);
	e = entry_of(peer, generation);
	if (e)
	{
		e->last_asked = now;
		if (!e->unusable && e->count >= n)
		{
			for (int i = 0; i < n; i++)
			{
				int			first = e->head;

				memcpy(b->keys[i].key, KEY_AT(e - reserve->entries, first), RESERVE_KEY_BYTES);
				sodium_memzero(KEY_AT(e - reserve->entries, first), RESERVE_KEY_BYTES);
				memcpy(b->keys[i].key_id, e->ids[first], RESERVE_ID_MAXLEN + 1);
				e->head = (e->head + 1) % RESERVE_KEYS;
				e->count--;
			}
			taken = true;
		}
	}
	wake = e != NULL && !e->unusable && e->count < REFILL_BELOW;
	SpinLockRelease(&reserve->mutex);

	if (wake)
		ssn_worker_wake();
	if (!taken)
	{
		kme_batch_free(b);
		return NULL;
	}
	return b;
}

void
key_reserve_drop(const Shareholder *peer)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		generation;

	if (reserve == NULL)
		return;
	randombytes_buf(&generation, sizeof(generation));
	SpinLockAcquire(&reserve->mutex);
	for (int i = 0; i < reserve->nentries; i++)
	{
		ReserveEntry *e = &reserve->entries[i];

		/* (a peer that asks again and again cannot make this node refill in a loop) */
		if (strcmp(e->peer, peer->name) != 0 ||
			!TimestampDifferenceExceeds(e->dropped_at, now, DROP_EVERY_MS))
			continue;
		entry_empty(i, generation);
		e->dropped_at = now;
	}
	SpinLockRelease(&reserve->mutex);
}

/* ---- the node worker's refill ---- */
typedef struct Refill
{
	int			entry;			/* entries are never removed: the index stays */
	char		peer[SSN_NAME_MAXLEN + 1];
	char		sae[SSN_SAE_ID_MAXLEN + 1];
	int			want;
	TimestampTz announce_at;
	uint64		generation;
} Refill;

/*
 * Tell the peer the IDs of keys set aside for replies to it, and wait for its
 * answer: it fetches its copies before any reply uses one of these keys (a reply
 * under a key it has not fetched yet would race its fetch at the KME).  In
 * clear: an ID is no secret (every envelope names its keys); only the MAC spends
 * key.  A peer that cannot be told gets the keys all the same, the slow way.
 */
typedef struct Announcement
{
	uint64		generation;
	const char *peer_name;
	const char *const *ids;
	int			n;
	bool		burnt;			/* the peer recorded them and could not fetch them */
} Announcement;

static void
announce(void *arg)
{
	Announcement *a = (Announcement *) arg;
	ShareholderList *cat = catalog_load();
	const Shareholder *to = NULL;
	uint8	   *list;
	size_t		len;
	char	   *status;
	char	   *error;

	for (int i = 0; i < cat->count; i++)
		if (strcmp(cat->items[i].name, a->peer_name) == 0 && !cat->items[i].is_self)
			to = &cat->items[i];
	if (to == NULL || cat->self < 0)
		return;					/* gone meanwhile */
	list = palloc(KEY_ID_LIST_BOUND(a->n));
	len = key_id_list_write(list, KEY_RESERVE_KEY_BITS, a->generation, a->ids, a->n);
	if (len == 0)
		return;					/* (IDs the KME sent twice in one answer) */
	status = channel_send_now_within(cat->items[cat->self].name, to, MSG_KIND_REPLY_KEYS, list, len,
									 "deliver", Min(ssn_peer_timeout_ms, ANNOUNCE_TIMEOUT_MS), &error);
	if (status == NULL)
		elog(ERROR, "%s", error);
	if (strncmp(status, REPLY_KEYS_BURNT, strlen(REPLY_KEYS_BURNT)) == 0)
	{
		a->burnt = true;
		elog(ERROR, "%s", status);
	}
}

/* fetch, record as spent (committed), announce, then offer: in a transaction of the worker */
static void
refill_one(void *arg)
{
	Refill	   *r = (Refill *) arg;
	int			min_bits,
				max_bits,
				max_req;
	KmeKeyBatch *b;
	LedgerEntries le;
	const char **ids;
	Announcement a;
	ErrorData  *ed;
	int			n = r->want;

	kme_link_limits(r->sae, &min_bits, &max_bits, &max_req);
	if (KEY_RESERVE_KEY_BITS < min_bits || KEY_RESERVE_KEY_BITS > max_bits)
	{
		SpinLockAcquire(&reserve->mutex);
		reserve->entries[r->entry].unusable = true;
		SpinLockRelease(&reserve->mutex);
		return;
	}
	b = kme_get_enc_keys(r->sae, n, KEY_RESERVE_KEY_BITS);
	ids = palloc(sizeof(char *) * b->nkeys);
	for (int i = 0; i < b->nkeys; i++)
		ids[i] = b->keys[i].key_id;
	le.direction = LEDGER_SEND;
	le.peer = r->peer;
	le.peer_sae = r->sae;
	le.purpose = "reply reserve";
	le.size_bits = KEY_RESERVE_KEY_BITS;
	le.nids = b->nkeys;
	le.key_ids = ids;
	ledger_record_settled(&le, 1, "used");

	/*
	 * A peer that does not answer in time (or lies) holds up this worker once a
	 * minute at most: its refills go unannounced meanwhile.
	 */
	if (GetCurrentTimestamp() >= r->announce_at)
	{
		a.peer_name = r->peer;
		a.ids = ids;
		a.n = b->nkeys;
		a.burnt = false;
		a.generation = r->generation;
		ed = try_in_subxact(announce, &a);
		if (ed)
		{
			ereport(LOG,
					(errmsg("ssn: peer \"%s\" was not told of the keys set aside for its replies: %s",
							r->peer, ed->message ? ed->message : "error"),
					 errdetail("Its retrievals fetch these keys when the replies come; the next minute's refills are not announced.")));
			FreeErrorData(ed);
			SpinLockAcquire(&reserve->mutex);
			reserve->entries[r->entry].announce_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ANNOUNCE_RETRY_MS);
			SpinLockRelease(&reserve->mutex);
			if (a.burnt)
			{
				/* spent on both records; the next refill goes unannounced, the slow way */
				kme_batch_free(b);
				return;
			}
		}
	}

	SpinLockAcquire(&reserve->mutex);
	{
		ReserveEntry *e = &reserve->entries[r->entry];

		/* (a peer whose SAE changed, or that asked for fresh keys meanwhile, gets none: spent all the same) */
		for (int k = 0; k < b->nkeys && e->count < RESERVE_KEYS && strcmp(e->sae, r->sae) == 0 &&
			 e->generation == r->generation; k++)
		{
			int			last = (e->head + e->count) % RESERVE_KEYS;

			if (strlen(b->keys[k].key_id) > RESERVE_ID_MAXLEN)
				continue;		/* spent all the same */
			strlcpy(e->ids[last], b->keys[k].key_id, RESERVE_ID_MAXLEN + 1);
			memcpy(KEY_AT(r->entry, last), b->keys[k].key, RESERVE_KEY_BYTES);
			e->count++;
		}
	}
	SpinLockRelease(&reserve->mutex);
	kme_batch_free(b);
}

static long
refill_pass(void)
{
	Refill		todo[SSN_MAX_PEERS];
	int			ntodo = 0;
	TimestampTz now = GetCurrentTimestamp();
	long		due = -1;

	if (reserve == NULL)
		return -1;
	SpinLockAcquire(&reserve->mutex);
	for (int i = 0; i < reserve->nentries; i++)
	{
		ReserveEntry *e = &reserve->entries[i];

		if (e->unusable || e->count >= REFILL_BELOW ||
			TimestampDifferenceExceeds(e->last_asked, now, RESERVE_IDLE_MS))
			continue;
		if (e->retry_at > now)
		{
			long		wait = TimestampDifferenceMilliseconds(now, e->retry_at);

			due = due < 0 ? wait : Min(due, wait);
			continue;
		}
		todo[ntodo].entry = i;
		strlcpy(todo[ntodo].peer, e->peer, sizeof(todo[ntodo].peer));
		strlcpy(todo[ntodo].sae, e->sae, sizeof(todo[ntodo].sae));
		todo[ntodo].want = RESERVE_KEYS - e->count;
		todo[ntodo].announce_at = e->announce_at;
		todo[ntodo].generation = e->generation;
		ntodo++;
	}
	SpinLockRelease(&reserve->mutex);

	for (int i = 0; i < ntodo; i++)
	{
		char		err[256];

		if (worker_guarded(refill_one, &todo[i], err, sizeof(err), NULL))
			continue;
		/* replies go the slow way meanwhile; the delivery path alarms a KME fault */
		SpinLockAcquire(&reserve->mutex);
		reserve->entries[todo[i].entry].retry_at = TimestampTzPlusMilliseconds(now, RESERVE_RETRY_MS);
		SpinLockRelease(&reserve->mutex);
		due = due < 0 ? RESERVE_RETRY_MS : Min(due, RESERVE_RETRY_MS);
	}
	return due;
}

void
key_reserve_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		preload_shmem_struct("ssn reply key reserve", sizeof(KeyReserve), (void **) &reserve, reserve_init);
		preload_shmem_struct("ssn reply key material", sizeof(ReserveMaterial) + MATERIAL_PAGE,
							 &material_raw, material_init);
	}
	worker_pass_register("reply key reserve", refill_pass, WORKER_PASS_EVERY_LOOP);
}
