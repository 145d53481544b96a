/*
 * gf256.c - arithmetic in GF(2^8) mod 0x11B, constant-time in the data.  See gf256.h.
 *
 * The region kernels multiply a region by a public constant c.  None of them ever
 * uses a data byte as an index into memory or as a branch condition:
 *
 *	portable	64-bit SWAR, eight byte lanes per word; branches on the bits of c only.
 *	ssse3/avx2	c*x = T_lo[x & 15] ^ T_hi[x >> 4], where the two 16-entry tables are
 *				built for c and held in registers; pshufb is a register permutation,
 *				not a memory access, so its timing does not depend on the data.
 *	gfni		gf2p8mulb multiplies bytes mod 0x11B in hardware.
 *
 * The vector kernels hand the last < 16 bytes to the portable code.  Loads and
 * stores are unaligned throughout, except the non-temporal stores of eval_nt, which
 * start at dst's first vector boundary; every kernel reads a chunk of dst and src
 * (or of all rows) before writing that chunk, so dst == src is safe (partial overlap
 * is not supported).
 *
 * eval is Horner's rule over several rows with the accumulators in registers: for a
 * split it replaces one memcpy and one mul_xor pass per coefficient, each of which
 * read and wrote the whole share, by one read of each row and one write.
 *
 * Compiles with plain "gcc -O2": the vector kernels carry their own
 * __attribute__((target)), and are only called after a CPU feature check.
 */
#include "math/gf256.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && \
	(defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define GF256_X86 1
#include <immintrin.h>
#endif

typedef void (*gf256_region_fn) (uint8_t *dst, uint8_t c, const uint8_t *src, size_t len);
typedef void (*gf256_eval_fn) (uint8_t *dst, uint8_t x, const uint8_t *const *rows,
							   int nrows, size_t len);

typedef struct gf256_kernel
{
	const char *name;
	int			(*supported) (void);
	gf256_region_fn mul_xor;	/* dst = c * dst ^ src */
	gf256_region_fn muladd;		/* dst ^= c * src */
	gf256_region_fn mul;		/* dst = c * src */
	gf256_eval_fn eval;			/* dst = Horner(rows; x) */
	gf256_eval_fn eval_nt;		/* the same with non-temporal stores */
} gf256_kernel;


/* ---------------------------------------------------------------- scalar */

uint8_t
gf256_mul(uint8_t a, uint8_t b)
{
	unsigned int r = 0;
	unsigned int x = a;
	int			i;

	/* shift-and-add over all eight bits of b; masks instead of branches */
	for (i = 0; i < 8; i++)
	{
		r ^= x & (0u - ((b >> i) & 1u));
		x = ((x << 1) ^ (0x11Bu & (0u - (x >> 7)))) & 0xFFu;
	}
	return (uint8_t) r;
}

uint8_t
gf256_inv(uint8_t a)
{
	uint8_t		a2,
				a3,
				a12,
				a15,
				a240;

	/*
	 * a^254 = a^-1 for a != 0, and 0 for a == 0.  A fixed chain of squarings and
	 * multiplications, so nothing depends on a but the values.
	 */
	a2 = gf256_mul(a, a);
	a3 = gf256_mul(a2, a);
	a12 = gf256_mul(a3, a3);	/* a^6 */
	a12 = gf256_mul(a12, a12);
	a15 = gf256_mul(a12, a3);
	a240 = gf256_mul(a15, a15); /* a^30 */
	a240 = gf256_mul(a240, a240);	/* a^60 */
	a240 = gf256_mul(a240, a240);	/* a^120 */
	a240 = gf256_mul(a240, a240);
	return gf256_mul(gf256_mul(a240, a12), a2); /* a^(240 + 12 + 2) */
}


/* ---------------------------------------------------------------- portable SWAR */

#define LANES_7F UINT64_C(0x7F7F7F7F7F7F7F7F)
#define LANES_01 UINT64_C(0x0101010101010101)

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline void
store64(uint8_t *p, uint64_t w)
{
	memcpy(p, &w, sizeof(w));
}

/* multiply each byte lane by x; the carry mask times 0x1B never crosses a lane */
static inline uint64_t
xtime64(uint64_t w)
{
	return ((w & LANES_7F) << 1) ^ (((w >> 7) & LANES_01) * 0x1B);
}

/* c * each byte lane of w; the loop and the branches follow the public c only */
static inline uint64_t
mul64(uint64_t w, unsigned int c)
{
	uint64_t	r = 0;

	for (;;)
	{
		if (c & 1)
			r ^= w;
		c >>= 1;
		if (c == 0)
			break;
		w = xtime64(w);
	}
	return r;
}

/*
 * The tail (< 8 bytes) is packed into one zero-padded word, so it runs the very
 * same code as the body.
 */
static void
portable_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	uint64_t	d,
				s;

	for (; len >= 16; len -= 16, dst += 16, src += 16)
	{
		uint64_t	d0 = load64(dst),
					d1 = load64(dst + 8);

		store64(dst, mul64(d0, c) ^ load64(src));
		store64(dst + 8, mul64(d1, c) ^ load64(src + 8));
	}
	for (; len >= 8; len -= 8, dst += 8, src += 8)
		store64(dst, mul64(load64(dst), c) ^ load64(src));
	if (len > 0)
	{
		d = 0;
		s = 0;
		memcpy(&d, dst, len);
		memcpy(&s, src, len);
		d = mul64(d, c) ^ s;
		memcpy(dst, &d, len);
	}
}

