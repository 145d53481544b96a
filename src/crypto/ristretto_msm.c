/*
 * ristretto_msm.c - multi-scalar multiplication over ristretto255 for
 * verification (see ristretto_msm.h).
 *
 * Pippenger's bucket method (the arithmetic is in ristretto_point.h).  Everything
 * here handles public data (commitments, random weights): it is not constant-time.
 */
#include "crypto/ristretto_msm.h"
#include "crypto/ristretto_point.h"

#include <stdlib.h>
#include <string.h>

/* a decoded point (Z = 1) ready to be added: Y + X, Y - X, 2d T */
typedef struct
{
	fe			ypx,
				ymx,
				t2d;
} ge_affine;

static void
affine_of(ge_affine *a, const ge *p)
{
	fe_add(&a->ypx, &p->Y, &p->X);
	fe_sub(&a->ymx, &p->Y, &p->X);
	fe_mul(&a->t2d, &p->T, &fe_d2);
}

/* r = a + q, or a - q if neg: 7 multiplications instead of ge_add's 9 */
static void
ge_add_affine(ge *r, const ge *a, const ge_affine *q, bool neg)
{
	fe			A,
				B,
				C,
				D,
				t;

	fe_sub(&t, &a->Y, &a->X);
	fe_mul(&A, &t, neg ? &q->ypx : &q->ymx);
	fe_add(&t, &a->Y, &a->X);
	fe_mul(&B, &t, neg ? &q->ymx : &q->ypx);
	fe_mul(&C, &a->T, &q->t2d);
	if (neg)
		fe_neg(&C, &C);
	fe_add(&D, &a->Z, &a->Z);
	ge_add_finish(r, &A, &B, &C, &D);
}

/* the bit length of the largest scalar */
static int
max_bits(const uint8_t *scalars, size_t scalar_bytes, size_t m)
{
	uint8_t		top[32] = {0};

	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < scalar_bytes; j++)
			top[j] |= scalars[i * scalar_bytes + j];
	for (int j = (int) scalar_bytes - 1; j >= 0; j--)
		if (top[j])
			return j * 8 + 32 - __builtin_clz((unsigned) top[j]);
	return 0;
}

/* scalar bits [bit, bit + c) */
static uint32_t
window_bits(const uint8_t *sc, size_t scalar_bytes, int bit, int c)
{
	uint32_t	v = 0;

	for (int j = 0; j < c && (size_t) (bit + j) < scalar_bytes * 8; j++)
		v |= (uint32_t) ((sc[(bit + j) / 8] >> ((bit + j) % 8)) & 1) << j;
	return v;
}

/*
 * Pippenger with signed digits in [-2^(c-1), 2^(c-1)]: half the buckets, and a
 * point subtracted as cheaply as it is added.  Only the windows the largest
 * scalar reaches are walked (weights of 128 bits times small powers leave most
 * of a 32-byte scalar zero).
 */
bool
ristretto_msm(uint8_t out[32], const uint8_t *const *points, const uint8_t *scalars,
			  size_t scalar_bytes, size_t m)
{
	ge_affine  *pts = NULL;
	int16_t    *digits = NULL;
	ge		   *buckets = NULL;
	bool	   *used = NULL;
	ge			acc,
				running,
				wsum;
	int			c,
				nb,
				windows;
	bool		ok = false;

	if (m == 0)
	{
		memset(out, 0, 32);		/* the identity */
		return true;
	}
	if (scalar_bytes < 1 || scalar_bytes > 32)
		return false;
	c = m < 32 ? 4 : m < 256 ? 6 : m < 2048 ? 8 : m < 16384 ? 10 : 12;
	nb = 1 << (c - 1);
	/* one window more than the bits need: the last digit's carry */
	windows = max_bits(scalars, scalar_bytes, m) / c + 1;
	pts = malloc(sizeof(ge_affine) * m);
	digits = malloc(sizeof(int16_t) * m * (size_t) windows);
	buckets = malloc(sizeof(ge) * nb);
	used = malloc(sizeof(bool) * nb);
	if (pts == NULL || digits == NULL || buckets == NULL || used == NULL)
		goto done;
	for (size_t i = 0; i < m; i++)
	{
		ge			p;
		int			carry = 0;

		if (!ge_decode(&p, points[i]))
			goto done;
		affine_of(&pts[i], &p);
		for (int w = 0; w < windows; w++)
		{
			int			d = (int) window_bits(scalars + i * scalar_bytes, scalar_bytes, w * c, c) + carry;

			carry = d > nb;
			digits[i * (size_t) windows + w] = (int16_t) (carry ? d - (1 << c) : d);
		}
	}
	ge_identity(&acc);
	for (int w = windows - 1; w >= 0; w--)
	{
		memset(used, 0, sizeof(bool) * nb);
		for (int i = 0; i < c && w < windows - 1; i++)
			ge_add(&acc, &acc, &acc);
		for (size_t i = 0; i < m; i++)
		{
			int			d = digits[i * (size_t) windows + w];
			int			b = (d < 0 ? -d : d) - 1;

			if (d == 0)
				continue;
			if (!used[b])
			{
				ge_identity(&buckets[b]);
				used[b] = true;
			}
			ge_add_affine(&buckets[b], &buckets[b], &pts[i], d < 0);
		}
		/* sum_b b * bucket_b as running sums from the top bucket down */
		ge_identity(&running);
		ge_identity(&wsum);
		for (int b = nb - 1; b >= 0; b--)
		{
			if (used[b])
				ge_add(&running, &running, &buckets[b]);
			ge_add(&wsum, &wsum, &running);
		}
		ge_add(&acc, &acc, &wsum);
	}
	ge_encode(out, &acc);
	ok = true;
done:
	free(pts);
	free(digits);
	free(buckets);
	free(used);
	return ok;
}

bool
ristretto_msm128(uint8_t out[32], const uint8_t *const *points,
				 const uint8_t (*scalars)[RISTRETTO_MSM_SCALAR_BYTES], size_t m)
{
	return ristretto_msm(out, points, (const uint8_t *) scalars, RISTRETTO_MSM_SCALAR_BYTES, m);
}
