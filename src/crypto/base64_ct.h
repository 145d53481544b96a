/*
 * base64_ct.h - standard base64 (RFC 4648, with padding) of key material, in
 * constant time: no branch and no table index depends on the bytes or the
 * characters, only on their lengths.  Eight characters (six bytes) at a time in
 * the lanes of a 64-bit word, so that a KME's reply of thousands of keys costs a
 * fraction of what a character at a time costs.  Plain C.
 */
#ifndef SSN_BASE64_CT_H
#define SSN_BASE64_CT_H

#include <stddef.h>
#include <stdint.h>

/* characters of the base64 of n bytes, without a terminating NUL */
#define BASE64_CT_LEN(n) ((((n) + 2) / 3) * 4)

/* the base64 of src[0..n) at dst: BASE64_CT_LEN(n) characters, no NUL */
extern void base64_ct_encode(char *dst, const uint8_t *src, size_t n);

/*
 * Exactly n bytes from src[0..len): 0, or -1 if src is not the canonical base64
 * of n bytes (a wrong length, a character outside the alphabet, missing or
 * misplaced padding, non-zero bits after the last byte).  Whether it failed is
 * the only thing that depends on the characters; on failure dst holds garbage
 * the caller wipes.
 */
extern int	base64_ct_decode(uint8_t *dst, size_t n, const char *src, size_t len);

#endif							/* SSN_BASE64_CT_H */
