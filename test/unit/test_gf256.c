/*
 * test_gf256.c - GF(2^8) arithmetic and every region kernel this CPU can run.
 *
 * gcc -O2 -Wall -Wextra -Isrc test/unit/test_gf256.c src/gf256.c -o /tmp/test_gf256 && /tmp/test_gf256
 *
 * Each kernel's mul_xor, muladd, mul, eval and eval_nt are checked byte by byte
 * against the product table, at many lengths and offsets, with guard bytes around
 * the output.  Kernels the CPU lacks are reported as skipped (not failed).
 */
#include "math/gf256.h"
#include "unit.h"

#include <string.h>

#define MAXLEN	65537
#define SLACK	64				/* guard bytes around each region */
#define GUARD	0xA5

enum region_op
{
	OP_MUL_XOR,
	OP_MULADD,
	OP_MUL
};

static const char *const op_names[] = {"region_mul_xor", "region_muladd", "region_mul"};

/* full product table, filled from gf256_mul once that has been checked */
static uint8_t prod[256][256];

/* the textbook definition, one bit at a time, with plain branches */
static uint8_t
slow_mul(uint8_t a, uint8_t b)
{
	unsigned int r = 0;
	unsigned int x = a;
	int			i;

	for (i = 0; i < 8; i++)
	{
		if (b & (1u << i))
			r ^= x;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11B;
	}
	return (uint8_t) r;
}

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint8_t
rnd8(void)
{
	/* xorshift64*: deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint8_t) ((rng_state * UINT64_C(0x2545F4914F6CDD1D)) >> 56);
}

static void
fill_random(uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		p[i] = rnd8();
}

static void
test_mul(void)
{
	int			a,
				b,
				bad = 0,
				bad_a = 0,
				bad_b = 0;

	for (a = 0; a < 256; a++)
		for (b = 0; b < 256; b++)
		{
			uint8_t		got = gf256_mul((uint8_t) a, (uint8_t) b);

			if (got != slow_mul((uint8_t) a, (uint8_t) b) && bad++ == 0)
			{
				bad_a = a;
				bad_b = b;
			}
			prod[a][b] = got;
		}
	CHECK(bad == 0, "gf256_mul differs from reference for %d pairs, first %02x*%02x",
		  bad, bad_a, bad_b);

	/* FIPS-197 section 4.2 examples */
	CHECK(gf256_mul(0x57, 0x83) == 0xC1, "0x57*0x83 = %02x", gf256_mul(0x57, 0x83));
	CHECK(gf256_mul(0x57, 0x13) == 0xFE, "0x57*0x13 = %02x", gf256_mul(0x57, 0x13));
}

static void
test_axioms(void)
{
	int			i,
				bad_comm = 0,
				bad_assoc = 0,
				bad_dist = 0,
				bad_id = 0;

	for (i = 0; i < 256; i++)
	{
		uint8_t		a = (uint8_t) i;

		if (gf256_mul(a, 1) != a || gf256_mul(1, a) != a || gf256_mul(a, 0) != 0 ||
			gf256_mul(0, a) != 0)
			bad_id++;
	}
	CHECK(bad_id == 0, "identity/zero fails for %d values", bad_id);

	for (i = 0; i < 100000; i++)
	{
		uint8_t		a = rnd8(),
					b = rnd8(),
					c = rnd8();

		if (gf256_mul(a, b) != gf256_mul(b, a))
			bad_comm++;
		if (gf256_mul(gf256_mul(a, b), c) != gf256_mul(a, gf256_mul(b, c)))
			bad_assoc++;
		if (gf256_mul(a, b ^ c) != (gf256_mul(a, b) ^ gf256_mul(a, c)))
			bad_dist++;
	}
	CHECK(bad_comm == 0, "commutativity fails %d times", bad_comm);
	CHECK(bad_assoc == 0, "associativity fails %d times", bad_assoc);
	CHECK(bad_dist == 0, "distributivity fails %d times", bad_dist);

	/* 0x03 generates the multiplicative group: its powers hit all 255 nonzero bytes */
	{
		uint8_t		seen[256];
		uint8_t		x = 1;
		int			n = 0;

		memset(seen, 0, sizeof(seen));
		for (i = 0; i < 255; i++)
		{
			if (!seen[x])
				n++;
			seen[x] = 1;
			x = gf256_mul(x, 0x03);
		}
		CHECK(n == 255 && x == 1, "0x03 generates %d elements, 3^255 = %02x", n, x);
	}
}

