/*
 * key_id_list.h - a list of QKD key IDs of one size: what a node announces to a
 * peer of the keys it set aside for its replies to that peer (net/key_reserve),
 * so that the peer fetches them ahead.  Plain C (no PostgreSQL headers), fuzzed.
 *
 * Wire layout (integers little-endian):
 *
 *   off len
 *     0   4 magic "SSNK"
 *     4   4 size of every key in bits, 8..KEY_ID_LIST_MAX_BITS, a multiple of 8
 *     8   8 generation: the sender's reserve for this link as of its last start
 *           or drop (a receiver discards its copies of an older generation)
 *    16   2 n, the number of IDs, 1..KEY_ID_LIST_MAX
 *    18   - n IDs: a 1-byte length (1..KEY_ID_LIST_ID_MAXLEN), then that many
 *           printable ASCII bytes
 *
 * Nothing follows the last ID; no ID appears twice.
 */
#ifndef SSN_KEY_ID_LIST_H
#define SSN_KEY_ID_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_ID_LIST_MAX			512
#define KEY_ID_LIST_ID_MAXLEN	63
#define KEY_ID_LIST_MAX_BITS	(1u << 24)

typedef char KeyIdText[KEY_ID_LIST_ID_MAXLEN + 1];

/* bytes enough for a list of n IDs, whatever their lengths */
#define KEY_ID_LIST_BOUND(n)	(18 + (size_t) (n) * (1 + KEY_ID_LIST_ID_MAXLEN))

/* Bytes the list of these n IDs takes; 0 if it cannot be written (n, an ID's length or bytes). */
extern size_t key_id_list_size(const char *const *ids, int n);

/* Write the list (key_id_list_size bytes); returns that size, or 0 as key_id_list_size. */
extern size_t key_id_list_write(uint8_t *out, uint32_t key_bits, uint64_t generation,
								const char *const *ids, int n);

/*
 * Parse a list into ids (KEY_ID_LIST_MAX slots, NUL-terminated).  false with a
 * reason in err if anything is out of place.
 */
extern bool key_id_list_parse(const uint8_t *buf, size_t len, uint32_t *key_bits,
							  uint64_t *generation, int *n, KeyIdText *ids, char *err, size_t errlen);

#endif							/* SSN_KEY_ID_LIST_H */
