/*
 * ristretto_msm.h - sum of s_i * P_i over ristretto255 for many public points
 * and public 128-bit scalars: what a batched verification needs, and what
 * libsodium 1.0.18 does not offer (its point operations encode and decode every
 * result, about 20 us per addition).  Variable-time: never give it secret data.
 *
 * Plain C (no PostgreSQL headers): unit tests and the benchmark link it.
 */
#ifndef SSN_RISTRETTO_MSM_H
#define SSN_RISTRETTO_MSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RISTRETTO_MSM_SCALAR_BYTES 16

/*
 * out = sum scalars[i] * points[i] (canonical encodings; scalars little-endian,
 * scalar_bytes each, 1..32, one after the other);
 * false if a point is not a canonical ristretto255 encoding (or memory ran out).
 */
extern bool ristretto_msm(uint8_t out[32], const uint8_t *const *points, const uint8_t *scalars,
						  size_t scalar_bytes, size_t m);

/* the same with 16-byte scalars (random weights) */
extern bool ristretto_msm128(uint8_t out[32], const uint8_t *const *points,
							 const uint8_t (*scalars)[RISTRETTO_MSM_SCALAR_BYTES], size_t m);

#endif							/* SSN_RISTRETTO_MSM_H */