static void
test_inv(void)
{
	int			a;

	CHECK(gf256_inv(0) == 0, "inv(0) = %02x", gf256_inv(0));
	for (a = 1; a < 256; a++)
	{
		uint8_t		inv = gf256_inv((uint8_t) a);

		CHECK(gf256_mul((uint8_t) a, inv) == 1, "%02x * inv(%02x)=%02x is not 1",
			  a, a, inv);
	}
	/* AES S-box derivation example */
	CHECK(gf256_inv(0x53) == 0xCA, "inv(0x53) = %02x", gf256_inv(0x53));
}

static void
apply(enum region_op op, uint8_t *dst, uint8_t c, const uint8_t *src, size_t len)
{
	switch (op)
	{
		case OP_MUL_XOR:
			gf256_region_mul_xor(dst, c, src, len);
			break;
		case OP_MULADD:
			gf256_region_muladd(dst, c, src, len);
			break;
		case OP_MUL:
			gf256_region_mul(dst, c, src, len);
			break;
	}
}

static uint8_t
ref_byte(enum region_op op, uint8_t c, uint8_t d, uint8_t s)
{
	switch (op)
	{
		case OP_MUL_XOR:
			return prod[c][d] ^ s;
		case OP_MULADD:
			return d ^ prod[c][s];
		case OP_MUL:
			return prod[c][s];
	}
	return 0;
}

/* the test buffers: each region sits SLACK bytes into its buffer */
static uint8_t dbuf[SLACK + 3 + MAXLEN + SLACK];
static uint8_t sbuf[SLACK + 3 + MAXLEN + SLACK];
static uint8_t sorig[MAXLEN];
static uint8_t dorig[MAXLEN];

/*
 * Run one region operation and compare with the byte-wise reference, the guard
 * bytes around dst, and (when not in place) src.  Returns 0 when all is well,
 * otherwise 1 with a description in msg.
 */
static int
run_one(enum region_op op, uint8_t c, size_t len, int doff, int soff, int in_place,
		char *msg, size_t msglen)
{
	uint8_t    *dst = dbuf + SLACK + doff;
	const uint8_t *src = in_place ? dst : sbuf + SLACK + soff;
	size_t		end = SLACK + doff + len + SLACK;	/* guard only the window in use */
	size_t		i;

	memset(dbuf, GUARD, end);
	fill_random(dorig, len);
	memcpy(dst, dorig, len);
	if (in_place)
		memcpy(sorig, dorig, len);
	else
	{
		fill_random(sorig, len);
		memcpy(sbuf + SLACK + soff, sorig, len);
	}

	apply(op, dst, c, src, len);

	for (i = 0; i < len; i++)
	{
		uint8_t		want = ref_byte(op, c, dorig[i], sorig[i]);

		if (dst[i] != want)
		{
			snprintf(msg, msglen, "byte %zu is %02x, want %02x", i, dst[i], want);
			return 1;
		}
	}
	for (i = 0; i < SLACK + (size_t) doff; i++)
		if (dbuf[i] != GUARD)
		{
			snprintf(msg, msglen, "wrote %zu bytes before dst", SLACK + doff - i);
			return 1;
		}
	for (i = SLACK + doff + len; i < end; i++)
		if (dbuf[i] != GUARD)
		{
			snprintf(msg, msglen, "wrote past dst at +%zu", i - (SLACK + doff + len));
			return 1;
		}
	if (!in_place && memcmp(src, sorig, len) != 0)
	{
		snprintf(msg, msglen, "src modified");
		return 1;
	}
	return 0;
}

/* where a kernel first went wrong, for the one CHECK per (kernel, op, c) */
typedef struct failure
{
	size_t		len;
	int			doff;
	int			soff;
	int			in_place;
	char		msg[128];
} failure;

static int
try_case(failure *f, enum region_op op, uint8_t c, size_t len, int doff, int soff,
		 int in_place)
{
	if (!run_one(op, c, len, doff, soff, in_place, f->msg, sizeof(f->msg)))
		return 0;
	f->len = len;
	f->doff = doff;
	f->soff = soff;
	f->in_place = in_place;
	return 1;
}

