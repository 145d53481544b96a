/*
 * secret_expr.c - expressions over stored secrets and the programs that carry
 * them to shareholders (see secret_expr.h).  Coefficients are public, so the
 * arithmetic here need not be constant-time; secrets never appear, only ids.
 */
#include "share/secret_expr.h"

#include <stdio.h>
#include <string.h>

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), false)

void
expr_pow10(fp_t *r, int e)
{
	fp_t		ten;

	fp_from_u64(&ten, 10);
	*r = fp_one;
	for (int i = 0; i < e; i++)
		fp_mul(r, r, &ten);
}

void
expr_of_secret(SecretExpr *e, const uint8_t *id)
{
	e->nterms = 1;
	memset(&e->terms[0], 0, sizeof(ExprTerm));
	e->terms[0].nfactors = 1;
	e->terms[0].coef = fp_one;
	memcpy(e->terms[0].ids[0], id, SHARE_ID_SIZE);
}

int
expr_degree(const SecretExpr *e)
{
	int			d = 0;

	for (int i = 0; i < e->nterms; i++)
		if (e->terms[i].nfactors > d)
			d = e->terms[i].nfactors;
	return d;
}

static bool
same_factors(const ExprTerm *a, const ExprTerm *b)
{
	return a->nfactors == b->nfactors &&
		memcmp(a->ids, b->ids, (size_t) a->nfactors * SHARE_ID_SIZE) == 0;
}

/* coefficient of t brought to scale s (>= its own) */
static void
coef_at_scale(fp_t *c, const ExprTerm *t, int s)
{
	fp_t		p;

	expr_pow10(&p, s - t->cscale);
	fp_mul(c, &t->coef, &p);
}

/* add term t (times sign) into the term list r, merging like terms */
static bool
add_term(SecretExpr *r, const ExprTerm *t, int sign, char *err, size_t errlen)
{
	for (int i = 0; i < r->nterms; i++)
	{
		ExprTerm   *u = &r->terms[i];

		if (same_factors(u, t))
		{
			int			s = u->cscale > t->cscale ? u->cscale : t->cscale;
			fp_t		cu,
						ct;

			coef_at_scale(&cu, u, s);
			coef_at_scale(&ct, t, s);
			if (sign < 0)
				fp_sub(&cu, &cu, &ct);
			else
				fp_add(&cu, &cu, &ct);
			u->coef = cu;
			u->cscale = (uint16_t) s;
			if (fp_is_zero(&cu))
			{
				/* the terms cancel: drop it */
				memmove(u, u + 1, sizeof(ExprTerm) * (r->nterms - i - 1));
				r->nterms--;
			}
			return true;
		}
	}
	if (r->nterms >= EXPR_MAX_TERMS)
		return FAIL("the expression would have more than %d terms", EXPR_MAX_TERMS);
	r->terms[r->nterms] = *t;
	if (sign < 0)
		fp_neg(&r->terms[r->nterms].coef, &t->coef);
	if (!fp_is_zero(&r->terms[r->nterms].coef))
		r->nterms++;
	return true;
}

bool
expr_add(SecretExpr *r, const SecretExpr *a, const SecretExpr *b, int sign,
		 char *err, size_t errlen)
{
	SecretExpr	t = *a;

	for (int i = 0; i < b->nterms; i++)
		if (!add_term(&t, &b->terms[i], sign, err, errlen))
			return false;
	*r = t;
	return true;
}

bool
expr_mul(SecretExpr *r, const SecretExpr *a, const SecretExpr *b, char *err, size_t errlen)
{
	SecretExpr	t;

	t.nterms = 0;
	for (int i = 0; i < a->nterms; i++)
		for (int j = 0; j < b->nterms; j++)
		{
			const ExprTerm *x = &a->terms[i],
					   *y = &b->terms[j];
			ExprTerm	p;
			int			f = 0;

			if (x->nfactors + y->nfactors > EXPR_MAX_FACTORS)
				return FAIL("a product of more than %d secrets", EXPR_MAX_FACTORS);
			if (x->cscale + y->cscale > EXPR_MAX_SCALE)
				return FAIL("the scale of a coefficient would exceed %d", EXPR_MAX_SCALE);
			memset(&p, 0, sizeof(p));
			p.nfactors = (uint8_t) (x->nfactors + y->nfactors);
			p.cscale = (uint16_t) (x->cscale + y->cscale);
			fp_mul(&p.coef, &x->coef, &y->coef);
			for (int k = 0; k < x->nfactors; k++)
				memcpy(p.ids[f++], x->ids[k], SHARE_ID_SIZE);
			for (int k = 0; k < y->nfactors; k++)
				memcpy(p.ids[f++], y->ids[k], SHARE_ID_SIZE);
			/* factors in ascending order: a*b and b*a are the same term */
			if (f == 2 && memcmp(p.ids[0], p.ids[1], SHARE_ID_SIZE) > 0)
			{
				uint8_t		tmp[SHARE_ID_SIZE];

				memcpy(tmp, p.ids[0], SHARE_ID_SIZE);
				memcpy(p.ids[0], p.ids[1], SHARE_ID_SIZE);
				memcpy(p.ids[1], tmp, SHARE_ID_SIZE);
			}
			if (!add_term(&t, &p, 1, err, errlen))
				return false;
		}
	*r = t;
	return true;
}

