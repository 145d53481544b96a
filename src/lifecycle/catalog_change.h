/*
 * catalog_change.h - a change of the shareholder catalog as one node signs it and
 * sends it to the others (message kind 'catalog', all of it clear, authenticated
 * by the link's one-time MAC and by the origin's Ed25519 signature):
 *
 *   1 byte   format (CATALOG_CHANGE_FORMAT)
 *   1 byte   length L of the origin's name (1..63), then L bytes of it
 *   8 bytes  sequence number of the origin's changes (1, 2, ...), little-endian
 *   8 bytes  when it was made: µs since 1970-01-01 UTC, little-endian
 *  32 bytes  the signer's Ed25519 public key
 *  64 bytes  its signature over the domain string and every field above and below
 *   4 bytes  length C of the change (1..CATALOG_CHANGE_MAX), little-endian
 *   C bytes  the change: a JSON object (op, name, sae_id, share_index, ...)
 *
 * Plain C (no PostgreSQL headers): the fuzzer links it.
 */
#ifndef SSN_CATALOG_CHANGE_H
#define SSN_CATALOG_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_CHANGE_FORMAT	1
#define CATALOG_ORIGIN_MAX		63
#define CATALOG_CHANGE_MAX		8192
#define CATALOG_SIGNER_BYTES	32
#define CATALOG_SIGNATURE_BYTES 64

typedef struct CatalogChange
{
	char		origin[CATALOG_ORIGIN_MAX + 1];
	uint64_t	seq;
	int64_t		made_at;
	uint8_t		signer[CATALOG_SIGNER_BYTES];
	uint8_t		signature[CATALOG_SIGNATURE_BYTES];
	const uint8_t *change;
	size_t		change_len;
} CatalogChange;

/* bytes catalog_change_write needs; 0 if a field is out of range */
extern size_t catalog_change_size(const CatalogChange *c);
extern size_t catalog_change_write(uint8_t *buf, const CatalogChange *c);

/* the whole buffer as one change (change points into buf); false and err if malformed */
extern bool catalog_change_read(const uint8_t *buf, size_t len, CatalogChange *c,
								char *err, size_t errlen);

/* sign with an Ed25519 secret key (64 bytes, libsodium layout): signer and signature set */
extern void catalog_change_sign(CatalogChange *c, const uint8_t *sk);

/* whether the signature verifies under c->signer */
extern bool catalog_change_verify(const CatalogChange *c);

#endif							/* SSN_CATALOG_CHANGE_H */
