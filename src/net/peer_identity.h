/*
 * peer_identity.h - who is calling: the shareholder a peer session speaks for.
 *
 * Every peer logs in to this node as a role of its own, bound to its entry in
 * ssn.shareholder (column peer_role).  The channel functions take the sender,
 * requester or origin from that binding: a name given in an argument or a
 * message header is only a claim, checked against it.
 */
#ifndef SSN_PEER_IDENTITY_H
#define SSN_PEER_IDENTITY_H

#include "net/catalog.h"

/*
 * The peer this session speaks for, which must be `claimed`.  A superuser
 * session of this node (an operator by hand) may speak for any peer it names.
 * Anything else is refused with an ERROR before any key is spent, after an
 * alarm naming the real caller, recorded whatever becomes of this transaction.
 */
extern Shareholder *peer_identity_require(ShareholderList *cat, const char *claimed,
										  const char *function);

/* The peer this session speaks for, NULL for a superuser session; else refused as above. */
extern Shareholder *peer_identity_caller(ShareholderList *cat, const char *function);

/* s made printable for a log line or an alarm: other bytes as \xNN, at most 64 shown */
extern char *peer_identity_printable(const char *s);

#endif							/* SSN_PEER_IDENTITY_H */
