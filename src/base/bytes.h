/*
 * bytes.h - little-endian integers of the wire and disk formats (shares,
 * commitment records, programs): one definition for every plane.
 */
#ifndef SSN_BYTES_H
#define SSN_BYTES_H

#include <stdint.h>

/* little-endian integers of the wire formats */
static inline void
le_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
le_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static inline void
le_put_u64(uint8_t *p, uint64_t v)
{
	le_put_u32(p, (uint32_t) v);
	le_put_u32(p + 4, (uint32_t) (v >> 32));
}

static inline uint16_t
le_get_u16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
le_get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

#endif							/* SSN_BYTES_H */