static void
portable_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	uint64_t	d,
				s;

	for (; len >= 16; len -= 16, dst += 16, src += 16)
	{
		uint64_t	s0 = load64(src),
					s1 = load64(src + 8);

		store64(dst, load64(dst) ^ mul64(s0, c));
		store64(dst + 8, load64(dst + 8) ^ mul64(s1, c));
	}
	for (; len >= 8; len -= 8, dst += 8, src += 8)
		store64(dst, load64(dst) ^ mul64(load64(src), c));
	if (len > 0)
	{
		d = 0;
		s = 0;
		memcpy(&d, dst, len);
		memcpy(&s, src, len);
		d ^= mul64(s, c);
		memcpy(dst, &d, len);
	}
}

static void
portable_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	uint64_t	s;

	for (; len >= 16; len -= 16, dst += 16, src += 16)
	{
		uint64_t	s0 = load64(src),
					s1 = load64(src + 8);

		store64(dst, mul64(s0, c));
		store64(dst + 8, mul64(s1, c));
	}
	for (; len >= 8; len -= 8, dst += 8, src += 8)
		store64(dst, mul64(load64(src), c));
	if (len > 0)
	{
		s = 0;
		memcpy(&s, src, len);
		s = mul64(s, c);
		memcpy(dst, &s, len);
	}
}

/*
 * Horner's rule on the bytes [off, len) of the rows, accumulators in registers;
 * the vector kernels hand it what their vectors leave over.  Two words at a time
 * for independent work; the tail (< 8 bytes) is packed into zero-padded words.
 */
static void
portable_eval_from(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
				   size_t off, size_t len)
{
	const uint8_t *top = rows[nrows - 1];
	uint64_t	a0,
				a1,
				w;
	int			j;

	for (; len - off >= 16; off += 16)
	{
		a0 = load64(top + off);
		a1 = load64(top + off + 8);
		for (j = nrows - 2; j >= 0; j--)
		{
			a0 = mul64(a0, x) ^ load64(rows[j] + off);
			a1 = mul64(a1, x) ^ load64(rows[j] + off + 8);
		}
		store64(dst + off, a0);
		store64(dst + off + 8, a1);
	}
	for (; len - off >= 8; off += 8)
	{
		a0 = load64(top + off);
		for (j = nrows - 2; j >= 0; j--)
			a0 = mul64(a0, x) ^ load64(rows[j] + off);
		store64(dst + off, a0);
	}
	if (off < len)
	{
		a0 = 0;
		memcpy(&a0, top + off, len - off);
		for (j = nrows - 2; j >= 0; j--)
		{
			w = 0;
			memcpy(&w, rows[j] + off, len - off);
			a0 = mul64(a0, x) ^ w;
		}
		memcpy(dst + off, &a0, len - off);
	}
}

/* portable C has no non-temporal store, so eval_nt is eval here */
static void
portable_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	portable_eval_from(dst, x, rows, nrows, 0, len);
}

static int
portable_supported(void)
{
	return 1;
}


#ifdef GF256_X86

/* ---------------------------------------------------------------- SSSE3 */

/*
 * Layout shared by the vector kernels: a main loop of four vectors per iteration
 * (enough independent work to keep the shuffle ports busy), a loop of single
 * vectors, then the portable code for the last < 16 bytes.  In each chunk, every
 * load comes before the store to the same bytes, so dst == src is safe.
 */

#define LD128(p)	_mm_loadu_si128((const __m128i *) (p))
#define ST128(p, v) _mm_storeu_si128((__m128i *) (p), (v))

