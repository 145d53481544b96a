/*
 * kme_bridge.h - the KME calls ssn-client makes, in plain C: the extension's own
 * ETSI GS QKD 014 client (src/qkd/kme_client.c) run under backend_shim, with the
 * key plan of src/crypto/envelope.h.  Key material is copied into
 * sodium_malloc'd memory before the KME client wipes its own.
 */
#ifndef SSN_KME_BRIDGE_H
#define SSN_KME_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "backend_shim.h"

typedef struct BridgeKeys
{
	int			nkeys;
	int			size_bits;
	char	  **ids;			/* malloc'd strings */
	uint8_t    *material;		/* sodium_malloc'd: nkeys * size_bits / 8 bytes */
	size_t		material_len;
} BridgeKeys;

/* keys (enc_keys, this SAE the master) for a message of plaintext_len bytes to peer_sae */
extern bool bridge_enc_keys(const char *peer_sae, size_t plaintext_len, BridgeKeys *out,
							ShimError *err);

/* the keys with these IDs (dec_keys) that peer_sae obtained for this SAE */
extern bool bridge_dec_keys(const char *peer_sae, char *const *ids, int nkeys, int size_bits,
							BridgeKeys *out, ShimError *err);

/* wipe and free */
extern void bridge_keys_free(BridgeKeys *k);

#endif							/* SSN_KME_BRIDGE_H */
