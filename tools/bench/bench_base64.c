/*
 * bench_base64.c - base64_ct.c against libsodium's constant-time base64, side by
 * side on the same data: keys of 32 bytes (the KME's default key_size) and of
 * 8 KB (a link's max_key_size on ssn-local), decoded and encoded; MB/s of key
 * bytes and the ratio.
 *
 * make build/bench_base64 && ./build/bench_base64
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/base64_ct.h"

#define TOTAL (64u << 20)		/* key bytes per measure */

static volatile unsigned sink;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
measure(size_t key)
{
	size_t		nkeys = TOTAL / key,
				tlen = BASE64_CT_LEN(key);
	uint8_t    *keys = malloc(TOTAL),
			   *out = malloc(key);
	char	   *text = malloc(nkeys * (tlen + 1)),
			   *enc = malloc(tlen + 1);
	double		t,
				sd,
				od,
				se,
				oe;
	size_t		got;

	randombytes_buf(keys, TOTAL);
	for (size_t i = 0; i < nkeys; i++)
		sodium_bin2base64(text + i * (tlen + 1), tlen + 1, keys + i * key, key, sodium_base64_VARIANT_ORIGINAL);
	t = now_s();
	for (size_t i = 0; i < nkeys; i++)
	{
		sodium_base642bin(out, key, text + i * (tlen + 1), tlen, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL);
		sink += out[0];
	}
	sd = now_s() - t;
	t = now_s();
	for (size_t i = 0; i < nkeys; i++)
	{
		if (base64_ct_decode(out, key, text + i * (tlen + 1), tlen) != 0)
			abort();
		sink += out[0];
	}
	od = now_s() - t;
	t = now_s();
	for (size_t i = 0; i < nkeys; i++)
	{
		sodium_bin2base64(enc, tlen + 1, keys + i * key, key, sodium_base64_VARIANT_ORIGINAL);
		sink += enc[0];
	}
	se = now_s() - t;
	t = now_s();
	for (size_t i = 0; i < nkeys; i++)
	{
		base64_ct_encode(enc, keys + i * key, key);
		sink += enc[0];
	}
	oe = now_s() - t;
	printf("%6zu-byte keys  decode: libsodium %6.0f MB/s, base64_ct %6.0f MB/s (%.1fx)   "
		   "encode: libsodium %6.0f MB/s, base64_ct %6.0f MB/s (%.1fx)\n",
		   key, TOTAL / sd / 1e6, TOTAL / od / 1e6, sd / od, TOTAL / se / 1e6, TOTAL / oe / 1e6, se / oe);
	free(keys);
	free(out);
	free(text);
	free(enc);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	printf("base64 of key material, 64 MB of keys each (libsodium and base64_ct, same data):\n");
	measure(32);
	measure(8192);
	return 0;
}