/* each byte lane times x, reduced mod 0x11B (SSE2 only) */
__attribute__((target("ssse3")))
static inline __m128i
xtime128(__m128i v)
{
	__m128i		carry = _mm_cmplt_epi8(v, _mm_setzero_si128());

	return _mm_xor_si128(_mm_add_epi8(v, v), _mm_and_si128(carry, _mm_set1_epi8(0x1B)));
}

/*
 * Nibble tables for c, computed in registers: lo[i] = c * i, hi[i] = c * (i << 4).
 * Building them in memory would cost a store-forwarding stall per call, which shows
 * on short regions.  By linearity, lane i sums c * x^k over the bits k of (i << 4 | i);
 * bitk selects the lanes whose index has bit k set.
 */
__attribute__((target("ssse3")))
static inline void
nibble_tables(uint8_t c, __m128i *lo, __m128i *hi)
{
	const __m128i bit0 = _mm_setr_epi8(0, -1, 0, -1, 0, -1, 0, -1,
									   0, -1, 0, -1, 0, -1, 0, -1);
	const __m128i bit1 = _mm_setr_epi8(0, 0, -1, -1, 0, 0, -1, -1,
									   0, 0, -1, -1, 0, 0, -1, -1);
	const __m128i bit2 = _mm_setr_epi8(0, 0, 0, 0, -1, -1, -1, -1,
									   0, 0, 0, 0, -1, -1, -1, -1);
	const __m128i bit3 = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0,
									   -1, -1, -1, -1, -1, -1, -1, -1);
	__m128i		v = _mm_set1_epi8((char) c);
	__m128i		t;

	t = _mm_and_si128(v, bit0);
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit1));
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit2));
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit3));
	*lo = t;
	v = xtime128(v);
	t = _mm_and_si128(v, bit0);
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit1));
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit2));
	v = xtime128(v);
	t = _mm_xor_si128(t, _mm_and_si128(v, bit3));
	*hi = t;
}

/* c * x for 16 bytes: look both nibbles up (in registers) and add */
__attribute__((target("ssse3")))
static inline __m128i
mul_x16(__m128i x, __m128i tlo, __m128i thi)
{
	const __m128i mask = _mm_set1_epi8(0x0F);
	__m128i		l = _mm_and_si128(x, mask);
	__m128i		h = _mm_and_si128(_mm_srli_epi64(x, 4), mask);

	return _mm_xor_si128(_mm_shuffle_epi8(tlo, l), _mm_shuffle_epi8(thi, h));
}

__attribute__((target("ssse3")))
static void
ssse3_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		tlo,
				thi;

	nibble_tables(c, &tlo, &thi);
	for (; len >= 64; len -= 64, dst += 64, src += 64)
	{
		__m128i		d0 = mul_x16(LD128(dst), tlo, thi);
		__m128i		d1 = mul_x16(LD128(dst + 16), tlo, thi);
		__m128i		d2 = mul_x16(LD128(dst + 32), tlo, thi);
		__m128i		d3 = mul_x16(LD128(dst + 48), tlo, thi);

		ST128(dst, _mm_xor_si128(d0, LD128(src)));
		ST128(dst + 16, _mm_xor_si128(d1, LD128(src + 16)));
		ST128(dst + 32, _mm_xor_si128(d2, LD128(src + 32)));
		ST128(dst + 48, _mm_xor_si128(d3, LD128(src + 48)));
	}
	for (; len >= 16; len -= 16, dst += 16, src += 16)
		ST128(dst, _mm_xor_si128(mul_x16(LD128(dst), tlo, thi), LD128(src)));
	portable_mul_xor(dst, c, src, len);
}

__attribute__((target("ssse3")))
static void
ssse3_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		tlo,
				thi;

	nibble_tables(c, &tlo, &thi);
	for (; len >= 64; len -= 64, dst += 64, src += 64)
	{
		__m128i		s0 = mul_x16(LD128(src), tlo, thi);
		__m128i		s1 = mul_x16(LD128(src + 16), tlo, thi);
		__m128i		s2 = mul_x16(LD128(src + 32), tlo, thi);
		__m128i		s3 = mul_x16(LD128(src + 48), tlo, thi);

		ST128(dst, _mm_xor_si128(LD128(dst), s0));
		ST128(dst + 16, _mm_xor_si128(LD128(dst + 16), s1));
		ST128(dst + 32, _mm_xor_si128(LD128(dst + 32), s2));
		ST128(dst + 48, _mm_xor_si128(LD128(dst + 48), s3));
	}
	for (; len >= 16; len -= 16, dst += 16, src += 16)
		ST128(dst, _mm_xor_si128(LD128(dst), mul_x16(LD128(src), tlo, thi)));
	portable_muladd(dst, c, src, len);
}

