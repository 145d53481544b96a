/*
 * kme_sql.c - the operators' SQL surface of the KME client and the key ledger:
 * link status, explicit fetching and consuming of keys (for testing), ledger
 * recovery and a client benchmark.  No function returns key material: keys are
 * shown by a fingerprint (keyed BLAKE2b-256), and the keys behind a fingerprint
 * are consumed - recorded as used and wiped - so a fingerprint only ever reveals
 * something about a dead key.
 */
#include "postgres.h"

#include <sys/resource.h>

#include <sodium.h>

#include "access/htup_details.h"
#include "base/guc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "qkd/key_ledger.h"
#include "qkd/kme_client.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(ssn_kme_status_raw);
PG_FUNCTION_INFO_V1(ssn_kme_enc_keys);
PG_FUNCTION_INFO_V1(ssn_kme_dec_keys);
PG_FUNCTION_INFO_V1(ssn_key_ledger_recover);
PG_FUNCTION_INFO_V1(ssn_kme_bench);

#define FINGERPRINT_BYTES 32
static const char fingerprint_key[] = "ssn kme key fingerprint v1";

/* The SAE ID of shareholder `name`. */
static char *
shareholder_sae(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	char	   *sae = NULL;
	int			rc;

	args[0] = CStringGetTextDatum(name);
	SPI_connect();
	rc = SPI_execute_with_args("SELECT sae_id FROM ssn.shareholder WHERE name = $1",
							   1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		sae = SPI_palloc(strlen(v) + 1);
		strcpy(sae, v);
	}
	SPI_finish();
	if (sae == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("shareholder \"%s\" does not exist", name),
				 errhint("Add it with ssn.add_shareholder(name, sae_id).")));
	return sae;
}

static void
check_purpose(const char *purpose)
{
	if (purpose[0] == '\0' || strlen(purpose) > LEDGER_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purpose must have 1 to %d bytes", LEDGER_NAME_MAXLEN)));
}

static void
fingerprint(bytea *out, const unsigned char *key, size_t len)
{
	SET_VARSIZE(out, VARHDRSZ + FINGERPRINT_BYTES);
	crypto_generichash((unsigned char *) VARDATA(out), FINGERPRINT_BYTES, key, len,
					   (const unsigned char *) fingerprint_key, sizeof(fingerprint_key) - 1);
}

/* Put key_id, size_bits, fingerprint rows into the SRF's tuplestore. */
static void
emit_fingerprints(FunctionCallInfo fcinfo, KmeKeyBatch *b)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *fp = palloc(VARHDRSZ + FINGERPRINT_BYTES);
	int			i;

	for (i = 0; i < b->nkeys; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		fingerprint(fp, b->keys[i].key, b->size_bits / 8);
		values[0] = CStringGetTextDatum(b->keys[i].key_id);
		values[1] = Int32GetDatum(b->size_bits);
		values[2] = PointerGetDatum(fp);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static const char **
batch_ids(KmeKeyBatch *b)
{
	const char **ids = palloc(sizeof(char *) * Max(b->nkeys, 1));
	int			i;

	for (i = 0; i < b->nkeys; i++)
		ids[i] = b->keys[i].key_id;
	return ids;
}

/*
 * ssn._kme_status(sae_id text): the KME's status of the link to that SAE.
 */
Datum
ssn_kme_status_raw(PG_FUNCTION_ARGS)
{
	char	   *sae = text_to_cstring(PG_GETARG_TEXT_PP(0));
	KmeStatus	st;
	TupleDesc	td;
	Datum		values[11];
	bool		nulls[11];
	int			i;

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	kme_get_status(sae, &st);
	memset(nulls, 0, sizeof(nulls));
#define STR(i, s) do { if (s) values[i] = CStringGetTextDatum(s); else nulls[i] = true; } while (0)
#define NUM(i, v) do { if ((v) >= 0) values[i] = Int64GetDatum(v); else nulls[i] = true; } while (0)
	STR(0, st.source_kme_id);
	STR(1, st.target_kme_id);
	STR(2, st.master_sae_id);
	STR(3, st.slave_sae_id);
	NUM(4, st.key_size);
	NUM(5, st.stored_key_count);
	NUM(6, st.max_key_count);
	NUM(7, st.max_key_per_request);
	NUM(8, st.max_key_size);
	NUM(9, st.min_key_size);
	NUM(10, st.max_sae_id_count);
#undef STR
#undef NUM
	for (i = 0; i < 11; i++)
		if (!nulls[i] && TupleDescAttr(td, i)->atttypid != (i < 4 ? TEXTOID : INT8OID))
			elog(ERROR, "unexpected result type of ssn._kme_status");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}

/*
 * ssn.kme_enc_keys(peer, number, size_bits, purpose): fetch keys for sending to
 * peer, record them, consume them; returns their IDs and fingerprints.
 */
Datum
ssn_kme_enc_keys(PG_FUNCTION_ARGS)
{
	char	   *peer;
	char	   *sae;
	int			number;
	int			size_bits;
	char	   *purpose;
	KmeKeyBatch *b;
	LedgerEntries e;
	const char **ids;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer, number and purpose must not be null")));
	peer = text_to_cstring(PG_GETARG_TEXT_PP(0));
	number = PG_GETARG_INT32(1);
	size_bits = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(2) && size_bits <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key size must be positive, not %d bits", size_bits)));
	check_purpose(purpose);
	InitMaterializedSRF(fcinfo, 0);
	sae = shareholder_sae(peer);

	b = kme_get_enc_keys(sae, number, size_bits);
	ids = batch_ids(b);
	e = (LedgerEntries) {.direction = LEDGER_SEND, .peer = peer, .peer_sae = sae,
		.purpose = purpose, .size_bits = b->size_bits, .nids = b->nkeys, .key_ids = ids};
	ledger_record(&e, true);	/* committed before use */
	emit_fingerprints(fcinfo, b);	/* the use */
	kme_batch_free(b);
	ledger_finish(ids, e.nids, "used", true);
	return (Datum) 0;
}

/*
 * ssn.kme_dec_keys(peer, key_ids, size_bits, purpose): record the IDs, fetch the
 * keys that peer obtained for us, consume them; returns IDs and fingerprints.
 */
Datum
ssn_kme_dec_keys(PG_FUNCTION_ARGS)
{
	char	   *peer;
	char	   *sae;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *enulls;
	int			n,
				i;
	int			size_bits;
	char	   *purpose;
	const char **ids;
	KmeKeyBatch *b;
	LedgerEntries e;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer, key_ids and purpose must not be null")));
	peer = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(3));
	check_purpose(purpose);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("key_ids must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_ids must not be empty")));
	ids = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key_ids must not contain nulls")));
		ids[i] = TextDatumGetCString(elems[i]);
	}
	size_bits = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	if (!PG_ARGISNULL(2) && (size_bits <= 0 || size_bits % 8 != 0 || size_bits > KME_MAX_KEY_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key size must be a positive multiple of 8 bits up to %d, not %d",
						KME_MAX_KEY_BITS, size_bits)));
	InitMaterializedSRF(fcinfo, 0);
	sae = shareholder_sae(peer);
	kme_check_config();			/* an unconfigured node burns no IDs */
	if (size_bits == 0)
	{
		KmeStatus	st;

		kme_get_status(sae, &st);	/* the link's default key size */
		size_bits = (int) st.key_size;
	}

	/* burn the IDs first: dec_keys delivers once, and an answer can get lost */
	e = (LedgerEntries) {.direction = LEDGER_RECEIVE, .peer = peer, .peer_sae = sae,
		.purpose = purpose, .size_bits = size_bits, .nids = n, .key_ids = ids};
	ledger_record(&e, true);
	b = kme_get_dec_keys(sae, ids, n, size_bits);
	emit_fingerprints(fcinfo, b);
	kme_batch_free(b);
	ledger_finish(ids, n, "used", true);
	return (Datum) 0;
}

