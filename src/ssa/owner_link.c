/*
 * owner_link.c - SSN-U (Y.3808 §11.1; §12.1 steps 2-3, §12.2 steps 9-10): a data
 * owner sends its values to this SSA, and gets them back, under a one-time pad, so
 * that no plaintext crosses the libpq connection or reaches the statement log or
 * pg_stat_activity.
 *
 *   ssn_store_sealed(envelope)             the owner's values, each stored as
 *                                          ssn_store() stores it; their handles
 *   ssn_retrieve_sealed(handles, request)  values rebuilt as ssn_retrieve() does,
 *                                          sealed for the owner
 *   ssn_owner_link()                       what a client needs to address this SSA
 *
 * A data owner is an SAE of the QKD network registered here (ssn.data_owner) and
 * mapped to a database role; it holds no share.  Its envelopes are the shareholder
 * links' (crypto/envelope.h) with SAE IDs for names and values in the layout of
 * share/value_list.h.  The same rules hold: the keys come from this node's KME
 * (dec_keys from the owner's SAE, enc_keys to it), every key ID is on the key
 * ledger before its key is used, an ID seen before is a replay, and the one-time
 * MAC is checked before anything is believed.  Only the owner's SAE and ours get
 * those keys, so the MAC proves the sender; the session role must act for the
 * role the owner is mapped to, checked before any key is spent.  Every refusal is
 * an ERROR with an alarm that outlives the caller's rollback.
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "base/subxact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "parser/parse_type.h"
#include "qkd/key_ledger.h"
#include "share/value_list.h"
#include "ssa/retrieve.h"
#include "ssa/store.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(ssn_store_sealed);
PG_FUNCTION_INFO_V1(ssn_retrieve_sealed);
PG_FUNCTION_INFO_V1(ssn_owner_link);

typedef struct DataOwner
{
	Shareholder link;			/* name and sae_id: the owner's SAE ID */
	Oid			role;
} DataOwner;

/* refuse with an alarm the caller cannot roll back, and count it on the link */
static void
refuse(const char *owner, int code, const char *problem, const char *detail)
	pg_attribute_noreturn();

static void
refuse(const char *owner, int code, const char *problem, const char *detail)
{
	PrivilegedScope priv;

	/* the alarm and the link's figures are the node's, not the caller's */
	catalog_begin_privileged(&priv);
	alarm_raise_durable("owner", owner ? owner : "unknown", "major", problem, detail);
	if (owner)
	{
		LinkCounts	c = {0};

		c.rejected = 1;
		channel_account(owner, "receive", &c);
	}
	catalog_end_privileged(&priv);
	ereport(ERROR,
			(errcode(code),
			 errmsg("sealed envelope%s%s%s refused: %s", owner ? " from data owner \"" : "",
					owner ? owner : "", owner ? "\"" : "", problem),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("The refusal is recorded in ssn.alarm.")));
	pg_unreachable();
}

/*
 * The data owners the caller acts for, or the one with SAE ID sae: rows of
 * (sae_id, role, the caller acts for it), those it acts for first.
 */
static int
owners_of(const char *sae, Oid caller, DataOwner **out, bool **acts)
{
	PrivilegedScope priv;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	char		nulls[2] = {sae ? ' ' : 'n', ' '};
	MemoryContext caller_cxt = CurrentMemoryContext;
	int			n;

	values[0] = sae ? CStringGetTextDatum(sae) : (Datum) 0;
	values[1] = ObjectIdGetDatum(caller);
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT sae_id, role::oid, pg_has_role($2, role, 'USAGE')"
							  " FROM ssn.data_owner WHERE $1 IS NULL OR sae_id = $1"
							  " ORDER BY 3 DESC, sae_id",
							  2, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.data_owner");
	n = (int) SPI_processed;
	*out = MemoryContextAllocZero(caller_cxt, sizeof(DataOwner) * Max(n, 1));
	*acts = MemoryContextAllocZero(caller_cxt, sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *id = SPI_getvalue(t, d, 1);

		strlcpy((*out)[i].link.name, id, sizeof((*out)[i].link.name));
		(*out)[i].link.sae_id = MemoryContextStrdup(caller_cxt, id);
		(*out)[i].role = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		(*acts)[i] = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));
	}
	SPI_finish();
	catalog_end_privileged(&priv);
	return n;
}

/* the owner whose envelope this is: known, and the caller acts for its role */
static void
owner_of_envelope(const char *sae, DataOwner *o)
{
	DataOwner  *all;
	bool	   *acts;
	Oid			caller = GetUserId();

	if (owners_of(sae, caller, &all, &acts) == 0)
		refuse(NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "unknown data owner",
			   psprintf("SAE \"%s\" is not registered with ssn.add_data_owner() on this node", sae));
	if (!acts[0])
		refuse(sae, ERRCODE_INSUFFICIENT_PRIVILEGE, "role not mapped to the data owner",
			   psprintf("role \"%s\" does not act for role \"%s\", to which data owner \"%s\" is mapped",
						GetUserNameFromId(caller, false), GetUserNameFromId(all[0].role, false), sae));
	*o = all[0];
}

