/* kme-sim configuration parser: strict, bounded, no dynamic surprises. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const fault_names[FAULT_COUNT_] = {
    "none", "bad_json", "short_key", "bad_base64", "html_error", "slow", "drop", "wrong_key",
    "zero_count",
};

const char *fault_name(int f)
{
    if (f < 0 || f >= FAULT_COUNT_)
        return "inherit";
    return fault_names[f];
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* SAE and KME IDs: 1..CFG_MAX_ID printable ASCII characters other than space. */
int sae_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > CFG_MAX_ID)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int parse_uint(const char *v, unsigned long max, unsigned long *out)
{
    unsigned long r = 0;
    size_t n = strlen(v);
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        r = r * 10 + (unsigned long)(v[i] - '0');
    }
    if (r > max)
        return -1;
    *out = r;
    return 0;
}

/* "unlimited", or a decimal number with an optional k/M/G (x1000) suffix, in bits/s. */
static int parse_rate(const char *v, double *out)
{
    if (strcasecmp(v, "unlimited") == 0) {
        *out = -1.0;
        return 0;
    }
    size_t n = strlen(v), i = 0, digits = 0;
    double r = 0, scale = 1;
    if (n == 0 || n > 24)
        return -1;
    while (i < n && isdigit((unsigned char)v[i])) {
        r = r * 10 + (v[i++] - '0');
        digits++;
    }
    if (i < n && v[i] == '.') {
        double f = 0.1;
        i++;
        while (i < n && isdigit((unsigned char)v[i])) {
            r += f * (v[i++] - '0');
            f /= 10;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (i < n) {
        switch (v[i]) {
        case 'k': case 'K': scale = 1e3; break;
        case 'M': scale = 1e6; break;
        case 'G': scale = 1e9; break;
        default: return -1;
        }
        i++;
    }
    if (i != n)
        return -1;
    r *= scale;
    if (r > 1e11)
        return -1;
    *out = r;
    return 0;
}

static int parse_fault(const char *v)
{
    for (int i = 0; i < FAULT_COUNT_; i++)
        if (strcmp(v, fault_names[i]) == 0)
            return i;
    return -1;
}

/* Comma-separated subset of status,enc_keys,dec_keys, or "all". */
static int parse_endpoints(const char *v, unsigned *out)
{
    unsigned m = 0;
    const char *p = v;
    if (strcmp(v, "all") == 0) {
        *out = EP_ALL;
        return 0;
    }
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) { p++; n--; }
        while (n && isspace((unsigned char)p[n - 1])) n--;
        if (n == 6 && strncmp(p, "status", 6) == 0) m |= EP_STATUS;
        else if (n == 8 && strncmp(p, "enc_keys", 8) == 0) m |= EP_ENC;
        else if (n == 8 && strncmp(p, "dec_keys", 8) == 0) m |= EP_DEC;
        else return -1;
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return -1;
    }
    if (!m)
        return -1;
    *out = m;
    return 0;
}

static char *path_join(const char *base, const char *p)
{
    if (p[0] == '/' || !base || !*base)
        return strdup(p);
    size_t n = strlen(base) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", base, p);
    return r;
}

static int find_sae(const struct kme_config *c, const char *id)
{
    for (size_t i = 0; i < c->nsaes; i++)
        if (strcmp(c->saes[i], id) == 0)
            return (int)i;
    return -1;
}

static int add_sae(struct kme_config *c, const char *id)
{
    int i = find_sae(c, id);
    if (i >= 0)
        return i;
    if (c->nsaes >= CFG_MAX_SAES)
        return -1;
    char **n = realloc(c->saes, (c->nsaes + 1) * sizeof(*n));
    if (!n)
        return -1;
    c->saes = n;
    if (!(c->saes[c->nsaes] = strdup(id)))
        return -1;
    return (int)c->nsaes++;
}

