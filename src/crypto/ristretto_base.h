/*
 * ristretto_base.h - a A + b B over ristretto255 for two fixed points A, B and
 * secret scalars a, b (a Pedersen commitment s G + t H): constant-time, about
 * four times faster than libsodium 1.0.18's two multiplications, whose results
 * it matches byte for byte.
 *
 * Plain C (no PostgreSQL headers): unit tests and the benchmark link it.
 */
#ifndef SSN_RISTRETTO_BASE_H
#define SSN_RISTRETTO_BASE_H

#include <stdbool.h>
#include <stdint.h>

/* the multiples of one fixed point (about 60 kB) */
typedef struct RistrettoBaseTable RistrettoBaseTable;

/* a table for the point encoded in p (canonical); NULL if p is not a valid point or memory ran out */
extern RistrettoBaseTable *ristretto_base_table(const uint8_t p[32]);

/*
 * out = a A + b B (canonical encoding; the identity is 32 zero bytes), for
 * little-endian scalars a, b below 2^255 (reduced ones are below 2^253).
 * Time and memory access do not depend on a or b.
 */
extern void ristretto_base_mul2(uint8_t out[32], const RistrettoBaseTable *ta, const uint8_t a[32],
								const RistrettoBaseTable *tb, const uint8_t b[32]);

/* the same for m pairs (32-byte scalars one after the other): out gets m encodings */
extern void ristretto_base_mul2_many(uint8_t *out, const RistrettoBaseTable *ta, const uint8_t *a,
									 const RistrettoBaseTable *tb, const uint8_t *b, int m);

/*
 * A point kept for a later addition (affine, the form the tables hold).  It is
 * the prime-order representative, as every result here is.
 */
typedef struct RistrettoAddend
{
	uint64_t	v[15];
} RistrettoAddend;

/* ristretto_base_mul2_many that also keeps each result as an addend in keep[] */
extern void ristretto_base_mul2_keep(uint8_t *out, RistrettoAddend *keep, const RistrettoBaseTable *ta,
									 const uint8_t *a, const RistrettoBaseTable *tb, const uint8_t *b, int m);

/*
 * a_j A (one table) kept as addends in keep[]; out (if not NULL) gets their
 * encodings, which branch on the point: pass NULL for a point to keep secret
 */
extern void ristretto_base_mul_keep(uint8_t *out, RistrettoAddend *keep, const RistrettoBaseTable *ta,
									const uint8_t *a, int m);

/* out[j] = a_j A + P_j for m scalars and addends; constant-time in a and P */
extern void ristretto_base_mul_add(uint8_t *out, const RistrettoBaseTable *ta, const uint8_t *a,
								   const RistrettoAddend *p, int m);

/* tests: read the tables without AVX2 even where the CPU has it */
extern void ristretto_base_use_portable(bool on);

#endif							/* SSN_RISTRETTO_BASE_H */