/* the owner a retrieval is sealed for: the one named, or the only one the caller acts for */
static void
owner_of_caller(const char *sae, DataOwner *o)
{
	DataOwner  *all;
	bool	   *acts;
	Oid			caller = GetUserId();
	int			n = owners_of(sae, caller, &all, &acts);

	if (n == 0 || !acts[0])
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 sae ? errmsg("role \"%s\" does not act for data owner \"%s\"",
							  GetUserNameFromId(caller, false), sae) :
				 errmsg("role \"%s\" is not mapped to a data owner", GetUserNameFromId(caller, false)),
				 errhint("A superuser maps a data owner's SAE to a role with ssn.add_data_owner(sae_id, role).")));
	if (sae == NULL && n > 1 && acts[1])
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("role \"%s\" acts for more than one data owner", GetUserNameFromId(caller, false)),
				 errhint("Name the owner's SAE ID: ssn_retrieve_sealed(handles, request_id, owner_sae_id).")));
	*o = all[0];
}

typedef struct KeysCall
{
	const EnvelopeView *v;
	const char *sae;
	char	  **ids;
	int			bits;
	KmeKeyBatch *batch;
} KeysCall;

static void
keys_call(void *arg)
{
	KeysCall   *a = (KeysCall *) arg;

	a->batch = kme_get_dec_keys(a->sae, (const char *const *) a->ids, a->v->nkeys, a->bits);
}

/*
 * The opened plaintext of an owner's envelope (palloc'd; the caller wipes it),
 * its keys on the ledger as used.  Anything else is refused.
 */
static uint8 *
open_owner_envelope(bytea *env, DataOwner *o, size_t *len)
{
	const uint8 *buf = (const uint8 *) VARDATA_ANY(env);
	size_t		buflen = VARSIZE_ANY_EXHDR(env);
	EnvelopeView v;
	char		why[256];
	char	   *sender,
			   *receiver;
	char	  **ids;
	char	   *refused[1] = {NULL};
	LedgerEntries e;
	KeysCall	call;
	ErrorData  *ed;
	uint8	   *pt;
	size_t		key_bytes;
	LinkCounts	c = {0};
	PrivilegedScope priv;

	if (!envelope_parse(buf, buflen, &v, why, sizeof(why)))
		refuse(NULL, ERRCODE_INVALID_BINARY_REPRESENTATION, "malformed envelope", why);
	if (!channel_header_is_text(&v))
		refuse(NULL, ERRCODE_INVALID_BINARY_REPRESENTATION, "malformed envelope",
			   "a name or key ID of its header is not printable text");
	sender = channel_name(v.sender, v.sender_len);
	receiver = channel_name(v.receiver, v.receiver_len);
	owner_of_envelope(sender, o);
	if (v.kind != MSG_KIND_OWNER_STORE)
		refuse(sender, ERRCODE_INVALID_BINARY_REPRESENTATION, "unexpected envelope kind",
			   psprintf("kind \"%s\", where \"%s\" was expected", channel_kind_name(v.kind),
						channel_kind_name(MSG_KIND_OWNER_STORE)));
	if (ssn_sae_id == NULL || strcmp(receiver, ssn_sae_id) != 0)
		refuse(sender, ERRCODE_INVALID_BINARY_REPRESENTATION, "envelope for another SAE",
			   psprintf("addressed to SAE \"%s\"; this node is SAE \"%s\"", receiver,
						ssn_sae_id ? ssn_sae_id : ""));

	/* the ledger and the link's figures are the node's, not the caller's */
	catalog_begin_privileged(&priv);
	/* on the record before the KME is asked: a key ID seen before is a replay */
	ids = channel_key_ids(&v);
	call.v = &v;
	call.sae = sender;
	call.ids = ids;
	call.bits = channel_received_key_bits(&v, sender);
	e.direction = LEDGER_RECEIVE;
	e.peer = o->link.name;
	e.peer_sae = o->link.sae_id;
	e.purpose = "owner store";
	e.size_bits = call.bits;
	e.nids = v.nkeys;
	e.key_ids = (const char *const *) ids;
	ledger_record_many(&e, 1, true, refused);
	if (refused[0])
		refuse(sender, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "replayed envelope", refused[0]);

	ed = try_in_subxact(keys_call, &call);
	if (ed)
	{
		ledger_finish((const char *const *) ids, v.nkeys, "discarded", true);
		alarm_raise_durable("owner", sender, "major", "envelope keys unavailable", ed->message);
		ReThrowError(ed);
	}
	pt = channel_open_with(&v, call.batch, &key_bytes);
	if (pt == NULL)
	{
		ledger_finish((const char *const *) ids, v.nkeys, "discarded", true);
		refuse(sender, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "envelope failed authentication",
			   "the one-time MAC does not verify: the envelope was altered or forged");
	}
	ledger_finish((const char *const *) ids, v.nkeys, "used", true);
	if (v.clear_len != 0)
	{
		sodium_memzero(pt, v.len);
		refuse(sender, ERRCODE_INVALID_BINARY_REPRESENTATION, "malformed envelope",
			   "an owner's envelope has no clear part");
	}
	c.messages = 1;
	c.payload_bytes = v.len;
	c.envelope_bytes = buflen;
	c.key_bytes = key_bytes;
	channel_account(o->link.name, "receive", &c);
	catalog_end_privileged(&priv);
	*len = v.len;
	return pt;
}

