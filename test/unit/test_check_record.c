/*
 * test_check_record.c - unit tests for check_record.c (the signed check value of a
 * byte-string secret) and for checked shares in share_format.c: build / parse /
 * signature round trip, every single-byte change of the record refused, the digest
 * bound to the secret id, the value and the salt, and the text form of a checked
 * share round-tripping with its flag.
 *
 * make build/test_check_record && ./build/test_check_record
 */
#include <sodium.h>
#include <string.h>

#include "crypto/check_record.h"
#include "math/shamir.h"
#include "share/share_format.h"
#include "unit.h"

static const uint8_t id[CHECK_RECORD_ID_SIZE] = {
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
	0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
};

static void
test_record(void)
{
	uint8_t		pk[crypto_sign_PUBLICKEYBYTES],
				sk[crypto_sign_SECRETKEYBYTES],
				seed[crypto_sign_SEEDBYTES];
	uint8_t		salted[14 + 32];
	uint8_t		d[CHECK_DIGEST_SIZE];
	uint8_t		rec[CHECK_RECORD_SIZE];
	uint8_t		other_id[CHECK_RECORD_ID_SIZE];
	CheckRecord r;
	char		err[200];
	int			refused = 0;

	memset(seed, 0x5c, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	memcpy(salted, "attack at dawn", 14);
	randombytes_buf(salted + 14, 32);
	check_digest(d, id, salted, sizeof(salted));
	check_record_build(rec, 3, 5, SHARE_TYPE_TEXT, id, 1234567, d, sk);

	CHECK(check_record_parse(&r, rec, sizeof(rec), err, sizeof(err)), "parse: %s", err);
	CHECK(r.k == 3 && r.n == 5 && r.type == SHARE_TYPE_TEXT && r.signed_at == 1234567 &&
		  memcmp(r.id, id, sizeof(id)) == 0 && memcmp(r.signer, pk, sizeof(pk)) == 0,
		  "fields as built");
	CHECK(check_record_signature_ok(&r), "signature verifies");
	CHECK(check_record_matches(&r, salted, sizeof(salted)), "the salted value matches");

	/* the digest binds the value, the salt and the secret id */
	memcpy(salted, "attack at dusk", 14);
	CHECK(!check_record_matches(&r, salted, sizeof(salted)), "another value does not match");
	memcpy(salted, "attack at dawn", 14);
	salted[20] ^= 1;
	CHECK(!check_record_matches(&r, salted, sizeof(salted)), "another salt does not match");
	salted[20] ^= 1;
	CHECK(!check_record_matches(&r, salted, sizeof(salted) - 1), "a shorter value does not match");
	memcpy(other_id, id, sizeof(id));
	other_id[0] ^= 1;
	check_digest(d, other_id, salted, sizeof(salted));
	CHECK(memcmp(d, r.digest, sizeof(d)) != 0, "another secret id gives another digest");

	/* every single-byte change is refused by the parser or the signature */
	for (size_t i = 0; i < sizeof(rec); i++)
	{
		CheckRecord t;

		rec[i] ^= 0x40;
		if (!check_record_parse(&t, rec, sizeof(rec), err, sizeof(err)) || !check_record_signature_ok(&t))
			refused++;
		rec[i] ^= 0x40;
	}
	CHECK(refused == (int) sizeof(rec), "every single-byte change refused (%d of %zu)", refused, sizeof(rec));
	err[0] = 0;
	CHECK(!check_record_parse(&r, rec, sizeof(rec) - 1, err, sizeof(err)) && err[0], "a short record is refused with a reason");
}

static void
test_checked_share(void)
{
	uint8_t		value[4 + SHARE_CHECK_SALT];
	uint8_t		buf[3][SHARE_HEADER_SIZE + sizeof(value)];
	uint8_t    *ys[3] = {buf[0] + SHARE_HEADER_SIZE, buf[1] + SHARE_HEADER_SIZE, buf[2] + SHARE_HEADER_SIZE};
	uint8_t		xs[3] = {1, 2, 3};
	ShareHeader h,
				back;
	char		err[200];
	char	   *text;
	uint8_t    *parsed;
	size_t		plen;

	memset(value, 0, sizeof(value));
	memcpy(value, "\x01\x02\x03\x04", 4);
	randombytes_buf(value + 4, SHARE_CHECK_SALT);
	shamir_split_gf256(value, sizeof(value), 1, 3, xs, ys);
	memset(&h, 0, sizeof(h));
	h.version = SHARE_FORMAT_VERSION;
	h.field = SHARE_FIELD_GF256;
	h.type = SHARE_TYPE_DATE;
	h.x = 1;
	h.k = 2;
	h.n = 3;
	h.degree = 1;
	h.flags = SHARE_FLAG_CHECKED;
	memcpy(h.id, id, sizeof(id));
	h.payload_len = sizeof(value);
	share_seal(buf[0], &h);
	CHECK(share_validate(buf[0], sizeof(buf[0]), &back, err, sizeof(err)), "a checked date share is valid: %s", err);
	CHECK(share_is_checked(&back) && share_value_len(&back) == 4, "its value is 4 bytes");

	text = malloc(share_text_len(buf[0], sizeof(buf[0])) + 1);
	share_to_text(text, buf[0], sizeof(buf[0]));
	CHECK(strstr(text, " s=0 g=1 id=") != NULL, "the text form names the flag: %s", text);
	CHECK(strlen(text) == share_text_len(buf[0], sizeof(buf[0])), "share_text_len is exact");
	parsed = share_from_text(text, strlen(text), &plen, malloc, err, sizeof(err));
	CHECK(parsed && plen == sizeof(buf[0]) && memcmp(parsed, buf[0], plen) == 0, "text round trip: %s", err);
	free(parsed);
	free(text);

	/* a checked number: value and salt, two canonical elements of the prime field */
	{
		uint8_t		pb[SHARE_HEADER_SIZE + 64];
		ShareHeader ph = h;

		memset(pb, 0, sizeof(pb));
		pb[SHARE_HEADER_SIZE] = 7;
		pb[SHARE_HEADER_SIZE + 32] = 9;
		ph.field = SHARE_FIELD_PRIME;
		ph.type = SHARE_TYPE_INT8;
		ph.payload_len = 64;
		share_seal(pb, &ph);
		CHECK(share_validate(pb, sizeof(pb), &back, err, sizeof(err)) && share_is_checked(&back) &&
			  !share_is_verifiable(&back) && share_scalars(&back) == 2, "a checked int8 share is valid: %s", err);
		memset(pb + SHARE_HEADER_SIZE + 32, 0xff, 32);
		share_seal(pb, &ph);
		CHECK(!share_validate(pb, sizeof(pb), &back, err, sizeof(err)), "a salt share that is not canonical: refused");
		ph.flags = 0;
		pb[SHARE_HEADER_SIZE + 63] = 0;
		share_seal(pb, &ph);
		CHECK(!share_validate(pb, sizeof(pb), &back, err, sizeof(err)), "64 bytes without the flag: refused");
		ph.flags = SHARE_FLAG_CHECKED;
		ph.payload_len = 32;
		share_seal(pb, &ph);
		CHECK(!share_validate(pb, SHARE_HEADER_SIZE + 32, &back, err, sizeof(err)), "a checked number without its salt: refused");
	}

	/* a checked share of a 4-byte type without its salt is refused */
	h.payload_len = 4;
	share_seal(buf[1], &h);
	CHECK(!share_validate(buf[1], SHARE_HEADER_SIZE + 4, &back, err, sizeof(err)), "no room for the salt: refused");
	h.flags = 0x02;
	h.payload_len = 4;
	share_seal(buf[1], &h);
	CHECK(!share_validate(buf[1], SHARE_HEADER_SIZE + 4, &back, err, sizeof(err)), "unknown flag refused");
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_record();
	test_checked_share();
	return unit_finish("check_record");
}
