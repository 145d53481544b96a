/*
 * field_p.h - arithmetic in the prime field F_l used for numeric secrets.
 *
 * l = 2^252 + 27742317777372353535851937790883648493, the order of the ristretto255
 * group, so that Pedersen commitments over ristretto255 (libsodium) can later verify
 * the very same shares.  Elements are kept in Montgomery form (R = 2^256) in four
 * 64-bit limbs.  Every operation is constant-time: no branch and no memory access
 * that depends on an element's value.
 *
 * Encoding: 32 bytes little-endian, canonical (< l), the same as libsodium's
 * crypto_core_ristretto255 scalars.  Signed integers map v >= 0 to v and v < 0 to
 * l - |v|; decoding treats values above (l-1)/2 as negative.
 *
 * Plain C (no PostgreSQL headers) so unit tests, fuzzers and the benchmark link it.
 */
#ifndef SSN_FIELD_P_H
#define SSN_FIELD_P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_BYTES 32

typedef struct fp
{
	uint64_t	v[4];			/* Montgomery form, fully reduced (< l) */
} fp_t;

extern const fp_t fp_zero;
extern const fp_t fp_one;

/* Decode 32 LE bytes; returns false (and sets *r to 0) if the value is not < l. */
extern bool fp_from_bytes(fp_t *r, const uint8_t in[FP_BYTES]);
/* Canonical 32-byte LE encoding. */
extern void fp_to_bytes(uint8_t out[FP_BYTES], const fp_t *a);

extern void fp_from_u64(fp_t *r, uint64_t v);
extern void fp_from_i64(fp_t *r, int64_t v);

/*
 * Signed magnitude form: |value| as 32 LE bytes plus a sign.
 * fp_from_signed() returns false if |value| > (l-1)/2 (not representable).
 * fp_to_signed() never fails.
 */
extern bool fp_from_signed(fp_t *r, const uint8_t mag[FP_BYTES], bool negative);
extern void fp_to_signed(uint8_t mag[FP_BYTES], bool *negative, const fp_t *a);

extern void fp_add(fp_t *r, const fp_t *a, const fp_t *b);
extern void fp_sub(fp_t *r, const fp_t *a, const fp_t *b);
extern void fp_neg(fp_t *r, const fp_t *a);
extern void fp_mul(fp_t *r, const fp_t *a, const fp_t *b);
/* a^-1, constant-time (Fermat); fp_inv(0) == 0 */
extern void fp_inv(fp_t *r, const fp_t *a);
/* Montgomery batch inversion of m elements (none may be zero); tmp holds m elements */
extern void fp_batch_inv(fp_t *r, const fp_t *a, int m, fp_t *tmp);

extern bool fp_is_zero(const fp_t *a);	/* constant-time */
extern bool fp_equal(const fp_t *a, const fp_t *b);	/* constant-time */

/* Uniformly random element (rejection sampling on 253-bit candidates). */
extern void fp_random(fp_t *r);
/* the same from another source of uniform bytes (randombytes_buf off the main thread) */
extern void fp_random_from(fp_t *r, void (*fill) (void *buf, size_t len));

#endif							/* SSN_FIELD_P_H */
