/*
 * audit_seal.c - the audit chain kept and sealed by the node worker: the rows
 * appended since its last turn chained (ssn.audit_chain), the chain's head
 * signed with this node's signing key every ssn.audit_sign_interval, and rows
 * older than ssn.audit_retention removed behind a signed anchor.  A head is
 * checked against this node's own keys only (current or retired): another
 * node's key, trusted for the records of secrets it handed over, signs
 * nothing of this node's audit.
 */
#include "postgres.h"

#include <sodium.h>

#include "base/bytes.h"
#include "base/guc.h"
#include "base/spi_run.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lifecycle/audit_seal.h"
#include "lifecycle/signing_key.h"
#include "miscadmin.h"
#include "net/catalog.h"
#include "net/worker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(ssn_audit_sign_head);
PG_FUNCTION_INFO_V1(ssn_audit_head_valid);

#define HEAD_DOMAIN "ssn audit head v1"
#define HEAD_HASH_MAX 64
#define HEAD_MESSAGE_MAX (sizeof(HEAD_DOMAIN) + 8 + HEAD_HASH_MAX + 8 + 1)

static TimestampTz last_signed = 0;

/* what a head's signature covers */
static size_t
head_message(uint8 *m, int64 seq, const uint8 *hash, size_t hash_len, int64 signed_at, bool pruned)
{
	size_t		n = 0;

	memcpy(m, HEAD_DOMAIN, sizeof(HEAD_DOMAIN));
	n += sizeof(HEAD_DOMAIN);
	le_put_u64(m + n, (uint64) seq);
	n += 8;
	memcpy(m + n, hash, hash_len);
	n += hash_len;
	le_put_u64(m + n, (uint64) signed_at);
	n += 8;
	m[n++] = pruned ? 1 : 0;
	return n;
}

