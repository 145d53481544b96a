/*
 * check.h - checked shares: values without Pedersen commitments (byte strings in
 * GF(2^8); numbers stored with verify => false) shared with a salt, whose SSA signs a
 * digest of value and salt at store (crypto/check_record.h) and, before it rebuilds
 * the value, finds k shares that open that digest.  A share that does not lie on
 * their polynomial is named; with no k shares opening it, nothing is rebuilt.
 *
 * Unlike a Pedersen share, a checked share cannot be checked alone: a holder checks
 * nothing on receipt but the form, and the SSA needs k good shares, or k + 1 to
 * name one bad one.
 */
#ifndef SSN_CHECK_H
#define SSN_CHECK_H

#include "postgres.h"

#include "share/value_codec.h"

/*
 * Split v, with a fresh salt, into n checked shares at xs (each allocated with a
 * payload of v->len + SHARE_CHECK_SALT bytes, or 64 for a number); returns the
 * signed check record (palloc'd bytea).
 */
extern bytea *check_split(ShareValue *v, int k, int n, const uint8 *xs, const uint8 *id,
						  struct varlena **shares);

/* a record's own check: structure, secret, signature, signer among this node's keys */
extern const char *check_record_problem(const bytea *record, const uint8 *id);

/*
 * Which of the m shares (of one sharing) lie on the polynomial through k of them that
 * opens the record's digest and that most of them fit: fits[i] set for those.
 * Returns how many fit (0: no k of them open it, or the search was too long);
 * *ambiguous when the shares that do not fit cannot be told to lie: another
 * polynomial opening it is fit by as many (shares altered so that their errors
 * cancel at 0), or too few shares are at hand to rule that out for up to k-1 liars.
 * The value is right either way.
 */
extern int	check_find(const bytea *record, struct varlena **shares, int m, int k, bool *fits,
					   bool *ambiguous);

/* "signed by key <hex> at <time>" for ssn_verify */
extern char *check_record_describe(const bytea *record);

#endif							/* SSN_CHECK_H */
