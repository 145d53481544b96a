/*
 * store_policy.c - ssn.store_policy enforced at every store.  A row names a role
 * (and so every member of it) or, with role NULL, every role of this database;
 * of the rows that apply, the strictest holds, and a refusal names the row
 * that caused it.  A superuser is bound only by the rows of roles it is really
 * a member of: it administers the policy.  The quota counts the secrets the
 * storing role owns (ssn.secret), once per transaction, then this
 * transaction's stores; concurrent transactions may each take the last place.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "storage/proc.h"
#include "ssa/store_policy.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ssn_store_policy);

#define EVERY_ROLE "public"

typedef struct TypeList
{
	const char *from;			/* the row's role, or EVERY_ROLE */
	int			ntypes;
	Oid		   *types;
} TypeList;

struct StorePolicy
{
	Oid			role;			/* loaded for */
	int			nrows;
	const char **from;			/* every row that applies */
	int			min_k;			/* 0: none */
	const char *min_k_from;
	int			min_n;
	const char *min_n_from;
	int			max_n;
	const char *max_n_from;
	bool		verify_required;
	const char *verify_from;
	int			nlists;
	TypeList   *lists;
	int64		max_secrets;	/* -1: none */
	const char *quota_from;
	int64		max_key_bytes;	/* a day; -1: none */
	const char *key_quota_from;
	int64		key_bytes_today;	/* spent when first counted, -1 until then */
	int64		max_value_bytes;	/* stored a day; -1: none */
	const char *bytes_quota_from;
	int64		value_bytes_today;	/* when first counted, -1 until then */
	int64		value_bytes_here;	/* let through since */
	int64		secrets;		/* owned when first counted, -1 until then */
	int64		stored_here;	/* let through since */
};

static char *
describe_row(const char *from)
{
	return strcmp(from, EVERY_ROLE) == 0 ? pstrdup("the store policy of every role")
		: psprintf("the store policy of role \"%s\"", from);
}

StorePolicy *
store_policy_load(void)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			user = GetUserId();
	StorePolicy *p = NULL;
	PrivilegedScope ps;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT role::oid, min_k, min_n, max_n, verify_required, allowed_types::oid[],"
					" max_secrets, max_key_bytes_per_day, max_bytes_per_day FROM ssn.store_policy"
					" ORDER BY role NULLS FIRST",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.store_policy");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		v;
		Oid			role = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		const char *from;
		MemoryContext spi;

		if (!isnull && !is_member_of_role_nosuper(user, role))
			continue;
		spi = MemoryContextSwitchTo(caller);
		if (p == NULL)
		{
			p = palloc0(sizeof(StorePolicy));
			p->role = user;
			p->from = palloc(sizeof(char *) * SPI_processed);
			p->lists = palloc(sizeof(TypeList) * SPI_processed);
			p->max_secrets = -1;
			p->secrets = -1;
			p->max_key_bytes = -1;
			p->key_bytes_today = -1;
			p->max_value_bytes = -1;
			p->value_bytes_today = -1;
		}
		if (isnull)
			from = EVERY_ROLE;
		else
		{
			char	   *name = GetUserNameFromId(role, true);

			from = name ? name : psprintf("%u", role);
		}
		p->from[p->nrows++] = from;
		v = SPI_getbinval(t, d, 2, &isnull);
		if (!isnull && DatumGetInt32(v) > p->min_k)
		{
			p->min_k = DatumGetInt32(v);
			p->min_k_from = from;
		}
		v = SPI_getbinval(t, d, 3, &isnull);
		if (!isnull && DatumGetInt32(v) > p->min_n)
		{
			p->min_n = DatumGetInt32(v);
			p->min_n_from = from;
		}
		v = SPI_getbinval(t, d, 4, &isnull);
		if (!isnull && (p->max_n == 0 || DatumGetInt32(v) < p->max_n))
		{
			p->max_n = DatumGetInt32(v);
			p->max_n_from = from;
		}
		v = SPI_getbinval(t, d, 5, &isnull);
		if (!isnull && DatumGetBool(v) && !p->verify_required)
		{
			p->verify_required = true;
			p->verify_from = from;
		}
		v = SPI_getbinval(t, d, 6, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypePCopy(v);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			TypeList   *l = &p->lists[p->nlists++];

			deconstruct_array(a, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &nulls, &n);
			l->from = from;
			l->ntypes = 0;
			l->types = palloc(sizeof(Oid) * Max(n, 1));
			for (int i = 0; i < n; i++)
				if (!nulls[i])
					l->types[l->ntypes++] = DatumGetObjectId(elems[i]);
		}
		v = SPI_getbinval(t, d, 7, &isnull);
		if (!isnull && (p->max_secrets < 0 || DatumGetInt64(v) < p->max_secrets))
		{
			p->max_secrets = DatumGetInt64(v);
			p->quota_from = from;
		}
		v = SPI_getbinval(t, d, 8, &isnull);
		if (!isnull && (p->max_key_bytes < 0 || DatumGetInt64(v) < p->max_key_bytes))
		{
			p->max_key_bytes = DatumGetInt64(v);
			p->key_quota_from = from;
		}
		v = SPI_getbinval(t, d, 9, &isnull);
		if (!isnull && (p->max_value_bytes < 0 || DatumGetInt64(v) < p->max_value_bytes))
		{
			p->max_value_bytes = DatumGetInt64(v);
			p->bytes_quota_from = from;
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	catalog_end_privileged(&ps);
	return p;
}

