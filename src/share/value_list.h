/*
 * value_list.h - values in their text form, as a data owner and its SSA exchange
 * them under the one-time pad of the SSN-U link (Y.3808 §11.1; ssa/owner_link.c
 * and tools/ssn-client).  Plain C, no PostgreSQL header; fuzzed.
 *
 * Layout (integers little-endian):
 *
 *   off len
 *     0   1 format (VALUE_LIST_FORMAT)
 *     1   1 k  (0: the SSA's default)         } a store's parameters;
 *     2   1 n  (0: the SSA's default)         } 0 in a reply
 *     3   1 verify (0: default, 1: on, 2: off) }
 *     4  16 request id: chosen by the owner for a retrieval, echoed in the reply
 *           (so an old reply cannot pass for a new one); zero in a store
 *    20   1 T, then T bytes: the values' type name (a store; empty in a reply)
 *     .   4 count, then count values, each:
 *           1 flags (VALUE_LIST_NULL), 4 length, that many bytes (none if NULL)
 *
 * Nothing may follow the last value.
 */
#ifndef SSN_VALUE_LIST_H
#define SSN_VALUE_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALUE_LIST_FORMAT	1
/* the envelope kinds that carry value lists (net/channel.h numbers them with the others) */
#define VALUE_LIST_KIND_STORE 10	/* from a data owner to its SSA: values to store */
#define VALUE_LIST_KIND_VALUES 11	/* from the SSA to the data owner: values retrieved */
#define VALUE_LIST_TYPE_MAX 255
#define VALUE_LIST_REQUEST_ID 16
#define VALUE_LIST_NULL		0x01
#define VALUE_LIST_VALUE_OVERHEAD 5	/* flags and length of each value */

typedef struct ValueListHead
{
	uint8_t		k;
	uint8_t		n;
	uint8_t		verify;
	uint8_t		request_id[VALUE_LIST_REQUEST_ID];
	char		type_name[VALUE_LIST_TYPE_MAX + 1];
	uint32_t	count;
} ValueListHead;

/* bytes of the head; 0 if the type name is too long */
extern size_t value_list_head_size(const ValueListHead *h);

/* write the head (value_list_head_size bytes) */
extern size_t value_list_put_head(uint8_t *out, const ValueListHead *h);

/* write one value (VALUE_LIST_VALUE_OVERHEAD + len bytes; len 0 if NULL) */
extern size_t value_list_put_value(uint8_t *out, const uint8_t *v, uint32_t len, bool isnull);

/*
 * Read the head of a list of len bytes; *off is where the first value begins.
 * false with a reason in err if it is malformed (the count is checked against
 * the room the values need at least).
 */
extern bool value_list_get_head(const uint8_t *buf, size_t len, ValueListHead *h, size_t *off,
								char *err, size_t errlen);

/*
 * Read the value at *off and advance it; *v points into buf.  false with a reason
 * in err if it does not fit.  After the last value, *off must equal len
 * (value_list_get_end).
 */
extern bool value_list_get_value(const uint8_t *buf, size_t len, size_t *off, const uint8_t **v,
								 uint32_t *vlen, bool *isnull, char *err, size_t errlen);

/* true if off is the end of the list; else false with a reason in err */
extern bool value_list_get_end(size_t len, size_t off, char *err, size_t errlen);

#endif							/* SSN_VALUE_LIST_H */
