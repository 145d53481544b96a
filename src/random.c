/*
 * random.c - randomness for coefficients and identifiers.  See random.h.
 */
#include "random.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Requests up to this size are served from a per-process buffer. */
#define POOL_SIZE 4096

static unsigned char pool[POOL_SIZE];
static size_t pool_left;		/* unread bytes at the end of pool */
static pid_t pool_pid;			/* a forked child must never reuse its parent's pool */

/* len bytes of AES-256-CTR keystream under a fresh random key and nonce */
static void
random_stream(void *buf, size_t len)
{
	unsigned char key[32 + 16];
	EVP_CIPHER_CTX *ctx;
	unsigned char *out = buf;
	int			outl;

	randombytes_buf(key, sizeof(key));
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
		EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, key, key + 32) != 1)
		goto fail;
	sodium_memzero(key, sizeof(key));

	/* the keystream is the encryption of zeros: zero the buffer, encrypt in place */
	while (len > 0)
	{
		int			chunk = len > (1 << 30) ? (1 << 30) : (int) len;

		memset(out, 0, chunk);
		if (EVP_EncryptUpdate(ctx, out, &outl, out, chunk) != 1 || outl != chunk)
			goto fail;
		out += chunk;
		len -= chunk;
	}
	EVP_CIPHER_CTX_free(ctx);
	return;

fail:
	/* never hand out predictable bytes: fall back to the slow, certain path */
	sodium_memzero(key, sizeof(key));
	if (ctx)
		EVP_CIPHER_CTX_free(ctx);
	randombytes_buf(out, len);
}

void
ssn_random_bytes(void *buf, size_t len)
{
	pid_t		pid = getpid();

	if (len > POOL_SIZE / 4)
	{
		random_stream(buf, len);
		return;
	}
	if (pool_pid != pid)
	{
		sodium_memzero(pool, sizeof(pool));
		pool_left = 0;
		pool_pid = pid;
	}
	if (pool_left < len)
	{
		random_stream(pool, POOL_SIZE);
		pool_left = POOL_SIZE;
	}
	/* hand out bytes from the end and wipe them: no byte is given twice */
	memcpy(buf, pool + pool_left - len, len);
	sodium_memzero(pool + pool_left - len, len);
	pool_left -= len;
}