/* ssn.key_ledger_recover(): settle rows whose holder is gone as 'lost'. */
Datum
ssn_key_ledger_recover(PG_FUNCTION_ARGS)
{
	/* a backend holds no key material between two SQL statements */
	PG_RETURN_INT64(ledger_sweep(true));
}

/*
 * CPU time (user + system) of this process: what the client itself costs, apart
 * from the time spent waiting for the KME.
 */
static double
process_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * ssn.kme_bench(peer, number, size_bits, requests): fetch `requests` batches of
 * `number` keys as fast as the KME answers, wipe them unused, and record each
 * batch as 'discarded' (in the caller's transaction: they are never used, so no
 * ordering is needed), one set-oriented ledger write per batch as a channel
 * worker does it.  Returns the work done and the time spent in the client and in
 * the ledger.
 */
Datum
ssn_kme_bench(PG_FUNCTION_ARGS)
{
	char	   *peer = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			number = PG_GETARG_INT32(1);
	int			size_bits = PG_GETARG_INT32(2);
	int			requests = PG_GETARG_INT32(3);
	char	   *sae;
	int64		nkeys = 0;
	int64		nbytes = 0;
	instr_time	client,
				ledger;
	double		client_cpu = 0;
	TupleDesc	td;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	MemoryContext batch_cxt,
				oldcxt;
	int			r;

	if (requests < 1 || number < 1 || (int64) requests * number > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("requests and number must be positive and ask for at most 1000000 keys")));
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sae = shareholder_sae(peer);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "ssn kme_bench batch",
									  ALLOCSET_DEFAULT_SIZES);
	INSTR_TIME_SET_ZERO(client);
	INSTR_TIME_SET_ZERO(ledger);

	for (r = 0; r < requests; r++)
	{
		KmeKeyBatch *b;
		const char **ids;
		LedgerEntries e;
		instr_time	t0,
					t1,
					t2;

		double		cpu0;

		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(batch_cxt);
		cpu0 = process_cpu_seconds();
		INSTR_TIME_SET_CURRENT(t0);
		b = kme_get_enc_keys(sae, number, size_bits);
		ids = batch_ids(b);		/* the IDs outlive the (wiped) key material */
		e = (LedgerEntries) {.direction = LEDGER_SEND, .peer = peer, .peer_sae = sae,
			.purpose = "bench", .size_bits = b->size_bits, .nids = b->nkeys, .key_ids = ids};
		kme_batch_free(b);
		INSTR_TIME_SET_CURRENT(t1);
		client_cpu += process_cpu_seconds() - cpu0;
		ledger_record(&e, false);
		ledger_finish(ids, e.nids, "discarded", false);
		INSTR_TIME_SET_CURRENT(t2);
		nkeys += e.nids;
		nbytes += (int64) e.nids * (e.size_bits / 8);
		INSTR_TIME_ACCUM_DIFF(client, t1, t0);
		INSTR_TIME_ACCUM_DIFF(ledger, t2, t1);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batch_cxt);
	}
	MemoryContextDelete(batch_cxt);

	values[0] = Int64GetDatum(nkeys);
	values[1] = Int64GetDatum(nbytes);
	values[2] = Int32GetDatum(requests);
	values[3] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(client));
	values[4] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(ledger));
	values[5] = Float8GetDatum(client_cpu);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}