/* ---------------------------------------------------------------- eval */

#define MAXROWS 6
#define EOFF	36				/* dst offsets 0..35 cross every vector boundary */

static uint8_t ebuf[SLACK + EOFF + MAXLEN + SLACK];
static uint8_t rowbuf[MAXROWS][SLACK + 4 + MAXLEN + SLACK];
static uint8_t roworig[MAXROWS][MAXLEN];

/*
 * One gf256_region_eval (or _nt) of nrows rows into dst at doff; row j sits at
 * offset (roff + j) & 3 in its buffer.  With same >= 0, dst is row `same` itself
 * (in place).  Checks every byte against Horner's rule with the product table, the
 * guard bytes around dst, and that the other rows are left alone.
 */
static int
run_eval(int nt, uint8_t x, int nrows, size_t len, int doff, int roff, int same,
		 char *msg, size_t msglen)
{
	uint8_t    *dst = ebuf + SLACK + doff;
	const uint8_t *rows[MAXROWS];
	size_t		end = SLACK + doff + len + SLACK;
	size_t		i;
	int			j;

	memset(ebuf, GUARD, end);
	for (j = 0; j < nrows; j++)
	{
		uint8_t    *r = j == same ? dst : rowbuf[j] + SLACK + ((roff + j) & 3);

		fill_random(roworig[j], len);
		memcpy(r, roworig[j], len);
		rows[j] = r;
	}

	if (nt)
		gf256_region_eval_nt(dst, x, rows, nrows, len);
	else
		gf256_region_eval(dst, x, rows, nrows, len);

	for (i = 0; i < len; i++)
	{
		uint8_t		want = roworig[nrows - 1][i];

		for (j = nrows - 2; j >= 0; j--)
			want = prod[x][want] ^ roworig[j][i];
		if (dst[i] != want)
		{
			snprintf(msg, msglen, "byte %zu is %02x, want %02x", i, dst[i], want);
			return 1;
		}
	}
	for (i = 0; i < SLACK + (size_t) doff; i++)
		if (ebuf[i] != GUARD)
		{
			snprintf(msg, msglen, "wrote %zu bytes before dst", SLACK + doff - i);
			return 1;
		}
	for (i = SLACK + doff + len; i < end; i++)
		if (ebuf[i] != GUARD)
		{
			snprintf(msg, msglen, "wrote past dst at +%zu", i - (SLACK + doff + len));
			return 1;
		}
	for (j = 0; j < nrows; j++)
		if (j != same && memcmp(rows[j], roworig[j], len) != 0)
		{
			snprintf(msg, msglen, "row %d modified", j);
			return 1;
		}
	return 0;
}

/* where eval first went wrong, for the one CHECK per (kernel, variant, nrows, x) */
typedef struct eval_failure
{
	size_t		len;
	int			doff;
	int			roff;
	int			same;
	char		msg[128];
} eval_failure;

static int
try_eval(eval_failure *f, int nt, uint8_t x, int nrows, size_t len, int doff,
		 int roff, int same)
{
	if (!run_eval(nt, x, nrows, len, doff, roff, same, f->msg, sizeof(f->msg)))
		return 0;
	f->len = len;
	f->doff = doff;
	f->roff = roff;
	f->same = same;
	return 1;
}

/*
 * Every x for 1..MAXROWS rows: all lengths 0..130 (dst offset and row offsets
 * varying with the length and x, so that every offset pair occurs), in place on the
 * first and on the last row, 4096 at two offset pairs per x, 4099 in place on some
 * row, and 65537 for every eighth x.
 */
