/*
 * reply.h - replies sealed for the SSA that asked, kept for channel_take (net/reply.c).
 */
#ifndef SSN_REPLY_H
#define SSN_REPLY_H

#include "postgres.h"

#include "net/catalog.h"

/* seal PT for REQUESTER and keep it for channel_take (one reply per connection) */
extern void channel_reply_pending(const Shareholder *self, const Shareholder *requester,
								  const uint8 *pt, size_t len, int nshares, int64 share_bytes,
								  const char *purpose);

#endif							/* SSN_REPLY_H */
