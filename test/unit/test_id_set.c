/*
 * test_id_set.c - sorted id sets: build from any order with repeats, map every
 * reference to its position, and find ids from any cursor position (forward,
 * backward, far, absent).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "share/id_set.h"
#include "unit.h"

#define N 5000

int
main(void)
{
	static uint8_t ids[N * 2][SHARE_ID_SIZE];
	static uint8_t out[N * 2][SHARE_ID_SIZE];
	static uint32_t of_ref[N * 2];
	void	   *work;
	IdSet		s;
	int			bad = 0;

	if (sodium_init() < 0)
		return 1;
	/* N random ids, each twice, shuffled */
	for (int i = 0; i < N; i++)
	{
		randombytes_buf(ids[i], SHARE_ID_SIZE);
		memcpy(ids[N + i], ids[i], SHARE_ID_SIZE);
	}
	for (int i = N * 2 - 1; i > 0; i--)
	{
		int			j = (int) randombytes_uniform((uint32_t) i + 1);
		uint8_t		t[SHARE_ID_SIZE];

		memcpy(t, ids[i], SHARE_ID_SIZE);
		memcpy(ids[i], ids[j], SHARE_ID_SIZE);
		memcpy(ids[j], t, SHARE_ID_SIZE);
	}
	work = malloc(id_set_work_size() * N * 2);
	id_set_build(&s, (uint8_t *) ids, N * 2, out, of_ref, work);
	CHECK(s.count == N, "%u distinct ids, want %d", s.count, N);
	for (uint32_t i = 1; i < s.count; i++)
		bad += memcmp(out[i - 1], out[i], SHARE_ID_SIZE) >= 0;
	CHECK(bad == 0, "ascending and distinct");
	bad = 0;
	for (int i = 0; i < N * 2; i++)
		bad += memcmp(out[of_ref[i]], ids[i], SHARE_ID_SIZE) != 0;
	CHECK(bad == 0, "every reference maps to its id");

	/* lookups in random order (cursor jumps), in order, in reverse order */
	bad = 0;
	for (int i = 0; i < N * 2; i++)
		bad += id_set_find(&s, ids[i]) != (int64_t) of_ref[i];
	CHECK(bad == 0, "random-order lookups");
	bad = 0;
	for (uint32_t i = 0; i < s.count; i++)
		bad += id_set_find(&s, out[i]) != (int64_t) i;
	CHECK(bad == 0, "ascending lookups");
	bad = 0;
	for (uint32_t i = s.count; i-- > 0;)
		bad += id_set_find(&s, out[i]) != (int64_t) i;
	CHECK(bad == 0, "descending lookups");
	/* absent ids: between members, below the first, above the last */
	bad = 0;
	for (int i = 0; i < 2000; i++)
	{
		uint8_t		x[SHARE_ID_SIZE];

		randombytes_buf(x, sizeof(x));
		x[15] |= 1;				/* members kept below may still collide: check by search */
		{
			int			member = 0;

			for (uint32_t j = 0; j < s.count && !member; j++)
				member = memcmp(out[j], x, SHARE_ID_SIZE) == 0;
			bad += (id_set_find(&s, x) >= 0) != member;
		}
	}
	{
		uint8_t		lo[SHARE_ID_SIZE] = {0},
					hi[SHARE_ID_SIZE];

		memset(hi, 0xff, sizeof(hi));
		bad += id_set_find(&s, lo) >= 0 && memcmp(out[0], lo, SHARE_ID_SIZE) != 0;
		bad += id_set_find(&s, hi) >= 0 && memcmp(out[s.count - 1], hi, SHARE_ID_SIZE) != 0;
	}
	CHECK(bad == 0, "absent ids are not found");
	/* an empty set and an already sorted input */
	{
		IdSet		e;

		id_set_build(&e, NULL, 0, out, NULL, work);
		CHECK(e.count == 0 && id_set_find(&e, ids[0]) == -1, "empty set");
		memcpy(ids, out, sizeof(out[0]) * N);
		id_set_build(&e, (uint8_t *) ids, N, out, NULL, work);
		CHECK(e.count == N && id_set_find(&e, ids[N / 2]) == N / 2, "sorted input");
	}
	free(work);
	return unit_finish("id_set");
}