/* Returns 1 if key was a link parameter (handled or error), 0 if not one. */
static int set_link_param(struct link_params *p, const char *k, const char *v,
                          int line, char *err, size_t errlen)
{
    unsigned long u;
    unsigned bit;
    int bad = 0;

#define DUP_CHECK(b) do { bit = (b); if (p->set & bit) { \
        seterr(err, errlen, "line %d: '%s' given twice in this section", line, k); return -1; } } while (0)

    if (strcasecmp(k, "rate") == 0) {
        DUP_CHECK(LP_RATE);
        bad = parse_rate(v, &p->rate_bps);
    } else if (strcasecmp(k, "key_size") == 0) {
        DUP_CHECK(LP_KEY_SIZE);
        bad = parse_uint(v, 1048576, &u); p->key_size = (unsigned)u;
    } else if (strcasecmp(k, "min_key_size") == 0) {
        DUP_CHECK(LP_MIN_SIZE);
        bad = parse_uint(v, 1048576, &u); p->min_key_size = (unsigned)u;
    } else if (strcasecmp(k, "max_key_size") == 0) {
        DUP_CHECK(LP_MAX_SIZE);
        bad = parse_uint(v, 1048576, &u); p->max_key_size = (unsigned)u;
    } else if (strcasecmp(k, "max_key_count") == 0) {
        DUP_CHECK(LP_MAX_COUNT);
        bad = parse_uint(v, 100000000, &u); p->max_key_count = (unsigned)u;
    } else if (strcasecmp(k, "max_key_per_request") == 0) {
        DUP_CHECK(LP_MAX_PER_REQ);
        bad = parse_uint(v, 100000, &u); p->max_key_per_request = (unsigned)u;
    } else if (strcasecmp(k, "max_SAE_ID_count") == 0) {
        DUP_CHECK(LP_MAX_SAE);
        bad = parse_uint(v, CFG_MAX_SLAVES, &u); p->max_sae_id_count = (unsigned)u;
    } else if (strcasecmp(k, "initial_keys") == 0) {
        DUP_CHECK(LP_INITIAL);
        if (strcmp(v, "full") == 0)
            p->initial_keys = -1;
        else {
            bad = parse_uint(v, 100000000, &u);
            p->initial_keys = (long)u;
        }
    } else if (strcasecmp(k, "max_pending_keys") == 0) {
        DUP_CHECK(LP_MAX_PENDING);
        bad = parse_uint(v, 10000000, &u); p->max_pending_keys = (unsigned)u;
    } else if (strcasecmp(k, "direction") == 0) {
        DUP_CHECK(LP_ONEWAY);
        if (strcmp(v, "both") == 0) p->oneway = 0;
        else if (strcmp(v, "oneway") == 0) p->oneway = 1;
        else bad = 1;
    } else if (strcasecmp(k, "fault") == 0) {
        DUP_CHECK(LP_FAULT);
        p->fault = parse_fault(v);
        bad = p->fault < 0;
    } else if (strcasecmp(k, "fault_endpoints") == 0) {
        DUP_CHECK(LP_FAULT_EP);
        bad = parse_endpoints(v, &p->fault_endpoints);
    } else if (strcasecmp(k, "slow_ms") == 0) {
        DUP_CHECK(LP_SLOW_MS);
        bad = parse_uint(v, 600000, &u); p->slow_ms = (unsigned)u;
    } else if (strcasecmp(k, "target_kme_id") == 0) {
        DUP_CHECK(LP_TARGET);
        if (!sae_id_valid(v, strlen(v)))
            bad = 1;
        else if (!(p->target_kme_id = strdup(v))) {
            seterr(err, errlen, "out of memory");
            return -1;
        }
    } else {
        return 0;
    }
#undef DUP_CHECK
    if (bad) {
        seterr(err, errlen, "line %d: bad value for '%s': '%s'", line, k, v);
        return -1;
    }
    p->set |= bit;
    return 1;
}

enum section { SEC_NONE, SEC_KME, SEC_DEFAULTS, SEC_SAE, SEC_LINK };

#define K_ID      (1u << 0)
#define K_LISTEN  (1u << 1)
#define K_PORT    (1u << 2)
#define K_CERT    (1u << 3)
#define K_KEY     (1u << 4)
#define K_CA      (1u << 5)
#define K_CRL     (1u << 6)
#define K_MAXCONN (1u << 7)
#define K_IDLE    (1u << 8)
#define K_MAXREQ  (1u << 9)