bool
expr_scale(SecretExpr *r, const SecretExpr *a, const fp_t *c, uint16_t cscale,
		   char *err, size_t errlen)
{
	SecretExpr	t;

	t.nterms = 0;
	for (int i = 0; i < a->nterms; i++)
	{
		ExprTerm	p = a->terms[i];

		if (p.cscale + cscale > EXPR_MAX_SCALE)
			return FAIL("the scale of a coefficient would exceed %d", EXPR_MAX_SCALE);
		p.cscale = (uint16_t) (p.cscale + cscale);
		fp_mul(&p.coef, &p.coef, c);
		if (!add_term(&t, &p, 1, err, errlen))
			return false;
	}
	*r = t;
	return true;
}

bool
expr_add_const(SecretExpr *r, const SecretExpr *a, const fp_t *c, uint16_t cscale, int sign,
			   char *err, size_t errlen)
{
	SecretExpr	t = *a;
	ExprTerm	p;

	if (cscale > EXPR_MAX_SCALE)
		return FAIL("the scale of a constant exceeds %d", EXPR_MAX_SCALE);
	memset(&p, 0, sizeof(p));
	p.cscale = cscale;
	p.coef = *c;
	if (!add_term(&t, &p, sign, err, errlen))
		return false;
	*r = t;
	return true;
}

static bool
coef_is_one(const ExprTerm *t)
{
	return t->cscale == 0 && fp_equal(&t->coef, &fp_one);
}

size_t
expr_encoded_len(const SecretExpr *e)
{
	size_t		n = 1;

	for (int i = 0; i < e->nterms; i++)
		n += 1 + (coef_is_one(&e->terms[i]) ? 0 : 2 + FP_BYTES) +
			(size_t) e->terms[i].nfactors * SHARE_ID_SIZE;
	return n;
}

size_t
expr_encode(uint8_t *out, const SecretExpr *e)
{
	uint8_t    *p = out;

	*p++ = (uint8_t) e->nterms;
	for (int i = 0; i < e->nterms; i++)
	{
		const ExprTerm *t = &e->terms[i];
		bool		one = coef_is_one(t);

		*p++ = (uint8_t) (t->nfactors | (one ? 4 : 0));
		if (!one)
		{
			le_put_u16(p, t->cscale);
			p += 2;
			fp_to_bytes(p, &t->coef);
			p += FP_BYTES;
		}
		for (int f = 0; f < t->nfactors; f++)
		{
			memcpy(p, t->ids[f], SHARE_ID_SIZE);
			p += SHARE_ID_SIZE;
		}
	}
	return (size_t) (p - out);
}

bool
expr_decode(const uint8_t *p, size_t len, size_t *used, SecretExpr *e,
			char *err, size_t errlen)
{
	size_t		off = 0;

	if (len < 1)
		return FAIL("expression truncated");
	e->nterms = p[off++];
	if (e->nterms > EXPR_MAX_TERMS)
		return FAIL("expression has %d terms, at most %d are allowed", e->nterms, EXPR_MAX_TERMS);
	for (int i = 0; i < e->nterms; i++)
	{
		ExprTerm   *t = &e->terms[i];
		uint8_t		flags;

		if (off >= len)
			return FAIL("expression truncated in term %d", i + 1);
		flags = p[off++];
		if (flags & ~7)
			return FAIL("term %d has unknown flags 0x%02x", i + 1, flags);
		t->nfactors = flags & 3;
		if (t->nfactors > EXPR_MAX_FACTORS)
			return FAIL("term %d has %d factors, at most %d are allowed", i + 1, t->nfactors, EXPR_MAX_FACTORS);
		if (flags & 4)
		{
			t->cscale = 0;
			t->coef = fp_one;
		}
		else
		{
			if (len - off < 2 + FP_BYTES)
				return FAIL("expression truncated in the coefficient of term %d", i + 1);
			t->cscale = le_get_u16(p + off);
			if (t->cscale > EXPR_MAX_SCALE)
				return FAIL("term %d has scale %d, at most %d is allowed", i + 1, t->cscale, EXPR_MAX_SCALE);
			if (!fp_from_bytes(&t->coef, p + off + 2))
				return FAIL("term %d has a coefficient that is not a field element", i + 1);
			off += 2 + FP_BYTES;
		}
		if (len - off < (size_t) t->nfactors * SHARE_ID_SIZE)
			return FAIL("expression truncated in the factors of term %d", i + 1);
		for (int f = 0; f < t->nfactors; f++)
		{
			memcpy(t->ids[f], p + off, SHARE_ID_SIZE);
			off += SHARE_ID_SIZE;
		}
	}
	*used = off;
	return true;
}

