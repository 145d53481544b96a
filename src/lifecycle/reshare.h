/*
 * reshare.h - rebuilding a failed shareholder's shares on a replacement
 * (lifecycle/reshare.c): ssn.reshare, the helpers' and the replacement's sides,
 * and the node worker's automatic failover onto a standby.
 */
#ifndef SSN_RESHARE_H
#define SSN_RESHARE_H

/* registers the message kinds 're-share request' and 're-share', and the failover pass */
extern void reshare_init(void);

#endif							/* SSN_RESHARE_H */
