/*
 * split_combine.h - splitting a value into shares and rebuilding it, for the
 * storage network's functions (ssn_split/ssn_combine are the SQL faces).
 */
#ifndef SSN_SPLIT_COMBINE_H
#define SSN_SPLIT_COMBINE_H

#include "share/share_type.h"
#include "share/value_codec.h"

/* ereport unless 2 <= k <= n <= 255 */
extern void check_k_n(int32 k, int32 n);

/* fill n shares (allocated with the value's payload length) at points xs */
extern void split_into(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id,
					   uint32 epoch, struct varlena **shares);

/* rebuild from m shares of one sharing (any extra ones must agree) */
extern void shares_rebuild(struct varlena **shares, int m, ShareValue *v);

#endif							/* SSN_SPLIT_COMBINE_H */
