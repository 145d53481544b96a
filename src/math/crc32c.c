/*
 * crc32c.c - CRC-32C, see crc32c.h.  ssn_crc32c(0, p, n) is the standard CRC-32C.
 */
#include "math/crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("sse4.2")))
static uint32_t
crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t	c = crc;

	while (len >= 8)
	{
		uint64_t	w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = _mm_crc32_u8((uint32_t) c, *p++);
	return (uint32_t) c;
}
#endif

static uint32_t
crc32c_portable(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len-- > 0)
	{
		int			i;

		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc;
}

uint32_t
ssn_crc32c(uint32_t crc, const void *data, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_sse42(crc, data, len);
#endif
	return ~crc32c_portable(crc, data, len);
}
