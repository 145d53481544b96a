/*
 * message_kind.h - the kinds of message a node accepts on its channels, registered
 * by the subsystems that handle them (at _PG_init), so that the receiving end
 * (net/receiver.c) dispatches without knowing any of them.
 */
#ifndef SSN_MESSAGE_KIND_H
#define SSN_MESSAGE_KIND_H

#include "postgres.h"

#include "net/catalog.h"

/* an authentic message, opened: its sender is the peer whose link keys verified the MAC */
typedef struct ReceivedMessage
{
	int			kind;
	const uint8 *msg_id;
	const uint8 *pt;
	size_t		len;
	Shareholder *self;
	Shareholder *sender;
} ReceivedMessage;

/* what a handler did, for the reply to the sender and the link's accounting */
typedef struct MessageOutcome
{
	int			items;			/* shares, parts or contributions handled */
	int64		share_bytes;
	char	   *reply;			/* the status text returned to the sender */
} MessageOutcome;

/*
 * Handles one message; false (why set) refuses it: the refusal, its alarm and the
 * settled key ledger commit, and nothing the handler wrote survives.
 */
typedef bool (*MessageHandler) (const ReceivedMessage *m, MessageOutcome *out,
								char *why, size_t whylen);

/* the message is recorded as seen after the handler ran (it is idempotent) */
#define MESSAGE_SEEN_AFTER		0x01
/* it must arrive in a transaction block that its sender prepares (two-phase commit) */
#define MESSAGE_IN_XACT_BLOCK	0x02

typedef struct MessageKind
{
	int			kind;			/* MSG_KIND_* (net/channel.h) */
	MessageHandler handle;
	uint32		flags;
	const char *what;			/* what it carries, for refusals ("renewal parts") */
	const char *refusal;		/* the alarm's problem when the handler refuses */
	const char *duplicate;		/* the reply to a message seen before (%d: its items) */
	const char *touches;		/* what the handler may write, for the reader */

	/*
	 * A message that ends in a share batch (share_batch.h): the length of what
	 * comes before it, read from those bytes alone, or -1 if they are malformed.
	 * That prefix and the batch's headers travel in clear, authenticated; only
	 * the share values spend one-time pad.  NULL: all of the message under the pad.
	 */
	ssize_t		(*batch_at) (const uint8 *msg, size_t len);
} MessageKind;

/* batch_at of a kind whose message is a share batch from its first byte */
extern ssize_t message_batch_at_start(const uint8 *msg, size_t len);
/* batch_at of a kind with nothing secret: all of it clear, authenticated, no pad */
extern ssize_t message_all_clear(const uint8 *msg, size_t len);

extern void message_kind_register(const MessageKind *k);
extern const MessageKind *message_kind_lookup(int kind);

#endif							/* SSN_MESSAGE_KIND_H */
