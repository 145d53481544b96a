/*
 * id_set.c - sorted sets of secret ids with a galloping cursor (see id_set.h).
 */
#include "share/id_set.h"

#include <stdlib.h>
#include <string.h>

typedef struct RefId
{
	uint8_t		id[SHARE_ID_SIZE];
	uint32_t	ref;
} RefId;

size_t
id_set_work_size(void)
{
	return sizeof(RefId);
}

static int
refid_cmp(const void *a, const void *b)
{
	int			c = memcmp(((const RefId *) a)->id, ((const RefId *) b)->id, SHARE_ID_SIZE);

	if (c != 0)
		return c;
	return (((const RefId *) a)->ref > ((const RefId *) b)->ref) -
		(((const RefId *) a)->ref < ((const RefId *) b)->ref);
}

void
id_set_build(IdSet *s, const uint8_t *ids, uint32_t n, uint8_t (*ids_out)[SHARE_ID_SIZE],
			 uint32_t *of_ref, void *work)
{
	RefId	   *r = work;
	int			sorted = 1;

	for (uint32_t i = 0; i < n; i++)
	{
		memcpy(r[i].id, ids + (size_t) i * SHARE_ID_SIZE, SHARE_ID_SIZE);
		r[i].ref = i;
		if (i > 0 && sorted && memcmp(r[i - 1].id, r[i].id, SHARE_ID_SIZE) > 0)
			sorted = 0;
	}
	/* ids made in order (the usual case) need no sort */
	if (!sorted)
		qsort(r, n, sizeof(RefId), refid_cmp);
	s->ids = ids_out;
	s->count = 0;
	s->cursor = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		if (s->count == 0 || memcmp(s->ids[s->count - 1], r[i].id, SHARE_ID_SIZE) != 0)
			memcpy(s->ids[s->count++], r[i].id, SHARE_ID_SIZE);
		if (of_ref)
			of_ref[r[i].ref] = s->count - 1;
	}
}

int64_t
id_set_find(IdSet *s, const uint8_t *id)
{
	uint32_t	lo,
				hi,
				step = 1;
	int			c;

	if (s->count == 0)
		return -1;
	c = memcmp(s->ids[s->cursor], id, SHARE_ID_SIZE);
	if (c == 0)
		return s->cursor;
	/* gallop from the cursor to a range [lo, hi) that must hold id */
	if (c < 0)
	{
		lo = s->cursor + 1;
		hi = lo;
		while (hi < s->count && memcmp(s->ids[hi], id, SHARE_ID_SIZE) < 0)
		{
			lo = hi + 1;
			hi += step;
			step *= 2;
		}
		if (hi > s->count)
			hi = s->count;
		else if (hi < s->count)
			hi++;
	}
	else
	{
		hi = s->cursor;
		lo = hi;
		while (lo > 0 && memcmp(s->ids[lo - 1], id, SHARE_ID_SIZE) >= 0)
		{
			hi = lo;
			lo = lo > step ? lo - step : 0;
			step *= 2;
		}
	}
	/* binary search in [lo, hi) */
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		c = memcmp(s->ids[mid], id, SHARE_ID_SIZE);
		if (c == 0)
		{
			s->cursor = mid;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
