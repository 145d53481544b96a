/*
 * pedersen.h - Pedersen commitments to Shamir sharings over ristretto255, so that a
 * shareholder can check its share against public commitments and a retriever can
 * check the shares it combines (verifiable secret sharing, Pedersen 1991).
 *
 * Generators: G, the ristretto255 base point, and H, hashed to the group from the
 * fixed string "ssn/pedersen/H/v1" (SHA-512, then crypto_core_ristretto255_from_hash),
 * so nobody knows log_G H.  A dealer sharing f(x) = sum a_i x^i (a_0 the secret)
 * draws a blinding polynomial r(x) = sum b_i x^i and publishes C_i = a_i G + b_i H,
 * i = 0..k-1; the share at x is (y, t) = (f(x), r(x)), and it is valid iff
 *
 *     y G + t H == sum_i x^i C_i.
 *
 * The commitments hide the secret perfectly (every C_i is uniform) and bind the
 * dealer computationally (discrete logarithm).  Scalars are fp_t (field_p.h: F_l is
 * the scalar field of ristretto255); points are 32-byte canonical encodings, the
 * identity being 32 zero bytes.  Secret scalars never drive a branch or a table
 * lookup; verification compares points in constant time.
 *
 * Not thread-safe (H is computed once and cached).  Plain C, no PostgreSQL headers.
 */
#ifndef SSN_PEDERSEN_H
#define SSN_PEDERSEN_H

#include <stdbool.h>
#include <stdint.h>

#include "math/field_p.h"

#define PEDERSEN_POINT_BYTES 32

#define PEDERSEN_MUST_CHECK __attribute__((warn_unused_result))

/* the second generator H (32 bytes, cached) */
extern const uint8_t *pedersen_generator_h(void);

/* r = f(x) = sum coeffs[i] x^i, Horner, constant-time in the coefficients */
extern void pedersen_eval(fp_t *r, const fp_t *coeffs, int k, uint8_t x);

/*
 * Commit to the k coefficients of a sharing polynomial: points[32 i ..] receives
 * C_i = coeffs[i] G + blind[i] H.  pedersen_commit_poly draws the blinding
 * coefficients (uniform, fp_random) into blind; pedersen_commit_with_blind takes
 * them from the caller (deterministic).  k is 1..255.
 */
extern void pedersen_commit_poly(uint8_t *points, fp_t *blind, const fp_t *coeffs, int k);
extern void pedersen_commit_with_blind(uint8_t *points, const fp_t *coeffs,
									   const fp_t *blind, int k);

/*
 * A sharing's coefficients and commitments: coeffs[0] (the secret) is the
 * caller's; coeffs[1 .. k-1] and blind[0 .. k-1] are drawn here, uniformly, and
 * points receives C_0 .. C_{k-1}.  Takes random pairs made ahead by the commit
 * pool's threads when they are ready (commit_pool.h), makes the rest itself.
 */
extern void pedersen_share_poly(uint8_t *points, fp_t *coeffs, fp_t *blind, int k);

/* start the commit pool with this many threads (see commit_pool_start) */
extern bool pedersen_pool_start(int threads);

/*
 * Does the share (x, y, t) lie on the committed polynomial of k points?  False as
 * well for an invalid point encoding, k outside 1..255 or x = 0 (not a share).
 */
extern bool pedersen_verify_share(const uint8_t *points, int k, uint8_t x,
								  const fp_t *y, const fp_t *t) PEDERSEN_MUST_CHECK;

/* one share to check in a batch; shares of one sharing may share `points` */
typedef struct PedersenShare
{
	const uint8_t *points;		/* k commitments, 32 bytes each */
	int			k;
	uint8_t		x;
	fp_t		y;				/* f(x) */
	fp_t		t;				/* r(x) */
} PedersenShare;

/*
 * Check m shares at once with random 128-bit weights rho_j:
 *     (sum rho_j y_j) G + (sum rho_j t_j) H == sum_j rho_j sum_i x_j^i C_{j,i}.
 * Shares whose commitments are equal (same k and bytes) are merged, so the cost is
 * one point multiplication per distinct commitment point plus two in all.  True iff
 * every share is valid (a false true has probability <= 2^-128); on false, check
 * the shares one by one to name the bad ones.  m = 0 is true.
 */
extern bool pedersen_verify_batch(const PedersenShare *s, int m) PEDERSEN_MUST_CHECK;

/*
 * Opening check after combining: s[j] G + t[j] H == c0[j] (32 bytes) for every
 * j < m, batched with random weights as above.
 */
extern bool pedersen_verify_openings(int m, const uint8_t *const *c0,
									 const fp_t *s, const fp_t *t) PEDERSEN_MUST_CHECK;

/*
 * acc[i] += d[i] for k points (renewal adds the commitments of a zero-sharing).
 * False, with acc unchanged, if any encoding is invalid.
 */
extern bool pedersen_points_add(uint8_t *acc, const uint8_t *d, int k) PEDERSEN_MUST_CHECK;

/*
 * A random sharing of zero for proactive renewal: coeffs[0] = 0, coeffs[1..k-1]
 * and blind[0..k-1] uniform, points their commitments (so D_0 = blind[0] H).
 * Shareholders add coeffs(x), blind(x) to their share and the points to the
 * commitments; the dealer reveals blind[0] so that anyone can check D_0 commits to 0.
 */
extern void pedersen_zero_sharing(fp_t *coeffs, fp_t *blind, uint8_t *points, int k);

/* d0 == blind0 H, i.e. d0 commits to zero */
extern bool pedersen_is_zero_commitment(const uint8_t *d0,
										const fp_t *blind0) PEDERSEN_MUST_CHECK;

#endif							/* SSN_PEDERSEN_H */
