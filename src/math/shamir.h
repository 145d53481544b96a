/*
 * shamir.h - Shamir (k,n) secret sharing over GF(2^8) and over F_l.
 *
 * A secret s is the constant term of a random polynomial f of degree d (= k-1 for a
 * fresh split); share i is (x_i, f(x_i)).  Any d+1 shares rebuild s by Lagrange
 * interpolation at 0; d or fewer are independent of s.  x-coordinates are public
 * bytes 1..255.  Plain C, no PostgreSQL headers.
 */
#ifndef SSN_SHAMIR_H
#define SSN_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "math/field_p.h"

/* x-coordinates are bytes 1..255, so no sharing has more points than this */
#define SHARE_POINTS_MAX 255

/*
 * Lagrange coefficients for the points xs[0..m-1] (distinct, nonzero), evaluated
 * at `at` (0 to rebuild the secret): f(at) = sum lambda[i] * f(xs[i]).
 */
extern void shamir_lagrange_gf256(const uint8_t *xs, int m, uint8_t at, uint8_t *lambda);
extern void shamir_lagrange_fp(const uint8_t *xs, int m, uint8_t at, fp_t *lambda);

/*
 * Split a byte string: shares[i] (len bytes each) receives f_j(xs[i]) for the
 * polynomial of each byte j, all of degree `degree` (0..SHARE_POINTS_MAX - 1).
 * The random coefficients of a value come from one keystream under a fresh key.
 * Not thread-safe (a per-process coefficient buffer, like random.c's pool).
 */
extern void shamir_split_gf256(const uint8_t *secret, size_t len, int degree,
							   int n, const uint8_t *xs, uint8_t *const *shares);

/* out = sum lambda[i] * ys[i], byte-wise, for m shares of len bytes. */
extern void shamir_combine_gf256(uint8_t *out, size_t len, int m,
								 const uint8_t *lambda, const uint8_t *const *ys);

/* Split one field element into n shares of a random polynomial of `degree`. */
extern void shamir_split_fp(const fp_t *secret, int degree, int n,
							const uint8_t *xs, fp_t *shares);

/* out = sum lambda[i] * ys[i] */
extern void shamir_combine_fp(fp_t *out, int m, const fp_t *lambda, const fp_t *ys);

#endif							/* SSN_SHAMIR_H */