static int set_kme_param(struct kme_config *c, unsigned *set, const char *base,
                         const char *k, const char *v, int line, char *err, size_t errlen)
{
    unsigned long u;
    unsigned bit = 0;
    char **strp = NULL;
    int bad = 0, path = 0;

    if (strcasecmp(k, "id") == 0) { bit = K_ID; strp = &c->kme_id; bad = !sae_id_valid(v, strlen(v)); }
    else if (strcasecmp(k, "listen") == 0) { bit = K_LISTEN; strp = &c->listen; bad = strlen(v) > 255; }
    else if (strcasecmp(k, "cert") == 0) { bit = K_CERT; strp = &c->cert; path = 1; }
    else if (strcasecmp(k, "key") == 0) { bit = K_KEY; strp = &c->key; path = 1; }
    else if (strcasecmp(k, "ca") == 0) { bit = K_CA; strp = &c->ca; path = 1; }
    else if (strcasecmp(k, "crl") == 0) { bit = K_CRL; strp = &c->crl; path = 1; }
    else if (strcasecmp(k, "port") == 0) { bit = K_PORT; bad = parse_uint(v, 65535, &u); c->port = (unsigned)u; }
    else if (strcasecmp(k, "max_connections") == 0) {
        bit = K_MAXCONN; bad = parse_uint(v, 10000, &u) || u == 0; c->max_connections = (unsigned)u;
    } else if (strcasecmp(k, "idle_timeout") == 0) {
        bit = K_IDLE; bad = parse_uint(v, 3600, &u) || u == 0; c->idle_timeout_s = (unsigned)u;
    } else if (strcasecmp(k, "max_requests_per_connection") == 0) {
        bit = K_MAXREQ; bad = parse_uint(v, 1000000, &u) || u == 0; c->max_requests_per_conn = (unsigned)u;
    } else if (strcasecmp(k, "fault") == 0 || strcasecmp(k, "fault_endpoints") == 0 ||
               strcasecmp(k, "slow_ms") == 0) {
        /* Global fault settings: the same slots as [defaults]. */
        int r = set_link_param(&c->defaults, k, v, line, err, errlen);
        return r < 0 ? -1 : 0;
    } else {
        seterr(err, errlen, "line %d: unknown key '%s' in [kme]", line, k);
        return -1;
    }
    if (*set & bit) {
        seterr(err, errlen, "line %d: '%s' given twice in [kme]", line, k);
        return -1;
    }
    if (bad) {
        seterr(err, errlen, "line %d: bad value for '%s': '%s'", line, k, v);
        return -1;
    }
    if (strp) {
        free(*strp);
        *strp = path ? path_join(base, v) : strdup(v);
        if (!*strp) {
            seterr(err, errlen, "out of memory");
            return -1;
        }
    }
    *set |= bit;
    return 0;
}

static void builtin_defaults(struct link_params *p)
{
    p->rate_bps = -1.0;
    p->key_size = 256;
    p->min_key_size = 64;
    p->max_key_size = 8192;
    p->max_key_count = 1000;
    p->max_key_per_request = 128;
    p->max_sae_id_count = 0;
    p->initial_keys = -1;
    p->max_pending_keys = 100000;
    p->oneway = 0;
    p->fault = FAULT_NONE;
    p->fault_endpoints = EP_ALL;
    p->slow_ms = 5000;
}

static int merge_and_check(struct kme_config *c, struct link_cfg *l, char *err, size_t errlen)
{
    struct link_params *p = &l->p, *d = &c->defaults;
#define INHERIT(bit, field) if (!(p->set & (bit))) p->field = d->field
    INHERIT(LP_RATE, rate_bps);
    INHERIT(LP_KEY_SIZE, key_size);
    INHERIT(LP_MIN_SIZE, min_key_size);
    INHERIT(LP_MAX_SIZE, max_key_size);
    INHERIT(LP_MAX_COUNT, max_key_count);
    INHERIT(LP_MAX_PER_REQ, max_key_per_request);
    INHERIT(LP_MAX_SAE, max_sae_id_count);
    INHERIT(LP_INITIAL, initial_keys);
    INHERIT(LP_MAX_PENDING, max_pending_keys);
    INHERIT(LP_ONEWAY, oneway);
    INHERIT(LP_FAULT, fault);
    INHERIT(LP_FAULT_EP, fault_endpoints);
    INHERIT(LP_SLOW_MS, slow_ms);
#undef INHERIT
    if (!p->target_kme_id) {
        const char *t = d->target_kme_id ? d->target_kme_id : c->kme_id;
        if (!(p->target_kme_id = strdup(t))) {
            seterr(err, errlen, "out of memory");
            return -1;
        }
    }
    const char *why = NULL;
    if (p->key_size % 8 || p->min_key_size % 8 || p->max_key_size % 8)
        why = "key sizes must be multiples of 8 bits";
    else if (p->min_key_size < 8 || p->min_key_size > p->key_size || p->key_size > p->max_key_size)
        why = "need 8 <= min_key_size <= key_size <= max_key_size";
    else if (p->max_key_count < 1)
        why = "max_key_count must be at least 1";
    else if ((unsigned long long)p->max_key_count * p->key_size / 8 > 256ull * 1024 * 1024)
        why = "pool too large (max_key_count * key_size must be <= 256 MiB)";
    else if (p->max_key_per_request < 1)
        why = "max_key_per_request must be at least 1";
    else if ((unsigned long long)p->max_key_per_request * p->max_key_size / 8 > 16ull * 1024 * 1024)
        why = "max_key_per_request * max_key_size must be <= 16 MiB";
    else if (p->initial_keys > (long)p->max_key_count)
        why = "initial_keys exceeds max_key_count";
    else if (p->max_pending_keys < 1)
        why = "max_pending_keys must be at least 1";
    if (why) {
        seterr(err, errlen, "link %s - %s (line %d): %s", c->saes[l->sae_a], c->saes[l->sae_b],
               l->line, why);
        return -1;
    }
    return 0;
}

