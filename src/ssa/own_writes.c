/*
 * own_writes.c - the values this transaction stored, kept by the SSA until the
 * transaction ends, so that it reads its own writes: its holders get their shares
 * only after COMMIT, but SQL users expect a row they just wrote to read back.
 * The SSA sees each value while it handles it anyway (Y.3808 §12.1); the copies
 * live in backend memory only, are wiped when the transaction (or the savepoint
 * that stored them) ends, and stop being kept past OWN_WRITES_MAX_BYTES (a
 * retrieval of those says to retrieve after COMMIT).
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "share/share_format.h"
#include "ssa/own_writes.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#define OWN_WRITES_MAX_BYTES (64 * 1024 * 1024)

typedef struct OwnWrite
{
	uint8		id[SHARE_ID_SIZE];	/* hash key */
	SubTransactionId subid;
	Oid			owner;
	int			k;
	ShareValue	v;				/* bytes: a copy in the context below */
} OwnWrite;

static HTAB *own = NULL;
static MemoryContext own_cxt = NULL;
static size_t own_bytes = 0;
static bool callbacks = false;

static void
wipe_entry(OwnWrite *e)
{
	if (e->v.bytes)
	{
		sodium_memzero(e->v.bytes, e->v.len);
		pfree(e->v.bytes);
	}
	sodium_memzero(&e->v, sizeof(e->v));
}

static void
forget_all(void)
{
	HASH_SEQ_STATUS s;
	OwnWrite   *e;

	if (own == NULL)
		return;
	hash_seq_init(&s, own);
	while ((e = hash_seq_search(&s)) != NULL)
		wipe_entry(e);
	/* the context (and the table in it) goes with TopTransactionContext */
	own = NULL;
	own_cxt = NULL;
	own_bytes = 0;
}

static void
own_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		forget_all();
}

/* a savepoint rolled back: its values (and its children's, with later ids) were never stored */
static void
own_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS s;
	OwnWrite   *e;

	if (event != SUBXACT_EVENT_ABORT_SUB || own == NULL)
		return;
	hash_seq_init(&s, own);
	while ((e = hash_seq_search(&s)) != NULL)
		if (e->subid >= mySubid)
		{
			own_bytes -= e->v.len + sizeof(OwnWrite);
			wipe_entry(e);
			(void) hash_search(own, e->id, HASH_REMOVE, NULL);
		}
}

void
own_writes_keep(const uint8 *id, int k, const ShareValue *v)
{
	OwnWrite   *e;
	bool		found;

	if (own_bytes + v->len + sizeof(OwnWrite) > OWN_WRITES_MAX_BYTES)
		return;
	if (!callbacks)
	{
		RegisterXactCallback(own_xact_callback, NULL);
		RegisterSubXactCallback(own_subxact_callback, NULL);
		callbacks = true;
	}
	if (own == NULL)
	{
		HASHCTL		ctl;

		own_cxt = AllocSetContextCreate(TopTransactionContext, "ssn own writes", ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = SHARE_ID_SIZE;
		ctl.entrysize = sizeof(OwnWrite);
		ctl.hcxt = own_cxt;
		own = hash_create("ssn own writes", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(own, id, HASH_ENTER, &found);
	if (found)
		wipe_entry(e);
	e->subid = GetCurrentSubTransactionId();
	e->owner = GetUserId();
	e->k = k;
	e->v = *v;
	e->v.block = NULL;
	e->v.block_len = 0;
	e->v.bytes = NULL;
	if (v->len > 0 && v->bytes)
	{
		e->v.bytes = MemoryContextAlloc(own_cxt, v->len);
		memcpy(e->v.bytes, v->bytes, v->len);
	}
	own_bytes += v->len + sizeof(OwnWrite);
}

bool
own_writes_any(void)
{
	return own != NULL;
}

bool
own_writes_find(const uint8 *id, Oid *owner)
{
	OwnWrite   *e;

	if (own == NULL || (e = hash_search(own, id, HASH_FIND, NULL)) == NULL)
		return false;
	*owner = e->owner;
	return true;
}

bool
own_writes_get(const uint8 *id, ShareValue *out, int *k)
{
	OwnWrite   *e;

	if (own == NULL || (e = hash_search(own, id, HASH_FIND, NULL)) == NULL)
		return false;
	*out = e->v;
	out->bytes = NULL;
	out->block = NULL;
	out->block_len = 0;
	if (e->v.len > 0 && e->v.bytes)
	{
		/* a copy the caller owns (value_wipe frees it), as a varlena a result can take over */
		out->block_len = VARHDRSZ + e->v.len;
		out->block = palloc(out->block_len);
		SET_VARSIZE(out->block, out->block_len);
		out->bytes = (uint8 *) VARDATA(out->block);
		memcpy(out->bytes, e->v.bytes, e->v.len);
	}
	if (k)
		*k = e->k;
	return true;
}
