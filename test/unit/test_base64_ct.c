/*
 * test_base64_ct.c - unit tests for base64_ct.c against libsodium's base64
 * (standard alphabet, padding): every length from 0 to 200 bytes of random data
 * both ways; every character position replaced by every byte value outside the
 * alphabet; padding missing, misplaced or present where none is due; non-zero
 * bits after the last byte; wrong lengths; all 256 byte values; no byte above
 * 0x7f accepted (libsodium 1.0.18 reads some of them as '/').
 *
 * make build/test_base64_ct && ./build/test_base64_ct
 */
#include <sodium.h>
#include <string.h>

#include "crypto/base64_ct.h"
#include "unit.h"

/*
 * libsodium 1.0.18 reads some bytes above 0x7f as '/'; they are no base64, and
 * base64_ct refuses them: the reference is libsodium's answer for ASCII only.
 */
static int
sodium_accepts(const char *s, size_t len, size_t n)
{
	uint8_t		out[256];
	size_t		got = 0;

	for (size_t i = 0; i < len; i++)
		if ((uint8_t) s[i] >= 0x80)
			return 0;
	return sodium_base642bin(out, sizeof(out), s, len, NULL, &got, NULL,
							 sodium_base64_VARIANT_ORIGINAL) == 0 && got == n;
}

int
main(void)
{
	uint8_t		src[256],
				back[256];
	char		enc[512],
				ref[512];

	if (sodium_init() < 0)
		return 1;
	for (size_t n = 0; n <= 200; n++)
	{
		size_t		len = BASE64_CT_LEN(n);

		randombytes_buf(src, n);
		if (n == 3)
			memset(src, 0xff, n);	/* every sextet 63: '/' */
		memset(enc, '#', sizeof(enc));
		base64_ct_encode(enc, src, n);
		sodium_bin2base64(ref, sizeof(ref), src, n, sodium_base64_VARIANT_ORIGINAL);
		CHECK(strlen(ref) == len && memcmp(enc, ref, len) == 0 && enc[len] == '#',
			  "encoding of %zu bytes: %.*s, libsodium %s", n, (int) len, enc, ref);
		memset(back, 0, sizeof(back));
		CHECK(base64_ct_decode(back, n, ref, len) == 0 && memcmp(back, src, n) == 0,
			  "decoding of %zu bytes", n);
		/* a length off by one either way, or the base64 of another length */
		CHECK(base64_ct_decode(back, n, ref, len + 1) == -1, "%zu bytes from one character more", n);
		if (len > 0)
			CHECK(base64_ct_decode(back, n, ref, len - 1) == -1, "%zu bytes from one character less", n);
		if (n > 0)
			CHECK(base64_ct_decode(back, n - 1, ref, len) == -1 || BASE64_CT_LEN(n - 1) == len,
				  "%zu bytes read as %zu", n, n - 1);
	}

	/* every position, every byte value: accepted exactly when libsodium accepts it */
	for (size_t n = 1; n <= 40; n++)
	{
		size_t		len = BASE64_CT_LEN(n);
		int			disagree = 0;

		randombytes_buf(src, n);
		base64_ct_encode(enc, src, n);
		for (size_t p = 0; p < len; p++)
			for (int c = 0; c < 256; c++)
			{
				char		save = enc[p];
				int			ours,
							theirs;

				enc[p] = (char) c;
				ours = base64_ct_decode(back, n, enc, len) == 0;
				theirs = sodium_accepts(enc, len, n);
				if (ours != theirs)
				{
					if (disagree++ < 3)
						fprintf(stderr, "n=%zu position %zu byte %d: ours %d, libsodium %d\n", n, p, c, ours, theirs);
				}
				else if (ours)
					disagree += memcmp(back, src, n) != 0 && (uint8_t) c == (uint8_t) save;
				enc[p] = save;
			}
		CHECK(disagree == 0, "%zu bytes: %d disagreements with libsodium over every position and byte", n, disagree);
	}

	/* padding and the bits after the last byte */
	CHECK(base64_ct_decode(back, 1, "QQ==", 4) == 0 && back[0] == 'A', "QQ== is A");
	CHECK(base64_ct_decode(back, 1, "QR==", 4) == -1, "QR==: bits after the last byte");
	CHECK(base64_ct_decode(back, 2, "QUI=", 4) == 0 && memcmp(back, "AB", 2) == 0, "QUI= is AB");
	CHECK(base64_ct_decode(back, 2, "QUJ=", 4) == -1, "QUJ=: bits after the last byte");
	CHECK(base64_ct_decode(back, 2, "QUI", 3) == -1, "padding missing");
	CHECK(base64_ct_decode(back, 1, "QQ=A", 4) == -1, "padding then data");
	CHECK(base64_ct_decode(back, 3, "QUI=", 4) == -1, "padding where a full group is due");
	CHECK(base64_ct_decode(back, 1, "Q===", 4) == -1, "three padding characters");
	CHECK(base64_ct_decode(back, 0, "", 0) == 0, "nothing from nothing");
	CHECK(base64_ct_decode(back, 0, "====", 4) == -1, "padding alone");

	/* all byte values */
	for (int i = 0; i < 256; i++)
		src[i] = (uint8_t) i;
	base64_ct_encode(enc, src, 256);
	sodium_bin2base64(ref, sizeof(ref), src, 256, sodium_base64_VARIANT_ORIGINAL);
	CHECK(memcmp(enc, ref, BASE64_CT_LEN(256)) == 0, "all byte values encoded");
	CHECK(base64_ct_decode(back, 256, ref, BASE64_CT_LEN(256)) == 0 && memcmp(back, src, 256) == 0,
		  "all byte values decoded");
	return unit_finish("test_base64_ct");
}