/* Split "[word arg arg]" content into up to 3 words; returns count or -1. */
static int split_words(char *s, char **w, int maxw)
{
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            *s++ = '\0';
        if (!*s)
            break;
        if (n == maxw)
            return -1;
        w[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
    }
    return n;
}

int config_parse(const char *text, size_t len, const char *base_dir,
                 struct kme_config *c, char *err, size_t errlen)
{
    enum section sec = SEC_NONE;
    unsigned kme_set = 0, seen_kme = 0, seen_defaults = 0;
    struct link_cfg *cur_link = NULL;
    char line[CFG_MAX_LINE + 2];
    size_t pos = 0;
    int lineno = 0;

    memset(c, 0, sizeof(*c));
    builtin_defaults(&c->defaults);
    c->max_connections = 64;
    c->idle_timeout_s = 30;
    c->max_requests_per_conn = 1000;
    c->port = 8443;

    if (len > CFG_MAX_FILE) {
        seterr(err, errlen, "configuration larger than %d bytes", CFG_MAX_FILE);
        goto fail;
    }
    while (pos < len) {
        size_t start = pos, n;
        while (pos < len && text[pos] != '\n')
            pos++;
        n = pos - start;
        if (pos < len)
            pos++;          /* skip '\n' */
        lineno++;
        if (n > CFG_MAX_LINE) {
            seterr(err, errlen, "line %d: longer than %d bytes", lineno, CFG_MAX_LINE);
            goto fail;
        }
        memcpy(line, text + start, n);
        line[n] = '\0';
        if (memchr(line, '\0', n)) {
            seterr(err, errlen, "line %d: NUL byte", lineno);
            goto fail;
        }
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)line[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                seterr(err, errlen, "line %d: control character", lineno);
                goto fail;
            }
        }
        char *s = line, *e = line + n;
        while (*s == ' ' || *s == '\t')
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (!*s || *s == '#' || *s == ';')
            continue;

        if (*s == '[') {
            if (e[-1] != ']') {
                seterr(err, errlen, "line %d: section header must end with ']'", lineno);
                goto fail;
            }
            e[-1] = '\0';
            char *w[3];
            int nw = split_words(s + 1, w, 3);
            cur_link = NULL;
            if (nw == 1 && strcmp(w[0], "kme") == 0) {
                if (seen_kme++) {
                    seterr(err, errlen, "line %d: [kme] given twice", lineno);
                    goto fail;
                }
                sec = SEC_KME;
            } else if (nw == 1 && strcmp(w[0], "defaults") == 0) {
                if (seen_defaults++) {
                    seterr(err, errlen, "line %d: [defaults] given twice", lineno);
                    goto fail;
                }
                sec = SEC_DEFAULTS;
            } else if (nw == 2 && strcmp(w[0], "sae") == 0) {
                if (!sae_id_valid(w[1], strlen(w[1]))) {
                    seterr(err, errlen, "line %d: bad SAE ID", lineno);
                    goto fail;
                }
                if (add_sae(c, w[1]) < 0) {
                    seterr(err, errlen, "line %d: too many SAEs", lineno);
                    goto fail;
                }
                sec = SEC_SAE;
            } else if (nw == 3 && strcmp(w[0], "link") == 0) {
                if (!sae_id_valid(w[1], strlen(w[1])) || !sae_id_valid(w[2], strlen(w[2]))) {
                    seterr(err, errlen, "line %d: bad SAE ID", lineno);
                    goto fail;
                }
                if (strcmp(w[1], w[2]) == 0) {
                    seterr(err, errlen, "line %d: a link needs two different SAEs", lineno);
                    goto fail;
                }
                int a = add_sae(c, w[1]), b = add_sae(c, w[2]);
                if (a < 0 || b < 0) {
                    seterr(err, errlen, "line %d: too many SAEs", lineno);
                    goto fail;
                }
                for (size_t i = 0; i < c->nlinks; i++)
                    if ((c->links[i].sae_a == a && c->links[i].sae_b == b) ||
                        (c->links[i].sae_a == b && c->links[i].sae_b == a)) {
                        seterr(err, errlen, "line %d: link %s - %s defined twice (line %d)",
                               lineno, w[1], w[2], c->links[i].line);
                        goto fail;
                    }
                if (c->nlinks >= CFG_MAX_LINKS) {
                    seterr(err, errlen, "line %d: too many links", lineno);
                    goto fail;
                }
                struct link_cfg *nl = realloc(c->links, (c->nlinks + 1) * sizeof(*nl));
                if (!nl) {
                    seterr(err, errlen, "out of memory");
                    goto fail;
                }
                c->links = nl;
                cur_link = &c->links[c->nlinks++];
                memset(cur_link, 0, sizeof(*cur_link));
                cur_link->sae_a = a;
                cur_link->sae_b = b;
                cur_link->line = lineno;
                sec = SEC_LINK;
            } else {
                seterr(err, errlen, "line %d: unknown section (expected [kme], [defaults], "
                       "[sae ID] or [link ID ID])", lineno);
                goto fail;
            }
            continue;
        }

        char *eq = strchr(s, '=');
        if (!eq) {
            seterr(err, errlen, "line %d: expected 'key = value'", lineno);
            goto fail;
        }
        char *k = s, *ke = eq, *v = eq + 1;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*k) {
            seterr(err, errlen, "line %d: empty key", lineno);
            goto fail;
        }
        for (char *q = k; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '_') {
                seterr(err, errlen, "line %d: bad key name", lineno);
                goto fail;
            }
        if (!*v) {
            seterr(err, errlen, "line %d: empty value for '%s'", lineno, k);
            goto fail;
        }
        int r;
        switch (sec) {
        case SEC_NONE:
            seterr(err, errlen, "line %d: key outside a section", lineno);
            goto fail;
        case SEC_SAE:
            seterr(err, errlen, "line %d: [sae ...] takes no keys", lineno);
            goto fail;
        case SEC_KME:
            if (set_kme_param(c, &kme_set, base_dir, k, v, lineno, err, errlen) < 0)
                goto fail;
            break;
        case SEC_DEFAULTS:
        case SEC_LINK:
            r = set_link_param(sec == SEC_LINK ? &cur_link->p : &c->defaults, k, v, lineno, err, errlen);
            if (r < 0)
                goto fail;
            if (r == 0) {
                seterr(err, errlen, "line %d: unknown key '%s'", lineno, k);
                goto fail;
            }
            break;
        }
    }

    if (!seen_kme) {
        seterr(err, errlen, "missing [kme] section");
        goto fail;
    }
    if (!c->kme_id || !c->cert || !c->key || !c->ca) {
        seterr(err, errlen, "[kme] needs id, cert, key and ca");
        goto fail;
    }
    if (!c->listen && !(c->listen = strdup("127.0.0.1"))) {
        seterr(err, errlen, "out of memory");
        goto fail;
    }
    if (c->nsaes == 0) {
        seterr(err, errlen, "no SAEs configured (add [link A B] sections)");
        goto fail;
    }
    for (size_t i = 0; i < c->nlinks; i++)
        if (merge_and_check(c, &c->links[i], err, errlen) < 0)
            goto fail;
    return 0;
