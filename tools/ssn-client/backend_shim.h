/*
 * backend_shim.h - the few server services that src/qkd/kme_client.c needs, for a
 * single-threaded frontend program that links it unchanged (ssn-client).
 *
 * Plain C: usable from files that do not include postgres.h.  The rest of what
 * kme_client.c calls (palloc, StringInfo, the JSON parser, pg_snprintf...) comes
 * from the frontend builds in libpgcommon.a and libpgport.a.
 */
#ifndef SSN_BACKEND_SHIM_H
#define SSN_BACKEND_SHIM_H

#include <stdbool.h>

/* an ereport(ERROR) caught by shim_try */
typedef struct ShimError
{
	char		sqlstate[6];
	char		message[1024];
	char		detail[1024];	/* "" if none */
	char		hint[1024];		/* "" if none */
} ShimError;

/* the settings the KME client reads (strings are copied; NULL = ""); in ms */
typedef struct ShimKmeSettings
{
	const char *kme_url,
			   *sae_id,
			   *sae_cert,
			   *sae_key,
			   *kme_ca,
			   *kme_crl;
	int			timeout_ms,
				connect_timeout_ms;
} ShimKmeSettings;

extern void shim_set_kme(const ShimKmeSettings *s);

/*
 * Run fn(arg).  An ereport(ERROR) inside is caught and described in *err (may be
 * NULL), and false returned.  Every reset callback registered during the call
 * (kme_client wipes key batches and request buffers with them) runs before
 * shim_try returns, success or not: copy keys out, or use them, inside fn.
 * Not reentrant.
 */
extern bool shim_try(void (*fn) (void *arg), void *arg, ShimError *err);

/*
 * Make a running shim_try stop with SQLSTATE 57014 at its next
 * CHECK_FOR_INTERRUPTS (an HTTP transfer is aborted within about a second).
 * Async-signal-safe: meant for a SIGINT handler.  An interrupt that arrives after
 * the call's last check is dropped when shim_try returns.
 */
extern void shim_interrupt(void);

#endif							/* SSN_BACKEND_SHIM_H */
