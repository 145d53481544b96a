/*
 * compute_eval.h - a shareholder evaluates a program (secret_expr.h) on its own
 * shares: one result share per group, the sum of the group's rows.
 */
#ifndef SSN_COMPUTE_EVAL_H
#define SSN_COMPUTE_EVAL_H

#include "postgres.h"

#include "math/field_p.h"
#include "share/share_format.h"

typedef struct EvalGroup
{
	uint8		id[SHARE_ID_SIZE];	/* the id its result gets */
	fp_t		y;				/* the result share's value */
	int			scale;
	int			type;			/* SHARE_TYPE_INT8 or _NUMERIC */
	int			degree;			/* of the result's polynomial */
	int			k;
	int			n;
} EvalGroup;

/*
 * Check a program from a peer and evaluate it on the shares this node holds for
 * origin (the SSA that stored the inputs), at share index x.  Raises an error
 * naming a secret it holds no share of.  The caller wipes the results
 * (compute_wipe).
 */
extern EvalGroup *compute_evaluate(const uint8 *program, size_t len, const char *origin,
								   int x, int *ngroups);

/*
 * The same program evaluated on the inputs' values instead of shares (the SSA,
 * on values its transaction stored and still has): the groups' y are the results.
 * values gives an input's value, type, decimal scale and k; false if it has none.
 */
typedef bool (*ComputeValueFn) (const uint8 *id, fp_t *y, int *type, int *scale, int *k, void *arg);
extern EvalGroup *compute_evaluate_values(const uint8 *program, size_t len, ComputeValueFn values,
										  void *arg, int *ngroups);

extern void compute_wipe(EvalGroup *g, int ngroups);

/* the result share of one group, at share index x */
extern struct varlena *compute_result_share(const EvalGroup *g, int x);

#endif							/* SSN_COMPUTE_EVAL_H */
