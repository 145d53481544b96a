/*
 * reshare_format.c - parsing a re-sharing request (see reshare_format.h).
 */
#include "lifecycle/reshare_format.h"

#include <stdio.h>
#include <string.h>

#define ID_BYTES 16

bool
reshare_request_header(const uint8_t *buf, size_t len, char *name, int *xf,
					   size_t *off, char *err, size_t errlen)
{
	size_t		n;

	err[0] = '\0';
	if (len < 1)
		return snprintf(err, errlen, "empty re-sharing request"), false;
	n = buf[0];
	if (n < 1 || n > RESHARE_NAME_MAX || len < n + 2)
		return snprintf(err, errlen, "truncated re-sharing request header"), false;
	memcpy(name, buf + 1, n);
	name[n] = '\0';
	if (strlen(name) != n)
		return snprintf(err, errlen, "a NUL in the replacement's name"), false;
	*xf = buf[n + 1];
	if (*xf < 1)
		return snprintf(err, errlen, "share index 0 to rebuild"), false;
	*off = n + 2;
	return true;
}

bool
reshare_request_next(const uint8_t *buf, size_t len, size_t *off, int xf,
					 ReshareItem *item, char *err, size_t errlen)
{
	size_t		o = *off;

	err[0] = '\0';
	if (o >= len)
		return false;
	if (len - o < ID_BYTES + 1)
		return snprintf(err, errlen, "truncated re-sharing request item"), false;
	item->id = buf + o;
	item->k = buf[o + ID_BYTES];
	o += ID_BYTES + 1;
	if (item->k < 1 || len - o < (size_t) item->k + 2 * RESHARE_SEED_BYTES)
		return snprintf(err, errlen, "truncated re-sharing request item"), false;
	item->xs = buf + o;
	for (int i = 0; i < item->k; i++)
	{
		if (item->xs[i] == 0 || item->xs[i] == xf)
			return snprintf(err, errlen, "a helper's share index is 0 or the one to rebuild"), false;
		for (int j = 0; j < i; j++)
			if (item->xs[i] == item->xs[j])
				return snprintf(err, errlen, "repeated share indexes among the helpers"), false;
	}
	o += item->k;
	item->seed_a = buf + o;
	item->seed_b = buf + o + RESHARE_SEED_BYTES;
	*off = o + 2 * RESHARE_SEED_BYTES;
	return true;
}
