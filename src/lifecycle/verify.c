/*
 * verify.c - making and checking verifiable shares (see verify.h).
 */
#include "postgres.h"

#include <sodium.h>

#include "base/guc.h"
#include "crypto/commit_pool.h"
#include "crypto/commitment.h"
#include "crypto/pedersen.h"
#include "lifecycle/signing_key.h"
#include "lifecycle/verify.h"
#include "math/shamir.h"
#include "share/secret_handle.h"
#include "share/share_type.h"
#include "storage/ipc.h"

static void
pool_stop_at_exit(int code, Datum arg)
{
	commit_pool_stop();
}

/* this session's commit pool running as ssn.commit_threads says */
static void
verify_pool_ensure(void)
{
	static bool hooked = false;
	static bool failed = false;

	if (ssn_commit_threads <= 0)
	{
		commit_pool_stop();
		return;
	}
	if (failed || commit_pool_running())
		return;
	if (!hooked)
	{
		on_proc_exit(pool_stop_at_exit, (Datum) 0);
		hooked = true;
	}
	if (!pedersen_pool_start(ssn_commit_threads))
	{
		failed = true;			/* once per process: the splits make their own units */
		ereport(LOG,
				(errmsg("could not start the commit pool's threads"),
				 errdetail("Verifiable stores in this session make every commitment themselves.")));
	}
}

bytea *
verify_split(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id, uint32 epoch,
			 struct varlena **shares)
{
	fp_t		coeffs[SHARE_MAX_N];
	fp_t		blind[SHARE_MAX_N];
	uint8		points[PEDERSEN_POINT_BYTES * SHARE_MAX_N];
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	size_t		reclen = COMMIT_RECORD_SIZE(k);
	bytea	   *rec = palloc(VARHDRSZ + reclen);
	ShareHeader h;

	Assert(v->field == SHARE_FIELD_PRIME);
	coeffs[0] = v->fp;
	verify_pool_ensure();
	pedersen_share_poly(points, coeffs, blind, k);
	signing_key_current(sk);
	SET_VARSIZE(rec, VARHDRSZ + reclen);
	(void) commit_record_build((uint8 *) VARDATA(rec), k, epoch, id, signing_now(), points, sk);
	sodium_memzero(sk, sizeof(sk));
	for (int j = 0; j < n; j++)
	{
		uint8	   *p = SHARE_PAYLOAD(shares[j]);
		fp_t		y,
					t;

		pedersen_eval(&y, coeffs, k, xs[j]);
		pedersen_eval(&t, blind, k, xs[j]);
		fp_to_bytes(p, &y);
		fp_to_bytes(p + FP_BYTES, &t);
		memcpy(p + 2 * FP_BYTES, VARDATA(rec), reclen);
		share_header_init(&h, SHARE_FIELD_PRIME, v->type, k, n, k - 1, xs[j], epoch, id);
		h.scale = v->scale;
		h.payload_len = (uint32) SHARE_VERIFIABLE_PAYLOAD(k);
		share_seal_varlena(shares[j], &h);
		sodium_memzero(&y, sizeof(y));
		sodium_memzero(&t, sizeof(t));
	}
	sodium_memzero(coeffs, sizeof(fp_t) * k);
	sodium_memzero(blind, sizeof(fp_t) * k);
	return rec;
}

/* the value, blinding and commitment points (NULL if served without them) of a verifiable share */
static void
share_parts(const uint8 *share, ShareHeader *h, fp_t *y, fp_t *t, const uint8 **points)
{
	const uint8 *p;

	share_read_header(share, h);
	p = share + SHARE_HEADER_SIZE;
	(void) fp_from_bytes(y, p);
	(void) fp_from_bytes(t, p + FP_BYTES);
	*points = share_has_record(h) ? p + 2 * FP_BYTES + COMMIT_RECORD_HEADER : NULL;
}

/* a share carries the commitment points of record r (in full, or as a served digest) */
static bool
same_points(const uint8 *share, const ShareHeader *h, const CommitRecord *r)
{
	const uint8 *p = share + SHARE_HEADER_SIZE + 2 * FP_BYTES;
	uint8		d[SHARE_SERVED_DIGEST];

	if (share_has_record(h))
		return memcmp(p + COMMIT_RECORD_HEADER, r->points, (size_t) COMMIT_RECORD_POINT * r->k) == 0;
	crypto_generichash(d, sizeof(d), r->points, (size_t) COMMIT_RECORD_POINT * r->k, NULL, 0);
	return memcmp(p, d, sizeof(d)) == 0;
}

