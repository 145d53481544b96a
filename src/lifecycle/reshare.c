/*
 * reshare.c - rebuilding a failed shareholder's shares on a replacement
 * (Y.3808 §9.2 Req_SSN_C 3), without any node learning a secret.
 *
 * For each secret the failed node held at share index xf, k of its other holders
 * (the helpers, share indexes X) each send the replacement
 *
 *     c_i = lambda_i(xf) * s_i + m_i        (lambda over X, evaluated at xf)
 *
 * where the masks m_i sum to zero.  The replacement adds the k contributions:
 * sum c_i = f(xf), its share; alone each c_i is uniformly random.  The SSA deals
 * the masks as seeds over one-time-pad channels, m_i = G(seed_i) - G(seed_i+1)
 * (indexes mod k), so no helper knows another's mask.  A verifiable share comes
 * with its blinding rebuilt the same way and is checked against the signed
 * commitments before the replacement keeps it.  Then the SSA's catalog gives
 * the failed node's index to the replacement, and a renewal run queued in the
 * same transaction makes the failed node's shares worthless.
 *
 * A replacement must never have held a share of these secrets (it would hold
 * two of their k shares): ssn.shareholder_history, its state and its own
 * ssn.held_share (ssn.channel_reshare_check) are checked before anything is sent.
 *
 * The request's format: reshare_format.h.  Contributions (helper to
 * replacement): 1-byte length + SSA name, then a share batch of contribution
 * shares (x = xf; the share format of the secret).
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lifecycle/renewal.h"
#include "lifecycle/reshare.h"
#include "lifecycle/reshare_format.h"
#include "lifecycle/verify.h"
#include "math/field_p.h"
#include "math/gf256.h"
#include "math/shamir.h"
#include "miscadmin.h"
#include "net/alarm.h"
#include "net/alarm_queue.h"
#include "net/audit.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "net/peer_conn.h"
#include "net/peer_identity.h"
#include "net/worker.h"
#include "share/secret_handle.h"
#include "share/share_batch.h"
#include "share/share_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(ssn_reshare);
PG_FUNCTION_INFO_V1(ssn_channel_reshare_finish);
PG_FUNCTION_INFO_V1(ssn_channel_reshare_help);
PG_FUNCTION_INFO_V1(ssn_channel_reshare_check);

ReshareMovedHook reshare_moved_hook = NULL;

/* the renewal run the last ssn.reshare of this backend queued (0: none) */
static int64 last_renewal_run = 0;

/*
 * How many shares of origin's secrets (those of ids, or all with ids NULL) this
 * node holds at another share index than x.  Only the headers are read.
 */
static int64
held_at_other_index(const char *origin, Datum ids, bool all, int x)
{
	Oid			types[2] = {TEXTOID, UUIDARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', all ? 'n' : ' '};
	int64		n = 0;

	values[0] = CStringGetTextDatum(origin);
	values[1] = ids;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT share FROM ssn.held_share WHERE origin = $1 AND ($2 IS NULL OR secret_id = ANY($2))",
							  2, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_share");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
		struct varlena *head = PG_DETOAST_DATUM_SLICE(d, 0, SHARE_HEADER_SIZE);
		ShareHeader h;

		if (VARSIZE_ANY_EXHDR(head) < SHARE_HEADER_SIZE)
		{
			n++;
			continue;
		}
		share_read_header((uint8 *) VARDATA_ANY(head), &h);
		if (h.x != x)
			n++;
	}
	SPI_finish();
	return n;
}

/*
 * ssn.channel_reshare_check(origin, x): asked by an SSA before it re-shares onto
 * this node at share index x: how many shares of its secrets this node holds at
 * other indexes (a former holder's, which must not get a second one).
 */
Datum
ssn_channel_reshare_check(PG_FUNCTION_ARGS)
{
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		x = PG_GETARG_INT32(1);
	ShareholderList *cat = catalog_load();

	(void) peer_identity_require(cat, origin, "ssn.channel_reshare_check");
	PG_RETURN_INT64(held_at_other_index(origin, (Datum) 0, true, x));
}


/* the mask stream of one seed: field elements (value, blinding) or bytes */
static void
mask_expand(const uint8 *seed, const uint8 *id, const ShareHeader *h, uint8 *out)
{
	uint8		nonce[crypto_stream_chacha20_NONCEBYTES];

	memcpy(nonce, id, sizeof(nonce));
	if (h->field == SHARE_FIELD_PRIME)
	{
		uint8		wide[128];

		crypto_stream_chacha20(wide, sizeof(wide), nonce, seed);
		crypto_core_ristretto255_scalar_reduce(out, wide);
		crypto_core_ristretto255_scalar_reduce(out + FP_BYTES, wide + 64);
		sodium_memzero(wide, sizeof(wide));
	}
	else
		crypto_stream_chacha20(out, h->payload_len, nonce, seed);
}

/*
 * Helper: this node's contribution for one secret, from its share (bytes) and the
 * two seeds; written as a share at xf into out (room for the share's size).
 */
