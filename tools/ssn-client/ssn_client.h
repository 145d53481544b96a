/*
 * ssn_client.h - the data owner's end of SSN-U (Y.3808 §11.1): values sealed under
 * a one-time pad with keys of the owner's own KME before they leave the process,
 * and retrieved values opened only here.  The SSA's side is ssn_store_sealed() and
 * ssn_retrieve_sealed() (src/ssa/owner_link.c).  Plain C over libpq.
 *
 *   SsnClient *c = ssn_client_open(&cfg, &err);
 *   ssn_client_seal_store(c, "int8", values, lens, n, &env, &envlen, &err);
 *       -> SELECT ssn_store_sealed($1)   (the caller runs it, e.g. inside an INSERT)
 *   ssn_client_retrieve(c, handles, n, &values, &lens, &err);
 */
#ifndef SSN_CLIENT_H
#define SSN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend_shim.h"

typedef ShimError SsnClientError;

typedef struct SsnClientConfig
{
	const char *conninfo;		/* libpq connection string ("" : PG* variables) */
	ShimKmeSettings kme;		/* this owner's SAE and its KME */
	int			k;				/* 0: the SSA's ssn.default_k */
	int			n;				/* 0: the SSA's ssn.default_n */
	int			verify;			/* 0: the SSA's ssn.verify_shares, 1: on, 2: off */
} SsnClientConfig;

typedef struct SsnClient SsnClient;

/*
 * Connect, and learn from ssn_owner_link() which SSA this is (its SAE ID) and that
 * the session's role acts for this owner's SAE.  NULL with *err set on failure.
 */
extern SsnClient *ssn_client_open(const SsnClientConfig *cfg, SsnClientError *err);

/* the connection (for the caller's own statements in the same session) */
extern PGconn *ssn_client_conn(SsnClient *c);

/* the SSA's node name and SAE ID */
extern const char *ssn_client_node(SsnClient *c);
extern const char *ssn_client_node_sae(SsnClient *c);

/*
 * Seal count values of type type_name (text forms; values[i] NULL for SQL NULL)
 * for ssn_store_sealed().  *envelope is malloc'd (the caller frees it; it holds
 * no plaintext).  0 on success, -1 with *err set.
 */
extern int	ssn_client_seal_store(SsnClient *c, const char *type_name, char *const *values,
								  const size_t *lens, int count, uint8_t **envelope,
								  size_t *envelope_len, SsnClientError *err);

/* QKD key bytes spent by the last seal or open (pad and MAC) */
extern size_t ssn_client_last_key_bytes(SsnClient *c);

/*
 * Retrieve the values of count handles (text forms; NULL for SQL NULL) in one
 * sealed reply: values[i] (malloc'd, NUL-terminated, NULL for SQL NULL) and
 * lens[i].  The caller wipes and frees them (ssn_client_free_values).
 */
extern int	ssn_client_retrieve(SsnClient *c, char *const *handles, int count, char ***values,
								size_t **lens, SsnClientError *err);

extern void ssn_client_free_values(char **values, size_t *lens, int count);

/* fill *err from a failed libpq result (SQLSTATE, message, detail, hint) */
extern void ssn_client_pq_error(PGconn *conn, const PGresult *res, SsnClientError *err);

extern void ssn_client_close(SsnClient *c);

#endif							/* SSN_CLIENT_H */
