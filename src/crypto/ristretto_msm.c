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

bool
ristretto_msm(uint8_t out[32], const uint8_t *const *points, const uint8_t *scalars,
			  size_t scalar_bytes, size_t m)
{
	ge		   *pts;
	ge		   *buckets;
	ge			acc,
				running,
				wsum;
	int			c,
				nb,
				windows;

	if (m == 0)
	{
		memset(out, 0, 32);		/* the identity */
		return true;
	}
	pts = malloc(sizeof(ge) * m);
	if (pts == NULL)
		return false;
	for (size_t i = 0; i < m; i++)
		if (!ge_decode(&pts[i], points[i]))
		{
			free(pts);
			return false;
		}
	c = m < 32 ? 3 : m < 256 ? 5 : m < 2048 ? 7 : m < 16384 ? 9 : 11;
	nb = (1 << c) - 1;
	if (scalar_bytes < 1 || scalar_bytes > 32)
	{
		free(pts);
		return false;
	}
	windows = (int) ((scalar_bytes * 8 + c - 1) / c);
	buckets = malloc(sizeof(ge) * nb);
	if (buckets == NULL)
	{
		free(pts);
		return false;
	}
	ge_identity(&acc);
	for (int w = windows - 1; w >= 0; w--)
	{
		bool	   *used = calloc(nb, sizeof(bool));

		if (used == NULL)
		{
			free(pts);
			free(buckets);
			return false;
		}
		for (int i = 0; i < c; i++)
			ge_add(&acc, &acc, &acc);
		for (size_t i = 0; i < m; i++)
		{
			int			bit = w * c;
			uint32_t	digit = 0;

			const uint8_t *sc = scalars + i * scalar_bytes;

			for (int j = 0; j < c && (size_t) (bit + j) < scalar_bytes * 8; j++)
				digit |= (uint32_t) ((sc[(bit + j) / 8] >> ((bit + j) % 8)) & 1) << j;
			if (digit == 0)
				continue;
			if (used[digit - 1])
				ge_add(&buckets[digit - 1], &buckets[digit - 1], &pts[i]);
			else
			{
				buckets[digit - 1] = pts[i];
				used[digit - 1] = true;
			}
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
		free(used);
	}
	free(pts);
	free(buckets);
	ge_encode(out, &acc);
	return true;
}

bool
ristretto_msm128(uint8_t out[32], const uint8_t *const *points,
				 const uint8_t (*scalars)[RISTRETTO_MSM_SCALAR_BYTES], size_t m)
{
	return ristretto_msm(out, points, (const uint8_t *) scalars, RISTRETTO_MSM_SCALAR_BYTES, m);
}