static void
contribute(const uint8 *share, const ShareHeader *h, const uint8 *xs, int k, int xf,
		   const uint8 *seed_a, const uint8 *seed_b, uint8 *out)
{
	const uint8 *y = share + SHARE_HEADER_SIZE;
	uint8	   *c = out + SHARE_HEADER_SIZE;
	size_t		mlen = h->field == SHARE_FIELD_PRIME ? 2 * FP_BYTES : h->payload_len;
	uint8	   *ma = palloc(Max(mlen, 1));
	uint8	   *mb = palloc(Max(mlen, 1));
	ShareHeader nh = *h;
	int			me = 0;

	for (int i = 0; i < k; i++)
		if (xs[i] == h->x)
			me = i;
	mask_expand(seed_a, h->id, h, ma);
	mask_expand(seed_b, h->id, h, mb);
	if (h->field == SHARE_FIELD_PRIME)
	{
		fp_t		lambda[SHARE_MAX_N];
		int			parts = share_scalars(h);

		shamir_lagrange_fp(xs, k, (uint8) xf, lambda);
		for (int p = 0; p < parts; p++)
		{
			fp_t		v,
						a,
						b;

			(void) fp_from_bytes(&v, y + p * FP_BYTES);
			(void) fp_from_bytes(&a, ma + p * FP_BYTES);
			(void) fp_from_bytes(&b, mb + p * FP_BYTES);
			fp_mul(&v, &v, &lambda[me]);
			fp_add(&v, &v, &a);
			fp_sub(&v, &v, &b);
			fp_to_bytes(c + p * FP_BYTES, &v);
			sodium_memzero(&v, sizeof(v));
		}
		if (parts == 2)
			memcpy(c + 2 * FP_BYTES, y + 2 * FP_BYTES, h->payload_len - 2 * FP_BYTES);
	}
	else
	{
		uint8		lambda[SHARE_MAX_N];

		shamir_lagrange_gf256(xs, k, (uint8) xf, lambda);
		gf256_region_mul(c, lambda[me], y, h->payload_len);
		for (uint32 i = 0; i < h->payload_len; i++)
			c[i] ^= ma[i] ^ mb[i];
	}
	sodium_memzero(ma, mlen);
	sodium_memzero(mb, mlen);
	nh.x = (uint8) xf;
	share_seal(out, &nh);
}