/*
 * A value's text form through its type's input function.  An input error would
 * quote the value; it is replaced by one that says which value failed, not what
 * it was.
 */
static Datum
input_value(FmgrInfo *fi, char *str, Oid ioparam, int32 typmod, uint32 index, const char *typname)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile Datum d = (Datum) 0;

	PG_TRY();
	{
		d = InputFunctionCall(fi, str, ioparam, typmod);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		int			code;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		code = ed->sqlerrcode;
		if (ed->message)
			sodium_memzero(ed->message, strlen(ed->message));
		if (ed->detail)
			sodium_memzero(ed->detail, strlen(ed->detail));
		FreeErrorData(ed);
		ereport(ERROR,
				(errcode(code),
				 errmsg("value %u of the sealed envelope is not a valid %s", index + 1, typname),
				 errdetail("The value is not shown: it arrived under a one-time pad.")));
	}
	PG_END_TRY();
	return d;
}

static void
wipe_datum(Datum d, int16 typlen, bool byval)
{
	if (byval || d == (Datum) 0)
		return;
	if (typlen == -1)
		sodium_memzero(DatumGetPointer(d), VARSIZE_ANY(DatumGetPointer(d)));
	else if (typlen == -2)
		sodium_memzero(DatumGetPointer(d), strlen(DatumGetCString(d)));
	else
		sodium_memzero(DatumGetPointer(d), typlen);
}

/* store every value of an opened owner's list; the array of their handles */
static ArrayType *
store_values(const uint8 *pt, size_t len)
{
	ValueListHead head;
	size_t		off;
	char		why[256];
	Oid			typid,
				infunc,
				ioparam,
				secret_type = catalog_type_oid("ssn_secret");
	int32		typmod;
	int16		typlen,
				slen;
	bool		byval,
				sbyval;
	char		salign;
	FmgrInfo	fi;
	Datum	   *handles;
	bool	   *nulls;
	int			dims[1],
				lbs[1] = {1};
	int32		k,
				n;
	int			verify;

	if (!value_list_get_head(pt, len, &head, &off, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed value list in a sealed envelope"),
				 errdetail_internal("%s", why)));
	if (head.type_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("the sealed values do not name their type")));
	parseTypeString(head.type_name, &typid, &typmod, false);
	getTypeInputInfo(typid, &infunc, &ioparam);
	get_typlenbyval(typid, &typlen, &byval);
	fmgr_info(infunc, &fi);
	k = head.k ? head.k : STORE_DEFAULT;
	n = head.n ? head.n : STORE_DEFAULT;
	verify = head.verify == 0 ? -1 : head.verify == 1 ? 1 : 0;

	handles = palloc0(sizeof(Datum) * Max(head.count, 1));
	nulls = palloc0(sizeof(bool) * Max(head.count, 1));
	for (uint32 i = 0; i < head.count; i++)
	{
		const uint8 *v;
		uint32		vlen;
		bool		isnull;
		char	   *str;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		if (!value_list_get_value(pt, len, &off, &v, &vlen, &isnull, why, sizeof(why)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("malformed value list in a sealed envelope"),
					 errdetail_internal("value %u: %s", i + 1, why)));
		if (isnull)
		{
			nulls[i] = true;
			continue;
		}
		if (memchr(v, 0, vlen) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("value %u of the sealed envelope contains a zero byte", i + 1)));
		str = palloc(vlen + 1);
		memcpy(str, v, vlen);
		str[vlen] = '\0';
		d = input_value(&fi, str, ioparam, typmod, i, head.type_name);
		sodium_memzero(str, vlen);
		pfree(str);
		handles[i] = store_value(d, typid, k, n, verify);
		wipe_datum(d, typlen, byval);
	}
	if (!value_list_get_end(len, off, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed value list in a sealed envelope"),
				 errdetail_internal("%s", why)));
	get_typlenbyvalalign(secret_type, &slen, &sbyval, &salign);
	dims[0] = (int) head.count;
	return construct_md_array(handles, nulls, head.count ? 1 : 0, dims, lbs, secret_type,
							  slen, sbyval, salign);
}

