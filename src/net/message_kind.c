/*
 * message_kind.c - the table of message kinds a node accepts; see message_kind.h.
 */
#include "postgres.h"

#include "net/message_kind.h"

#define MAX_MESSAGE_KINDS 32

/* filled at _PG_init, read-only afterwards: every backend has the same table */
static MessageKind kinds[MAX_MESSAGE_KINDS];
static int	nkinds = 0;

ssize_t
message_batch_at_start(const uint8 *msg, size_t len)
{
	return 0;
}

ssize_t
message_all_clear(const uint8 *msg, size_t len)
{
	return (ssize_t) len;
}

void
message_kind_register(const MessageKind *k)
{
	for (int i = 0; i < nkinds; i++)
		if (kinds[i].kind == k->kind)
		{
			kinds[i] = *k;		/* _PG_init again in the same process */
			return;
		}
	if (nkinds == MAX_MESSAGE_KINDS)
		elog(ERROR, "ssn: too many message kinds registered");
	kinds[nkinds++] = *k;
}

const MessageKind *
message_kind_lookup(int kind)
{
	for (int i = 0; i < nkinds; i++)
		if (kinds[i].kind == kind)
			return &kinds[i];
	return NULL;
}
