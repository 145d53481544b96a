/*
 * id_set.h - a set of secret ids for bulk lookups: sorted, with a cursor.
 *
 * Secret ids begin with a millisecond timestamp (store.c), so the rows of a
 * share table, a catalog or a user's table come roughly in id order.  Looking
 * ids up from a cursor that gallops forward or back from the last hit touches
 * memory in order, where a hash table would miss the cache on every row; an id
 * far from the last one still costs only a binary search.
 *
 * Plain C (no PostgreSQL headers): unit tests link it.
 */
#ifndef SSN_ID_SET_H
#define SSN_ID_SET_H

#include <stddef.h>
#include <stdint.h>

#include "share/share_format.h"

typedef struct IdSet
{
	uint8_t		(*ids)[SHARE_ID_SIZE];	/* distinct, ascending */
	uint32_t	count;
	uint32_t	cursor;
} IdSet;

/*
 * Build the set of n ids (16 bytes each, in any order, repeats allowed) into
 * ids_out (room for n); if of_ref is not NULL, of_ref[i] gets the position of
 * ids[i] in the set.  work must have room for n entries of id_set_work_size().
 */
extern size_t id_set_work_size(void);
extern void id_set_build(IdSet *s, const uint8_t *ids, uint32_t n, uint8_t (*ids_out)[SHARE_ID_SIZE],
						 uint32_t *of_ref, void *work);

/* the position of id in the set, or -1 */
extern int64_t id_set_find(IdSet *s, const uint8_t *id);

#endif							/* SSN_ID_SET_H */
