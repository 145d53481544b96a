/*
 * check.c - making and checking checked shares (see check.h).
 */
#include "postgres.h"

#include <sodium.h>

#include "crypto/check_record.h"
#include "lifecycle/check.h"
#include "lifecycle/signing_key.h"
#include "math/field_p.h"
#include "math/random.h"
#include "math/shamir.h"
#include "miscadmin.h"
#include "share/secret_handle.h"
#include "share/share_type.h"

/* k-subsets tried before giving up: C(n, k) for every n, k a node meets in practice */
#define CHECK_MAX_SUBSETS	20000

/* the signed record of the salted value's digest (palloc'd bytea) */
static bytea *
signed_record(const ShareValue *v, int k, int n, const uint8 *id, const uint8 *salted, size_t len)
{
	uint8		digest[CHECK_DIGEST_SIZE];
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	bytea	   *rec = palloc(VARHDRSZ + CHECK_RECORD_SIZE);

	check_digest(digest, id, salted, len);
	signing_key_current(sk);
	SET_VARSIZE(rec, VARHDRSZ + CHECK_RECORD_SIZE);
	check_record_build((uint8 *) VARDATA(rec), k, n, v->type, id, signing_now(), digest, sk);
	sodium_memzero(sk, sizeof(sk));
	return rec;
}

bytea *
check_split(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id,
			struct varlena **shares)
{
	size_t		len = v->field == SHARE_FIELD_PRIME ? 2 * FP_BYTES : v->len + SHARE_CHECK_SALT;
	uint8	   *salted = palloc(len);
	bytea	   *rec;
	ShareHeader h;

	if (v->field == SHARE_FIELD_PRIME)
	{
		fp_t		salt;
		fp_t		ys[SHARE_MAX_N],
					zs[SHARE_MAX_N];

		fp_random(&salt);
		fp_to_bytes(salted, &v->fp);
		fp_to_bytes(salted + FP_BYTES, &salt);
		shamir_split_fp(&v->fp, k - 1, n, xs, ys);
		shamir_split_fp(&salt, k - 1, n, xs, zs);
		for (int i = 0; i < n; i++)
		{
			fp_to_bytes(SHARE_PAYLOAD(shares[i]), &ys[i]);
			fp_to_bytes(SHARE_PAYLOAD(shares[i]) + FP_BYTES, &zs[i]);
		}
		sodium_memzero(&salt, sizeof(salt));
		sodium_memzero(ys, sizeof(fp_t) * n);
		sodium_memzero(zs, sizeof(fp_t) * n);
	}
	else
	{
		uint8	  **ys = palloc(sizeof(uint8 *) * n);

		if (v->len > 0)
			memcpy(salted, v->bytes, v->len);
		ssn_random_bytes(salted + v->len, SHARE_CHECK_SALT);
		for (int i = 0; i < n; i++)
			ys[i] = SHARE_PAYLOAD(shares[i]);
		shamir_split_gf256(salted, len, k - 1, n, xs, ys);
		pfree(ys);
	}
	rec = signed_record(v, k, n, id, salted, len);
	for (int i = 0; i < n; i++)
	{
		share_header_init(&h, v->field, v->type, k, n, k - 1, xs[i], 0, id);
		h.scale = v->scale;
		h.flags = SHARE_FLAG_CHECKED;
		h.payload_len = (uint32) len;
		share_seal_varlena(shares[i], &h);
	}
	sodium_memzero(salted, len);
	pfree(salted);
	return rec;
}

const char *
check_record_problem(const bytea *record, const uint8 *id)
{
	CheckRecord r;
	char		why[160];

	if (!check_record_parse(&r, (const uint8 *) VARDATA_ANY(record), VARSIZE_ANY_EXHDR(record),
							why, sizeof(why)))
		return psprintf("malformed: %s", why);
	if (memcmp(r.id, id, CHECK_RECORD_ID_SIZE) != 0)
		return "it is the check value of another secret";
	if (!check_record_signature_ok(&r))
		return "its signature does not verify: the check value was altered or forged";
	if (!signing_key_trusted(r.signer))
		return "it is signed by a key that is not one of this node's signing keys";
	return NULL;
}

char *
check_record_describe(const bytea *record)
{
	CheckRecord r;
	char		why[160];

	if (!check_record_parse(&r, (const uint8 *) VARDATA_ANY(record), VARSIZE_ANY_EXHDR(record),
							why, sizeof(why)))
		return pstrdup(why);
	return signing_describe(r.signer, r.signed_at);
}

/* the next k-subset of 0..m-1 in lexicographic order; false after the last */
static bool
next_subset(int *c, int k, int m)
{
	int			i = k - 1;

	while (i >= 0 && c[i] == m - k + i)
		i--;
	if (i < 0)
		return false;
	c[i]++;
	for (int j = i + 1; j < k; j++)
		c[j] = c[j - 1] + 1;
	return true;
}