__attribute__((target("ssse3")))
static void
ssse3_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		tlo,
				thi;

	nibble_tables(c, &tlo, &thi);
	for (; len >= 64; len -= 64, dst += 64, src += 64)
	{
		__m128i		s0 = mul_x16(LD128(src), tlo, thi);
		__m128i		s1 = mul_x16(LD128(src + 16), tlo, thi);
		__m128i		s2 = mul_x16(LD128(src + 32), tlo, thi);
		__m128i		s3 = mul_x16(LD128(src + 48), tlo, thi);

		ST128(dst, s0);
		ST128(dst + 16, s1);
		ST128(dst + 32, s2);
		ST128(dst + 48, s3);
	}
	for (; len >= 16; len -= 16, dst += 16, src += 16)
		ST128(dst, mul_x16(LD128(src), tlo, thi));
	portable_mul(dst, c, src, len);
}

/*
 * Horner's rule on [off, len): four accumulators in registers, every row loaded once
 * per vector, one store per vector.  With nt, dst + off must be 16-byte aligned and
 * the stores are non-temporal.  Inlined into both callers, so nt is a constant.
 */
__attribute__((target("ssse3"), always_inline))
static inline void
ssse3_eval_body(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
				size_t off, size_t len, int nt)
{
	const uint8_t *top = rows[nrows - 1];
	__m128i		tlo,
				thi;
	int			j;

	nibble_tables(x, &tlo, &thi);
	for (; len - off >= 64; off += 64)
	{
		__m128i		a0 = LD128(top + off);
		__m128i		a1 = LD128(top + off + 16);
		__m128i		a2 = LD128(top + off + 32);
		__m128i		a3 = LD128(top + off + 48);

		for (j = nrows - 2; j >= 0; j--)
		{
			const uint8_t *r = rows[j] + off;

			a0 = _mm_xor_si128(mul_x16(a0, tlo, thi), LD128(r));
			a1 = _mm_xor_si128(mul_x16(a1, tlo, thi), LD128(r + 16));
			a2 = _mm_xor_si128(mul_x16(a2, tlo, thi), LD128(r + 32));
			a3 = _mm_xor_si128(mul_x16(a3, tlo, thi), LD128(r + 48));
		}
		if (nt)
		{
			_mm_stream_si128((__m128i *) (dst + off), a0);
			_mm_stream_si128((__m128i *) (dst + off + 16), a1);
			_mm_stream_si128((__m128i *) (dst + off + 32), a2);
			_mm_stream_si128((__m128i *) (dst + off + 48), a3);
		}
		else
		{
			ST128(dst + off, a0);
			ST128(dst + off + 16, a1);
			ST128(dst + off + 32, a2);
			ST128(dst + off + 48, a3);
		}
	}
	for (; len - off >= 16; off += 16)
	{
		__m128i		a = LD128(top + off);

		for (j = nrows - 2; j >= 0; j--)
			a = _mm_xor_si128(mul_x16(a, tlo, thi), LD128(rows[j] + off));
		if (nt)
			_mm_stream_si128((__m128i *) (dst + off), a);
		else
			ST128(dst + off, a);
	}
	if (nt)
		_mm_sfence();
	portable_eval_from(dst, x, rows, nrows, off, len);
}

__attribute__((target("ssse3")))
static void
ssse3_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	ssse3_eval_body(dst, x, rows, nrows, 0, len, 0);
}

/* ordinary stores up to dst's first 16-byte boundary, then streaming ones */
__attribute__((target("ssse3")))
static void
ssse3_eval_nt(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	size_t		head = (16 - ((uintptr_t) dst & 15)) & 15;

	if (head > len)
		head = len;
	portable_eval_from(dst, x, rows, nrows, 0, head);
	ssse3_eval_body(dst, x, rows, nrows, head, len, 1);
}

static int
ssse3_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("ssse3") != 0;
}

/* ---------------------------------------------------------------- AVX2 */

#define LD256(p)	_mm256_loadu_si256((const __m256i *) (p))
#define ST256(p, v) _mm256_storeu_si256((__m256i *) (p), (v))

