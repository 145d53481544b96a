/*
 * secret_expr.h - expressions over stored secrets: what a computed ssn_secret
 * holds, and what the SSA sends shareholders to evaluate on their shares.
 *
 * An expression is a sum of at most EXPR_MAX_TERMS terms, each a public decimal
 * coefficient times zero, one or two secrets (by id).  Shamir sharing is linear, so
 * every shareholder evaluates the expression on its own shares and gets a share of
 * the result; a term with two factors multiplies two degree-(k-1) sharings, which
 * gives degree 2(k-1).  A coefficient is the field element c * 10^cscale of the
 * decimal c, so 1.5 is (15, 1); terms that name the same secrets are merged.
 *
 * Wire form (all integers little-endian):
 *   expression: 1 byte nterms, then each term:
 *     1 byte  flags: bits 0-1 the number of factors, bit 2 "coefficient is 1"
 *     [2 bytes cscale, 32 bytes canonical coefficient]   unless bit 2
 *     16 bytes per factor: the secret id
 *   program:    1 byte version (1), 4 bytes ngroups, then per group
 *     16 bytes the id its result share gets, 4 bytes nrows, 1 byte the result's
 *     value type (0: int8 unless an input or a scale makes it numeric), 1 byte k
 *     and 1 byte n of the sharing (what a result of constants alone is shared
 *     as), nrows expressions
 *
 * A group is what one result is made of: the sum of its rows (one row for a
 * single computed value, every row of a GROUP BY group for an aggregate).
 *
 * Plain C (no PostgreSQL headers): unit tests and fuzzers link it.
 */
#ifndef SSN_SECRET_EXPR_H
#define SSN_SECRET_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "math/field_p.h"
#include "share/share_format.h"

#define EXPR_MAX_TERMS		32
#define EXPR_MAX_FACTORS	2
#define EXPR_MAX_SCALE		75	/* the field holds 75 decimal digits exactly */
#define EXPR_TERM_MAX_BYTES	(1 + 2 + FP_BYTES + EXPR_MAX_FACTORS * SHARE_ID_SIZE)
#define EXPR_MAX_BYTES		(1 + EXPR_MAX_TERMS * EXPR_TERM_MAX_BYTES)
#define PROGRAM_VERSION		1
#define PROGRAM_HEADER		5
#define PROGRAM_GROUP_HEADER (SHARE_ID_SIZE + 7)

typedef struct ExprTerm
{
	uint8_t		nfactors;
	uint16_t	cscale;
	fp_t		coef;
	uint8_t		ids[EXPR_MAX_FACTORS][SHARE_ID_SIZE];	/* ascending */
} ExprTerm;

typedef struct SecretExpr
{
	int			nterms;
	ExprTerm	terms[EXPR_MAX_TERMS];
} SecretExpr;

/* the expression 1 * secret(id) */
extern void expr_of_secret(SecretExpr *e, const uint8_t *id);

/* the highest number of factors in a term: 0 (a constant), 1 (linear) or 2 */
extern int	expr_degree(const SecretExpr *e);

/*
 * r = a + sign * b, r = a * b, r = a * (c / 10^cscale), r = a + sign * c / 10^cscale.
 * r may be a or b.  They return false, with a reason, when the result would have
 * too many terms, a term with more than two factors, or a scale above the limit.
 */
extern bool expr_add(SecretExpr *r, const SecretExpr *a, const SecretExpr *b, int sign,
					 char *err, size_t errlen);
extern bool expr_mul(SecretExpr *r, const SecretExpr *a, const SecretExpr *b,
					 char *err, size_t errlen);
extern bool expr_scale(SecretExpr *r, const SecretExpr *a, const fp_t *c, uint16_t cscale,
					   char *err, size_t errlen);
extern bool expr_add_const(SecretExpr *r, const SecretExpr *a, const fp_t *c, uint16_t cscale,
						   int sign, char *err, size_t errlen);

/* 10^e in the field */
extern void expr_pow10(fp_t *r, int e);

extern size_t expr_encoded_len(const SecretExpr *e);
extern size_t expr_encode(uint8_t *out, const SecretExpr *e);

/*
 * Decode one expression from p[0..len); *used gets its length.  Everything is
 * checked: counts, factor numbers, scales, canonical coefficients.
 */
extern bool expr_decode(const uint8_t *p, size_t len, size_t *used, SecretExpr *e,
						char *err, size_t errlen);

/* Program framing.  program_check() walks a whole program and validates it. */
typedef struct ProgramReader
{
	const uint8_t *p;
	size_t		len;
	size_t		off;
	uint32_t	ngroups;
	uint32_t	group;			/* groups started so far */
	uint32_t	rows_left;		/* rows of the current group not yet read */
	uint8_t		group_type;		/* the current group's result type, or 0 */
	uint8_t		group_k;		/* the current group's sharing */
	uint8_t		group_n;
} ProgramReader;

extern void program_put_header(uint8_t *out, uint32_t ngroups);
extern void program_put_group(uint8_t *out, const uint8_t *result_id, uint32_t nrows,
							  uint8_t type, uint8_t k, uint8_t n);

extern bool program_begin(ProgramReader *r, const uint8_t *p, size_t len,
						  char *err, size_t errlen);
/* the next group: its result id and row count; false at the end or on an error (err set) */
extern bool program_next_group(ProgramReader *r, const uint8_t **result_id, uint32_t *nrows,
							   char *err, size_t errlen);
/* the next row of the current group */
extern bool program_next_row(ProgramReader *r, SecretExpr *e, char *err, size_t errlen);
extern bool program_check(const uint8_t *p, size_t len, uint32_t *ngroups, uint64_t *nrows,
						  char *err, size_t errlen);

#endif							/* SSN_SECRET_EXPR_H */