int
verify_received(const uint8 *const *shares, int m)
{
	PedersenShare *ps = palloc(sizeof(PedersenShare) * Max(m, 1));
	int		   *idx = palloc(sizeof(int) * Max(m, 1));
	int			n = 0,
				bad = -1;

	for (int i = 0; i < m; i++)
	{
		ShareHeader h;

		share_read_header(shares[i], &h);
		if (!share_is_verifiable(&h))
			continue;
		if (!share_has_record(&h))
		{
			bad = i;			/* a shareholder keeps a share only with its commitments */
			break;
		}
		share_parts(shares[i], &h, &ps[n].y, &ps[n].t, &ps[n].points);
		ps[n].k = h.k;
		ps[n].x = h.x;
		idx[n++] = i;
	}
	if (bad < 0 && n > 0 && !pedersen_verify_batch(ps, n))
	{
		for (int i = 0; i < n && bad < 0; i++)
			if (!pedersen_verify_share(ps[i].points, ps[i].k, ps[i].x, &ps[i].y, &ps[i].t))
				bad = idx[i];
		if (bad < 0)
			bad = idx[0];		/* the batch failed but no single share did: refuse anyway */
	}
	sodium_memzero(ps, sizeof(PedersenShare) * Max(m, 1));
	pfree(ps);
	pfree(idx);
	return bad;
}

bool
verify_received_why(const uint8 *const *shares, int m, const char *what, char *why, size_t whylen)
{
	int			bad = verify_received(shares, m);
	ShareHeader h;

	if (bad < 0)
		return true;
	share_read_header(shares[bad], &h);
	snprintf(why, whylen, "the %s of secret %s does not match its signed commitments",
			 what, secret_id_text(h.id));
	return false;
}

const char *
verify_one(const uint8 *record, size_t reclen, const uint8 *share, size_t len)
{
	ShareHeader h;
	fp_t		y,
				t;
	const uint8 *points;
	CommitRecord r;
	char		why[160];
	bool		ok;

	if (!commit_record_parse(&r, record, reclen, why, sizeof(why)))
		return "the signed commitment record is malformed";
	share_read_header(share, &h);
	if (!share_is_verifiable(&h))
		return "the share carries no verification data";
	if (h.k != r.k || h.epoch != r.epoch || memcmp(h.id, r.id, SHARE_ID_SIZE) != 0)
		return "the share is of another secret or epoch than the commitments";
	share_parts(share, &h, &y, &t, &points);
	if (!same_points(share, &h, &r))
		ok = false;
	else
		ok = pedersen_verify_share(r.points, r.k, h.x, &y, &t);
	sodium_memzero(&y, sizeof(y));
	sodium_memzero(&t, sizeof(t));
	return ok ? NULL : "the share does not match the signed commitments";
}

const char *
verify_record(const uint8 *record, size_t reclen, const uint8 *id, uint32 epoch)
{
	CommitRecord r;
	char		why[160];

	if (!commit_record_parse(&r, record, reclen, why, sizeof(why)))
		return psprintf("malformed: %s", why);
	if (memcmp(r.id, id, SHARE_ID_SIZE) != 0 || r.epoch != epoch)
		return psprintf("it is for another secret or epoch (epoch %u, expected %u)", r.epoch, epoch);
	if (!commit_record_signature_ok(&r))
		return "its signature does not verify: the commitments were altered or forged";
	if (!signing_key_trusted(r.signer))
		return "it is signed by a key that is not one of this node's signing keys";
	return NULL;
}