fail:
    config_free(c);
    return -1;
}

static char *dir_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    if (!sl)
        return strdup(".");
    if (sl == path)
        return strdup("/");
    return strndup(path, (size_t)(sl - path));
}

int config_load(const char *path, struct kme_config *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf = NULL, *dir = NULL;
    size_t n;
    int r = -1;

    memset(out, 0, sizeof(*out));
    if (!f) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CFG_MAX_FILE) {
        seterr(err, errlen, "%s: not a regular file of at most %d bytes", path, CFG_MAX_FILE);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    n = fread(buf, 1, (size_t)st.st_size + 1, f);
    if (n > (size_t)st.st_size || ferror(f)) {
        seterr(err, errlen, "%s: read error or file changed", path);
        goto out;
    }
    dir = dir_of(path);
    if (!dir) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    r = config_parse(buf, n, dir, out, err, errlen);
    if (r < 0 && err && errlen) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s: %s", path, err);
        snprintf(err, errlen, "%s", tmp);
    }
out:
    free(buf);
    free(dir);
    fclose(f);
    return r;
}

void config_free(struct kme_config *c)
{
    free(c->kme_id);
    free(c->listen);
    free(c->cert);
    free(c->key);
    free(c->ca);
    free(c->crl);
    free(c->defaults.target_kme_id);
    for (size_t i = 0; i < c->nsaes; i++)
        free(c->saes[i]);
    free(c->saes);
    for (size_t i = 0; i < c->nlinks; i++)
        free(c->links[i].p.target_kme_id);
    free(c->links);
    memset(c, 0, sizeof(*c));
}
