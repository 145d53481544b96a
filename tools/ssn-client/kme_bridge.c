/*
 * kme_bridge.c - see kme_bridge.h.  Compiled with the server's headers, like
 * kme_client.c, which it calls.
 */
#include "postgres.h"

#include <sodium.h>

#include "crypto/envelope.h"
#include "kme_bridge.h"
#include "qkd/kme_client.h"

typedef struct BridgeCall
{
	const char *peer;
	size_t		plaintext_len;
	char	   *const *ids;
	int			nkeys;
	int			size_bits;
	BridgeKeys *out;
} BridgeCall;

/* copy a batch out of the KME client's memory, which shim_try wipes on return */
static void
keep_batch(KmeKeyBatch *b, BridgeKeys *out)
{
	out->nkeys = b->nkeys;
	out->size_bits = b->size_bits;
	out->material_len = b->material_len;
	out->material = sodium_malloc(Max(b->material_len, 1));
	out->ids = calloc(b->nkeys, sizeof(char *));
	if (out->material == NULL || out->ids == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for keys")));
	memcpy(out->material, b->material, b->material_len);
	for (int i = 0; i < b->nkeys; i++)
		if ((out->ids[i] = strdup(b->keys[i].key_id)) == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for key IDs")));
	kme_batch_free(b);
}

static void
enc_call(void *arg)
{
	BridgeCall *c = arg;
	int			min_bits,
				max_bits,
				max_req,
				bits,
				n;

	if (c->plaintext_len > ENVELOPE_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message to SAE \"%s\" is too large: %zu bytes", c->peer, c->plaintext_len),
				 errhint("Send fewer values per envelope (--batch).")));
	kme_link_limits(c->peer, &min_bits, &max_bits, &max_req);
	n = envelope_key_plan(c->plaintext_len, min_bits, max_bits, &bits);
	if (n > ENVELOPE_MAX_KEYS || n > KME_MAX_KEYS_PER_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a message of %zu bytes to SAE \"%s\" would need %d keys", c->plaintext_len,
						c->peer, n),
				 errhint("Send fewer values per envelope (--batch).")));
	keep_batch(kme_get_enc_keys(c->peer, n, bits), c->out);
}

static void
dec_call(void *arg)
{
	BridgeCall *c = arg;

	keep_batch(kme_get_dec_keys(c->peer, (const char *const *) c->ids, c->nkeys, c->size_bits), c->out);
}

bool
bridge_enc_keys(const char *peer_sae, size_t plaintext_len, BridgeKeys *out, ShimError *err)
{
	BridgeCall	c = {.peer = peer_sae, .plaintext_len = plaintext_len, .out = out};

	memset(out, 0, sizeof(*out));
	if (shim_try(enc_call, &c, err))
		return true;
	bridge_keys_free(out);
	return false;
}

bool
bridge_dec_keys(const char *peer_sae, char *const *ids, int nkeys, int size_bits,
				BridgeKeys *out, ShimError *err)
{
	BridgeCall	c = {.peer = peer_sae, .ids = ids, .nkeys = nkeys, .size_bits = size_bits, .out = out};

	memset(out, 0, sizeof(*out));
	if (shim_try(dec_call, &c, err))
		return true;
	bridge_keys_free(out);
	return false;
}

void
bridge_keys_free(BridgeKeys *k)
{
	if (k->material)
		sodium_free(k->material);	/* wipes */
	if (k->ids)
		for (int i = 0; i < k->nkeys; i++)
			free(k->ids[i]);
	free(k->ids);
	memset(k, 0, sizeof(*k));
}
