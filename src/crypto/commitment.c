/*
 * commitment.c - signed commitment records; see commitment.h.
 */
#include "crypto/commitment.h"

#include <sodium.h>
#include <string.h>

#include "base/bytes.h"
#include "base/errbuf.h"

/* the message the signature covers: the domain tag, then the record up to it */
static size_t
signed_message(uint8_t *msg, const uint8_t *rec, size_t signed_len)
{
	memcpy(msg, COMMIT_RECORD_TAG, COMMIT_RECORD_TAG_LEN);	/* with the NUL */
	memcpy(msg + COMMIT_RECORD_TAG_LEN, rec, signed_len);
	return COMMIT_RECORD_TAG_LEN + signed_len;
}

size_t
commit_record_build(uint8_t *out, int k, uint32_t epoch,
					const uint8_t id[COMMIT_RECORD_ID_SIZE],
					int64_t signed_at, const uint8_t *points, const uint8_t *sk)
{
	uint8_t		msg[COMMIT_RECORD_TAG_LEN + COMMIT_RECORD_MAX_SIZE];
	size_t		signed_len;
	uint64_t	at = (uint64_t) signed_at;

	if (k < 1 || k > COMMIT_RECORD_K_MAX)
		return 0;
	signed_len = COMMIT_RECORD_SIZE(k) - COMMIT_RECORD_SIG;

	out[0] = COMMIT_RECORD_VERSION;
	out[1] = (uint8_t) k;
	out[2] = 0;
	out[3] = 0;
	le_put_u32(out + 4, epoch);
	memcpy(out + 8, id, COMMIT_RECORD_ID_SIZE);
	le_put_u32(out + 24, (uint32_t) at);
	le_put_u32(out + 28, (uint32_t) (at >> 32));
	crypto_sign_ed25519_sk_to_pk(out + 32, sk);
	memcpy(out + COMMIT_RECORD_HEADER, points, (size_t) k * COMMIT_RECORD_POINT);

	crypto_sign_detached(out + signed_len, NULL, msg,
						 signed_message(msg, out, signed_len), sk);
	return COMMIT_RECORD_SIZE(k);
}

bool
commit_record_parse(CommitRecord *r, const uint8_t *buf, size_t len,
					char *err, size_t errlen)
{
	int			k;

	memset(r, 0, sizeof(*r));
	if (len < COMMIT_RECORD_SIZE(1))
		return fail(err, errlen, "commitment record is truncated: %zu bytes, at least %zu needed",
					len, COMMIT_RECORD_SIZE(1));
	if (buf[0] != COMMIT_RECORD_VERSION)
		return fail(err, errlen, "unsupported commitment record version %d", buf[0]);
	k = buf[1];
	if (k < 1)
		return fail(err, errlen, "commitment record has no points (k = 0)");
	if (le_get_u16(buf + 2) != 0)
		return fail(err, errlen, "commitment record has nonzero reserved bytes");
	if (len != COMMIT_RECORD_SIZE(k))
		return fail(err, errlen, "commitment record of %d points has %zu bytes, not %zu",
					k, len, COMMIT_RECORD_SIZE(k));

	r->version = buf[0];
	r->k = k;
	r->epoch = le_get_u32(buf + 4);
	memcpy(r->id, buf + 8, COMMIT_RECORD_ID_SIZE);
	r->signed_at = (int64_t) ((uint64_t) le_get_u32(buf + 24) |
							  (uint64_t) le_get_u32(buf + 28) << 32);
	r->data = buf;
	r->signer = buf + 32;
	r->points = buf + COMMIT_RECORD_HEADER;
	r->signed_len = len - COMMIT_RECORD_SIG;
	r->signature = buf + r->signed_len;
	return true;
}

bool
commit_record_signature_ok(const CommitRecord *r)
{
	uint8_t		msg[COMMIT_RECORD_TAG_LEN + COMMIT_RECORD_MAX_SIZE];

	if (r->data == NULL || r->k < 1 || r->k > COMMIT_RECORD_K_MAX ||
		r->signed_len != COMMIT_RECORD_SIZE(r->k) - COMMIT_RECORD_SIG)
		return false;
	return crypto_sign_verify_detached(r->signature, msg,
									   signed_message(msg, r->data, r->signed_len),
									   r->signer) == 0;
}

bool
commit_record_verify(const uint8_t *buf, size_t len)
{
	CommitRecord r;
	char		err[128];

	return commit_record_parse(&r, buf, len, err, sizeof(err)) &&
		commit_record_signature_ok(&r);
}
