/* kme-sim: key pools, delivered keys and the ETSI GS QKD 014 request handler. */
#ifndef KME_SIM_KME_H
#define KME_SIM_KME_H

#include <stddef.h>
#include "config.h"

struct kme;

struct kme_resp {
    int status;
    const char *content_type;
    char *body;
    size_t len, cap;
    int secret;             /* body holds key material: wipe before freeing */
    int drop;               /* fault: close the connection without answering */
    unsigned delay_ms;      /* fault: wait before answering */
    int nkeys;              /* for the log */
    unsigned key_bits;      /* for the log */
    int fault;              /* fault applied (enum fault), for the log */
    char note[160];         /* for the log: error message (never key material) */
};

/* The configuration must outlive the kme object. */
struct kme *kme_new(const struct kme_config *cfg, char *err, size_t errlen);
void kme_free(struct kme *k);   /* wipes all key material */
void kme_wipe(struct kme *k);   /* wipes all key material, keeps the object locked */

/* Handle one request.  caller is the client certificate's subject CN, or NULL
 * when the client presented no certificate.  resp must be zero-initialised. */
void kme_handle(struct kme *k, const char *caller, const char *method, const char *target,
                const char *body, size_t body_len, struct kme_resp *resp);
void kme_resp_free(struct kme_resp *r);

/* Monotonic clock in seconds (overridable for tests through kme_set_clock). */
void kme_set_clock(double (*fn)(void));

#endif
