/*
 * catalog_change.c - the signed catalog change's wire form (catalog_change.h).
 */
#include "lifecycle/catalog_change.h"

#include <sodium.h>
#include <string.h>

#include "base/bytes.h"
#include "base/errbuf.h"

#define DOMAIN "ssn catalog change v1"
#define FIXED (1 + 1 + 8 + 8 + CATALOG_SIGNER_BYTES + CATALOG_SIGNATURE_BYTES + 4)

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) le_get_u32(p) | ((uint64_t) le_get_u32(p + 4) << 32);
}

size_t
catalog_change_size(const CatalogChange *c)
{
	size_t		ol = strlen(c->origin);

	if (ol < 1 || ol > CATALOG_ORIGIN_MAX || c->change_len < 1 || c->change_len > CATALOG_CHANGE_MAX)
		return 0;
	return FIXED + ol + c->change_len;
}

size_t
catalog_change_write(uint8_t *buf, const CatalogChange *c)
{
	size_t		ol = strlen(c->origin);
	size_t		n = 0;

	buf[n++] = CATALOG_CHANGE_FORMAT;
	buf[n++] = (uint8_t) ol;
	memcpy(buf + n, c->origin, ol);
	n += ol;
	le_put_u64(buf + n, c->seq);
	n += 8;
	le_put_u64(buf + n, (uint64_t) c->made_at);
	n += 8;
	memcpy(buf + n, c->signer, CATALOG_SIGNER_BYTES);
	n += CATALOG_SIGNER_BYTES;
	memcpy(buf + n, c->signature, CATALOG_SIGNATURE_BYTES);
	n += CATALOG_SIGNATURE_BYTES;
	le_put_u32(buf + n, (uint32_t) c->change_len);
	n += 4;
	memcpy(buf + n, c->change, c->change_len);
	return n + c->change_len;
}

bool
catalog_change_read(const uint8_t *buf, size_t len, CatalogChange *c, char *err, size_t errlen)
{
	size_t		n = 0,
				ol;
	uint32_t	cl;

	memset(c, 0, sizeof(*c));
	if (len < FIXED + 1)
		return fail(err, errlen, "a catalog change of %zu bytes is too short", len);
	if (buf[n++] != CATALOG_CHANGE_FORMAT)
		return fail(err, errlen, "unknown catalog change format %d", buf[0]);
	ol = buf[n++];
	if (ol < 1 || ol > CATALOG_ORIGIN_MAX || len < FIXED + ol)
		return fail(err, errlen, "origin name of %zu bytes does not fit", ol);
	memcpy(c->origin, buf + n, ol);
	c->origin[ol] = '\0';
	if (memchr(c->origin, '\0', ol) != NULL)
		return fail(err, errlen, "origin name contains a zero byte");
	n += ol;
	c->seq = get_u64(buf + n);
	n += 8;
	c->made_at = (int64_t) get_u64(buf + n);
	n += 8;
	memcpy(c->signer, buf + n, CATALOG_SIGNER_BYTES);
	n += CATALOG_SIGNER_BYTES;
	memcpy(c->signature, buf + n, CATALOG_SIGNATURE_BYTES);
	n += CATALOG_SIGNATURE_BYTES;
	cl = le_get_u32(buf + n);
	n += 4;
	if (c->seq == 0)
		return fail(err, errlen, "sequence number 0");
	if (cl < 1 || cl > CATALOG_CHANGE_MAX || (size_t) cl != len - n)
		return fail(err, errlen, "change of %u bytes where %zu remain", cl, len - n);
	c->change = buf + n;
	c->change_len = cl;
	return true;
}

/* what the signature covers: the domain, then every field but the signature */
static void
signed_digest(const CatalogChange *c, uint8_t *digest)
{
	crypto_generichash_state st;
	uint8_t		b[8];
	uint8_t		ol = (uint8_t) strlen(c->origin);

	crypto_generichash_init(&st, NULL, 0, 64);
	crypto_generichash_update(&st, (const uint8_t *) DOMAIN, sizeof(DOMAIN));
	crypto_generichash_update(&st, &ol, 1);
	crypto_generichash_update(&st, (const uint8_t *) c->origin, ol);
	le_put_u64(b, c->seq);
	crypto_generichash_update(&st, b, 8);
	le_put_u64(b, (uint64_t) c->made_at);
	crypto_generichash_update(&st, b, 8);
	crypto_generichash_update(&st, c->signer, CATALOG_SIGNER_BYTES);
	le_put_u32(b, (uint32_t) c->change_len);
	crypto_generichash_update(&st, b, 4);
	crypto_generichash_update(&st, c->change, c->change_len);
	crypto_generichash_final(&st, digest, 64);
}

void
catalog_change_sign(CatalogChange *c, const uint8_t *sk)
{
	uint8_t		d[64];

	crypto_sign_ed25519_sk_to_pk(c->signer, sk);
	signed_digest(c, d);
	crypto_sign_detached(c->signature, NULL, d, sizeof(d), sk);
}

bool
catalog_change_verify(const CatalogChange *c)
{
	uint8_t		d[64];

	signed_digest(c, d);
	return crypto_sign_verify_detached(c->signature, d, sizeof(d), c->signer) == 0;
}
