/*
 * test_share_batch.c - a batch split into its clear and secret parts and joined
 * again is the same batch, for every kind of share (prime field plain, checked,
 * verifiable with its commitment record, served; GF(2^8) plain and checked); the
 * clear part holds no payload byte that is secret and no checksum; parts that do
 * not fit together are refused.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/commitment.h"
#include "share/share_batch.h"
#include "unit.h"

/* a share with payload bytes pl (the prime field elements made canonical) */
static size_t
make_share(uint8_t *out, int field, int type, int flags, const uint8_t *payload, uint32_t pl,
		   const uint8_t *id)
{
	ShareHeader h;

	memset(&h, 0, sizeof(h));
	h.version = SHARE_FORMAT_VERSION;
	h.field = (uint8_t) field;
	h.type = (uint8_t) type;
	h.x = 2;
	h.k = 3;
	h.n = 5;
	h.degree = 2;
	h.flags = (uint8_t) flags;
	h.epoch = 7;
	memcpy(h.id, id, SHARE_ID_SIZE);
	h.payload_len = pl;
	memcpy(out + SHARE_HEADER_SIZE, payload, pl);
	share_seal(out, &h);
	return SHARE_HEADER_SIZE + pl;
}

int
main(void)
{
	uint8_t		id[SHARE_ID_SIZE],
				payload[512],
				share[600],
				batch[8192],
				clear[8192],
				secret[8192],
				joined[9000],
				sk[crypto_sign_SECRETKEYBYTES],
				pk[crypto_sign_PUBLICKEYBYTES],
				points[3 * 32];
	size_t		len = 0,
				clen,
				slen,
				jlen,
				expect_secret = 0;
	char		err[256];
	ShareHeader h;
	int			nshares = 0;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(id, sizeof(id));
	crypto_sign_keypair(pk, sk);

	/* canonical prime field elements: the top byte cleared */
	randombytes_buf(payload, sizeof(payload));
	for (int i = 0; i < 3; i++)
		payload[32 * i + 31] = 0;
	for (int i = 0; i < 3; i++)
	{
		crypto_core_ristretto255_random(points + 32 * i);
	}

	/* prime field, plain: y */
	len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_PRIME, SHARE_TYPE_INT8, 0, payload, 32, id));
	expect_secret += 32;
	/* prime field, checked: y and the salt */
	len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_PRIME, SHARE_TYPE_INT8, SHARE_FLAG_CHECKED, payload, 64, id));
	expect_secret += 64;
	/* prime field, served verifiable: y, t and a 16-byte digest */
	len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_PRIME, SHARE_TYPE_INT8, 0, payload, SHARE_SERVED_PAYLOAD, id));
	expect_secret += 64;
	/* prime field, verifiable with its signed commitment record */
	{
		uint8_t		vp[SHARE_VERIFIABLE_PAYLOAD(3)];

		memcpy(vp, payload, 64);
		CHECK(commit_record_build(vp + 64, 3, 7, id, 1000, points, sk) == SHARE_VERIFIABLE_PAYLOAD(3) - 64,
			  "commitment record built");
		len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_PRIME, SHARE_TYPE_INT8, 0, vp, sizeof(vp), id));
		expect_secret += 64;
	}
	/* GF(2^8), plain and checked: the whole payload is secret */
	len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_GF256, SHARE_TYPE_TEXT, 0, payload, 11, id));
	expect_secret += 11;
	len += share_batch_put(batch + len, share, make_share(share, SHARE_FIELD_GF256, SHARE_TYPE_TEXT, SHARE_FLAG_CHECKED, payload, 11 + SHARE_CHECK_SALT, id));
	expect_secret += 11 + SHARE_CHECK_SALT;
	nshares = 6;

	{
		size_t		off = 0,
					n = 0,
					sl;
		const uint8_t *sb;

		while (share_batch_next(batch, len, &off, &sb, &sl, &h, err, sizeof(err)))
			n++;
		CHECK(err[0] == '\0' && n == (size_t) nshares, "the batch of %d shares is valid: %s", nshares, err);
	}

	CHECK(share_batch_split(batch, len, clear, &clen, secret, &slen, err, sizeof(err)), "split: %s", err);
	CHECK(slen == expect_secret, "the secret part is the secret payload bytes only (%zu, %zu expected)",
		  slen, expect_secret);
	/* a CRC and a length per share (the verifiable one's length takes 2 bytes) */
	CHECK(clen + slen + (size_t) nshares * (4 + 1) + 1 == len,
		  "clear + secret + a CRC and a length per share make the batch (%zu + %zu, %zu)", clen, slen, len);
	/* no secret payload byte (nor a CRC over it) in the clear part */
	{
		bool		found = false;

		for (size_t i = 0; i + 16 <= clen && !found; i++)
			found = memcmp(clear + i, payload, 16) == 0 || memcmp(clear + i, payload + 32, 16) == 0;
		CHECK(!found, "the clear part holds no run of a secret payload");
	}
	/* SSN_JOIN_SEED=FILE: these parts as a seed for test/fuzz/fuzz_share_join.c */
	if (getenv("SSN_JOIN_SEED"))
	{
		FILE	   *f = fopen(getenv("SSN_JOIN_SEED"), "wb");
		uint8_t		n[2] = {(uint8_t) clen, (uint8_t) (clen >> 8)};

		if (f)
		{
			fwrite(n, 1, 2, f);
			fwrite(clear, 1, clen, f);
			fwrite(secret, 1, slen, f);
			fclose(f);
		}
	}
	CHECK(share_batch_join_bound(clen, slen) <= sizeof(joined), "bound fits the test buffer");
	CHECK(share_batch_join(clear, clen, secret, slen, joined, &jlen, err, sizeof(err)) &&
		  jlen == len && memcmp(joined, batch, len) == 0, "joined again: the same batch (%s)", err);

	/* parts that do not fit together */
	CHECK(!share_batch_join(clear, clen, secret, slen - 1, joined, &jlen, err, sizeof(err)),
		  "a secret part one byte short refused");
	CHECK(!share_batch_join(clear, clen, secret, slen + 1, joined, &jlen, err, sizeof(err)),
		  "a secret part one byte long refused");
	CHECK(!share_batch_join(clear, clen - 1, secret, slen, joined, &jlen, err, sizeof(err)),
		  "a clear part one byte short refused");
	{
		uint8_t		bad[8192];

		memcpy(bad, clear, clen);
		bad[3] = 0;				/* x = 0 */
		CHECK(!share_batch_join(bad, clen, secret, slen, joined, &jlen, err, sizeof(err)),
			  "a share header out of range refused: %s", err);
		memcpy(bad, clear, clen);
		bad[32] = 0xff;			/* payload length */
		CHECK(!share_batch_join(bad, clen, secret, slen, joined, &jlen, err, sizeof(err)),
			  "a payload length the parts do not hold refused: %s", err);
	}
	CHECK(share_batch_join(clear, 0, secret, 0, joined, &jlen, err, sizeof(err)) && jlen == 0,
		  "empty parts: an empty batch");
	return unit_finish("share_batch");
}
