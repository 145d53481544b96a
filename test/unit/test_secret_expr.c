/*
 * test_secret_expr.c - expressions over secrets: the algebra merges like terms
 * and cancels, products order their factors, limits hold, and the wire form
 * round-trips; programs read back group by group and refuse what is malformed.
 */
#include <sodium.h>
#include <string.h>

#include "share/secret_expr.h"
#include "unit.h"

static uint8_t ida[SHARE_ID_SIZE],
			idb[SHARE_ID_SIZE];

static bool
round_trips(const SecretExpr *e)
{
	uint8_t		buf[EXPR_MAX_BYTES];
	size_t		n = expr_encode(buf, e),
				used;
	SecretExpr	d;
	uint8_t		again[EXPR_MAX_BYTES];
	char		err[128];

	if (n != expr_encoded_len(e) || !expr_decode(buf, n, &used, &d, err, sizeof(err)) || used != n)
		return false;
	return expr_encode(again, &d) == n && memcmp(buf, again, n) == 0;
}

int
main(void)
{
	SecretExpr	a,
				b,
				r,
				big;
	fp_t		two,
				three,
				minus1;
	char		err[128];
	uint8_t		prog[512];
	size_t		off;
	uint32_t	ng;
	uint64_t	nr;

	if (sodium_init() < 0)
		return 1;
	memset(ida, 0xaa, sizeof(ida));
	memset(idb, 0xbb, sizeof(idb));
	fp_from_u64(&two, 2);
	fp_from_u64(&three, 3);
	fp_neg(&minus1, &fp_one);
	expr_of_secret(&a, ida);
	expr_of_secret(&b, idb);

	CHECK(expr_degree(&a) == 1, "a secret is linear");
	CHECK(expr_add(&r, &a, &a, 1, err, sizeof(err)) && r.nterms == 1, "a + a is one term");
	CHECK(r.nterms == 1 && fp_equal(&r.terms[0].coef, &two), "a + a = 2a");
	CHECK(expr_add(&r, &a, &a, -1, err, sizeof(err)) && r.nterms == 0 && expr_degree(&r) == 0,
		  "a - a cancels");
	CHECK(expr_mul(&r, &a, &b, err, sizeof(err)) && r.nterms == 1 && expr_degree(&r) == 2, "a * b");
	CHECK(memcmp(r.terms[0].ids[0], ida, SHARE_ID_SIZE) == 0, "factors in ascending order (a first)");
	{
		SecretExpr	s;

		CHECK(expr_mul(&s, &b, &a, err, sizeof(err)) && s.nterms == 1 &&
			  memcmp(s.terms[0].ids[0], ida, SHARE_ID_SIZE) == 0, "b * a orders its factors too");
		CHECK(expr_add(&s, &r, &s, -1, err, sizeof(err)) && s.nterms == 0, "a*b - b*a cancels");
	}
	CHECK(!expr_mul(&big, &r, &a, err, sizeof(err)) && strstr(err, "more than 2") != NULL,
		  "a product of three secrets is refused: %s", err);
	/* (a + 2)(b - 3) = ab - 3a + 2b - 6: four terms */
	{
		SecretExpr	x,
					y,
					p;

		CHECK(expr_add_const(&x, &a, &two, 0, 1, err, sizeof(err)), "a + 2");
		CHECK(expr_add_const(&y, &b, &three, 0, -1, err, sizeof(err)), "b - 3");
		CHECK(expr_mul(&p, &x, &y, err, sizeof(err)) && p.nterms == 4 && expr_degree(&p) == 2,
			  "(a + 2)(b - 3) expands to four terms");
		CHECK(round_trips(&p), "the expanded product round-trips");
	}
	/* scales: 1.5 * a + 0.25 * a = 1.75 a at scale 2 */
	{
		fp_t		c15,
					c025,
					c175;
		SecretExpr	x,
					y;

		fp_from_u64(&c15, 15);
		fp_from_u64(&c025, 25);
		fp_from_u64(&c175, 175);
		CHECK(expr_scale(&x, &a, &c15, 1, err, sizeof(err)), "1.5a");
		CHECK(expr_scale(&y, &a, &c025, 2, err, sizeof(err)), "0.25a");
		CHECK(expr_add(&x, &x, &y, 1, err, sizeof(err)) && x.nterms == 1 && x.terms[0].cscale == 2 &&
			  fp_equal(&x.terms[0].coef, &c175), "1.5a + 0.25a = 1.75a");
		CHECK(!expr_scale(&y, &a, &c15, EXPR_MAX_SCALE + 1, err, sizeof(err)), "scale limit");
	}
	/* too many terms */
	{
		SecretExpr	x;
		int			ok = 1;

		x.nterms = 0;
		for (int i = 0; i < EXPR_MAX_TERMS + 1 && ok; i++)
		{
			uint8_t		id[SHARE_ID_SIZE];
			SecretExpr	t;

			memset(id, i + 1, sizeof(id));
			expr_of_secret(&t, id);
			ok = expr_add(&x, &x, &t, 1, err, sizeof(err));
		}
		CHECK(!ok && x.nterms == EXPR_MAX_TERMS, "at most %d terms", EXPR_MAX_TERMS);
		CHECK(round_trips(&x), "a full expression round-trips");
	}
	CHECK(expr_scale(&r, &a, &minus1, 0, err, sizeof(err)) && round_trips(&r), "-a round-trips");

	/* malformed expressions */
	{
		uint8_t		bad[4] = {1, 3, 0, 0};
		size_t		used;
		SecretExpr	d;

		CHECK(!expr_decode(bad, 2, &used, &d, err, sizeof(err)), "three factors refused");
		bad[0] = EXPR_MAX_TERMS + 1;
		CHECK(!expr_decode(bad, 4, &used, &d, err, sizeof(err)), "too many terms refused");
		bad[0] = 1;
		bad[1] = 0x0c;
		CHECK(!expr_decode(bad, 4, &used, &d, err, sizeof(err)), "unknown flags refused");
		bad[1] = 0x05;
		CHECK(!expr_decode(bad, 4, &used, &d, err, sizeof(err)), "truncated id refused");
	}

	/* a program of two groups */
	program_put_header(prog, 2);
	off = PROGRAM_HEADER;
	program_put_group(prog + off, ida, 2, 0, 3, 5);
	off += PROGRAM_GROUP_HEADER;
	off += expr_encode(prog + off, &a);
	off += expr_encode(prog + off, &b);
	program_put_group(prog + off, idb, 1, SHARE_TYPE_NUMERIC, 3, 5);
	off += PROGRAM_GROUP_HEADER;
	off += expr_encode(prog + off, &r);
	CHECK(program_check(prog, off, &ng, &nr, err, sizeof(err)) && ng == 2 && nr == 3,
		  "program: 2 groups, 3 rows");
	CHECK(!program_check(prog, off - 1, &ng, &nr, err, sizeof(err)), "truncated program refused");
	prog[off] = 0;
	CHECK(!program_check(prog, off + 1, &ng, &nr, err, sizeof(err)), "trailing byte refused");
	prog[PROGRAM_HEADER + SHARE_ID_SIZE + 4] = 99;
	CHECK(!program_check(prog, off, &ng, &nr, err, sizeof(err)), "unknown result type refused");
	prog[PROGRAM_HEADER + SHARE_ID_SIZE + 4] = 0;
	prog[PROGRAM_HEADER + SHARE_ID_SIZE + 5] = 1;
	CHECK(!program_check(prog, off, &ng, &nr, err, sizeof(err)), "k=1 refused");
	prog[PROGRAM_HEADER + SHARE_ID_SIZE + 5] = 3;
	prog[PROGRAM_HEADER + SHARE_ID_SIZE] = 200;
	CHECK(!program_check(prog, off, &ng, &nr, err, sizeof(err)), "row count beyond the data refused");
	return unit_finish("secret_expr");
}