static void
test_kernel_eval(const char *kname)
{
	int			nt,
				nrows,
				x;

	for (nt = 0; nt <= 1; nt++)
		for (nrows = 1; nrows <= MAXROWS; nrows++)
			for (x = 0; x < 256; x++)
			{
				eval_failure f;
				int			bad = 0;
				size_t		len;
				int			doff;

				for (len = 0; len <= 130 && !bad; len++)
					bad = try_eval(&f, nt, x, nrows, len, (int) (len + x) % EOFF,
								   (int) ((len >> 2) + x) & 3, -1);
				for (len = 0; len <= 130 && !bad; len += 13)
					bad = try_eval(&f, nt, x, nrows, len, (int) (len + x) % EOFF,
								   x & 3, 0) ||
						try_eval(&f, nt, x, nrows, len, (int) (len + x + 1) % EOFF,
								 x & 3, nrows - 1);
				for (doff = 0; doff < 2 && !bad; doff++)
					bad = try_eval(&f, nt, x, nrows, 4096, (x + 2 * doff) % EOFF,
								   (x + doff) & 3, -1);
				if (!bad)
					bad = try_eval(&f, nt, x, nrows, 4096 + 3, (x + 5) % EOFF, 0, x % nrows);
				if (!bad && (x & 7) == 0)
					bad = try_eval(&f, nt, x, nrows, MAXLEN, (x >> 3) % EOFF,
								   (x >> 3) & 3, -1);

				CHECK(!bad, "kernel %s %s nrows=%d x=%02x len=%zu doff=%d roff=%d%s: %s",
					  kname, nt ? "region_eval_nt" : "region_eval", nrows, x, f.len,
					  f.doff, f.roff, f.same >= 0 ? " in place" : "", f.msg);
			}
}

static void
test_kernel(const char *kname)
{
	int			op,
				c;

	for (op = OP_MUL_XOR; op <= OP_MUL; op++)
	{
		for (c = 0; c < 256; c++)
		{
			failure		f;
			int			bad = 0;
			size_t		len;
			int			doff,
						soff;

			for (len = 0; len <= 130 && !bad; len++)
				for (doff = 0; doff < 4 && !bad; doff++)
				{
					for (soff = 0; soff < 4 && !bad; soff++)
						bad = try_case(&f, op, c, len, doff, soff, 0);
					if (!bad && op == OP_MUL)
						bad = try_case(&f, op, c, len, doff, doff, 1);
				}

			/* 4096 at all 16 offset pairs; 65537 at one pair per c, all pairs over c */
			for (doff = 0; doff < 4 && !bad; doff++)
				for (soff = 0; soff < 4 && !bad; soff++)
					bad = try_case(&f, op, c, 4096, doff, soff, 0);
			if (!bad)
				bad = try_case(&f, op, c, MAXLEN, c & 3, (c >> 2) & 3, 0);
			if (!bad && op == OP_MUL)
				bad = try_case(&f, op, c, 4096, c & 3, c & 3, 1) ||
					try_case(&f, op, c, MAXLEN, (c >> 4) & 3, (c >> 4) & 3, 1);

			CHECK(!bad, "kernel %s %s c=%02x len=%zu doff=%d soff=%d%s: %s", kname,
				  op_names[op], c, f.len, f.doff, f.soff, f.in_place ? " in place" : "",
				  f.msg);
		}
	}
}

int
main(void)
{
	const char *const *names = gf256_kernel_names();
	const char *initial = gf256_kernel_name();
	const char *best = NULL;
	int			i,
				known = 0,
				nsupported = 0;

	test_mul();
	test_axioms();
	test_inv();

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], initial) == 0)
			known = 1;
	CHECK(known, "initial kernel \"%s\" is not among the compiled-in names", initial);
	CHECK(gf256_use_kernel("portable") == 1, "portable kernel refused");
	CHECK(gf256_use_kernel("no-such-kernel") == 0, "unknown kernel accepted");
	CHECK(strcmp(gf256_kernel_name(), "portable") == 0,
		  "failed use_kernel changed the kernel to %s", gf256_kernel_name());

	for (i = 0; names[i] != NULL; i++)
	{
		if (!gf256_use_kernel(names[i]))
		{
			printf("gf256: kernel %s skipped: not supported by this CPU\n", names[i]);
			continue;
		}
		nsupported++;
		best = names[i];
		CHECK(strcmp(gf256_kernel_name(), names[i]) == 0, "use_kernel(%s) left %s",
			  names[i], gf256_kernel_name());
		test_kernel(names[i]);
		test_kernel_eval(names[i]);
		printf("gf256: kernel %s tested\n", names[i]);
	}
	/* names run worst to best, so the automatic choice is the last one supported */
	CHECK(best != NULL && strcmp(initial, best) == 0,
		  "first use picked %s, best supported is %s", initial, best ? best : "none");
	printf("gf256: default kernel %s; %d of %d kernels tested\n", initial, nsupported, i);
	return unit_finish("gf256");
}
