/*
 * verify.h - verifiable shares (Y.3808 §8.3, §10.3) as the backend uses them.
 *
 * A verifiable share carries its value y = f(x), its blinding t = r(x) and the
 * SSA's signed record of the Pedersen commitments C_i = a_i G + b_i H to the two
 * polynomials (share_format.h).  Shareholders check y G + t H = sum x^i C_i when a
 * share arrives or is renewed; the SSA checks, before it rebuilds a secret, that
 * the k shares open C_0 (s G + r(0) H = C_0) and names any share that fails.
 */
#ifndef SSN_VERIFY_H
#define SSN_VERIFY_H

#include "postgres.h"

#include "share/value_codec.h"

/*
 * Split v into n verifiable shares at xs (each allocated with a payload of
 * SHARE_VERIFIABLE_PAYLOAD(k)); the signed record is also returned (palloc'd bytea).
 */
extern bytea *verify_split(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id,
						   uint32 epoch, struct varlena **shares);

/* holder: m shares (share bytes; non-verifiable ones are skipped) all consistent
 * with their commitments?  Returns the index of one that is not, or -1. */
extern int	verify_received(const uint8 *const *shares, int m);

/* the same, with why set naming the secret ("the <what> of secret <id> does not match ...") */
extern bool verify_received_why(const uint8 *const *shares, int m, const char *what,
								char *why, size_t whylen);

/* SSA: the shares gathered for one secret, checked against its signed record */
typedef struct VerifyItem
{
	const uint8 *record;		/* the SSA's record (ssn.secret.commitment) */
	size_t		reclen;
	struct varlena **shares;
	int			m;
	bool	   *bad;			/* out: bad[i] if share i fails */
	int			nbad;			/* out */
} VerifyItem;

/* check every item (batched: about one point multiplication per secret) */
extern void verify_items(VerifyItem *items, int n);

/* one share against a record: NULL if valid, else why not */
extern const char *verify_one(const uint8 *record, size_t reclen, const uint8 *share, size_t len);

/* a record's own check: structure, signature, and signer among this node's keys */
extern const char *verify_record(const uint8 *record, size_t reclen, const uint8 *id, uint32 epoch);

/* renewal (coordinator): the parts' commitments and the new signed record */
extern void verify_zero_sharing(const uint8 *old_record, size_t reclen, uint32 new_epoch,
								fp_t *coeffs, fp_t *blind, uint8 *new_record);

#endif							/* SSN_VERIFY_H */
