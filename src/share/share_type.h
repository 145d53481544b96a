/*
 * share_type.h - the ssn_share SQL type as the backend sees it: a varlena whose data
 * is one share in the layout of share_format.h.
 */
#ifndef SSN_SHARE_TYPE_H
#define SSN_SHARE_TYPE_H

#include "postgres.h"

#include "fmgr.h"
#include "share/share_format.h"

#define SHARE_BYTES(v)		((uint8_t *) VARDATA(v))
#define SHARE_SIZE(v)		((size_t) (VARSIZE(v) - VARHDRSZ))
#define SHARE_PAYLOAD(v)	(SHARE_BYTES(v) + SHARE_HEADER_SIZE)

/* Detoast a share datum, validate it and decode its header; XX001 if corrupted. */
extern struct varlena *share_open(Datum d, ShareHeader *h);

/* A new share with room for payload_len bytes; fill the payload, then seal. */
extern struct varlena *share_alloc(uint32 payload_len);
extern void share_seal_varlena(struct varlena *s, const ShareHeader *h);

/* Header fields of a new share made from an old one (same secret and sharing). */
extern void share_header_init(ShareHeader *h, int field, int type, int k, int n,
							  int degree, int x, uint32 epoch, const uint8 *id);

#endif							/* SSN_SHARE_TYPE_H */
