/*
 * reshare.h - rebuilding a failed shareholder's shares on a replacement
 * (lifecycle/reshare.c): ssn.reshare, the helpers' and the replacement's sides,
 * and the node worker's automatic failover onto a standby.
 */
#ifndef SSN_RESHARE_H
#define SSN_RESHARE_H

/* registers the message kinds 're-share request' and 're-share', and the failover pass */
extern void reshare_init(void);

/*
 * Called in the re-sharing's transaction once share index x is the
 * replacement's in this node's catalog: the SSA sends it the records of the
 * secrets it now holds a share of (ssa/records.c sets it).
 */
typedef void (*ReshareMovedHook) (int share_index);
extern ReshareMovedHook reshare_moved_hook;

#endif							/* SSN_RESHARE_H */