Datum
ssn_store_sealed(PG_FUNCTION_ARGS)
{
	DataOwner	o;
	uint8	   *volatile pt = NULL;
	volatile size_t len = 0;
	ArrayType  *volatile result = NULL;

	bytea	   *env = PG_GETARG_BYTEA_PP(0);

	PG_TRY();
	{
		size_t		l;

		pt = open_owner_envelope(env, &o, &l);
		len = l;
		result = store_values(pt, len);
	}
	PG_CATCH();
	{
		if (pt)
			sodium_memzero(pt, len);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sodium_memzero(pt, len);
	PG_RETURN_ARRAYTYPE_P(result);
}

Datum
ssn_retrieve_sealed(PG_FUNCTION_ARGS)
{
	DataOwner	o;
	bytea	   *rid;
	ArrayType  *texts;
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	ValueListHead head;
	size_t		len,
				off;
	uint8	   *volatile pt = NULL;
	volatile size_t ptlen = 0;
	SealedMessage *volatile m = NULL;
	LinkCounts	c = {0};
	PrivilegedScope priv;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("handles and request_id must not be NULL")));
	rid = PG_GETARG_BYTEA_PP(1);
	if (VARSIZE_ANY_EXHDR(rid) != VALUE_LIST_REQUEST_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request_id must be %d bytes, not %zu", VALUE_LIST_REQUEST_ID,
						(size_t) VARSIZE_ANY_EXHDR(rid)),
				 errhint("The client picks it at random and finds it again in the sealed reply.")));
	owner_of_caller(PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)), &o);
	if (ssn_sae_id == NULL || ssn_sae_id[0] == '\0')
		kme_check_config();

	/* the values as ssn_retrieve(ssn_secret[]) gives them, with its access checks */
	texts = DatumGetArrayTypeP(DirectFunctionCall1(ssn_retrieve_array, PG_GETARG_DATUM(0)));
	deconstruct_array(texts, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);

	PG_TRY();
	{
		memset(&head, 0, sizeof(head));
		memcpy(head.request_id, VARDATA_ANY(rid), VALUE_LIST_REQUEST_ID);
		head.count = (uint32) count;
		len = value_list_head_size(&head);
		for (int i = 0; i < count; i++)
			len += VALUE_LIST_VALUE_OVERHEAD + (nulls[i] ? 0 : VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])));
		pt = palloc(len);
		ptlen = len;
		off = value_list_put_head(pt, &head);
		for (int i = 0; i < count; i++)
		{
			text	   *t = nulls[i] ? NULL : (text *) DatumGetPointer(elems[i]);

			off += value_list_put_value(pt + off, t ? (const uint8 *) VARDATA_ANY(t) : NULL,
										t ? (uint32) VARSIZE_ANY_EXHDR(t) : 0, nulls[i]);
		}
		catalog_begin_privileged(&priv);
		m = channel_seal_spent(ssn_sae_id, &o.link, MSG_KIND_OWNER_VALUES, pt, len, "owner retrieve");
	}
	PG_FINALLY();
	{
		if (pt)
			sodium_memzero(pt, ptlen);
		sodium_memzero(ARR_DATA_PTR(texts), ARR_SIZE(texts) - ARR_DATA_OFFSET(texts));
	}
	PG_END_TRY();
	c.messages = 1;
	c.shares = count;
	c.payload_bytes = m->pad_bytes;
	c.envelope_bytes = VARSIZE(m->envelope) - VARHDRSZ;
	c.key_bytes = m->key_bytes;
	channel_account(o.link.name, "send", &c);
	catalog_end_privileged(&priv);
	PG_RETURN_BYTEA_P(m->envelope);
}

/* (node, node_sae_id, owner_sae_id, owner_role) for each data owner the caller acts for */
Datum
ssn_owner_link(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DataOwner  *all;
	bool	   *acts;
	int			n = owners_of(NULL, GetUserId(), &all, &acts);
	PrivilegedScope priv;
	char	   *self;

	catalog_begin_privileged(&priv);
	self = catalog_self_name();
	catalog_end_privileged(&priv);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n && acts[i]; i++)
	{
		Datum		values[4];
		bool		isnull[4] = {self == NULL, ssn_sae_id == NULL, false, false};

		values[0] = self ? CStringGetTextDatum(self) : (Datum) 0;
		values[1] = ssn_sae_id ? CStringGetTextDatum(ssn_sae_id) : (Datum) 0;
		values[2] = CStringGetTextDatum(all[i].link.sae_id);
		values[3] = ObjectIdGetDatum(all[i].role);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}