/* vpshufb looks up within each 128-bit lane, so both lanes carry the same table */
__attribute__((target("avx2")))
static inline __m256i
mul_x32(__m256i x, __m256i tlo, __m256i thi)
{
	const __m256i mask = _mm256_set1_epi8(0x0F);
	__m256i		l = _mm256_and_si256(x, mask);
	__m256i		h = _mm256_and_si256(_mm256_srli_epi64(x, 4), mask);

	return _mm256_xor_si256(_mm256_shuffle_epi8(tlo, l), _mm256_shuffle_epi8(thi, h));
}

__attribute__((target("avx2")))
static void
avx2_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		lo,
				hi;
	__m256i		tlo,
				thi;

	nibble_tables(c, &lo, &hi);
	tlo = _mm256_broadcastsi128_si256(lo);
	thi = _mm256_broadcastsi128_si256(hi);
	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		d0 = mul_x32(LD256(dst), tlo, thi);
		__m256i		d1 = mul_x32(LD256(dst + 32), tlo, thi);
		__m256i		d2 = mul_x32(LD256(dst + 64), tlo, thi);
		__m256i		d3 = mul_x32(LD256(dst + 96), tlo, thi);

		ST256(dst, _mm256_xor_si256(d0, LD256(src)));
		ST256(dst + 32, _mm256_xor_si256(d1, LD256(src + 32)));
		ST256(dst + 64, _mm256_xor_si256(d2, LD256(src + 64)));
		ST256(dst + 96, _mm256_xor_si256(d3, LD256(src + 96)));
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, _mm256_xor_si256(mul_x32(LD256(dst), tlo, thi), LD256(src)));
	if (len >= 16)
	{
		ST128(dst, _mm_xor_si128(mul_x16(LD128(dst), lo, hi), LD128(src)));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_mul_xor(dst, c, src, len);
}

__attribute__((target("avx2")))
static void
avx2_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		lo,
				hi;
	__m256i		tlo,
				thi;

	nibble_tables(c, &lo, &hi);
	tlo = _mm256_broadcastsi128_si256(lo);
	thi = _mm256_broadcastsi128_si256(hi);
	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		s0 = mul_x32(LD256(src), tlo, thi);
		__m256i		s1 = mul_x32(LD256(src + 32), tlo, thi);
		__m256i		s2 = mul_x32(LD256(src + 64), tlo, thi);
		__m256i		s3 = mul_x32(LD256(src + 96), tlo, thi);

		ST256(dst, _mm256_xor_si256(LD256(dst), s0));
		ST256(dst + 32, _mm256_xor_si256(LD256(dst + 32), s1));
		ST256(dst + 64, _mm256_xor_si256(LD256(dst + 64), s2));
		ST256(dst + 96, _mm256_xor_si256(LD256(dst + 96), s3));
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, _mm256_xor_si256(LD256(dst), mul_x32(LD256(src), tlo, thi)));
	if (len >= 16)
	{
		ST128(dst, _mm_xor_si128(LD128(dst), mul_x16(LD128(src), lo, hi)));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_muladd(dst, c, src, len);
}

__attribute__((target("avx2")))
static void
avx2_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	__m128i		lo,
				hi;
	__m256i		tlo,
				thi;

	nibble_tables(c, &lo, &hi);
	tlo = _mm256_broadcastsi128_si256(lo);
	thi = _mm256_broadcastsi128_si256(hi);
	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		s0 = mul_x32(LD256(src), tlo, thi);
		__m256i		s1 = mul_x32(LD256(src + 32), tlo, thi);
		__m256i		s2 = mul_x32(LD256(src + 64), tlo, thi);
		__m256i		s3 = mul_x32(LD256(src + 96), tlo, thi);

		ST256(dst, s0);
		ST256(dst + 32, s1);
		ST256(dst + 64, s2);
		ST256(dst + 96, s3);
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, mul_x32(LD256(src), tlo, thi));
	if (len >= 16)
	{
		ST128(dst, mul_x16(LD128(src), lo, hi));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_mul(dst, c, src, len);
}

