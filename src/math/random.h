/*
 * random.h - the one source of randomness in ssn.
 *
 * All randomness is an AES-256-CTR keystream under a key and nonce drawn from
 * libsodium's randombytes_buf() (the kernel's CSPRNG): kernel randomness alone runs
 * at ~180 MB/s and costs a system call (~0.4 us) per request, far below the split
 * rate.  A large request gets a keystream under its own fresh key; small requests
 * are served from a 4 KiB buffer of keystream, refilled under a fresh key, whose
 * bytes are wiped as they are handed out and which a forked child never inherits.
 *
 * A caller that needs much randomness in pieces (a split draws its coefficients
 * block by block) opens a stream: one fresh key for the whole stream, so the cipher
 * is set up once (~2.4 us) rather than once per piece.  A stream belongs to one
 * value; a forked child that goes on reading its parent's stream gets a freshly
 * keyed one, never the bytes its parent gets.
 */
#ifndef SSN_RANDOM_H
#define SSN_RANDOM_H

#include <stddef.h>

extern void ssn_random_bytes(void *buf, size_t len);

typedef struct ssn_random_stream
{
	void	   *ctx;			/* EVP_CIPHER_CTX; NULL if keying failed */
	unsigned long generation;	/* the forks of this process when it was keyed */
} ssn_random_stream;

/* key a stream under a fresh random key and nonce */
extern void ssn_random_stream_init(ssn_random_stream *s);
/* the next len bytes of the stream's keystream */
extern void ssn_random_stream_next(ssn_random_stream *s, void *buf, size_t len);
/* wipe and free the cipher state */
extern void ssn_random_stream_free(ssn_random_stream *s);

#endif							/* SSN_RANDOM_H */
