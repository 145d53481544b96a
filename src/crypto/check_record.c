/*
 * check_record.c - signed check values of byte-string secrets; see check_record.h.
 */
#include "crypto/check_record.h"

#include <sodium.h>
#include <string.h>

#include "base/bytes.h"
#include "base/errbuf.h"

void
check_digest(uint8_t out[CHECK_DIGEST_SIZE], const uint8_t id[CHECK_RECORD_ID_SIZE],
			 const uint8_t *salted, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CHECK_DIGEST_SIZE);
	crypto_generichash_update(&st, (const uint8_t *) CHECK_DIGEST_TAG, sizeof(CHECK_DIGEST_TAG));
	crypto_generichash_update(&st, id, CHECK_RECORD_ID_SIZE);
	crypto_generichash_update(&st, salted, len);
	crypto_generichash_final(&st, out, CHECK_DIGEST_SIZE);
	sodium_memzero(&st, sizeof(st));
}

/* the message the signature covers: the domain tag with its NUL, then the record */
static void
signed_message(uint8_t *msg, const uint8_t *rec)
{
	memcpy(msg, CHECK_RECORD_TAG, sizeof(CHECK_RECORD_TAG));
	memcpy(msg + sizeof(CHECK_RECORD_TAG), rec, CHECK_RECORD_SIGNED);
}

void
check_record_build(uint8_t *out, int k, int n, int type,
				   const uint8_t id[CHECK_RECORD_ID_SIZE], int64_t signed_at,
				   const uint8_t digest[CHECK_DIGEST_SIZE], const uint8_t *sk)
{
	uint8_t		msg[sizeof(CHECK_RECORD_TAG) + CHECK_RECORD_SIGNED];
	uint64_t	at = (uint64_t) signed_at;

	out[0] = CHECK_RECORD_VERSION;
	out[1] = (uint8_t) k;
	out[2] = (uint8_t) n;
	out[3] = (uint8_t) type;
	le_put_u32(out + 4, 0);
	memcpy(out + 8, id, CHECK_RECORD_ID_SIZE);
	le_put_u32(out + 24, (uint32_t) at);
	le_put_u32(out + 28, (uint32_t) (at >> 32));
	crypto_sign_ed25519_sk_to_pk(out + 32, sk);
	memcpy(out + 64, digest, CHECK_DIGEST_SIZE);
	signed_message(msg, out);
	crypto_sign_detached(out + CHECK_RECORD_SIGNED, NULL, msg, sizeof(msg), sk);
}

bool
check_record_parse(CheckRecord *r, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (len != CHECK_RECORD_SIZE)
		return fail(err, errlen, "check record has %zu bytes, not %d", len, CHECK_RECORD_SIZE);
	if (buf[0] != CHECK_RECORD_VERSION)
		return fail(err, errlen, "unsupported check record version %d", buf[0]);
	if (buf[1] < 2 || buf[2] < buf[1])
		return fail(err, errlen, "check record has k=%d, n=%d", buf[1], buf[2]);
	if (le_get_u32(buf + 4) != 0)
		return fail(err, errlen, "check record has nonzero reserved bytes");
	r->version = buf[0];
	r->k = buf[1];
	r->n = buf[2];
	r->type = buf[3];
	memcpy(r->id, buf + 8, CHECK_RECORD_ID_SIZE);
	r->signed_at = (int64_t) ((uint64_t) le_get_u32(buf + 24) | ((uint64_t) le_get_u32(buf + 28) << 32));
	r->data = buf;
	r->signer = buf + 32;
	r->digest = buf + 64;
	r->signature = buf + CHECK_RECORD_SIGNED;
	return true;
}

bool
check_record_signature_ok(const CheckRecord *r)
{
	uint8_t		msg[sizeof(CHECK_RECORD_TAG) + CHECK_RECORD_SIGNED];

	signed_message(msg, r->data);
	return crypto_sign_verify_detached(r->signature, msg, sizeof(msg), r->signer) == 0;
}

bool
check_record_matches(const CheckRecord *r, const uint8_t *salted, size_t len)
{
	uint8_t		d[CHECK_DIGEST_SIZE];
	bool		ok;

	check_digest(d, r->id, salted, len);
	ok = sodium_memcmp(d, r->digest, CHECK_DIGEST_SIZE) == 0;
	sodium_memzero(d, sizeof(d));
	return ok;
}
