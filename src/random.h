/*
 * random.h - the one source of randomness in ssn.
 *
 * All randomness is an AES-256-CTR keystream under a key and nonce drawn from
 * libsodium's randombytes_buf() (the kernel's CSPRNG): kernel randomness alone runs
 * at ~180 MB/s and costs a system call (~0.4 us) per request, far below the split
 * rate.  A large request gets a keystream under its own fresh key; small requests
 * are served from a 4 KiB buffer of keystream, refilled under a fresh key, whose
 * bytes are wiped as they are handed out and which a forked child never inherits.
 */
#ifndef SSN_RANDOM_H
#define SSN_RANDOM_H

#include <stddef.h>

extern void ssn_random_bytes(void *buf, size_t len);

#endif							/* SSN_RANDOM_H */
