/*
 * key_id_list.c - see key_id_list.h.
 */
#include "qkd/key_id_list.h"

#include <stdio.h>
#include <string.h>

#define HEAD 18						/* (KEY_ID_LIST_BOUND counts it) */

static bool
id_ok(const uint8_t *p, size_t len)
{
	if (len < 1 || len > KEY_ID_LIST_ID_MAXLEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

size_t
key_id_list_size(const char *const *ids, int n)
{
	size_t		size = HEAD;

	if (n < 1 || n > KEY_ID_LIST_MAX)
		return 0;
	for (int i = 0; i < n; i++)
	{
		size_t		len = strlen(ids[i]);

		if (!id_ok((const uint8_t *) ids[i], len))
			return 0;
		for (int j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				return 0;
		size += 1 + len;
	}
	return size;
}

size_t
key_id_list_write(uint8_t *out, uint32_t key_bits, uint64_t generation, const char *const *ids, int n)
{
	size_t		size = key_id_list_size(ids, n);
	size_t		off = HEAD;

	if (size == 0 || key_bits < 8 || key_bits > KEY_ID_LIST_MAX_BITS || key_bits % 8 != 0)
		return 0;
	memcpy(out, "SSNK", 4);
	for (int b = 0; b < 4; b++)
		out[4 + b] = (uint8_t) (key_bits >> (8 * b));
	for (int b = 0; b < 8; b++)
		out[8 + b] = (uint8_t) (generation >> (8 * b));
	out[16] = (uint8_t) n;
	out[17] = (uint8_t) (n >> 8);
	for (int i = 0; i < n; i++)
	{
		size_t		len = strlen(ids[i]);

		out[off++] = (uint8_t) len;
		memcpy(out + off, ids[i], len);
		off += len;
	}
	return off;
}

bool
key_id_list_parse(const uint8_t *buf, size_t len, uint32_t *key_bits, uint64_t *generation,
				  int *n, KeyIdText *ids, char *err, size_t errlen)
{
	size_t		off = HEAD;
	uint32_t	bits = 0;
	int			count;

	if (len < HEAD || memcmp(buf, "SSNK", 4) != 0)
	{
		snprintf(err, errlen, "not a key ID list (%zu bytes, no magic)", len);
		return false;
	}
	for (int b = 0; b < 4; b++)
		bits |= (uint32_t) buf[4 + b] << (8 * b);
	if (bits < 8 || bits > KEY_ID_LIST_MAX_BITS || bits % 8 != 0)
	{
		snprintf(err, errlen, "key size %u bits is not a whole number of bytes up to %u bits",
				 bits, KEY_ID_LIST_MAX_BITS);
		return false;
	}
	count = buf[16] | (buf[17] << 8);
	if (count < 1 || count > KEY_ID_LIST_MAX)
	{
		snprintf(err, errlen, "%d key IDs, not 1 to %d", count, KEY_ID_LIST_MAX);
		return false;
	}
	for (int i = 0; i < count; i++)
	{
		size_t		l;

		if (off >= len)
		{
			snprintf(err, errlen, "the list ends before key ID %d of %d", i + 1, count);
			return false;
		}
		l = buf[off++];
		if (l > len - off || !id_ok(buf + off, l))
		{
			snprintf(err, errlen, "key ID %d is empty, cut short or not printable ASCII", i + 1);
			return false;
		}
		memcpy(ids[i], buf + off, l);
		ids[i][l] = '\0';
		off += l;
		for (int j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
			{
				snprintf(err, errlen, "key ID %d appears twice", i + 1);
				return false;
			}
	}
	if (off != len)
	{
		snprintf(err, errlen, "%zu bytes follow the last key ID", len - off);
		return false;
	}
	*key_bits = bits;
	*generation = 0;
	for (int b = 0; b < 8; b++)
		*generation |= (uint64_t) buf[8 + b] << (8 * b);
	*n = count;
	return true;
}