/* Horner's rule on [off, len) as ssse3_eval_body, 32 bytes per vector */
__attribute__((target("avx2"), always_inline))
static inline void
avx2_eval_body(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
			   size_t off, size_t len, int nt)
{
	const uint8_t *top = rows[nrows - 1];
	__m128i		lo,
				hi;
	__m256i		tlo,
				thi;
	int			j;

	nibble_tables(x, &lo, &hi);
	tlo = _mm256_broadcastsi128_si256(lo);
	thi = _mm256_broadcastsi128_si256(hi);
	for (; len - off >= 128; off += 128)
	{
		__m256i		a0 = LD256(top + off);
		__m256i		a1 = LD256(top + off + 32);
		__m256i		a2 = LD256(top + off + 64);
		__m256i		a3 = LD256(top + off + 96);

		for (j = nrows - 2; j >= 0; j--)
		{
			const uint8_t *r = rows[j] + off;

			a0 = _mm256_xor_si256(mul_x32(a0, tlo, thi), LD256(r));
			a1 = _mm256_xor_si256(mul_x32(a1, tlo, thi), LD256(r + 32));
			a2 = _mm256_xor_si256(mul_x32(a2, tlo, thi), LD256(r + 64));
			a3 = _mm256_xor_si256(mul_x32(a3, tlo, thi), LD256(r + 96));
		}
		if (nt)
		{
			_mm256_stream_si256((__m256i *) (dst + off), a0);
			_mm256_stream_si256((__m256i *) (dst + off + 32), a1);
			_mm256_stream_si256((__m256i *) (dst + off + 64), a2);
			_mm256_stream_si256((__m256i *) (dst + off + 96), a3);
		}
		else
		{
			ST256(dst + off, a0);
			ST256(dst + off + 32, a1);
			ST256(dst + off + 64, a2);
			ST256(dst + off + 96, a3);
		}
	}
	for (; len - off >= 32; off += 32)
	{
		__m256i		a = LD256(top + off);

		for (j = nrows - 2; j >= 0; j--)
			a = _mm256_xor_si256(mul_x32(a, tlo, thi), LD256(rows[j] + off));
		if (nt)
			_mm256_stream_si256((__m256i *) (dst + off), a);
		else
			ST256(dst + off, a);
	}
	if (len - off >= 16)
	{
		__m128i		a = LD128(top + off);

		for (j = nrows - 2; j >= 0; j--)
			a = _mm_xor_si128(mul_x16(a, lo, hi), LD128(rows[j] + off));
		if (nt)
			_mm_stream_si128((__m128i *) (dst + off), a);
		else
			ST128(dst + off, a);
		off += 16;
	}
	if (nt)
		_mm_sfence();
	portable_eval_from(dst, x, rows, nrows, off, len);
}

__attribute__((target("avx2")))
static void
avx2_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	avx2_eval_body(dst, x, rows, nrows, 0, len, 0);
}

/* ordinary stores up to dst's first 32-byte boundary, then streaming ones */
__attribute__((target("avx2")))
static void
avx2_eval_nt(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	size_t		head = (32 - ((uintptr_t) dst & 31)) & 31;

	if (head > len)
		head = len;
	avx2_eval(dst, x, rows, nrows, head);
	avx2_eval_body(dst, x, rows, nrows, head, len, 1);
}

static int
avx2_supported(void)
{
	/* libgcc's check includes the OS enabling the ymm state (OSXSAVE, XCR0) */
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") != 0;
}

/* ---------------------------------------------------------------- GFNI */

/*
 * gf2p8mulb multiplies bytes mod 0x11B, our polynomial.  Its VEX (ymm) form needs
 * GFNI and AVX; we ask for AVX2 as well, which every GFNI CPU with AVX has.
 */

__attribute__((target("gfni,avx2")))
static void
gfni_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	const __m256i vc = _mm256_set1_epi8((char) c);

	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		d0 = _mm256_gf2p8mul_epi8(LD256(dst), vc);
		__m256i		d1 = _mm256_gf2p8mul_epi8(LD256(dst + 32), vc);
		__m256i		d2 = _mm256_gf2p8mul_epi8(LD256(dst + 64), vc);
		__m256i		d3 = _mm256_gf2p8mul_epi8(LD256(dst + 96), vc);

		ST256(dst, _mm256_xor_si256(d0, LD256(src)));
		ST256(dst + 32, _mm256_xor_si256(d1, LD256(src + 32)));
		ST256(dst + 64, _mm256_xor_si256(d2, LD256(src + 64)));
		ST256(dst + 96, _mm256_xor_si256(d3, LD256(src + 96)));
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, _mm256_xor_si256(_mm256_gf2p8mul_epi8(LD256(dst), vc), LD256(src)));
	if (len >= 16)
	{
		ST128(dst, _mm_xor_si128(_mm_gf2p8mul_epi8(LD128(dst), _mm256_castsi256_si128(vc)),
								 LD128(src)));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_mul_xor(dst, c, src, len);
}

