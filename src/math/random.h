/*
 * random.h - the one source of randomness in ssn.
 *
 * All randomness is an AES-256-CTR keystream.  Small requests are served from a
 * 4 KiB buffer of keystream under a key and nonce drawn from libsodium's
 * randombytes_buf() (the kernel's CSPRNG) at each refill; its bytes are wiped as
 * they are handed out, and a forked child never inherits them.  Kernel randomness
 * alone runs at ~180 MB/s and costs a system call per request (256 bytes at most
 * in libsodium 1.0.18), far below the split rate and, in a virtual machine, a
 * large part of a store's time.
 *
 * A large request, and a caller that needs much randomness in pieces (a split
 * draws its coefficients block by block), gets a stream under its own fresh key
 * and nonce taken from that buffer: the cipher is set up once (~2.4 us) per
 * stream, and the kernel is asked once per 85 streams.  A stream belongs to one
 * value; a forked child that goes on reading its parent's stream gets a freshly
 * keyed one, never the bytes its parent gets.
 *
 * ssn_random_bytes() and ssn_random_stream_init() are for the backend's own
 * thread only (the pool is the process's); helper threads take
 * ssn_random_bytes_fresh().
 */
#ifndef SSN_RANDOM_H
#define SSN_RANDOM_H

#include <stddef.h>

extern void ssn_random_bytes(void *buf, size_t len);

/* len bytes under a key fresh from the kernel, no pool: safe in any thread */
extern void ssn_random_bytes_fresh(void *buf, size_t len);

typedef struct ssn_random_stream
{
	void	   *ctx;			/* EVP_CIPHER_CTX; NULL if keying failed */
	unsigned long generation;	/* the forks of this process when it was keyed */
} ssn_random_stream;

/* key a stream under a fresh random key and nonce (from the buffer) */
extern void ssn_random_stream_init(ssn_random_stream *s);
/* the next len bytes of the stream's keystream */
extern void ssn_random_stream_next(ssn_random_stream *s, void *buf, size_t len);
/* wipe and free the cipher state */
extern void ssn_random_stream_free(ssn_random_stream *s);

#endif							/* SSN_RANDOM_H */
