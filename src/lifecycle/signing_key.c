/*
 * signing_key.c - the Ed25519 keys with which this node, as the SSA, signs the
 * commitment records of the secrets it stores (Y.3808 §8.3), and the renewal of
 * those signatures (re-signed and re-timestamped with the current key).
 *
 * Keys live in ssn.signing_key (readable by superusers only): one current key,
 * made on first use, and retired ones, still trusted for what they signed.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "base/spi_run.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "crypto/check_record.h"
#include "crypto/commitment.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lifecycle/signing_key.h"
#include "miscadmin.h"
#include "net/catalog.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(ssn_rotate_signing_key);
PG_FUNCTION_INFO_V1(ssn_renew_signatures);

/* the current key, cached for one transaction (a rotation elsewhere shows in the next) */
static uint8 cached_sk[crypto_sign_SECRETKEYBYTES];
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;

static bool
load_current(uint8 *sk)
{
	bool		isnull;
	bytea	   *b;

	if (SPI_execute("SELECT secret_key FROM ssn.signing_key WHERE retired_at IS NULL", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.signing_key");
	if (SPI_processed == 0)
		return false;
	b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(b) != crypto_sign_SECRETKEYBYTES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the current signing key in ssn.signing_key is damaged"),
				 errhint("Run ssn.rotate_signing_key() to make a new one.")));
	memcpy(sk, VARDATA_ANY(b), crypto_sign_SECRETKEYBYTES);
	sodium_memzero(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	return true;
}

static void
create_key(void)
{
	uint8		pk[crypto_sign_PUBLICKEYBYTES];
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	Oid			types[2] = {BYTEAOID, BYTEAOID};
	Datum		values[2];
	bytea	   *bp = palloc(VARHDRSZ + sizeof(pk));
	bytea	   *bs = palloc(VARHDRSZ + sizeof(sk));

	crypto_sign_keypair(pk, sk);
	SET_VARSIZE(bp, VARHDRSZ + sizeof(pk));
	memcpy(VARDATA(bp), pk, sizeof(pk));
	SET_VARSIZE(bs, VARHDRSZ + sizeof(sk));
	memcpy(VARDATA(bs), sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	values[0] = PointerGetDatum(bp);
	values[1] = PointerGetDatum(bs);
	/* two sessions making the first key at once: one wins */
	if (SPI_execute_with_args("INSERT INTO ssn.signing_key (public_key, secret_key) VALUES ($1, $2)"
							  " ON CONFLICT DO NOTHING", 2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store a new signing key");
	sodium_memzero(VARDATA(bs), sizeof(sk));
}

void
signing_key_current(uint8 *sk)
{
	PrivilegedScope priv;

	if (cached_lxid == MyProc->lxid && cached_lxid != InvalidLocalTransactionId)
	{
		memcpy(sk, cached_sk, sizeof(cached_sk));
		return;
	}
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!load_current(cached_sk))
	{
		create_key();
		if (!load_current(cached_sk))
			elog(ERROR, "could not make a signing key");
	}
	SPI_finish();
	catalog_end_privileged(&priv);
	cached_lxid = MyProc->lxid;
	memcpy(sk, cached_sk, sizeof(cached_sk));
}

bool
signing_key_trusted(const uint8 *pk)
{
	PrivilegedScope priv;
	Oid			types[1] = {BYTEAOID};
	Datum		values[1];
	bytea	   *b = palloc(VARHDRSZ + crypto_sign_PUBLICKEYBYTES);
	bool		found;

	SET_VARSIZE(b, VARHDRSZ + crypto_sign_PUBLICKEYBYTES);
	memcpy(VARDATA(b), pk, crypto_sign_PUBLICKEYBYTES);
	values[0] = PointerGetDatum(b);
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* this node's keys, and those of a node whose secrets it took over */
	if (SPI_execute_with_args(ssn_table_exists("trusted_signer")
							  ? "SELECT 1 FROM ssn.signing_key WHERE public_key = $1"
							  "  UNION ALL SELECT 1 FROM ssn.trusted_signer WHERE public_key = $1"
							  : "SELECT 1 FROM ssn.signing_key WHERE public_key = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.signing_key");
	found = SPI_processed > 0;
	SPI_finish();
	catalog_end_privileged(&priv);
	return found;
}

int64
signing_now(void)
{
	/* PostgreSQL counts from 2000-01-01, the record from 1970-01-01 (µs) */
	return (int64) GetCurrentTimestamp() +
		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC);
}

Datum
ssn_rotate_signing_key(PG_FUNCTION_ARGS)
{
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	char		hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
	PrivilegedScope priv;

	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("UPDATE ssn.signing_key SET retired_at = now() WHERE retired_at IS NULL", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not retire the signing key");
	create_key();
	if (!load_current(sk))
		elog(ERROR, "could not make a signing key");
	SPI_finish();
	catalog_end_privileged(&priv);
	cached_lxid = InvalidLocalTransactionId;
	/* the public key is the second half of libsodium's secret key */
	sodium_bin2hex(hex, sizeof(hex), sk + crypto_sign_SEEDBYTES, crypto_sign_PUBLICKEYBYTES);
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

char *
signing_describe(const uint8 *signer, int64 signed_at)
{
	char		hex[17];

	sodium_bin2hex(hex, sizeof(hex), signer, 8);
	return psprintf("signed by key %s at %s", hex,
					timestamptz_to_str((TimestampTz) (signed_at -
													  ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC))));
}

/* a record signed again with sk at now; NULL if it fails its own check */
static bytea *
resign_one(bytea *old, bool check, int64 now, const uint8 *sk)
{
	const uint8 *b = (const uint8 *) VARDATA_ANY(old);
	size_t		len = VARSIZE_ANY_EXHDR(old);
	char		why[160];
	bytea	   *nb;

	if (check)
	{
		CheckRecord rec;

		if (!check_record_parse(&rec, b, len, why, sizeof(why)) ||
			!check_record_signature_ok(&rec) || !signing_key_trusted(rec.signer))
			return NULL;
		nb = palloc(VARHDRSZ + CHECK_RECORD_SIZE);
		SET_VARSIZE(nb, VARHDRSZ + CHECK_RECORD_SIZE);
		check_record_build((uint8 *) VARDATA(nb), rec.k, rec.n, rec.type, rec.id, now, rec.digest, sk);
	}
	else
	{
		CommitRecord rec;

		if (!commit_record_parse(&rec, b, len, why, sizeof(why)) ||
			!commit_record_signature_ok(&rec) || !signing_key_trusted(rec.signer))
			return NULL;
		nb = palloc(VARHDRSZ + COMMIT_RECORD_SIZE(rec.k));
		SET_VARSIZE(nb, VARHDRSZ + COMMIT_RECORD_SIZE(rec.k));
		(void) commit_record_build((uint8 *) VARDATA(nb), rec.k, rec.epoch, rec.id, now, rec.points, sk);
	}
	return nb;
}

/* re-sign every record of one column of ssn.secret (commitment or check_record) */
static int64
resign_column(const char *column, int64 now, const uint8 *sk)
{
	bool		check = strcmp(column, "check_record") == 0;
	Oid			types[2] = {UUIDOID, BYTEAOID};
	Oid			rel = get_relname_relid("secret", get_namespace_oid("ssn", false));
	SPIPlanPtr	upd;
	Portal		cur;
	int64		count = 0;

	if (get_attnum(rel, column) == InvalidAttrNumber)
		return 0;				/* a schema from before the column */
	upd = SPI_prepare(psprintf("UPDATE ssn.secret SET %s = $2 WHERE id = $1", column), 2, types);
	cur = SPI_cursor_open_with_args(NULL, psprintf("SELECT id, %s FROM ssn.secret WHERE %s IS NOT NULL FOR UPDATE",
												   column, column),
									0, NULL, NULL, NULL, false, 0);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(cur, true, 1000);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 r = 0; r < nrows; r++)
		{
			bool		isnull;
			Datum		v[2];
			bytea	   *nb;

			v[0] = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull);
			nb = resign_one(DatumGetByteaPP(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull)), check, now, sk);
			if (nb == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the %s of secret %s fails its signature check; not re-signed",
								check ? "check value" : "commitment", SPI_getvalue(tt->vals[r], tt->tupdesc, 1)),
						 errhint("Check it with ssn_verify(); a forged %s must not be renewed.",
								 check ? "check value" : "commitment")));
			v[1] = PointerGetDatum(nb);
			if (SPI_execute_plan(upd, v, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update ssn.secret");
			count++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(cur);
	return count;
}

Datum
ssn_renew_signatures(PG_FUNCTION_ARGS)
{
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	PrivilegedScope priv;
	int64		count;
	int64		now = signing_now();

	signing_key_current(sk);
	catalog_begin_privileged(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	count = resign_column("commitment", now, sk) + resign_column("check_record", now, sk);
	SPI_finish();
	catalog_end_privileged(&priv);
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_INT64(count);
}