Oid
store_policy_role(const StorePolicy *p)
{
	return p->role;
}

/*
 * The policies of this transaction, one per role it stored as: a SET ROLE and
 * back finds its role's count where it left it (the quota holds across them).
 */
typedef struct CachedPolicy
{
	Oid			role;
	StorePolicy *p;				/* NULL: no row applies */
} CachedPolicy;

static LocalTransactionId cache_lxid = InvalidLocalTransactionId;
static CachedPolicy *cache = NULL;
static int	ncache = 0;

StorePolicy *
store_policy_current(void)
{
	Oid			role = GetUserId();
	MemoryContext old;
	StorePolicy *p;

	if (cache_lxid != MyProc->lxid)
	{
		cache_lxid = MyProc->lxid;
		cache = NULL;			/* it lived in the last transaction's memory */
		ncache = 0;
	}
	for (int i = 0; i < ncache; i++)
		if (cache[i].role == role)
			return cache[i].p;
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = store_policy_load();
	cache = cache ? repalloc(cache, sizeof(CachedPolicy) * (ncache + 1)) : palloc(sizeof(CachedPolicy));
	cache[ncache].role = role;
	cache[ncache].p = p;
	ncache++;
	MemoryContextSwitchTo(old);
	return p;
}

/* the secrets the role owns now (with this transaction's, once flushed) */
static int64
count_owned(Oid role)
{
	PrivilegedScope ps;
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	int64		n;
	bool		isnull;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT count(*) FROM ssn.secret WHERE owner = $1", 1, types, values,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the secrets of a role");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	catalog_end_privileged(&ps);
	return n;
}