/* helper side of a request (channel_receive, or the SSA's own part): returns contributions made */
static int
reshare_help(const uint8 *pt, size_t len, Shareholder *self, const char *origin,
			 char *why, size_t whylen)
{
	size_t		off;
	char		repl[SSN_NAME_MAXLEN + 1];
	int			xf;
	ShareholderList *cat = catalog_load();
	Shareholder *to;
	StringInfoData msg;
	int			n = 0;
	char	   *err;
	Oid			types[2] = {UUIDARRAYOID, TEXTOID};
	Datum		values[2];
	ReshareItem item;
	size_t		first;
	Datum	   *ids;
	int			nids = 0,
				cap = 64;
	SPITupleTable *tt;
	uint64		nrows;

	if (!reshare_request_header(pt, len, repl, &xf, &off, why, whylen))
		return -1;
	to = catalog_find(cat, repl);
	if (to == NULL || to->is_self)
		return snprintf(why, whylen, "re-sharing to \"%s\", which is not a peer of this node", repl), -1;
	initStringInfo(&msg);
	appendStringInfoChar(&msg, (char) strlen(origin));
	appendStringInfoString(&msg, origin);
	/* first the secrets asked for, then this node's shares of them in one read */
	first = off;
	ids = palloc(sizeof(Datum) * cap);
	while (reshare_request_next(pt, len, &off, xf, &item, why, whylen))
	{
		bool		member = false;

		for (int i = 0; i < item.k; i++)
			member |= item.xs[i] == self->share_index;
		if (!member)
			return snprintf(why, whylen, "this node is not among the helpers of the request"), -1;
		if (nids == cap)
		{
			cap *= 2;
			ids = repalloc(ids, sizeof(Datum) * cap);
		}
		ids[nids++] = UUIDPGetDatum((pg_uuid_t *) item.id);
	}
	if (why[0])
		return -1;
	values[0] = PointerGetDatum(construct_array(ids, nids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = CStringGetTextDatum(origin);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT DISTINCT ON (secret_id) secret_id, share FROM ssn.held_share"
							  " WHERE secret_id = ANY($1) AND origin = $2 ORDER BY secret_id, epoch DESC",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_share");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	off = first;
	while (reshare_request_next(pt, len, &off, xf, &item, why, whylen))
	{
		const uint8 *id = item.id;
		int			k = item.k;
		bool		isnull;
		ShareHeader h;
		struct varlena *own;
		uint8	   *c;
		MemoryContext spi;
		int64		lo = 0,
					hi = (int64) nrows - 1,
					row = -1;

		/* the rows come ordered by secret id */
		while (lo <= hi && row < 0)
		{
			int64		mid = (lo + hi) / 2;
			int			cmp = memcmp(DatumGetUUIDP(SPI_getbinval(tt->vals[mid], tt->tupdesc, 1, &isnull))->data,
									 id, UUID_LEN);

			if (cmp == 0)
				row = mid;
			else if (cmp < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		if (row < 0)
			return SPI_finish(), snprintf(why, whylen, "this node holds no share of secret %s", secret_id_text(id)), -1;
		own = share_open(SPI_getbinval(tt->vals[row], tt->tupdesc, 2, &isnull), &h);
		if (h.k != k || h.degree != k - 1)
			return SPI_finish(), snprintf(why, whylen, "secret %s has k=%d, the request says %d",
										  secret_id_text(id), h.k, k), -1;
		spi = MemoryContextSwitchTo(tt->tuptabcxt);
		c = palloc(SHARE_SIZE(own));
		contribute(SHARE_BYTES(own), &h, item.xs, k, xf, item.seed_a, item.seed_b, c);
		MemoryContextSwitchTo(spi);
		sodium_memzero(SHARE_BYTES(own), SHARE_SIZE(own));
		enlargeStringInfo(&msg, SHARE_BATCH_PREFIX + SHARE_SIZE(own));
		msg.len += share_batch_put((uint8 *) msg.data + msg.len, c, SHARE_SIZE(own));
		sodium_memzero(c, SHARE_SIZE(own));
		n++;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	if (why[0])
		return -1;
	/* straight to the replacement, sealed for that link: the SSA never sees it */
	if (channel_send_now(self->name, to, MSG_KIND_RESHARE, (uint8 *) msg.data, msg.len,
						 "re-share", &err) == NULL)
	{
		sodium_memzero(msg.data, msg.maxlen);
		return snprintf(why, whylen, "could not send the contributions to \"%s\": %s", repl, err), -1;
	}
	sodium_memzero(msg.data, msg.maxlen);
	return n;
}

static int
reshare_queue(const uint8 *pt, size_t len, const uint8 *msg_id, const char *origin)
{
	Oid			types[3] = {UUIDOID, TEXTOID, BYTEAOID};
	Datum		values[3];
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), pt, len);
	values[0] = UUIDPGetDatum((pg_uuid_t *) msg_id);
	values[1] = CStringGetTextDatum(origin);
	values[2] = PointerGetDatum(b);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO ssn.reshare_request (message_id, origin, request) VALUES ($1, $2, $3)"
							  " ON CONFLICT DO NOTHING", 3, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store into ssn.reshare_request");
	SPI_finish();
	sodium_memzero(VARDATA(b), len);
	return 1;
}

/* ssn.channel_reshare_help(origin): the helper makes and sends the contributions asked for */
Datum
ssn_channel_reshare_help(PG_FUNCTION_ARGS)
{
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			total = 0;
	SPITupleTable *tt;
	uint64		nrows;
	MemoryContext caller = CurrentMemoryContext;
	bytea	  **reqs;

	(void) peer_identity_require(cat, origin, "ssn.channel_reshare_help");
	values[0] = CStringGetTextDatum(origin);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("DELETE FROM ssn.reshare_request WHERE origin = $1 RETURNING request",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not read ssn.reshare_request");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	reqs = MemoryContextAlloc(caller, sizeof(bytea *) * Max(nrows, 1));
	for (uint64 r = 0; r < nrows; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		reqs[r] = DatumGetByteaPCopy(d);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	for (uint64 r = 0; r < nrows; r++)
	{
		char		why[256];
		int			n = reshare_help((uint8 *) VARDATA_ANY(reqs[r]), VARSIZE_ANY_EXHDR(reqs[r]), self,
									 origin, why, sizeof(why));

		sodium_memzero(VARDATA_ANY(reqs[r]), VARSIZE_ANY_EXHDR(reqs[r]));
		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot contribute to the re-sharing: %s", why)));
		total += n;
	}
	PG_RETURN_INT32(total);
}

/* replacement side: keep the contributions until the SSA asks to finish */
static int
reshare_receive(const uint8 *pt, size_t len, Shareholder *self, Shareholder *sender,
				char *why, size_t whylen)
{
	char		origin[SSN_NAME_MAXLEN + 1];
	size_t		off;
	const uint8 *sb;
	size_t		sblen;
	ShareHeader sh;
	int			n = 0;
	Oid			types[5] = {UUIDOID, INT4OID, TEXTOID, INT4OID, catalog_type_oid("ssn_share")};
	Datum		values[5];

	if (len < 1 || pt[0] > SSN_NAME_MAXLEN || len < (size_t) pt[0] + 1)
		return snprintf(why, whylen, "truncated contributions"), -1;
	memcpy(origin, pt + 1, pt[0]);
	origin[pt[0]] = '\0';
	off = 1 + pt[0];
	values[1] = Int32GetDatum(sender->share_index);
	values[2] = CStringGetTextDatum(origin);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	why[0] = '\0';
	while (share_batch_next(pt, len, &off, &sb, &sblen, &sh, why, whylen))
	{
		struct varlena *s = palloc(VARHDRSZ + sblen);

		SET_VARSIZE(s, VARHDRSZ + sblen);
		memcpy(VARDATA(s), sb, sblen);
		values[0] = UUIDPGetDatum((pg_uuid_t *) sh.id);
		values[3] = Int32GetDatum(sh.k);
		values[4] = PointerGetDatum(s);
		if (SPI_execute_with_args("INSERT INTO ssn.held_part (result_id, contributor, origin, contributors, share)"
								  " VALUES ($1, $2, $3, -$4, $5) ON CONFLICT (origin, result_id, contributor)"
								  " DO UPDATE SET share = excluded.share, received_at = now()",
								  5, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store into ssn.held_part");
		sodium_memzero(VARDATA(s), sblen);
		n++;
	}
	SPI_finish();
	return why[0] ? -1 : n;
}

/*
 * ssn.channel_reshare_finish(origin, ids): the replacement adds the k
 * contributions of each secret into its share, checks a verifiable one against
 * its commitments, and keeps it.  Returns how many shares it now holds, or -1
 * if it refused them (it holds shares of those secrets at another index).
 */
Datum
ssn_channel_reshare_finish(PG_FUNCTION_ARGS)
{
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		idarr = PG_GETARG_DATUM(1);
	ShareholderList *cat = catalog_load();
	Shareholder *self = catalog_require_self(cat);
	int			ah_x = 0;
	Oid			types[3] = {TEXTOID, UUIDARRAYOID, catalog_type_oid("ssn_share")};
	Datum		values[3];
	int			done = 0;
	SPITupleTable *tt;
	uint64		nrows;
	struct varlena *acc = NULL;
	ShareHeader ah;
	int			got = 0;

	/* only the SSA of these secrets finishes their re-sharing */
	(void) peer_identity_require(cat, origin, "ssn.channel_reshare_finish");
	values[0] = CStringGetTextDatum(origin);
	values[1] = idarr;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("WITH d AS (DELETE FROM ssn.held_part WHERE origin = $1 AND result_id = ANY($2)"
							  "           AND contributors < 0 RETURNING result_id, contributors, share)"
							  " SELECT * FROM d ORDER BY result_id",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.held_part");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	if (nrows > 0)
	{
		/*
		 * A former holder keeps no second share of a secret: with shares of
		 * these secrets at another index than the contributions', it drops
		 * them unread (the SSA checks first; this is the holder's own word).
		 */
		bool		isnull;
		struct varlena *head = PG_DETOAST_DATUM_SLICE(SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull),
													  0, SHARE_HEADER_SIZE);
		ShareHeader fh;
		int64		other;

		if (VARSIZE_ANY_EXHDR(head) < SHARE_HEADER_SIZE)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a contribution to the re-sharing is truncated")));
		share_read_header((uint8 *) VARDATA_ANY(head), &fh);
		other = held_at_other_index(origin, idarr, false, fh.x);
		if (other > 0)
		{
			(void) alarm_raise("message", origin, "major", "re-sharing onto a former holder refused",
							   psprintf("this node holds shares of %lld of the secrets to re-share at another share index than %d: their contributions were dropped",
										(long long) other, fh.x));
			SPI_finish();
			PG_RETURN_INT32(-1);
		}
	}
	for (uint64 r = 0; r <= nrows; r++)
	{
		bool		isnull;
		ShareHeader sh;
		struct varlena *s = NULL;

		if (r < nrows)
			s = share_open(SPI_getbinval(tt->vals[r], tt->tupdesc, 3, &isnull), &sh);
		if (acc && (r == nrows || memcmp(sh.id, ah.id, SHARE_ID_SIZE) != 0))
		{
			/* one secret complete: k contributions make its share */
			const uint8 *raw = SHARE_BYTES(acc);

			if (got != ah.k)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("secret %s has %d of its %d contributions", secret_id_text(ah.id), got, ah.k)));
			share_seal(SHARE_BYTES(acc), &ah);
			if (verify_received(&raw, 1) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the rebuilt share of secret %s does not match its signed commitments",
								secret_id_text(ah.id)),
						 errdetail("A helper sent a wrong contribution, or the masks did not cancel.")));
			{
				Oid			it[4] = {UUIDOID, INT8OID, TEXTOID, types[2]};
				Datum		iv[4];

				iv[0] = UUIDPGetDatum((pg_uuid_t *) ah.id);
				iv[1] = Int64GetDatum((int64) ah.epoch);
				iv[2] = values[0];
				iv[3] = PointerGetDatum(acc);
				/* one held already (a re-sharing retried) must be this very share */
				if (SPI_execute_with_args("WITH i AS (INSERT INTO ssn.held_share (secret_id, epoch, origin, share)"
										  "   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1)"
										  " SELECT count(*) FROM ssn.held_share h WHERE NOT EXISTS (SELECT FROM i)"
										  "  AND h.origin = $3 AND h.secret_id = $1 AND h.epoch = $2"
										  "  AND h.share::text <> $4::text",
										  4, it, iv, NULL, false, 0) != SPI_OK_SELECT)
					elog(ERROR, "could not store into ssn.held_share");
				if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0)
				{
					alarm_raise_durable("message", TextDatumGetCString(values[0]), "major",
										"different share for a held slot",
										psprintf("the re-shared share of secret %s differs from the one held", secret_id_text(ah.id)));
					ereport(ERROR,
							(errcode(ERRCODE_UNIQUE_VIOLATION),
							 errmsg("a different share of secret %s (epoch %u) is already held", secret_id_text(ah.id), ah.epoch),
							 errdetail("A share is kept once per origin, secret and epoch; the held one stays.")));
				}
			}
			sodium_memzero(VARDATA(acc), VARSIZE(acc) - VARHDRSZ);
			acc = NULL;
			done++;
		}
		if (r == nrows)
			break;
		/* the SSA's catalog decides the index; this node's own catalog follows it (ssn.reshare's hint) */
		if (acc != NULL && sh.x != ah.x)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the contributions for secret %s are for different share indexes", secret_id_text(ah.id))));
		if (acc == NULL)
		{
			acc = (struct varlena *) PG_DETOAST_DATUM_COPY(PointerGetDatum(s));
			ah = sh;
			ah_x = sh.x;
			got = 1;
			continue;
		}
		if (sh.payload_len != ah.payload_len || sh.field != ah.field || sh.epoch != ah.epoch)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the contributions for secret %s do not agree", secret_id_text(ah.id))));
		if (sh.field == SHARE_FIELD_PRIME)
		{
			for (int p = 0; p < share_scalars(&sh); p++)
			{
				fp_t		a,
							b;

				(void) fp_from_bytes(&a, SHARE_PAYLOAD(acc) + p * FP_BYTES);
				(void) fp_from_bytes(&b, SHARE_PAYLOAD(s) + p * FP_BYTES);
				fp_add(&a, &a, &b);
				fp_to_bytes(SHARE_PAYLOAD(acc) + p * FP_BYTES, &a);
				sodium_memzero(&a, sizeof(a));
				sodium_memzero(&b, sizeof(b));
			}
		}
		else
			for (uint32 i = 0; i < sh.payload_len; i++)
				SHARE_PAYLOAD(acc)[i] ^= SHARE_PAYLOAD(s)[i];
		sodium_memzero(SHARE_BYTES(s), SHARE_SIZE(s));
		got++;
	}
	/*
	 * A standby (no share index of its own) that now holds shares at xf takes
	 * the index in its own catalog too, so that it computes and renews with it.
	 */
	if (done > 0 && self->share_index <= 0)
	{
		Oid			ct[2] = {INT4OID, TEXTOID};
		Datum		cv[2];

		cv[0] = Int32GetDatum(ah_x);
		cv[1] = CStringGetTextDatum(self->name);
		if (SPI_execute_with_args("UPDATE ssn.shareholder SET share_index = NULL, state = 'out of service'"
								  " WHERE share_index = $1 AND name <> $2", 2, ct, cv, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE ssn.shareholder SET share_index = $1, state = 'in service'"
								  " WHERE name = $2", 2, ct, cv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update the shareholder catalog");
	}
	SPI_finish();
	PG_RETURN_INT32(done);
}

/* ---- the SSA: ssn.reshare(failed, replacement) ---- */

/* run sql (text parameters) on a peer: its integer answer, or -1 with why set */
static int
call_count(const Shareholder *s, const char *sql, int nparams, const Oid *types,
		   const char *const *values, char *why, size_t whylen)
{
	PeerCall	c;
	const char *v;
	int			n;

	memset(&c, 0, sizeof(c));
	c.peer = s->name;
	c.conninfo = s->conninfo;
	c.sql = sql;
	c.nparams = nparams;
	c.types = types;
	c.values = values;
	peer_call_all(&c, 1, Max(ssn_peer_timeout_ms, 60000));
	v = peer_call_value(&c, NULL);
	n = v ? atoi(v) : -1;
	snprintf(why, whylen, "%s", c.error);
	peer_call_reset(&c, 1);
	return n;
}

/*
 * The history rows (h) saying that the node of that name or SAE ID held a share
 * index of a secret that has share index xf (SQL expressions, for a query)
 */
#define HELD_AN_INDEX_OF(name, sae_id, xf) \
	" FROM ssn.shareholder_history h WHERE (h.name = " name " OR h.sae_id = " sae_id ")" \
	" AND h.share_index IS NOT NULL AND EXISTS (SELECT FROM ssn.secret z" \
	"   WHERE " xf " = ANY(z.holders) AND h.share_index = ANY(z.holders))"

#define FORMER_HOLDER_HINT \
	"Re-share onto a node that never held a share of this node's secrets, e.g. a new standby: ssn.add_shareholder(name, sae_id, conninfo, state => 'standby')."

/*
 * The replacement must never have held a share of the secrets re-shared at xf:
 * with an old share it kept and the one rebuilt at xf it would hold two of a
 * secret's k shares.  This node's history of its catalog says who held which
 * index; a node out of service may hold shares from before that history; and
 * the replacement itself is asked what it holds.
 */
static void
refuse_former_holder(const Shareholder *self, const Shareholder *repl, int xf)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	static Oid	ct[2] = {TEXTOID, INT4OID};
	const char *cv[2];
	char		why[256];
	int			held;

	if (strcmp(repl->state, "out of service") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replacement \"%s\" is out of service", repl->name),
				 errdetail("A node taken out of service may still keep the shares it held; with the share rebuilt at index %d it would hold two shares of a secret.", xf),
				 errhint(FORMER_HOLDER_HINT)));
	values[0] = CStringGetTextDatum(repl->name);
	values[1] = CStringGetTextDatum(repl->sae_id);
	values[2] = Int32GetDatum(xf);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT h.share_index, h.name, h.held_from, coalesce(h.held_until::text, 'now')"
							  HELD_AN_INDEX_OF("$1", "$2", "$3") " ORDER BY h.held_from DESC LIMIT 1",
							  3, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.shareholder_history");
	if (SPI_processed > 0)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replacement \"%s\" is a former holder of secrets to re-share", repl->name),
				 errdetail("As \"%s\" it held share index %s from %s until %s (ssn.shareholder_history); with the share rebuilt at index %d it would hold two shares of a secret.",
						   SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 1), SPI_getvalue(t, d, 3), SPI_getvalue(t, d, 4), xf),
				 errhint(FORMER_HOLDER_HINT)));
	}
	SPI_finish();
	cv[0] = self->name;
	cv[1] = psprintf("%d", xf);
	held = call_count(repl, "SELECT ssn.channel_reshare_check($1, $2)", 2, ct, cv, why, sizeof(why));
	if (held < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("cannot re-share: replacement \"%s\" does not say which shares it holds", repl->name),
				 errdetail("%s", why)));
	if (held > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replacement \"%s\" holds %d shares of this node's secrets", repl->name, held),
				 errdetail("Its ssn.held_share keeps shares from \"%s\" at share indexes other than %d; with the share rebuilt at index %d it would hold two shares of a secret.",
						   self->name, xf, xf),
				 errhint(FORMER_HOLDER_HINT)));
}

