/*
 * kme_client.h - ETSI GS QKD 014 client: this node (an SAE) asks its KME for keys.
 *
 * Every function reports failures with ereport(ERROR) (transport: 08006, a KME
 * that breaks the protocol: 08P01, HTTP 400: 22023, 401: 28000, 503: 53000); no
 * message ever contains key material.  Key material lives in a KmeKeyBatch, in
 * sodium_malloc'd memory that is wiped by kme_batch_free() or, if an error
 * intervenes, when the memory context that was current at its creation is reset.
 */
#ifndef SSN_KME_CLIENT_H
#define SSN_KME_CLIENT_H

#include "postgres.h"

#include "utils/palloc.h"

/* key IDs are opaque strings of 1..255 bytes (UUIDs in practice) */
#define KME_KEY_ID_MAXLEN 255
/* largest key size we accept, in bits (the ETSI API has none; kme-sim: 16 MiB) */
#define KME_MAX_KEY_BITS (1024 * 1024 * 8)
/* most keys one SQL-level call or batch may ask for */
#define KME_MAX_KEYS_PER_BATCH 100000

typedef struct KmeStatus
{
	char	   *source_kme_id;	/* NULL if the KME did not say */
	char	   *target_kme_id;
	char	   *master_sae_id;
	char	   *slave_sae_id;
	int64		key_size;		/* bits; -1 if absent */
	int64		stored_key_count;
	int64		max_key_count;
	int64		max_key_per_request;
	int64		max_key_size;
	int64		min_key_size;
	int64		max_sae_id_count;
} KmeStatus;

typedef struct KmeKey
{
	char	   *key_id;			/* palloc'd, 1..KME_KEY_ID_MAXLEN bytes */
	unsigned char *key;			/* size_bits / 8 bytes inside the batch */
} KmeKey;

typedef struct KmeKeyBatch
{
	int			nkeys;
	int			size_bits;		/* every key of a batch has this size */
	KmeKey	   *keys;			/* palloc'd; only IDs and pointers */
	unsigned char *material;	/* sodium_malloc'd, nkeys * size_bits / 8 */
	size_t		material_len;
	size_t		material_cap;	/* size of the sodium_malloc'd buffer */
	MemoryContextCallback wipe_cb;
} KmeKeyBatch;

/*
 * status of the link to peer_sae (this node as master); always asks the KME, and
 * refreshes the limits that the key requests use (cached for a few seconds)
 */
extern void kme_get_status(const char *peer_sae, KmeStatus *status);

/*
 * enc_keys: count keys of size_bits (0 = the link's default key_size) for a link
 * on which this node is master; split by the KME's max_key_per_request.
 */
extern KmeKeyBatch *kme_get_enc_keys(const char *slave_sae, int count, int size_bits);

/*
 * dec_keys: the keys with the given IDs, which master_sae obtained for us; each
 * must be exactly size_bits long.  The keys come back in the order of key_ids.
 */
extern KmeKeyBatch *kme_get_dec_keys(const char *master_sae, const char *const *key_ids,
									 int count, int size_bits);

/* the key size limits of the link to peer_sae (cached status) */
extern void kme_link_limits(const char *peer_sae, int *min_bits, int *max_bits,
							int *max_per_request);

/*
 * An empty batch of count keys of size_bits for keys obtained another way: its
 * material (secure memory, wiped when freed) to fill, its key_id pointers unset.
 */
extern KmeKeyBatch *kme_batch_new(int count, int size_bits);

/* wipe and free a batch (also done automatically on error) */
extern void kme_batch_free(KmeKeyBatch *batch);

/* raise an error unless the ssn.kme_* and ssn.sae_* settings are there */
extern void kme_check_config(void);

/* the KME URL as configured, for messages */
extern const char *kme_base_url(void);

#endif							/* SSN_KME_CLIENT_H */
