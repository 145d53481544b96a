/*
 * base64_ct.c - constant-time base64 of key material (see base64_ct.h).
 *
 * A 64-bit word holds eight characters (or sextets), one per byte lane.  Every
 * comparison is a subtraction from the lane with its top bit set, which can never
 * borrow from the next lane: x >= v exactly when bit 7 of ((x | 0x80) - v) is
 * set, for lanes x < 0x80 and 0 <= v <= 0x80.  Masks made from those bits
 * select each range's offset, so that every lane takes the same instructions.
 */
#include "crypto/base64_ct.h"

#include <sodium.h>
#include <string.h>

#define LANES(b)	((uint64_t) (b) * 0x0101010101010101ULL)
#define TOP			LANES(0x80)

/* bit 7 of each lane: x >= v (lanes of x below 0x80) */
static inline uint64_t
lanes_ge(uint64_t x, unsigned v)
{
	return ((x | TOP) - LANES(v)) & TOP;
}

/* 0xff in the lanes where bit 7 is set, 0 elsewhere */
static inline uint64_t
lanes_mask(uint64_t top_bits)
{
	return (top_bits >> 7) * 0xff;
}

static inline uint64_t
load_le64(const char *p)
{
	uint64_t	w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline void
store_le64(char *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	memcpy(p, &w, 8);
}

/* six bytes as eight sextet lanes, the first sextet in the lowest lane */
static inline uint64_t
spread(const uint8_t *b)
{
	uint64_t	w = 0;

	for (int g = 0; g < 2; g++)
	{
		uint32_t	t = (uint32_t) b[3 * g] << 16 | (uint32_t) b[3 * g + 1] << 8 | b[3 * g + 2];

		w |= ((uint64_t) (t >> 18) |
			  (uint64_t) ((t >> 12) & 63) << 8 |
			  (uint64_t) ((t >> 6) & 63) << 16 |
			  (uint64_t) (t & 63) << 24) << (32 * g);
	}
	return w;
}

/* eight sextet lanes back to six bytes */
static inline void
gather(uint8_t *b, uint64_t v)
{
	for (int g = 0; g < 2; g++)
	{
		uint64_t	q = v >> (32 * g);
		uint32_t	t = (uint32_t) (q & 63) << 18 | (uint32_t) ((q >> 8) & 63) << 12 |
			(uint32_t) ((q >> 16) & 63) << 6 | (uint32_t) ((q >> 24) & 63);

		b[3 * g] = (uint8_t) (t >> 16);
		b[3 * g + 1] = (uint8_t) (t >> 8);
		b[3 * g + 2] = (uint8_t) t;
	}
}

/* sextet lanes (each < 64) to their characters: A-Z a-z 0-9 + / */
static inline uint64_t
sextets_to_chars(uint64_t s)
{
	/* 'A' + s, then each range's step; no lane leaves 0..255 on the way */
	uint64_t	c = s + LANES('A');

	c += lanes_mask(lanes_ge(s, 26)) & LANES(6);	/* 'a' - 'A' - 26 */
	c -= lanes_mask(lanes_ge(s, 52)) & LANES(75);	/* from 'a' + 26 to '0' */
	c -= lanes_mask(lanes_ge(s, 62)) & LANES(15);	/* from '0' + 10 to '+' */
	c += lanes_mask(lanes_ge(s, 63)) & LANES(3);	/* from '+' + 1 to '/' */
	return c;
}

void
base64_ct_encode(char *dst, const uint8_t *src, size_t n)
{
	size_t		i = 0;
	uint8_t		tail[6];
	char		out[8];

	for (; i + 6 <= n; i += 6, dst += 8)
		store_le64(dst, sextets_to_chars(spread(src + i)));
	if (i == n)
		return;
	/* the last 1-5 bytes, zero-filled; then padding for a partial group */
	memset(tail, 0, sizeof(tail));
	memcpy(tail, src + i, n - i);
	store_le64(out, sextets_to_chars(spread(tail)));
	{
		size_t		left = n - i,
					chars = BASE64_CT_LEN(left),
					data = (left * 4 + 2) / 3;

		memcpy(dst, out, data);
		memset(dst + data, '=', chars - data);
	}
	sodium_memzero(tail, sizeof(tail));
	sodium_memzero(out, sizeof(out));
}

/* characters (lanes) to sextets; the lanes of *bad are non-zero where one is not base64 */
static inline uint64_t
chars_to_sextets(uint64_t w, uint64_t *bad)
{
	uint64_t	x = w & ~TOP,
				up = lanes_mask(lanes_ge(x, 'A') & ~lanes_ge(x, 'Z' + 1)),
				lo = lanes_mask(lanes_ge(x, 'a') & ~lanes_ge(x, 'z' + 1)),
				dg = lanes_mask(lanes_ge(x, '0') & ~lanes_ge(x, '9' + 1)),
				pl = lanes_mask(lanes_ge(x, '+') & ~lanes_ge(x, '+' + 1)),
				sl = lanes_mask(lanes_ge(x, '/') & ~lanes_ge(x, '/' + 1));

	/* ((x | TOP) - v) ^ TOP is x - v in a lane where x >= v */
	*bad |= (w & TOP) | ~(up | lo | dg | pl | sl);
	return ((((x | TOP) - LANES('A')) ^ TOP) & up) |
		(((((x | TOP) - LANES('a')) ^ TOP) & lo) + (LANES(26) & lo)) |
		(((((x | TOP) - LANES('0')) ^ TOP) & dg) + (LANES(52) & dg)) |
		(LANES(62) & pl) | (LANES(63) & sl);
}

int
base64_ct_decode(uint8_t *dst, size_t n, const char *src, size_t len)
{
	size_t		groups = (n + 2) / 3,
				pad = groups * 3 - n,
				data = len - pad,
				i = 0,
				o = 0;
	uint64_t	bad = 0;
	char		tail[8];
	uint8_t		out[6];

	if (len != groups * 4)
		return -1;
	for (size_t p = data; p < len; p++)
		bad |= (uint8_t) (src[p] ^ '=');
	for (; i + 8 <= data; i += 8, o += 6)
		gather(dst + o, chars_to_sextets(load_le64(src + i), &bad));
	if (i < data)
	{
		/* the last 1-7 characters, filled with 'A' (zero bits) */
		memset(tail, 'A', sizeof(tail));
		memcpy(tail, src + i, data - i);
		gather(out, chars_to_sextets(load_le64(tail), &bad));
		memcpy(dst + o, out, n - o);
		/* the bits after the last byte must be zero (canonical) */
		for (size_t b = n - o; b < sizeof(out); b++)
			bad |= out[b];
		sodium_memzero(tail, sizeof(tail));
		sodium_memzero(out, sizeof(out));
	}
	/* -1 when any bit of bad is set, without a branch on which */
	bad |= bad >> 32;
	bad |= bad >> 16;
	bad |= bad >> 8;
	bad &= 0xff;
	return -(int) ((bad + 0xff) >> 8);
}