/*
 * The salted value's bytes at x = at of the polynomial through the k shares ys at
 * xs (len bytes each): byte by byte in GF(2^8); in the prime field value and salt,
 * 32 bytes each.
 */
static void
eval_at(int field, const uint8 *xs, const uint8 *const *ys, int k, uint8 at, size_t len, uint8 *out)
{
	if (field == SHARE_FIELD_PRIME)
	{
		fp_t		lambda[SHARE_MAX_N],
					e[SHARE_MAX_N],
					r;

		shamir_lagrange_fp(xs, k, at, lambda);
		for (int part = 0; part < 2; part++)
		{
			for (int i = 0; i < k; i++)
				(void) fp_from_bytes(&e[i], ys[i] + part * FP_BYTES);	/* validated */
			shamir_combine_fp(&r, k, lambda, e);
			fp_to_bytes(out + part * FP_BYTES, &r);
		}
		sodium_memzero(e, sizeof(fp_t) * k);
		sodium_memzero(&r, sizeof(r));
	}
	else
	{
		uint8		lambda[SHARE_MAX_N];

		shamir_lagrange_gf256(xs, k, at, lambda);
		shamir_combine_gf256(out, len, k, lambda, ys);
	}
}

int
check_find(const bytea *record, struct varlena **shares, int m, int k, bool *fits, bool *ambiguous)
{
	CheckRecord r;
	char		why[160];
	ShareHeader h[SHARE_MAX_N];
	int			c[SHARE_MAX_N];
	uint8		xs[SHARE_MAX_N];
	const uint8 *ys[SHARE_MAX_N];
	bool		cand[SHARE_MAX_N];
	uint8	   *buf;
	size_t		maxlen = 1;
	int			tried = 0,
				best = 0;

	*ambiguous = false;
	for (int i = 0; i < m; i++)
		fits[i] = false;
	if (m < k || k < 1 || m > SHARE_MAX_N ||
		!check_record_parse(&r, (const uint8 *) VARDATA_ANY(record), VARSIZE_ANY_EXHDR(record),
							why, sizeof(why)))
		return 0;
	for (int i = 0; i < m; i++)
	{
		share_read_header(SHARE_BYTES(shares[i]), &h[i]);
		maxlen = Max(maxlen, h[i].payload_len);
	}
	buf = palloc(maxlen);
	for (int i = 0; i < k; i++)
		c[i] = i;

	/*
	 * Every k-subset of one form (checked, one length: a holder serving another
	 * form fails only itself) whose value opens the digest.  All give the value
	 * (the digest binds it), but shares altered so that their errors vanish at 0
	 * make another polynomial through it: the one most shares fit is the honest
	 * one, and a tie means too few holders answered to tell who lies.
	 */
	do
	{
		bool		skip = best > 0;
		uint32		len = h[c[0]].payload_len;
		int			n = 0;

		for (int i = 0; i < k && skip; i++)
			skip = fits[c[i]];	/* all on the best polynomial so far: the same one */
		for (int i = 0; i < k && !skip; i++)
			skip = !share_is_checked(&h[c[i]]) || h[c[i]].payload_len != len;
		if (skip)
			continue;
		for (int i = 0; i < k; i++)
		{
			xs[i] = h[c[i]].x;
			ys[i] = SHARE_PAYLOAD(shares[c[i]]);
		}
		eval_at(h[c[0]].field, xs, ys, k, 0, len, buf);
		if (!check_record_matches(&r, buf, len))
			continue;
		for (int j = 0; j < m; j++)
		{
			cand[j] = false;
			for (int i = 0; i < k; i++)
				cand[j] |= c[i] == j;
			if (!cand[j] && share_is_checked(&h[j]) && h[j].payload_len == len)
			{
				eval_at(h[j].field, xs, ys, k, h[j].x, len, buf);
				cand[j] = sodium_memcmp(buf, SHARE_PAYLOAD(shares[j]), len) == 0;
			}
			n += cand[j] ? 1 : 0;
		}
		if (n > best)
		{
			memcpy(fits, cand, sizeof(bool) * m);
			*ambiguous = false;
			best = n;
		}
		else if (n == best)
			*ambiguous = true;
		CHECK_FOR_INTERRUPTS();
	} while (++tried < CHECK_MAX_SUBSETS && next_subset(c, k, m));

	/*
	 * Who lies is known only if no other polynomial through the value could have
	 * won: one of up to k-1 liars and at most k-2 honest shares (it meets the
	 * honest one at 0) is fit by at most 2k-3; and once m >= 2k-1 the honest one
	 * is among those tried, fit by at least m-k+1 >= 2k-3 when m >= 3k-4.
	 */
	if (best > 0 && best < m && best < 2 * k - 2 && m < Max(2 * k - 1, 3 * k - 4))
		*ambiguous = true;
	sodium_memzero(buf, maxlen);
	pfree(buf);
	return best;
}
