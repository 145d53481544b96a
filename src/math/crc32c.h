/*
 * crc32c.h - CRC-32C (Castagnoli) over share bytes.
 *
 * Detects truncation and accidental or naive alteration of a share; it is not a MAC
 * (forgery is the job of commitments and signatures).  Constant-time: the SSE4.2
 * crc32 instruction where the CPU has it, else a bitwise loop with masks, never a
 * table indexed by share bytes.
 */
#ifndef SSN_CRC32C_H
#define SSN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t ssn_crc32c(uint32_t crc, const void *data, size_t len);

#endif							/* SSN_CRC32C_H */