__attribute__((target("gfni,avx2")))
static void
gfni_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	const __m256i vc = _mm256_set1_epi8((char) c);

	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		s0 = _mm256_gf2p8mul_epi8(LD256(src), vc);
		__m256i		s1 = _mm256_gf2p8mul_epi8(LD256(src + 32), vc);
		__m256i		s2 = _mm256_gf2p8mul_epi8(LD256(src + 64), vc);
		__m256i		s3 = _mm256_gf2p8mul_epi8(LD256(src + 96), vc);

		ST256(dst, _mm256_xor_si256(LD256(dst), s0));
		ST256(dst + 32, _mm256_xor_si256(LD256(dst + 32), s1));
		ST256(dst + 64, _mm256_xor_si256(LD256(dst + 64), s2));
		ST256(dst + 96, _mm256_xor_si256(LD256(dst + 96), s3));
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, _mm256_xor_si256(LD256(dst), _mm256_gf2p8mul_epi8(LD256(src), vc)));
	if (len >= 16)
	{
		ST128(dst, _mm_xor_si128(LD128(dst),
								 _mm_gf2p8mul_epi8(LD128(src), _mm256_castsi256_si128(vc))));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_muladd(dst, c, src, len);
}

__attribute__((target("gfni,avx2")))
static void
gfni_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	const __m256i vc = _mm256_set1_epi8((char) c);

	for (; len >= 128; len -= 128, dst += 128, src += 128)
	{
		__m256i		s0 = _mm256_gf2p8mul_epi8(LD256(src), vc);
		__m256i		s1 = _mm256_gf2p8mul_epi8(LD256(src + 32), vc);
		__m256i		s2 = _mm256_gf2p8mul_epi8(LD256(src + 64), vc);
		__m256i		s3 = _mm256_gf2p8mul_epi8(LD256(src + 96), vc);

		ST256(dst, s0);
		ST256(dst + 32, s1);
		ST256(dst + 64, s2);
		ST256(dst + 96, s3);
	}
	for (; len >= 32; len -= 32, dst += 32, src += 32)
		ST256(dst, _mm256_gf2p8mul_epi8(LD256(src), vc));
	if (len >= 16)
	{
		ST128(dst, _mm_gf2p8mul_epi8(LD128(src), _mm256_castsi256_si128(vc)));
		len -= 16;
		dst += 16;
		src += 16;
	}
	portable_mul(dst, c, src, len);
}

/* Horner's rule on [off, len) as avx2_eval_body, with gf2p8mulb for x * acc */
__attribute__((target("gfni,avx2"), always_inline))
static inline void
gfni_eval_body(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
			   size_t off, size_t len, int nt)
{
	const uint8_t *top = rows[nrows - 1];
	const __m256i vx = _mm256_set1_epi8((char) x);
	int			j;

	for (; len - off >= 128; off += 128)
	{
		__m256i		a0 = LD256(top + off);
		__m256i		a1 = LD256(top + off + 32);
		__m256i		a2 = LD256(top + off + 64);
		__m256i		a3 = LD256(top + off + 96);

		for (j = nrows - 2; j >= 0; j--)
		{
			const uint8_t *r = rows[j] + off;

			a0 = _mm256_xor_si256(_mm256_gf2p8mul_epi8(a0, vx), LD256(r));
			a1 = _mm256_xor_si256(_mm256_gf2p8mul_epi8(a1, vx), LD256(r + 32));
			a2 = _mm256_xor_si256(_mm256_gf2p8mul_epi8(a2, vx), LD256(r + 64));
			a3 = _mm256_xor_si256(_mm256_gf2p8mul_epi8(a3, vx), LD256(r + 96));
		}
		if (nt)
		{
			_mm256_stream_si256((__m256i *) (dst + off), a0);
			_mm256_stream_si256((__m256i *) (dst + off + 32), a1);
			_mm256_stream_si256((__m256i *) (dst + off + 64), a2);
			_mm256_stream_si256((__m256i *) (dst + off + 96), a3);
		}
		else
		{
			ST256(dst + off, a0);
			ST256(dst + off + 32, a1);
			ST256(dst + off + 64, a2);
			ST256(dst + off + 96, a3);
		}
	}
	for (; len - off >= 32; off += 32)
	{
		__m256i		a = LD256(top + off);

		for (j = nrows - 2; j >= 0; j--)
			a = _mm256_xor_si256(_mm256_gf2p8mul_epi8(a, vx), LD256(rows[j] + off));
		if (nt)
			_mm256_stream_si256((__m256i *) (dst + off), a);
		else
			ST256(dst + off, a);
	}
	if (len - off >= 16)
	{
		__m128i		a = LD128(top + off);

		for (j = nrows - 2; j >= 0; j--)
			a = _mm_xor_si128(_mm_gf2p8mul_epi8(a, _mm256_castsi256_si128(vx)),
							  LD128(rows[j] + off));
		if (nt)
			_mm_stream_si128((__m128i *) (dst + off), a);
		else
			ST128(dst + off, a);
		off += 16;
	}
	if (nt)
		_mm_sfence();
	portable_eval_from(dst, x, rows, nrows, off, len);
}