typedef struct Helper
{
	Shareholder *s;
	StringInfoData req;
	int			n;
} Helper;

Datum
ssn_reshare(PG_FUNCTION_ARGS)
{
	char	   *failed_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *repl_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32		batch = PG_GETARG_INT32(2);
	PrivilegedScope priv;
	ShareholderList *cat;
	Shareholder *self,
			   *failed,
			   *repl;
	List	   *stale;
	int			xf;
	pg_uuid_t	last;
	int64		total = 0;
	Helper	   *hp;

	if (batch < 1 || batch > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 100000, not %d", batch)));
	catalog_begin_privileged(&priv);
	cat = catalog_load();
	self = catalog_require_self(cat);
	failed = catalog_find(cat, failed_name);
	repl = catalog_find(cat, repl_name);
	if (failed == NULL || failed->share_index <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("\"%s\" is not a shareholder with a share index", failed_name)));
	if (failed->is_self)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this node cannot replace itself"),
				 errhint("Run ssn.reshare on a node that stays in the network.")));
	if (repl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("replacement \"%s\" is not in the shareholder catalog", repl_name),
				 errhint("Add it first with ssn.add_shareholder(name, sae_id, conninfo) and no share index.")));
	if (repl->is_self || repl->share_index > 0 || repl->conninfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("replacement \"%s\" must be another node without a share index and with a conninfo",
						repl_name)));
	xf = failed->share_index;
	refuse_former_holder(self, repl, xf);
	stale = renewal_stale_peers();
	memset(last.data, 0, UUID_LEN);
	hp = palloc0(sizeof(Helper) * cat->count);

	for (;;)
	{
		Oid			types[3] = {INT4OID, UUIDOID, INT4OID};
		Datum		values[3];
		uint64		nrows;
		Datum	   *ids;
		int			nids = 0;
		SPITupleTable *tt;
		MemoryContext outer = CurrentMemoryContext;

		for (int i = 0; i < cat->count; i++)
		{
			hp[i].s = &cat->items[i];
			hp[i].n = 0;
			initStringInfo(&hp[i].req);
			appendStringInfoChar(&hp[i].req, (char) strlen(repl->name));
			appendStringInfoString(&hp[i].req, repl->name);
			appendStringInfoChar(&hp[i].req, (char) xf);
		}
		values[0] = Int32GetDatum(xf);
		values[1] = UUIDPGetDatum(&last);
		values[2] = Int32GetDatum(batch);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT id, k, holders FROM ssn.secret WHERE $1 = ANY(holders) AND id > $2"
								  " ORDER BY id LIMIT $3", 3, types, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read ssn.secret");
		tt = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
		{
			SPI_finish();
			break;
		}
		ids = MemoryContextAlloc(outer, sizeof(Datum) * nrows);
		for (uint64 r = 0; r < nrows; r++)
		{
			bool		isnull;
			pg_uuid_t  *id = DatumGetUUIDP(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
			int			k = DatumGetInt32(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
			ArrayType  *ha = DatumGetArrayTypeP(SPI_getbinval(tt->vals[r], tt->tupdesc, 3, &isnull));
			int			nx = ArrayGetNItems(ARR_NDIM(ha), ARR_DIMS(ha));
			int		   *hx = (int *) ARR_DATA_PTR(ha);
			uint8		xs[SHARE_MAX_N];
			Helper	   *who[SHARE_MAX_N];
			uint8		seeds[SHARE_MAX_N][RESHARE_SEED_BYTES];
			int			m = 0;
			pg_uuid_t  *copy;

			memcpy(last.data, id->data, UUID_LEN);
			/* k helpers: in service, reachable, not waiting for a renewal's commit */
			for (int i = 0; i < nx && m < k; i++)
			{
				Shareholder *s = catalog_find_index(cat, hx[i]);

				if (s == NULL || hx[i] == xf || !s->in_service || (!s->is_self && !s->reachable) ||
					renewal_is_stale(stale, s->name))
					continue;
				xs[m] = (uint8) hx[i];
				who[m] = &hp[s - cat->items];
				m++;
			}
			if (m < k)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cannot re-share secret %s: %d of the %d shareholders needed are available",
								SPI_getvalue(tt->vals[r], tt->tupdesc, 1), m, k),
						 errhint("See ssn.peer_health; bring back enough of its shareholders first.")));
			for (int i = 0; i < k; i++)
				randombytes_buf(seeds[i], RESHARE_SEED_BYTES);
			for (int i = 0; i < k; i++)
			{
				StringInfo q = &who[i]->req;
				MemoryContext spi = MemoryContextSwitchTo(outer);

				appendBinaryStringInfo(q, (char *) id->data, UUID_LEN);
				appendStringInfoChar(q, (char) k);
				appendBinaryStringInfo(q, (char *) xs, k);
				/* mask_i = G(seed_i) - G(seed_i+1): they cancel in the sum */
				appendBinaryStringInfo(q, (char *) seeds[i], RESHARE_SEED_BYTES);
				appendBinaryStringInfo(q, (char *) seeds[(i + 1) % k], RESHARE_SEED_BYTES);
				who[i]->n++;
				MemoryContextSwitchTo(spi);
			}
			sodium_memzero(seeds, sizeof(seeds));
			copy = MemoryContextAlloc(outer, sizeof(pg_uuid_t));
			memcpy(copy->data, id->data, UUID_LEN);
			ids[nids++] = UUIDPGetDatum(copy);
		}
		SPI_finish();

		/* every helper contributes straight to the replacement */
		for (int i = 0; i < cat->count; i++)
		{
			char		why[256];
			char	   *err;

			if (hp[i].n == 0)
				continue;
			if (hp[i].s->is_self)
			{
				if (reshare_help((uint8 *) hp[i].req.data, hp[i].req.len, self, self->name, why, sizeof(why)) < 0)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("cannot re-share: this node's contribution failed: %s", why)));
			}
			else
			{
				static Oid	ht[1] = {TEXTOID};
				const char *hv[1] = {self->name};
				int			made;

				if (channel_send_now(self->name, hp[i].s, MSG_KIND_RESHARE_REQ, (uint8 *) hp[i].req.data,
									 hp[i].req.len, "re-share", &err) == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("cannot re-share: helper \"%s\" failed: %s", hp[i].s->name, err)));
				made = call_count(hp[i].s, "SELECT ssn.channel_reshare_help($1)", 1, ht, hv, why, sizeof(why));
				if (made != hp[i].n)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("cannot re-share: helper \"%s\" made %s of %d contributions",
									hp[i].s->name, made < 0 ? "none" : psprintf("%d", made), hp[i].n),
							 errdetail("%s", why)));
			}
			sodium_memzero(hp[i].req.data, hp[i].req.maxlen);
		}
		/* the replacement adds the contributions and keeps its shares */
		{
			static Oid	ft[2] = {TEXTOID, UUIDARRAYOID};
			const char *fv[2];
			Datum		arr = PointerGetDatum(construct_array(ids, nids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
			Oid			out;
			bool		varlena;
			char		why[256];
			int			rebuilt;

			getTypeOutputInfo(UUIDARRAYOID, &out, &varlena);
			fv[0] = self->name;
			fv[1] = OidOutputFunctionCall(out, arr);
			rebuilt = call_count(repl, "SELECT ssn.channel_reshare_finish($1, $2)", 2, ft, fv, why, sizeof(why));
			if (rebuilt < 0 && why[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("replacement \"%s\" refused the re-sharing: it holds shares of these secrets at another share index",
								repl->name),
						 errdetail("It dropped the contributions (alarm \"re-sharing onto a former holder refused\" there)."),
						 errhint(FORMER_HOLDER_HINT)));
			if (rebuilt != nids)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cannot re-share: the replacement \"%s\" rebuilt %s of %d shares",
								repl->name, rebuilt < 0 ? "none" : psprintf("%d", rebuilt), nids),
						 errdetail("%s", why)));
		}
		total += nids;
		CHECK_FOR_INTERRUPTS();
	}

	/* the catalog: the failed node's index is the replacement's now */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
		Datum		values[3];

		values[0] = CStringGetTextDatum(failed->name);
		values[1] = CStringGetTextDatum(repl->name);
		values[2] = Int32GetDatum(xf);
		if (SPI_execute_with_args("UPDATE ssn.shareholder SET share_index = NULL, state = 'out of service' WHERE name = $1",
								  3, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE ssn.shareholder SET share_index = $3, state = 'in service' WHERE name = $2",
								  3, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
			/* the failed node's prepared switches went with it: nothing to finish there */
			SPI_execute_with_args("UPDATE ssn.renewal_batch SET pending = array_remove(pending, $1),"
								  " peers = array_remove(peers, $1),"
								  " state = CASE WHEN cardinality(array_remove(pending, $1)) = 0 AND state = 'committing'"
								  "              THEN 'done' ELSE state END"
								  " WHERE state IN ('preparing', 'committing') AND ($1 = ANY(pending) OR $1 = ANY(peers))",
								  3, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
			/* its undelivered shares were just rebuilt on the replacement: never deliver them */
			SPI_execute_with_args("DELETE FROM ssn.outbox WHERE peer = $1",
								  3, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not update the shareholder catalog");
	}
	SPI_finish();
	if (total > 0 && reshare_moved_hook)
	{
		/* read with the catalog just changed */
		CommandCounterIncrement();
		PushActiveSnapshot(GetLatestSnapshot());
		reshare_moved_hook(xf);
		PopActiveSnapshot();
	}

	/*
	 * The failed node's shares stay valid with the others' until every secret it
	 * held moves to a new epoch: a renewal run, seen by the worker only with this
	 * transaction's catalog (xf is the replacement's, the failed node has none).
	 */
	last_renewal_run = total > 0 ? renewal_queue_run(priv.caller, batch) : 0;
	catalog_end_privileged(&priv);
	if (last_renewal_run > 0)
		ereport(NOTICE,
				(errmsg("share index %d moved from \"%s\" to \"%s\" after re-sharing %lld secrets; renewal run %lld queued",
						xf, failed->name, repl->name, (long long) total, (long long) last_renewal_run),
				 errdetail("Until renewal run %lld is done, the shares \"%s\" kept still combine with the others': wait for it with ssn.wait_renewal(%lld) once this transaction has committed.",
						   (long long) last_renewal_run, failed->name, (long long) last_renewal_run),
				 errhint("Give \"%s\" share index %d in the other nodes' catalogs too, and run ssn.reshare on every other node that stored secrets with \"%s\" as a shareholder.",
						 repl->name, xf, failed->name)));
	else
		ereport(NOTICE,
				(errmsg("share index %d moved from \"%s\" to \"%s\" after re-sharing %lld secrets",
						xf, failed->name, repl->name, (long long) total),
				 errhint("Give \"%s\" share index %d in the other nodes' catalogs too, and run ssn.reshare on every other node that stored secrets with \"%s\" as a shareholder.",
						 repl->name, xf, failed->name)));
	audit_note_count(AUDIT_RESHARE, total);
	PG_RETURN_INT64(total);
}

/* ---- the node worker: failover onto a standby (ssn.failover_after) ---- */

typedef struct Failover
{
	char	   *failed;
	char	   *standby;
	int64		count;
	char	   *error;
} Failover;

/* the shareholder unreachable longest beyond the limit, and the first reachable standby */
static void
failover_pick(void *arg)
{
	Failover   *f = (Failover *) arg;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(ssn_failover_after_ms)};
	MemoryContext caller = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("WITH f AS (SELECT s.name, s.share_index FROM ssn.shareholder s JOIN ssn.peer_health h ON h.peer = s.name"
							  "         WHERE s.share_index IS NOT NULL AND s.state = 'in service' AND NOT h.reachable"
							  "           AND s.sae_id IS DISTINCT FROM current_setting('ssn.sae_id', true)"
							  "           AND coalesce(h.last_ok, s.added_at) < now() - make_interval(secs => $1 / 1000.0)"
							  "           AND EXISTS (SELECT FROM ssn.secret x WHERE s.share_index = ANY(x.holders))"
							  "         ORDER BY coalesce(h.last_ok, s.added_at) LIMIT 1)"
							  " SELECT (SELECT name FROM f),"
							  "  (SELECT s.name FROM ssn.shareholder s JOIN ssn.peer_health h ON h.peer = s.name, f"
							  "    WHERE s.state = 'standby' AND s.share_index IS NULL AND s.conninfo IS NOT NULL AND h.reachable"
							  "      AND NOT EXISTS (SELECT" HELD_AN_INDEX_OF("s.name", "s.sae_id", "f.share_index") ")"
							  "    ORDER BY s.name LIMIT 1)",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ssn.shareholder");
	{
		char	   *a = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *b = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		f->failed = a ? MemoryContextStrdup(caller, a) : NULL;
		f->standby = b ? MemoryContextStrdup(caller, b) : NULL;
	}
	SPI_finish();
}

static void
failover_run(void *arg)
{
	Failover   *f = (Failover *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	values[0] = CStringGetTextDatum(f->failed);
	values[1] = CStringGetTextDatum(f->standby);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT ssn.reshare($1, $2)", 2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not re-share");
	f->count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	(void) alarm_raise("peer", f->failed, "critical", "shareholder replaced",
					   psprintf("unreachable for longer than ssn.failover_after: %lld secrets of this node re-shared onto standby \"%s\", which took its share index; renewal run %lld queued",
								(long long) f->count, f->standby, (long long) last_renewal_run));
	SPI_finish();
}

static void
failover_alarm(void *arg)
{
	Failover   *f = (Failover *) arg;

	(void) alarm_raise("peer", f->failed, "critical", "shareholder cannot be replaced", f->error);
}

/* node worker: re-share onto a standby a shareholder unreachable beyond ssn.failover_after */
static void
reshare_failover_pass(void)
{
	static TimestampTz next_try = 0;
	Failover	f = {0};
	char		err[256];
	MemoryContext cxt = CurrentMemoryContext;

	if (ssn_failover_after_ms <= 0 || GetCurrentTimestamp() < next_try)
		return;
	if (!worker_guarded(failover_pick, &f, err, sizeof(err), NULL) || f.failed == NULL || f.standby == NULL)
		return;
	MemoryContextSwitchTo(cxt);
	ereport(LOG, (errmsg("ssn: shareholder \"%s\" unreachable for longer than ssn.failover_after: re-sharing onto standby \"%s\"",
						 f.failed, f.standby)));
	if (!worker_guarded(failover_run, &f, err, sizeof(err), NULL))
	{
		f.error = psprintf("re-sharing onto standby \"%s\" failed: %s", f.standby, err);
		(void) worker_guarded(failover_alarm, &f, err, sizeof(err), NULL);
		/* not again before the next health checks settle */
		next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(ssn_failover_after_ms, 30000));
		return;
	}
	ereport(LOG, (errmsg("ssn: %lld secrets re-shared from \"%s\" onto \"%s\"", (long long) f.count, f.failed, f.standby)));
}

/* kinds 're-share request' (helper side) and 're-share' (replacement side) */
static bool
receive_reshare(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	/* a request waits for ssn.channel_reshare_help: its sends must not run in this transaction */
	int			n = m->kind == MSG_KIND_RESHARE_REQ ?
		reshare_queue(m->pt, m->len, m->msg_id, m->sender->name) :
		reshare_receive(m->pt, m->len, m->self, m->sender, why, whylen);

	if (n < 0)
		return false;
	out->items = n;
	out->reply = psprintf("re-shared %d", n);
	return true;
}

static long
failover_step(void)
{
	reshare_failover_pass();
	return -1;
}

void
reshare_init(void)
{
	static const MessageKind request = {
		.kind = MSG_KIND_RESHARE_REQ,
		.handle = receive_reshare,
		.what = "re-sharing message",
		.refusal = "re-sharing message refused",
		.duplicate = "duplicate re-sharing message",
		.touches = "ssn.reshare_request (queued for ssn.channel_reshare_help)",
	};
	static const MessageKind contributions = {
		.kind = MSG_KIND_RESHARE,
		.handle = receive_reshare,
		.what = "re-sharing message",
		.refusal = "re-sharing message refused",
		.duplicate = "duplicate re-sharing message",
		.touches = "ssn.held_part (kept until the SSA finishes)",
	};

	message_kind_register(&request);
	message_kind_register(&contributions);
	worker_pass_register("failover", failover_step, WORKER_PASS_AFTER_HEALTH);
}
