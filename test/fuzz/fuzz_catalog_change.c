/*
 * fuzz_catalog_change.c - libFuzzer target for the signed catalog change parser
 * (catalog_change.h), which a node reads from an authenticated peer.
 *
 * Properties: no crash or out-of-bounds access; an accepted change lies inside
 * the buffer and writes back to the very bytes it was parsed from; a refusal says
 * why; a change signed here verifies, and fails once one byte of it changes.
 *
 * make build/fuzz_catalog_change && ./build/fuzz_catalog_change -runs=200000
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle/catalog_change.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[crypto_sign_PUBLICKEYBYTES],
				sk[crypto_sign_SECRETKEYBYTES];
	static bool have_key = false;
	uint8_t    *copy = malloc(size ? size : 1);
	uint8_t    *out;
	CatalogChange c;
	char		err[256];
	bool		ok;

	if (!have_key)
	{
		if (sodium_init() < 0)
			abort();
		crypto_sign_keypair(pk, sk);
		have_key = true;
	}
	memcpy(copy, data, size);
	err[0] = 0;
	ok = catalog_change_read(copy, size, &c, err, sizeof(err));
	if (!ok && err[0] == 0)
		abort();
	if (ok)
	{
		size_t		n = catalog_change_size(&c);

		if (n != size)
			abort();
		out = malloc(n);
		if (catalog_change_write(out, &c) != n || memcmp(out, copy, n) != 0)
			abort();
		/* signed here: verifies; a byte of the change altered: does not */
		catalog_change_sign(&c, sk);
		if (!catalog_change_verify(&c))
			abort();
		catalog_change_write(out, &c);
		out[n - 1] ^= 1;
		if (catalog_change_read(out, n, &c, err, sizeof(err)) && catalog_change_verify(&c))
			abort();
		free(out);
	}
	free(copy);
	return 0;
}