/* a signed head at (seq, hash) in the current SPI connection */
static void
insert_head(int64 seq, bytea *hash, bool pruned)
{
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	uint8		m[HEAD_MESSAGE_MAX];
	bytea	   *sig = palloc(VARHDRSZ + crypto_sign_BYTES);
	bytea	   *pk = palloc(VARHDRSZ + crypto_sign_PUBLICKEYBYTES);
	TimestampTz now = GetCurrentTimestamp();
	size_t		mlen;
	Oid			types[6] = {INT8OID, BYTEAOID, TIMESTAMPTZOID, BYTEAOID, BYTEAOID, BOOLOID};
	Datum		v[6];

	if (VARSIZE_ANY_EXHDR(hash) > HEAD_HASH_MAX)
		elog(ERROR, "audit chain hash of %zu bytes", VARSIZE_ANY_EXHDR(hash));
	signing_key_current(sk);
	mlen = head_message(m, seq, (uint8 *) VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash), now, pruned);
	SET_VARSIZE(sig, VARHDRSZ + crypto_sign_BYTES);
	crypto_sign_detached((uint8 *) VARDATA(sig), NULL, m, mlen, sk);
	SET_VARSIZE(pk, VARHDRSZ + crypto_sign_PUBLICKEYBYTES);
	crypto_sign_ed25519_sk_to_pk((uint8 *) VARDATA(pk), sk);
	sodium_memzero(sk, sizeof(sk));
	v[0] = Int64GetDatum(seq);
	v[1] = PointerGetDatum(hash);
	v[2] = TimestampTzGetDatum(now);
	v[3] = PointerGetDatum(pk);
	v[4] = PointerGetDatum(sig);
	v[5] = BoolGetDatum(pruned);
	if (SPI_execute_with_args("INSERT INTO ssn.audit_head (chain_seq, hash, signed_at, signer, signature, pruned)"
							  " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain_seq, pruned) DO UPDATE"
							  " SET hash = EXCLUDED.hash, signed_at = EXCLUDED.signed_at,"
							  " signer = EXCLUDED.signer, signature = EXCLUDED.signature",
							  6, types, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write ssn.audit_head");
}

/* rows older than the retention removed, a signed anchor where the chain now starts */
static void
prune(void)
{
	Oid			types[1] = {INT4OID};
	Datum		v[1] = {Int32GetDatum(ssn_audit_retention_min)};
	int64		seq;
	bytea	   *hash;
	bool		isnull;

	if (ssn_audit_retention_min <= 0)
		return;
	if (SPI_execute_with_args("SELECT chain_seq, hash FROM ssn.audit_log WHERE chain_seq IS NOT NULL"
							  " AND at < now() - make_interval(mins => $1) ORDER BY chain_seq DESC LIMIT 1",
							  1, types, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.audit_log");
	if (SPI_processed == 0)
		return;
	seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	hash = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	insert_head(seq, hash, true);
	types[0] = INT8OID;
	v[0] = Int64GetDatum(seq);
	if (SPI_execute_with_args("DELETE FROM ssn.audit_log WHERE chain_seq <= $1", 1, types, v, NULL, false, 0) < 0 ||
		SPI_execute_with_args("DELETE FROM ssn.audit_head WHERE chain_seq < $1", 1, types, v, NULL, false, 0) < 0)
		elog(ERROR, "could not prune the audit trail");
}

/*
 * Chain, prune, sign the head: a new one if the chain moved, the same one
 * again if not (so that a head removed, or sealing stopped, shows in
 * ssn.audit_verify by its age).  Returns the head's position.
 */
static int64
seal(void)
{
	int64		head = 0;
	bytea	   *hash;
	bool		isnull;

	/* not read-only from here on: each step must see what the one before it wrote */
	if (SPI_execute("SELECT ssn.audit_chain()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not chain the audit trail");
	prune();
	/* the chain's end: its last row, else the anchor the retention left, else empty */
	if (SPI_execute("SELECT chain_seq, hash FROM ("
					" SELECT a.chain_seq, a.hash FROM ssn.audit_log a WHERE a.chain_seq IS NOT NULL"
					" UNION ALL SELECT h.chain_seq, h.hash FROM ssn.audit_head h WHERE h.pruned"
					" UNION ALL SELECT 0, '\\x'::bytea) e ORDER BY chain_seq DESC LIMIT 1",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.audit_log");
	head = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	hash = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	insert_head(head, hash, false);
	return head;
}

Datum
ssn_audit_sign_head(PG_FUNCTION_ARGS)
{
	PrivilegedScope ps;
	int64		head;

	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	head = seal();
	SPI_finish();
	catalog_end_privileged(&ps);
	PG_RETURN_INT64(head);
}

Datum
ssn_audit_head_valid(PG_FUNCTION_ARGS)
{
	HeapTupleHeader h = PG_GETARG_HEAPTUPLEHEADER(0);
	bool		isnull[6];
	Datum		seq = GetAttributeByName(h, "chain_seq", &isnull[0]);
	Datum		hash = GetAttributeByName(h, "hash", &isnull[1]);
	Datum		at = GetAttributeByName(h, "signed_at", &isnull[2]);
	Datum		signer = GetAttributeByName(h, "signer", &isnull[3]);
	Datum		sig = GetAttributeByName(h, "signature", &isnull[4]);
	Datum		pruned = GetAttributeByName(h, "pruned", &isnull[5]);
	bytea	   *hb,
			   *pk,
			   *sb;
	uint8		m[HEAD_MESSAGE_MAX];
	size_t		mlen;
	PrivilegedScope ps;
	Oid			types[1] = {BYTEAOID};
	Datum		v[1];
	bool		own;

	for (int i = 0; i < 6; i++)
		if (isnull[i])
			PG_RETURN_BOOL(false);
	hb = DatumGetByteaPP(hash);
	pk = DatumGetByteaPP(signer);
	sb = DatumGetByteaPP(sig);
	if (VARSIZE_ANY_EXHDR(hb) > HEAD_HASH_MAX || VARSIZE_ANY_EXHDR(pk) != crypto_sign_PUBLICKEYBYTES ||
		VARSIZE_ANY_EXHDR(sb) != crypto_sign_BYTES)
		PG_RETURN_BOOL(false);
	mlen = head_message(m, DatumGetInt64(seq), (uint8 *) VARDATA_ANY(hb), VARSIZE_ANY_EXHDR(hb),
						DatumGetTimestampTz(at), DatumGetBool(pruned));
	if (crypto_sign_verify_detached((uint8 *) VARDATA_ANY(sb), m, mlen, (uint8 *) VARDATA_ANY(pk)) != 0)
		PG_RETURN_BOOL(false);
	/* one of this node's own keys, current or retired */
	v[0] = PointerGetDatum(pk);
	catalog_begin_privileged(&ps);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM ssn.signing_key WHERE public_key = $1", 1, types, v, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.signing_key");
	own = SPI_processed > 0;
	SPI_finish();
	catalog_end_privileged(&ps);
	PG_RETURN_BOOL(own);
}

static void
seal_in_worker(void *arg)
{
	if (!ssn_table_exists("audit_head"))
		return;					/* the extension predates the audit trail */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) seal();
	SPI_finish();
}

/* worker pass: every ssn.audit_sign_interval */
static long
seal_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		interval_ms = (long) ssn_audit_sign_interval_s * 1000;
	char		err[256];

	if (last_signed != 0 && !TimestampDifferenceExceeds(last_signed, now, (int) interval_ms))
		return Max(1, interval_ms - (long) ((now - last_signed) / 1000));
	last_signed = now;
	(void) worker_guarded(seal_in_worker, NULL, err, sizeof(err), NULL);
	return interval_ms;
}

void
audit_seal_init(void)
{
	worker_pass_register("audit seal", seal_pass, WORKER_PASS_EVERY_LOOP);
}
