/* kme-sim configuration: a small, strictly parsed INI-like file (see README.md). */
#ifndef KME_SIM_CONFIG_H
#define KME_SIM_CONFIG_H

#include <stddef.h>

#define CFG_MAX_FILE      (1024 * 1024)   /* bytes */
#define CFG_MAX_LINE      1024            /* bytes per line */
#define CFG_MAX_SAES      4096
#define CFG_MAX_LINKS     4096
#define CFG_MAX_ID        128             /* SAE / KME ID length */
#define CFG_MAX_SLAVES    16              /* upper bound for max_SAE_ID_count */

enum fault {
    FAULT_INHERIT = -1,
    FAULT_NONE = 0,
    FAULT_BAD_JSON,     /* truncated, unparsable JSON body (operation performed) */
    FAULT_SHORT_KEY,    /* keys one byte shorter than size/8 (operation performed) */
    FAULT_BAD_BASE64,   /* key strings are not valid base64 (operation performed) */
    FAULT_HTML_ERROR,   /* 500 with an HTML body (no operation performed) */
    FAULT_SLOW,         /* answer correctly after slow_ms milliseconds */
    FAULT_DROP,         /* perform the operation, then close without answering */
    FAULT_WRONG_KEY,    /* keys of the right length but wrong content */
    FAULT_ZERO_COUNT,   /* status says stored_key_count 0; keys are still delivered */
    FAULT_COUNT_
};

/* Bits for fault_endpoints. */
#define EP_STATUS 1u
#define EP_ENC    2u
#define EP_DEC    4u
#define EP_ALL    (EP_STATUS | EP_ENC | EP_DEC)

struct link_params {
    unsigned set;               /* bitmask of fields given explicitly (LP_* below) */
    double rate_bps;            /* refill rate in bits/s; < 0 means unlimited */
    unsigned key_size;          /* bits */
    unsigned min_key_size;      /* bits */
    unsigned max_key_size;      /* bits */
    unsigned max_key_count;
    unsigned max_key_per_request;
    unsigned max_sae_id_count;
    long initial_keys;          /* -1: start full */
    unsigned max_pending_keys;  /* keys fetched by a master but not yet by the slave */
    int oneway;                 /* only the first SAE of the link may be master */
    int fault;                  /* enum fault */
    unsigned fault_endpoints;   /* EP_* */
    unsigned slow_ms;
    char *target_kme_id;
};

#define LP_RATE        (1u << 0)
#define LP_KEY_SIZE    (1u << 1)
#define LP_MIN_SIZE    (1u << 2)
#define LP_MAX_SIZE    (1u << 3)
#define LP_MAX_COUNT   (1u << 4)
#define LP_MAX_PER_REQ (1u << 5)
#define LP_MAX_SAE     (1u << 6)
#define LP_INITIAL     (1u << 7)
#define LP_MAX_PENDING (1u << 8)
#define LP_ONEWAY      (1u << 9)
#define LP_FAULT       (1u << 10)
#define LP_FAULT_EP    (1u << 11)
#define LP_SLOW_MS     (1u << 12)
#define LP_TARGET      (1u << 13)

struct link_cfg {
    int sae_a, sae_b;           /* indexes into kme_config.saes */
    int line;
    struct link_params p;
};

struct kme_config {
    char *kme_id;
    char *listen;
    unsigned port;
    char *cert, *key, *ca, *crl;    /* paths, made absolute/relative to the config dir */
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned max_requests_per_conn;
    struct link_params defaults;    /* [defaults] + [kme] fault settings */
    char **saes;
    size_t nsaes;
    struct link_cfg *links;
    size_t nlinks;
};

/* Parse a configuration held in memory.  base_dir (may be NULL) is prepended to
 * relative paths.  Returns 0, or -1 with a message in err. */
int config_parse(const char *text, size_t len, const char *base_dir,
                 struct kme_config *out, char *err, size_t errlen);
/* Read and parse a file. */
int config_load(const char *path, struct kme_config *out, char *err, size_t errlen);
void config_free(struct kme_config *c);

const char *fault_name(int f);
int sae_id_valid(const char *s, size_t len);

#endif
