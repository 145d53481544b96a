/*
 * test_commitment.c - unit tests for commitment.c: the record layout, build / parse /
 * verify round trips, every single-byte change refused, lengths refused with a
 * message, the signer key as recorded.
 *
 * make build/test_commitment && ./build/test_commitment
 */
#include <sodium.h>
#include <string.h>

#include "crypto/commitment.h"
#include "unit.h"

static uint8_t pk_a[crypto_sign_PUBLICKEYBYTES],
			sk_a[crypto_sign_SECRETKEYBYTES],
			pk_b[crypto_sign_PUBLICKEYBYTES],
			sk_b[crypto_sign_SECRETKEYBYTES];

static const uint8_t id[COMMIT_RECORD_ID_SIZE] = {
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

static uint8_t points[COMMIT_RECORD_K_MAX * COMMIT_RECORD_POINT];

static void
keys(void)
{
	uint8_t		seed[crypto_sign_SEEDBYTES];
	int			i;

	memset(seed, 0xa1, sizeof(seed));
	crypto_sign_seed_keypair(pk_a, sk_a, seed);
	memset(seed, 0xb2, sizeof(seed));
	crypto_sign_seed_keypair(pk_b, sk_b, seed);
	for (i = 0; i < COMMIT_RECORD_K_MAX; i++)
		crypto_core_ristretto255_random(points + i * COMMIT_RECORD_POINT);
}

static void
test_round_trip(void)
{
	static uint8_t rec[COMMIT_RECORD_MAX_SIZE + 1];
	static const int ks[] = {1, 2, 3, 7, 255};
	static const int64_t ats[] = {0, 1700000000123456, -1, INT64_MIN, INT64_MAX};
	CommitRecord r;
	char		err[256];
	size_t		n;
	int			i;

	for (i = 0; i < (int) (sizeof(ks) / sizeof(ks[0])); i++)
	{
		int			k = ks[i];
		uint32_t	epoch = 0xfedcba98u - (uint32_t) i;

		n = commit_record_build(rec, k, epoch, id, ats[i], points, sk_a);
		CHECK(n == COMMIT_RECORD_SIZE(k) && n == 128 + 32 * (size_t) k, "size k=%d: %zu", k, n);
		CHECK(commit_record_parse(&r, rec, n, err, sizeof(err)), "parse k=%d: %s", k, err);
		CHECK(r.version == 1 && r.k == k && r.epoch == epoch && r.signed_at == ats[i] &&
			  memcmp(r.id, id, sizeof(id)) == 0, "fields k=%d", k);
		CHECK(r.data == rec && r.signer == rec + 32 && r.points == rec + 64 &&
			  r.signature == rec + 64 + 32 * k && r.signed_len == 64 + 32 * (size_t) k,
			  "pointers k=%d", k);
		CHECK(memcmp(r.signer, pk_a, 32) == 0, "signer k=%d", k);
		CHECK(memcmp(r.points, points, 32 * (size_t) k) == 0, "points k=%d", k);
		CHECK(commit_record_signature_ok(&r), "signature k=%d", k);
		CHECK(commit_record_verify(rec, n), "verify k=%d", k);
		/* one byte more or less */
		CHECK(!commit_record_verify(rec, n + 1), "extended verifies k=%d", k);
		CHECK(!commit_record_verify(rec, n - 1), "truncated verifies k=%d", k);
	}
	CHECK(commit_record_build(rec, 0, 1, id, 0, points, sk_a) == 0, "k=0 built");
	CHECK(commit_record_build(rec, 256, 1, id, 0, points, sk_a) == 0, "k=256 built");
}

/* the byte layout, and the signature over the tag and the bytes before it */
static void
test_layout(void)
{
	uint8_t		rec[COMMIT_RECORD_SIZE(2)];
	uint8_t		msg[18 + 64 + 64];
	size_t		n;

	n = commit_record_build(rec, 2, 0x04030201u, id, INT64_C(0x0807060504030201), points, sk_a);
	CHECK(n == 192, "size %zu", n);
	CHECK(rec[0] == 1 && rec[1] == 2 && rec[2] == 0 && rec[3] == 0, "version, k, reserved");
	CHECK(rec[4] == 1 && rec[5] == 2 && rec[6] == 3 && rec[7] == 4, "epoch little-endian");
	CHECK(memcmp(rec + 8, id, 16) == 0, "id");
	CHECK(rec[24] == 1 && rec[27] == 4 && rec[31] == 8, "signed_at little-endian");
	CHECK(memcmp(rec + 32, pk_a, 32) == 0, "signer");
	CHECK(memcmp(rec + 64, points, 64) == 0, "points");
	memcpy(msg, "ssn-commitment-v1", 18);	/* with its NUL */
	CHECK(msg[17] == 0, "tag NUL");
	memcpy(msg + 18, rec, 128);
	CHECK(crypto_sign_verify_detached(rec + 128, msg, sizeof(msg), pk_a) == 0,
		  "signature is not over tag || bytes");
	CHECK(crypto_sign_verify_detached(rec + 128, rec, 128, pk_a) != 0,
		  "signature verifies without the tag");
	/* Ed25519 is deterministic: the same inputs give the same record */
	{
		uint8_t		again[sizeof(rec)];

		commit_record_build(again, 2, 0x04030201u, id, INT64_C(0x0807060504030201),
							points, sk_a);
		CHECK(memcmp(again, rec, sizeof(rec)) == 0, "not deterministic");
	}
}

static void
test_byte_flips(void)
{
	static const int ks[] = {1, 3};
	uint8_t		rec[COMMIT_RECORD_SIZE(3)];
	size_t		n,
				i;
	int			j,
				bad = 0;
	static const uint8_t flips[] = {0x01, 0x80, 0xff};

	for (j = 0; j < 2; j++)
	{
		n = commit_record_build(rec, ks[j], 42, id, 1234567, points, sk_a);
		for (i = 0; i < n; i++)
		{
			int			f;

			for (f = 0; f < 3; f++)
			{
				rec[i] ^= flips[f];
				if (commit_record_verify(rec, n))
				{
					bad++;
					fprintf(stderr, "k=%d: byte %zu ^ 0x%02x verifies\n", ks[j], i, flips[f]);
				}
				rec[i] ^= flips[f];
			}
		}
		CHECK(bad == 0, "k=%d: %d single-byte changes verify", ks[j], bad);
		CHECK(commit_record_verify(rec, n), "k=%d restored", ks[j]);
	}
}

static void
test_refused(void)
{
	static uint8_t rec[COMMIT_RECORD_MAX_SIZE + 64];
	CommitRecord r;
	char		err[256];
	size_t		n,
				len;
	int			bad = 0;

	n = commit_record_build(rec, 3, 7, id, 99, points, sk_a);
	for (len = 0; len < n + 64; len++)
	{
		err[0] = 0;
		if (len == n)
			continue;
		if (commit_record_parse(&r, rec, len, err, sizeof(err)) || err[0] == 0)
		{
			bad++;
			fprintf(stderr, "length %zu: accepted or no message\n", len);
		}
	}
	CHECK(bad == 0, "%d wrong lengths accepted", bad);
	CHECK(!commit_record_parse(&r, rec, 100, err, sizeof(err)) &&
		  strstr(err, "truncated") != NULL, "short: %s", err);
	CHECK(!commit_record_parse(&r, rec, n + 1, err, sizeof(err)) &&
		  strstr(err, "3 points has 225 bytes, not 224") != NULL, "extended: %s", err);
	CHECK(!commit_record_parse(&r, rec, n - 32, err, sizeof(err)) &&
		  strstr(err, "192 bytes, not 224") != NULL, "one point short: %s", err);
	CHECK(!commit_record_parse(&r, rec, 0, err, sizeof(err)), "empty");

	rec[0] = 2;
	CHECK(!commit_record_parse(&r, rec, n, err, sizeof(err)) &&
		  strstr(err, "version 2") != NULL, "version: %s", err);
	rec[0] = 1;
	rec[1] = 0;
	CHECK(!commit_record_parse(&r, rec, n, err, sizeof(err)) &&
		  strstr(err, "no points") != NULL, "k=0: %s", err);
	rec[1] = 4;
	CHECK(!commit_record_parse(&r, rec, n, err, sizeof(err)) &&
		  strstr(err, "4 points") != NULL, "k=4: %s", err);
	rec[1] = 3;
	rec[3] = 1;
	CHECK(!commit_record_parse(&r, rec, n, err, sizeof(err)) &&
		  strstr(err, "reserved") != NULL, "reserved: %s", err);
	rec[3] = 0;
	CHECK(commit_record_parse(&r, rec, n, err, sizeof(err)) && commit_record_verify(rec, n),
		  "restored: %s", err);

	/* a failed parse leaves nothing to verify */
	CHECK(!commit_record_parse(&r, rec, 5, err, sizeof(err)) && !commit_record_signature_ok(&r),
		  "signature of a failed parse");
	/* a tiny error buffer is fine */
	CHECK(!commit_record_parse(&r, rec, 5, err, 1) && err[0] == 0, "errlen 1");
}

static void
test_keys(void)
{
	uint8_t		rec[COMMIT_RECORD_SIZE(2)],
				msg[18 + 128];
	CommitRecord r;
	char		err[256];
	size_t		n;

	n = commit_record_build(rec, 2, 1, id, 5, points, sk_a);
	CHECK(commit_record_parse(&r, rec, n, err, sizeof(err)), "parse: %s", err);
	CHECK(memcmp(r.signer, pk_a, 32) == 0 && memcmp(r.signer, pk_b, 32) != 0,
		  "signer is not A");

	/* B's key in the signer field: A's signature does not verify under it */
	memcpy(rec + 32, pk_b, 32);
	CHECK(!commit_record_verify(rec, n), "A's signature verifies as B's");
	/* B signs a record that names A: does not verify under A */
	memcpy(rec + 32, pk_a, 32);
	memcpy(msg, COMMIT_RECORD_TAG, 18);
	memcpy(msg + 18, rec, 128);
	crypto_sign_detached(rec + 128, NULL, msg, sizeof(msg), sk_b);
	CHECK(!commit_record_verify(rec, n), "B's signature verifies as A's");
	/* the same record built by B is valid, and names B */
	n = commit_record_build(rec, 2, 1, id, 5, points, sk_b);
	CHECK(commit_record_verify(rec, n) && commit_record_parse(&r, rec, n, err, sizeof(err)) &&
		  memcmp(r.signer, pk_b, 32) == 0, "record by B");
}

int
main(void)
{
	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	keys();
	test_round_trip();
	test_layout();
	test_byte_flips();
	test_refused();
	test_keys();
	return unit_finish("commitment");
}