void
program_put_header(uint8_t *out, uint32_t ngroups)
{
	out[0] = PROGRAM_VERSION;
	le_put_u32(out + 1, ngroups);
}

void
program_put_group(uint8_t *out, const uint8_t *result_id, uint32_t nrows, uint8_t type,
				  uint8_t k, uint8_t n)
{
	memcpy(out, result_id, SHARE_ID_SIZE);
	le_put_u32(out + SHARE_ID_SIZE, nrows);
	out[SHARE_ID_SIZE + 4] = type;
	out[SHARE_ID_SIZE + 5] = k;
	out[SHARE_ID_SIZE + 6] = n;
}

bool
program_begin(ProgramReader *r, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->len = len;
	if (len < PROGRAM_HEADER)
		return FAIL("program truncated");
	if (p[0] != PROGRAM_VERSION)
		return FAIL("unknown program version %d", p[0]);
	r->ngroups = le_get_u32(p + 1);
	r->off = PROGRAM_HEADER;
	return true;
}

bool
program_next_group(ProgramReader *r, const uint8_t **result_id, uint32_t *nrows,
				   char *err, size_t errlen)
{
	err[0] = '\0';
	if (r->rows_left > 0)
		return FAIL("group %u has %u rows left unread", r->group, r->rows_left);
	if (r->group == r->ngroups)
	{
		if (r->off != r->len)
			return FAIL("%zu bytes after the last group", r->len - r->off);
		return false;
	}
	if (r->len - r->off < PROGRAM_GROUP_HEADER)
		return FAIL("program truncated in group %u", r->group + 1);
	*result_id = r->p + r->off;
	*nrows = le_get_u32(r->p + r->off + SHARE_ID_SIZE);
	r->group_type = r->p[r->off + SHARE_ID_SIZE + 4];
	if (r->group_type != 0 && r->group_type != SHARE_TYPE_INT8 && r->group_type != SHARE_TYPE_NUMERIC)
		return FAIL("group %u asks for a result of type code %d", r->group + 1, r->group_type);
	r->group_k = r->p[r->off + SHARE_ID_SIZE + 5];
	r->group_n = r->p[r->off + SHARE_ID_SIZE + 6];
	if (r->group_k < 2 || r->group_n < r->group_k)
		return FAIL("group %u names the sharing k=%d, n=%d", r->group + 1, r->group_k, r->group_n);
	/* every row takes at least one byte: a count beyond the rest is a lie */
	if (*nrows > r->len - r->off - PROGRAM_GROUP_HEADER)
		return FAIL("group %u claims %u rows in %zu bytes", r->group + 1, *nrows,
					r->len - r->off - PROGRAM_GROUP_HEADER);
	r->off += PROGRAM_GROUP_HEADER;
	r->rows_left = *nrows;
	r->group++;
	return true;
}

bool
program_next_row(ProgramReader *r, SecretExpr *e, char *err, size_t errlen)
{
	size_t		used;

	if (r->rows_left == 0)
		return FAIL("no row left in group %u", r->group);
	if (!expr_decode(r->p + r->off, r->len - r->off, &used, e, err, errlen))
		return false;
	r->off += used;
	r->rows_left--;
	return true;
}

bool
program_check(const uint8_t *p, size_t len, uint32_t *ngroups, uint64_t *nrows,
			  char *err, size_t errlen)
{
	ProgramReader r;
	const uint8_t *id;
	uint32_t	rows;
	SecretExpr	e;

	*nrows = 0;
	if (!program_begin(&r, p, len, err, errlen))
		return false;
	while (program_next_group(&r, &id, &rows, err, errlen))
	{
		for (uint32_t i = 0; i < rows; i++)
			if (!program_next_row(&r, &e, err, errlen))
				return false;
		*nrows += rows;
	}
	if (err[0])
		return false;
	*ngroups = r.ngroups;
	return true;
}