__attribute__((target("gfni,avx2")))
static void
gfni_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	gfni_eval_body(dst, x, rows, nrows, 0, len, 0);
}

/* ordinary stores up to dst's first 32-byte boundary, then streaming ones */
__attribute__((target("gfni,avx2")))
static void
gfni_eval_nt(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows, size_t len)
{
	size_t		head = (32 - ((uintptr_t) dst & 31)) & 31;

	if (head > len)
		head = len;
	gfni_eval(dst, x, rows, nrows, head);
	gfni_eval_body(dst, x, rows, nrows, head, len, 1);
}

static int
gfni_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("gfni") != 0 && __builtin_cpu_supports("avx2") != 0;
}

#endif							/* GF256_X86 */


/* ---------------------------------------------------------------- dispatch */

/* worst to best; the first use picks the last one the CPU supports */
static const gf256_kernel kernels[] = {
	{"portable", portable_supported, portable_mul_xor, portable_muladd, portable_mul,
	portable_eval, portable_eval},
#ifdef GF256_X86
	{"ssse3", ssse3_supported, ssse3_mul_xor, ssse3_muladd, ssse3_mul,
	ssse3_eval, ssse3_eval_nt},
	{"avx2", avx2_supported, avx2_mul_xor, avx2_muladd, avx2_mul,
	avx2_eval, avx2_eval_nt},
	{"gfni", gfni_supported, gfni_mul_xor, gfni_muladd, gfni_mul,
	gfni_eval, gfni_eval_nt},
#endif
};

#define NKERNELS (sizeof(kernels) / sizeof(kernels[0]))

static const char *const kernel_names[] = {
	"portable",
#ifdef GF256_X86
	"ssse3",
	"avx2",
	"gfni",
#endif
	NULL
};

/*
 * Set on first use, or by gf256_use_kernel.  Racing first users all compute the
 * same choice; the compare-and-swap keeps a kernel forced meanwhile from being
 * overwritten by the automatic one.
 */
static const gf256_kernel *current_kernel;

static const gf256_kernel *
pick_kernel(void)
{
	const gf256_kernel *k = __atomic_load_n(&current_kernel, __ATOMIC_ACQUIRE);
	const gf256_kernel *expected = NULL;
	size_t		i;

	if (__builtin_expect(k != NULL, 1))
		return k;
	k = &kernels[0];
	for (i = NKERNELS; i-- > 0;)
	{
		if (kernels[i].supported())
		{
			k = &kernels[i];
			break;
		}
	}
	if (!__atomic_compare_exchange_n(&current_kernel, &expected, k, 0,
									 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		k = expected;			/* someone else chose first */
	return k;
}

void
gf256_region_mul_xor(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	pick_kernel()->mul_xor(dst, c, src, len);
}

void
gf256_region_muladd(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	pick_kernel()->muladd(dst, c, src, len);
}

void
gf256_region_mul(uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	pick_kernel()->mul(dst, c, src, len);
}

void
gf256_region_eval(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
				  size_t len)
{
	pick_kernel()->eval(dst, x, rows, nrows, len);
}

void
gf256_region_eval_nt(uint8_t *dst, uint8_t x, const uint8_t *const *rows, int nrows,
					 size_t len)
{
	pick_kernel()->eval_nt(dst, x, rows, nrows, len);
}

int
gf256_use_kernel(const char *name)
{
	size_t		i;

	if (name == NULL)
		return 0;
	for (i = 0; i < NKERNELS; i++)
	{
		if (strcmp(kernels[i].name, name) == 0)
		{
			if (!kernels[i].supported())
				return 0;
			__atomic_store_n(&current_kernel, &kernels[i], __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

const char *
gf256_kernel_name(void)
{
	return pick_kernel()->name;
}

const char *const *
gf256_kernel_names(void)
{
	return kernel_names;
}
