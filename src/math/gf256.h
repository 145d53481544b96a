/*
 * gf256.h - arithmetic in GF(2^8) for byte-string secrets.
 *
 * The field is GF(2)[x]/(x^8 + x^4 + x^3 + x + 1) (0x11B, the AES polynomial, which is
 * also the one GFNI's gf2p8mulb uses).  Addition is XOR.  Every routine here is
 * constant-time in the data bytes: no table lookup indexed by data, no branch on data.
 * Branching on the public multiplier c is allowed (x-coordinates and Lagrange
 * coefficients are public).
 *
 * Region kernels are dispatched at run time (GFNI, AVX2, SSSE3, portable SWAR).
 * This module is plain C (no PostgreSQL headers) so unit tests and fuzzers link it.
 */
#ifndef SSN_GF256_H
#define SSN_GF256_H

#include <stddef.h>
#include <stdint.h>

/* a * b, constant-time in both operands */
extern uint8_t gf256_mul(uint8_t a, uint8_t b);

/* multiplicative inverse, constant-time; gf256_inv(0) == 0 */
extern uint8_t gf256_inv(uint8_t a);

/* dst[i] = c * dst[i] ^ src[i]   (one Horner step; c public) */
extern void gf256_region_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len);

/* dst[i] ^= c * src[i]           (accumulate a scaled region; c public) */
extern void gf256_region_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len);

/* dst[i] = c * src[i]            (scale a region; c public; dst may equal src) */
extern void gf256_region_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len);

/*
 * dst[i] = sum over j of x^j * rows[j][i], j = 0..nrows-1 (nrows >= 1; x public):
 * evaluates at x, for every byte i, the polynomial whose coefficients are the bytes
 * at i of the rows, constant term first.  Horner's rule with the accumulator in
 * registers: each row is read once and dst written once.  dst may equal a row
 * (partial overlap is not supported).
 */
extern void gf256_region_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows,
							  int nrows, size_t len);

/*
 * The same, but dst is written with non-temporal stores (past the caches) where the
 * kernel has them: for outputs much larger than the cache that are not read again
 * soon.  The stores are fenced before it returns.
 */
extern void gf256_region_eval_nt(uint8_t *dst, uint8_t x, const uint8_t *const *rows,
								 int nrows, size_t len);

/*
 * Kernel selection.  The best kernel the CPU supports is picked on first use.
 * gf256_use_kernel() forces one by name ("portable", "ssse3", "avx2", "gfni") and
 * returns 0 when this CPU (or this build) cannot run it, 1 on success.
 * gf256_kernel_name() names the kernel in use.  gf256_kernel_names() lists all names
 * compiled in, NULL-terminated.
 */
extern int	gf256_use_kernel(const char *name);
extern const char *gf256_kernel_name(void);
extern const char *const *gf256_kernel_names(void);

#endif							/* SSN_GF256_H */