/* a column's sum over the role's audit rows of today (key_bytes, or value_bytes of its stores) */
static int64
audit_sum_today(Oid role, bool stored_bytes)
{
	PrivilegedScope ps;
	Oid			types[1] = {TEXTOID};
	char	   *name = GetUserNameFromId(role, true);
	Datum		values[1] = {CStringGetTextDatum(name ? name : "")};
	int64		n;
	bool		isnull;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(stored_bytes
							  ? "SELECT coalesce(sum(value_bytes), 0)::int8 FROM ssn.audit_log"
							  " WHERE role = $1 AND at >= date_trunc('day', now()) AND operation = 'store'"
							  " AND outcome = 'committed'"
							  : "SELECT coalesce(sum(key_bytes), 0)::int8 FROM ssn.audit_log"
							  " WHERE role = $1 AND at >= date_trunc('day', now())",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.audit_log");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	catalog_end_privileged(&ps);
	return n;
}

/* alarmed and audited (whatever becomes of the caller's transaction), then raised */
static void pg_attribute_noreturn()
refuse(const StorePolicy *p, int sqlstate, const char *message, const char *detail, const char *hint)
{
	PrivilegedScope ps;
	char	   *role = GetUserNameFromId(p->role, true);

	catalog_begin_privileged(&ps);
	alarm_raise_durable("policy", role ? role : "unknown", "warning", "store refused by policy",
						psprintf("%s %s", message, detail));
	catalog_end_privileged(&ps);
	audit_note_refused(AUDIT_STORE);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", message),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

void
store_policy_check(StorePolicy *p, Oid type_oid, int k, int n, bool unverified, int64 value_bytes)
{
	if (p == NULL)
		return;
	if (p->min_k > 0 && k < p->min_k)
		refuse(p, ERRCODE_INSUFFICIENT_PRIVILEGE,
			   psprintf("store with k = %d refused by policy", k),
			   psprintf("%s requires k of at least %d.", describe_row(p->min_k_from), p->min_k),
			   psprintf("Store with k of %d or more; see ssn_store_policy().", p->min_k));
	if (p->min_n > 0 && n < p->min_n)
		refuse(p, ERRCODE_INSUFFICIENT_PRIVILEGE,
			   psprintf("store with n = %d refused by policy", n),
			   psprintf("%s requires n of at least %d.", describe_row(p->min_n_from), p->min_n),
			   psprintf("Store with n of %d or more; see ssn_store_policy().", p->min_n));
	if (p->max_n > 0 && n > p->max_n)
		refuse(p, ERRCODE_INSUFFICIENT_PRIVILEGE,
			   psprintf("store with n = %d refused by policy", n),
			   psprintf("%s allows n of at most %d.", describe_row(p->max_n_from), p->max_n),
			   psprintf("Store with n of %d or less (an explicit n; n = 0 takes every shareholder).",
						p->max_n));
	if (p->verify_required && unverified)
		refuse(p, ERRCODE_INSUFFICIENT_PRIVILEGE,
			   "store without verifiable shares refused by policy",
			   psprintf("%s requires verifiable shares (Pedersen commitments).", describe_row(p->verify_from)),
			   "Store with verify => true (and ssn.verify_shares on).");
	for (int l = 0; l < p->nlists; l++)
	{
		bool		found = false;

		for (int i = 0; i < p->lists[l].ntypes && !found; i++)
			found = p->lists[l].types[i] == type_oid;
		if (!found)
			refuse(p, ERRCODE_INSUFFICIENT_PRIVILEGE,
				   psprintf("store of a value of type %s refused by policy", format_type_be(type_oid)),
				   psprintf("%s does not allow that type.", describe_row(p->lists[l].from)),
				   "See ssn_store_policy() for the types allowed.");
	}
	if (p->max_secrets >= 0)
	{
		if (p->secrets < 0)
			p->secrets = count_owned(p->role);
		if (p->secrets + p->stored_here >= p->max_secrets)
			refuse(p, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				   "quota of secrets reached",
				   psprintf("%s allows %lld secrets per role; this role owns %lld (this transaction's included).",
							describe_row(p->quota_from), (long long) p->max_secrets,
							(long long) (p->secrets + p->stored_here)),
				   "Delete secrets no longer needed with ssn_delete(), or ask for a higher quota.");
		p->stored_here++;
	}
	if (p->max_key_bytes >= 0)
	{
		/* counted once a transaction: a transaction may overshoot by its own keys */
		if (p->key_bytes_today < 0)
			p->key_bytes_today = audit_sum_today(p->role, false);
		if (p->key_bytes_today >= p->max_key_bytes)
			refuse(p, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				   "quota of QKD key reached for today",
				   psprintf("%s allows %lld bytes of QKD key a day per role; this role's operations spent %lld today.",
							describe_row(p->key_quota_from), (long long) p->max_key_bytes,
							(long long) p->key_bytes_today),
				   "Wait for tomorrow (the server's time zone), or ask for a higher quota.");
	}
	if (p->max_value_bytes >= 0)
	{
		if (p->value_bytes_today < 0)
			p->value_bytes_today = audit_sum_today(p->role, true);
		if (p->value_bytes_today + p->value_bytes_here + value_bytes > p->max_value_bytes)
			refuse(p, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				   "quota of bytes stored reached for today",
				   psprintf("%s allows %lld bytes stored a day per role (what the values take in a share); "
							"this role stored %lld today and this value takes %lld.",
							describe_row(p->bytes_quota_from), (long long) p->max_value_bytes,
							(long long) (p->value_bytes_today + p->value_bytes_here), (long long) value_bytes),
				   "Wait for tomorrow, or ask for a higher quota.");
		p->value_bytes_here += value_bytes;
	}
}

/* ssn_store_policy(): what holds for the current role */
Datum
ssn_store_policy(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[10];
	bool		nulls[10] = {0};
	StorePolicy *p;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ssn_store_policy must return a record");
	p = store_policy_load();
	if (p == NULL)
	{
		for (int i = 0; i < 10; i++)
			nulls[i] = true;
		values[3] = BoolGetDatum(false);
		nulls[3] = false;
		values[6] = Int64GetDatum(count_owned(GetUserId()));
		nulls[6] = false;
	}
	else
	{
		Datum	   *from = palloc(sizeof(Datum) * Max(p->nrows, 1));

		values[0] = Int32GetDatum(p->min_k);
		nulls[0] = p->min_k == 0;
		values[1] = Int32GetDatum(p->min_n);
		nulls[1] = p->min_n == 0;
		values[2] = Int32GetDatum(p->max_n);
		nulls[2] = p->max_n == 0;
		values[3] = BoolGetDatum(p->verify_required);
		nulls[4] = p->nlists == 0;
		if (p->nlists > 0)
		{
			/* the types every list allows */
			Datum	   *t = palloc(sizeof(Datum) * Max(p->lists[0].ntypes, 1));
			int			nt = 0;

			for (int i = 0; i < p->lists[0].ntypes; i++)
			{
				bool		everywhere = true;

				for (int l = 1; l < p->nlists && everywhere; l++)
				{
					bool		found = false;

					for (int j = 0; j < p->lists[l].ntypes && !found; j++)
						found = p->lists[l].types[j] == p->lists[0].types[i];
					everywhere = found;
				}
				if (everywhere)
					t[nt++] = ObjectIdGetDatum(p->lists[0].types[i]);
			}
			values[4] = PointerGetDatum(construct_array(t, nt, REGTYPEOID, sizeof(Oid), true, TYPALIGN_INT));
		}
		values[5] = Int64GetDatum(p->max_secrets);
		nulls[5] = p->max_secrets < 0;
		values[6] = Int64GetDatum(count_owned(p->role));
		values[7] = Int64GetDatum(p->max_key_bytes);
		nulls[7] = p->max_key_bytes < 0;
		values[8] = Int64GetDatum(p->max_value_bytes);
		nulls[8] = p->max_value_bytes < 0;
		for (int i = 0; i < p->nrows; i++)
			from[i] = CStringGetTextDatum(p->from[i]);
		values[9] = PointerGetDatum(construct_array(from, p->nrows, TEXTOID, -1, false, TYPALIGN_INT));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
