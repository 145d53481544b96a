/*
 * random.c - randomness for coefficients and identifiers.  See random.h.
 */
#include "math/random.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Requests up to this size are served from a per-process buffer. */
#define POOL_SIZE 4096
#define STREAM_KEY_BYTES (32 + 16)	/* AES-256 key and CTR nonce */

static unsigned char pool[POOL_SIZE];
static size_t pool_left;		/* unread bytes at the end of pool */

/*
 * Bumped in a child at every fork() (and the pool wiped there), so that a child
 * never reuses its parent's pool or stream.  Asking getpid() instead costs a
 * system call per request: millions of them in a degree reduction.
 */
static volatile unsigned long fork_generation = 1;
static bool forks_watched;
static pthread_once_t fork_watch = PTHREAD_ONCE_INIT;
static unsigned long pool_generation;	/* of the bytes in pool */

static void
forked_child(void)
{
	fork_generation++;
	sodium_memzero(pool, sizeof(pool));
	pool_left = 0;
}

static void
watch_forks(void)
{
	forks_watched = pthread_atfork(NULL, NULL, forked_child) == 0;
}

static unsigned long
generation(void)
{
	(void) pthread_once(&fork_watch, watch_forks);
	/* no memory to register the handler: the process id tells a child then */
	return forks_watched ? fork_generation : (unsigned long) getpid();
}

/*
 * Key a stream under a fresh key and nonce: from the pool (a system call per
 * 4 KiB of it, the backend's own thread only) or from the kernel (any thread).
 */
static void
stream_key(ssn_random_stream *s, bool from_pool)
{
	unsigned char key[STREAM_KEY_BYTES];
	EVP_CIPHER_CTX *ctx;

	if (from_pool)
		ssn_random_bytes(key, sizeof(key));
	else
		randombytes_buf(key, sizeof(key));
	s->generation = generation();
	ctx = EVP_CIPHER_CTX_new();
	if (ctx != NULL &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, key, key + 32) != 1)
	{
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	/* the context holds the expanded key now; it wipes it when freed */
	sodium_memzero(key, sizeof(key));
	s->ctx = ctx;
}

void
ssn_random_stream_init(ssn_random_stream *s)
{
	stream_key(s, true);
}

void
ssn_random_stream_free(ssn_random_stream *s)
{
	if (s->ctx != NULL)
		EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *) s->ctx);
	s->ctx = NULL;
}

void
ssn_random_stream_next(ssn_random_stream *s, void *buf, size_t len)
{
	unsigned char *out = buf;
	int			outl;

	/* a forked child must not produce the keystream its parent produces */
	if (s->generation != generation())
	{
		/* from the kernel, not the pool: a helper thread may be the reader */
		ssn_random_stream_free(s);
		stream_key(s, false);
	}

	/* the keystream is the encryption of zeros: zero the buffer, encrypt in place */
	while (len > 0 && s->ctx != NULL)
	{
		int			chunk = len > (1 << 30) ? (1 << 30) : (int) len;

		memset(out, 0, chunk);
		if (EVP_EncryptUpdate((EVP_CIPHER_CTX *) s->ctx, out, &outl, out, chunk) != 1 ||
			outl != chunk)
		{
			ssn_random_stream_free(s);
			break;
		}
		out += chunk;
		len -= chunk;
	}

	/* never hand out predictable bytes: after a failure, the slow, certain path */
	if (len > 0)
		randombytes_buf(out, len);
}

/* len bytes of AES-256-CTR keystream under a fresh key and nonce (see stream_key) */
static void
random_stream(void *buf, size_t len, bool key_from_pool)
{
	ssn_random_stream s;

	stream_key(&s, key_from_pool);
	ssn_random_stream_next(&s, buf, len);
	ssn_random_stream_free(&s);
}

void
ssn_random_bytes(void *buf, size_t len)
{
	if (len > POOL_SIZE / 4)
	{
		random_stream(buf, len, true);
		return;
	}
	if (pool_generation != generation())
	{
		sodium_memzero(pool, sizeof(pool));
		pool_left = 0;
		pool_generation = generation();
	}
	if (pool_left < len)
	{
		random_stream(pool, POOL_SIZE, false);
		pool_left = POOL_SIZE;
	}
	/* hand out bytes from the end and wipe them: no byte is given twice */
	memcpy(buf, pool + pool_left - len, len);
	sodium_memzero(pool + pool_left - len, len);
	pool_left -= len;
}

void
ssn_random_bytes_fresh(void *buf, size_t len)
{
	random_stream(buf, len, false);
}