void
verify_items(VerifyItem *items, int n)
{
	const uint8 **c0 = palloc(sizeof(uint8 *) * Max(n, 1));
	fp_t	   *s = palloc(sizeof(fp_t) * Max(n, 1));
	fp_t	   *t = palloc(sizeof(fp_t) * Max(n, 1));
	int		   *which = palloc(sizeof(int) * Max(n, 1));
	int			no = 0;

	for (int i = 0; i < n; i++)
	{
		VerifyItem *it = &items[i];
		CommitRecord r;
		char		why[160];
		uint8		xs[SHARE_MAX_N + 1];
		fp_t		ys[SHARE_MAX_N + 1],
					ts[SHARE_MAX_N + 1],
					lambda[SHARE_MAX_N + 1];
		int			good = 0;

		it->nbad = 0;
		if (!commit_record_parse(&r, it->record, it->reclen, why, sizeof(why)))
		{
			for (int j = 0; j < it->m; j++)
				it->bad[j] = true;
			it->nbad = it->m;
			continue;
		}
		for (int j = 0; j < it->m; j++)
		{
			ShareHeader h;
			const uint8 *points;

			share_read_header(SHARE_BYTES(it->shares[j]), &h);
			it->bad[j] = !share_is_verifiable(&h) || h.k != r.k || h.epoch != r.epoch ||
				memcmp(h.id, r.id, SHARE_ID_SIZE) != 0;
			if (!it->bad[j])
			{
				share_parts(SHARE_BYTES(it->shares[j]), &h, &ys[good], &ts[good], &points);
				if (!same_points(SHARE_BYTES(it->shares[j]), &h, &r))
					it->bad[j] = true;
				else if (good >= r.k)
				{
					/* beyond the k that open C_0: each on its own (rare) */
					it->bad[j] = !pedersen_verify_share(r.points, r.k, h.x, &ys[good], &ts[good]);
				}
				else
					xs[good++] = h.x;
			}
			if (it->bad[j])
				it->nbad++;
		}
		if (good < r.k)
			continue;			/* too few to check: the caller gathers more */
		shamir_lagrange_fp(xs, r.k, 0, lambda);
		shamir_combine_fp(&s[no], r.k, lambda, ys);
		shamir_combine_fp(&t[no], r.k, lambda, ts);
		c0[no] = r.points;
		which[no++] = i;
		sodium_memzero(ys, sizeof(ys));
		sodium_memzero(ts, sizeof(ts));
	}
	if (no > 0 && !pedersen_verify_openings(no, c0, s, t))
	{
		/* some secret does not open: find it, then its bad shares one by one */
		for (int q = 0; q < no; q++)
		{
			VerifyItem *it = &items[which[q]];

			if (pedersen_verify_openings(1, &c0[q], &s[q], &t[q]))
				continue;
			for (int j = 0; j < it->m; j++)
			{
				ShareHeader h;
				fp_t		y,
							tt;
				const uint8 *points;

				if (it->bad[j])
					continue;
				share_parts(SHARE_BYTES(it->shares[j]), &h, &y, &tt, &points);
				if (!pedersen_verify_share(c0[q], h.k, h.x, &y, &tt))
				{
					it->bad[j] = true;
					it->nbad++;
				}
				sodium_memzero(&y, sizeof(y));
				sodium_memzero(&tt, sizeof(tt));
			}
		}
	}
	sodium_memzero(s, sizeof(fp_t) * Max(n, 1));
	sodium_memzero(t, sizeof(fp_t) * Max(n, 1));
}

void
verify_zero_sharing(const uint8 *old_record, size_t reclen, uint32 new_epoch,
					fp_t *coeffs, fp_t *blind, uint8 *new_record)
{
	CommitRecord r;
	char		why[160];
	uint8		points[COMMIT_RECORD_POINT * SHARE_MAX_N];
	uint8		d[COMMIT_RECORD_POINT * SHARE_MAX_N];
	uint8		sk[crypto_sign_SECRETKEYBYTES];

	if (!commit_record_parse(&r, old_record, reclen, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a share's commitment record is malformed: %s", why)));
	pedersen_zero_sharing(coeffs, blind, d, r.k);
	memcpy(points, r.points, (size_t) COMMIT_RECORD_POINT * r.k);
	if (!pedersen_points_add(points, d, r.k))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a share's commitment record holds invalid points")));
	signing_key_current(sk);
	(void) commit_record_build(new_record, r.k, new_epoch, r.id, signing_now(), points, sk);
	sodium_memzero(sk, sizeof(sk));
}
