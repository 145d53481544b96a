/* kme-sim: key pools, delivered keys and the ETSI GS QKD 014 V1.1.1 request handler.
 *
 * One pool per configured link, i.e. per unordered pair of SAEs: either end may act
 * as master (unless the link is "oneway").  The pool is a ring buffer of random
 * bytes (libsodium randombytes_buf) refilled lazily from the elapsed time at the
 * link's rate.  A master's enc_keys takes bytes out of the pool, gives them a UUID
 * and keeps them as "delivered to master, awaiting slave"; the slave's dec_keys
 * returns each key once and then wipes it. */
#include "kme.h"
#include "http.h"
#include "crypto/base64_ct.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAB_MIN_SIZE 65536u      /* initial buckets of the delivered-key table (grows) */
#define MAX_ID_DETAILS 16        /* key IDs echoed in an error's details */

struct pool {
    unsigned char *buf;
    size_t cap, head, len;      /* bytes */
    double last;                /* time up to which refill was accounted */
    int secure;                 /* buf from sodium_malloc */
};

struct link {
    const struct link_cfg *cfg;
    struct pool pool;
    size_t pending;             /* delivered-key records of this link */
};

struct pkey {
    struct pkey *next;
    char id[37];
    struct link *link;
    int master;
    int nslaves;
    int slaves[CFG_MAX_SLAVES + 1];
    unsigned char fetched[CFG_MAX_SLAVES + 1];
    size_t len;
    unsigned char key[];
};

struct kme {
    const struct kme_config *cfg;
    pthread_mutex_t mu;
    struct link *links;
    struct pkey **tab;
    size_t tab_size;            /* buckets, a power of two */
    size_t tab_count;           /* delivered-key records */
};

static double default_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double (*now_fn)(void) = default_clock;

void kme_set_clock(double (*fn)(void))
{
    now_fn = fn ? fn : default_clock;
}

/* ---------------------------------------------------------------- pools */

static void pool_fill(struct pool *p, size_t n)
{
    size_t tail = (p->head + p->len) % p->cap;
    size_t first = n < p->cap - tail ? n : p->cap - tail;
    randombytes_buf(p->buf + tail, first);
    if (n > first)
        randombytes_buf(p->buf, n - first);
    p->len += n;
}

static void pool_refill(struct pool *p, double rate, double now)
{
    size_t room = p->cap - p->len;
    if (room == 0 || rate == 0) {
        p->last = now;
        return;
    }
    if (rate < 0) {             /* unlimited */
        pool_fill(p, room);
        p->last = now;
        return;
    }
    double dt = now - p->last;
    if (dt <= 0)
        return;
    double bytes_d = dt * rate / 8.0;
    if (bytes_d >= (double)room) {
        pool_fill(p, room);
        p->last = now;
        return;
    }
    size_t bytes = (size_t)bytes_d;
    if (bytes == 0)
        return;
    pool_fill(p, bytes);
    p->last += (double)bytes * 8.0 / rate;  /* keep the fractional remainder */
}

static void pool_take(struct pool *p, unsigned char *out, size_t n)
{
    size_t first = n < p->cap - p->head ? n : p->cap - p->head;
    memcpy(out, p->buf + p->head, first);
    sodium_memzero(p->buf + p->head, first);
    if (n > first) {
        memcpy(out + first, p->buf, n - first);
        sodium_memzero(p->buf, n - first);
    }
    p->head = (p->head + n) % p->cap;
    p->len -= n;
}

/* ---------------------------------------------------------------- setup */

struct kme *kme_new(const struct kme_config *cfg, char *err, size_t errlen)
{
    struct kme *k = calloc(1, sizeof(*k));
    if (!k || sodium_init() < 0) {
        snprintf(err, errlen, "out of memory or libsodium init failed");
        free(k);
        return NULL;
    }
    k->cfg = cfg;
    pthread_mutex_init(&k->mu, NULL);
    k->tab_size = TAB_MIN_SIZE;
    k->tab = calloc(k->tab_size, sizeof(*k->tab));
    k->links = calloc(cfg->nlinks ? cfg->nlinks : 1, sizeof(*k->links));
    if (!k->tab || !k->links)
        goto oom;
    double now = now_fn();
    for (size_t i = 0; i < cfg->nlinks; i++) {
        struct link *l = &k->links[i];
        const struct link_params *p = &cfg->links[i].p;
        l->cfg = &cfg->links[i];
        l->pool.cap = (size_t)p->max_key_count * (p->key_size / 8);
        l->pool.buf = sodium_malloc(l->pool.cap);
        l->pool.secure = l->pool.buf != NULL;
        if (!l->pool.buf && !(l->pool.buf = malloc(l->pool.cap)))
            goto oom;
        size_t initial = p->initial_keys < 0 ? l->pool.cap
                                             : (size_t)p->initial_keys * (p->key_size / 8);
        if (initial)
            pool_fill(&l->pool, initial);
        l->pool.last = now;
    }
    return k;
oom:
    snprintf(err, errlen, "out of memory allocating key pools");
    kme_free(k);
    return NULL;
}

static void pkey_free(struct pkey *pk)
{
    sodium_memzero(pk->key, pk->len);
    sodium_memzero(pk, sizeof(*pk));
    free(pk);
}

void kme_wipe(struct kme *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; k->links && i < k->cfg->nlinks; i++) {
        struct pool *p = &k->links[i].pool;
        if (p->buf)
            sodium_memzero(p->buf, p->cap);
        p->len = p->head = 0;
    }
    for (size_t b = 0; k->tab && b < k->tab_size; b++) {
        struct pkey *pk = k->tab[b], *n;
        for (; pk; pk = n) {
            n = pk->next;
            pkey_free(pk);
        }
        k->tab[b] = NULL;
    }
    k->tab_count = 0;
}

void kme_free(struct kme *k)
{
    if (!k)
        return;
    kme_wipe(k);
    pthread_mutex_unlock(&k->mu);
    for (size_t i = 0; k->links && i < k->cfg->nlinks; i++) {
        struct pool *p = &k->links[i].pool;
        if (p->secure)
            sodium_free(p->buf);
        else
            free(p->buf);
    }
    free(k->links);
    free(k->tab);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* ---------------------------------------------------------------- output */

static int rb_reserve(struct kme_resp *r, size_t extra)
{
    if (r->len + extra + 1 <= r->cap)
        return 0;
    size_t ncap = r->cap ? r->cap : 256;
    while (ncap < r->len + extra + 1) {
        if (ncap > (SIZE_MAX / 2))
            return -1;
        ncap *= 2;
    }
    char *n = malloc(ncap);
    if (!n)
        return -1;
    if (r->body) {
        memcpy(n, r->body, r->len);
        if (r->secret)
            sodium_memzero(r->body, r->cap);
        free(r->body);
    }
    r->body = n;
    r->cap = ncap;
    r->body[r->len] = '\0';
    return 0;
}

static void rb_put(struct kme_resp *r, const char *s, size_t n)
{
    if (rb_reserve(r, n) < 0)
        return;
    memcpy(r->body + r->len, s, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static void rb_puts(struct kme_resp *r, const char *s)
{
    rb_put(r, s, strlen(s));
}

static void rb_printf(struct kme_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rb_printf(struct kme_resp *r, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        rb_put(r, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string literal; bytes >= 0x80 are passed through (inputs are ASCII-checked). */
static void rb_json_str(struct kme_resp *r, const char *s, size_t n)
{
    rb_put(r, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rb_put(r, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            rb_printf(r, "\\u%04x", c);
        } else {
            rb_put(r, (const char *)&c, 1);
        }
    }
    rb_put(r, "\"", 1);
}

static void resp_reset(struct kme_resp *r)
{
    if (r->body) {
        if (r->secret)
            sodium_memzero(r->body, r->cap);
        free(r->body);
    }
    r->body = NULL;
    r->len = r->cap = 0;
    r->secret = 0;
}

void kme_resp_free(struct kme_resp *r)
{
    resp_reset(r);
}

/* Error body {"message": msg, "details": [ {detail_key: detail_val} ]} */
static void resp_error(struct kme_resp *r, int status, const char *msg,
                       const char *dkey, const char *dval)
{
    resp_reset(r);
    r->status = status;
    r->content_type = "application/json";
    snprintf(r->note, sizeof(r->note), "%s", msg);
    rb_puts(r, "{\"message\":");
    rb_json_str(r, msg, strlen(msg));
    rb_puts(r, ",\"details\":[");
    if (dkey) {
        rb_puts(r, "{");
        rb_json_str(r, dkey, strlen(dkey));
        rb_puts(r, ":");
        rb_json_str(r, dval, strlen(dval));
        rb_puts(r, "}");
    }
    rb_puts(r, "]}");
}

static void resp_errorf(struct kme_resp *r, int status, const char *dkey, const char *dval,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void resp_errorf(struct kme_resp *r, int status, const char *dkey, const char *dval,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp_error(r, status, msg, dkey, dval);
}

static void resp_html_error(struct kme_resp *r)
{
    resp_reset(r);
    r->status = 500;
    r->content_type = "text/html; charset=utf-8";
    snprintf(r->note, sizeof(r->note), "HTML error page");
    rb_puts(r, "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
               "<body><h1>Internal Server Error</h1><p>The server encountered an internal "
               "error (kme-sim fault injection).</p></body></html>\n");
}

/* ---------------------------------------------------------------- lookups */

static int sae_index(const struct kme_config *c, const char *id)
{
    for (size_t i = 0; i < c->nsaes; i++)
        if (strcmp(c->saes[i], id) == 0)
            return (int)i;
    return -1;
}

/* The link between SAEs m and s on which m may act as master, or NULL. */
static struct link *find_link(struct kme *k, int m, int s)
{
    for (size_t i = 0; i < k->cfg->nlinks; i++) {
        const struct link_cfg *l = &k->cfg->links[i];
        if (l->sae_a == m && l->sae_b == s)
            return &k->links[i];
        if (l->sae_a == s && l->sae_b == m)
            return l->p.oneway ? NULL : &k->links[i];
    }
    return NULL;
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static struct pkey *pkey_find(struct kme *k, const char *id, struct pkey ***prevp)
{
    struct pkey **pp = &k->tab[hash_id(id) & (k->tab_size - 1)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            if (prevp)
                *prevp = pp;
            return *pp;
        }
    return NULL;
}

/* Keep chains short: double the buckets when there are more records than buckets
 * (a bench leaves millions of keys undelivered).  Out of memory: keep the table. */
static void pkey_table_grow(struct kme *k)
{
    size_t nsize = k->tab_size * 2;
    struct pkey **nt = calloc(nsize, sizeof(*nt));
    if (!nt)
        return;
    for (size_t b = 0; b < k->tab_size; b++) {
        struct pkey *pk = k->tab[b], *n;
        for (; pk; pk = n) {
            n = pk->next;
            size_t h = hash_id(pk->id) & (nsize - 1);
            pk->next = nt[h];
            nt[h] = pk;
        }
    }
    free(k->tab);
    k->tab = nt;
    k->tab_size = nsize;
}

static void pkey_insert(struct kme *k, struct pkey *pk)
{
    if (k->tab_count >= k->tab_size)
        pkey_table_grow(k);
    size_t h = hash_id(pk->id) & (k->tab_size - 1);
    pk->next = k->tab[h];
    k->tab[h] = pk;
    k->tab_count++;
}

/* Random (version 4) UUIDs, n of them, from one randombytes_buf call. */
static void make_uuids(char (*out)[37], size_t n)
{
    static const char hex[] = "0123456789abcdef";
    static const int dash[16] = { 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0 };
    unsigned char u[16 * 64];
    while (n > 0) {
        size_t m = n < 64 ? n : 64;
        randombytes_buf(u, 16 * m);
        for (size_t j = 0; j < m; j++, out++) {
            unsigned char *v = u + 16 * j;
            char *o = *out;
            v[6] = (unsigned char)((v[6] & 0x0f) | 0x40);
            v[8] = (unsigned char)((v[8] & 0x3f) | 0x80);
            for (int i = 0; i < 16; i++) {
                *o++ = hex[v[i] >> 4];
                *o++ = hex[v[i] & 15];
                if (dash[i])
                    *o++ = '-';
            }
            *o = '\0';
        }
        n -= m;
    }
}

/* ---------------------------------------------------------------- key container */

static void rb_key_entry(struct kme_resp *r, const char *id, const unsigned char *key, size_t len,
                         int fault, int first)
{
    unsigned char *tmp = NULL;
    size_t elen = len;
    if (fault == FAULT_SHORT_KEY && elen > 0)
        elen--;
    if (fault == FAULT_WRONG_KEY && len > 0) {
        tmp = malloc(len);
        if (!tmp)
            return;
        randombytes_buf(tmp, len);
        key = tmp;
    }
    size_t n = BASE64_CT_LEN(elen);
    if (rb_reserve(r, n + 96) == 0) {
        rb_puts(r, first ? "{\"key_ID\":\"" : ",{\"key_ID\":\"");
        rb_puts(r, id);
        rb_puts(r, "\",\"key\":\"");
        char *dst = r->body + r->len;
        base64_ct_encode(dst, key, elen);
        if (fault == FAULT_BAD_BASE64 && n >= 2) {
            dst[0] = '*';
            dst[n / 2] = '!';
        }
        r->len += n;
        rb_puts(r, "\"}");
    }
    if (tmp) {
        sodium_memzero(tmp, len);
        free(tmp);
    }
}

static void rb_container_begin(struct kme_resp *r, size_t n, size_t keylen)
{
    resp_reset(r);
    r->secret = 1;
    r->status = 200;
    r->content_type = "application/json";
    size_t per = BASE64_CT_LEN(keylen) + 96;
    rb_reserve(r, 64 + n * per);
    rb_puts(r, "{\"keys\":[");
}

/* ---------------------------------------------------------------- request parameters */

struct enc_req {
    long long number, size;
    int nextra;
    int extra[CFG_MAX_SLAVES];
};

/* Decimal integer 0..999999999 from a query value. */
static int query_int(const char *v, size_t vl, long long *out)
{
    if (vl == 0 || vl > 9)
        return -1;
    long long r = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        r = r * 10 + (v[i] - '0');
    }
    *out = r;
    return 0;
}

/* Returns 0, or fills resp with an error and returns -1. */
static int parse_enc_get(const char *query, struct enc_req *q, struct kme_resp *resp)
{
    const char *p = query, *end = query + strlen(query), *k, *v;
    size_t kl, vl;
    int seen_n = 0, seen_s = 0;
    while (http_query_next(&p, end, &k, &kl, &v, &vl)) {
        int is_n = kl == 6 && memcmp(k, "number", 6) == 0;
        int is_s = kl == 4 && memcmp(k, "size", 4) == 0;
        if (!is_n && !is_s)
            continue;               /* unknown parameters are ignored */
        if ((is_n && seen_n++) || (is_s && seen_s++)) {
            resp_error(resp, 400, "query parameter given more than once", NULL, NULL);
            return -1;
        }
        if (query_int(v, vl, is_n ? &q->number : &q->size) < 0) {
            resp_error(resp, 400, is_n ? "number shall be a positive integer"
                                       : "size shall be a positive integer", NULL, NULL);
            return -1;
        }
    }
    return 0;
}

static int body_blank(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
            return 0;
    return 1;
}

static json_t *parse_body(const char *body, size_t len, struct kme_resp *resp)
{
    json_error_t e;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        resp_errorf(resp, 400, NULL, NULL, "request body is not valid JSON (%.80s)", e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        resp_error(resp, 400, "request body shall be a JSON object", NULL, NULL);
        return NULL;
    }
    return j;
}

static int parse_enc_post(struct kme *k, int master, const char *body, size_t len,
                          struct enc_req *q, struct kme_resp *resp)
{
    if (body_blank(body, len))
        return 0;
    json_t *j = parse_body(body, len, resp), *v;
    if (!j)
        return -1;
    int rc = -1;
    if ((v = json_object_get(j, "number")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 1000000000) {
            resp_error(resp, 400, "number shall be a positive integer", NULL, NULL);
            goto out;
        }
        q->number = json_integer_value(v);
    }
    if ((v = json_object_get(j, "size")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 1000000000) {
            resp_error(resp, 400, "size shall be a positive integer", NULL, NULL);
            goto out;
        }
        q->size = json_integer_value(v);
    }
    /* Spec's fixed message; checked before the other limits. */
    if (q->size >= 0 && q->size % 8 != 0) {
        resp_error(resp, 400, "size shall be a multiple of 8", NULL, NULL);
        goto out;
    }
    if ((v = json_object_get(j, "extension_mandatory")) && !json_is_null(v)) {
        if (!(json_is_array(v) && json_array_size(v) == 0)) {
            resp_error(resp, 400, "not all extension_mandatory parameters are supported", NULL, NULL);
            goto out;
        }
    }
    if ((v = json_object_get(j, "additional_slave_SAE_IDs")) && !json_is_null(v)) {
        if (!json_is_array(v)) {
            resp_error(resp, 400, "additional_slave_SAE_IDs shall be an array of SAE IDs", NULL, NULL);
            goto out;
        }
        size_t n = json_array_size(v);
        if (n > CFG_MAX_SLAVES) {
            resp_error(resp, 400, "too many additional_slave_SAE_IDs", NULL, NULL);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *s = json_array_get(v, i);
            if (!json_is_string(s)) {
                resp_error(resp, 400, "additional_slave_SAE_IDs shall be an array of SAE IDs", NULL, NULL);
                goto out;
            }
            int idx = sae_index(k->cfg, json_string_value(s));
            if (idx < 0 || idx == master || !find_link(k, master, idx)) {
                char d[CFG_MAX_ID + 1];
                snprintf(d, sizeof(d), "%s", json_string_value(s));
                resp_error(resp, 400, "additional slave SAE ID unknown or not linked to the master",
                           "SAE_ID", d);
                goto out;
            }
            for (int t = 0; t < q->nextra; t++)
                if (q->extra[t] == idx) {
                    resp_error(resp, 400, "additional_slave_SAE_IDs contains duplicates", NULL, NULL);
                    goto out;
                }
            q->extra[q->nextra++] = idx;
        }
    }
    /* extension_optional and unknown fields are ignored. */
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---------------------------------------------------------------- endpoints */

static void do_status(struct kme *k, struct link *l, int master, int slave, int fault,
                      struct kme_resp *r)
{
    const struct link_params *p = &l->cfg->p;
    const struct kme_config *c = k->cfg;
    pthread_mutex_lock(&k->mu);
    pool_refill(&l->pool, p->rate_bps, now_fn());
    size_t stored = l->pool.len * 8 / p->key_size;
    size_t pending = l->pending;
    pthread_mutex_unlock(&k->mu);
    if (fault == FAULT_ZERO_COUNT)
        stored = 0;

    r->status = 200;
    r->content_type = "application/json";
    rb_puts(r, "{\"source_KME_ID\":");
    rb_json_str(r, c->kme_id, strlen(c->kme_id));
    rb_puts(r, ",\"target_KME_ID\":");
    rb_json_str(r, p->target_kme_id, strlen(p->target_kme_id));
    rb_puts(r, ",\"master_SAE_ID\":");
    rb_json_str(r, c->saes[master], strlen(c->saes[master]));
    rb_puts(r, ",\"slave_SAE_ID\":");
    rb_json_str(r, c->saes[slave], strlen(c->saes[slave]));
    rb_printf(r, ",\"key_size\":%u,\"stored_key_count\":%zu,\"max_key_count\":%u,"
                 "\"max_key_per_request\":%u,\"max_key_size\":%u,\"min_key_size\":%u,"
                 "\"max_SAE_ID_count\":%u",
              p->key_size, stored, p->max_key_count, p->max_key_per_request,
              p->max_key_size, p->min_key_size, p->max_sae_id_count);
    if (p->rate_bps < 0)
        rb_puts(r, ",\"status_extension\":{\"kme_sim_rate_bps\":\"unlimited\"");
    else
        rb_printf(r, ",\"status_extension\":{\"kme_sim_rate_bps\":%.0f", p->rate_bps);
    rb_printf(r, ",\"kme_sim_pending_keys\":%zu}}", pending);
}

static void do_enc(struct kme *k, struct link *l, int master, int slave, const char *method,
                   const char *query, const char *body, size_t body_len, int fault,
                   struct kme_resp *r)
{
    const struct link_params *p = &l->cfg->p;
    struct enc_req q = { .number = -1, .size = -1, .nextra = 0 };

    if (strcmp(method, "GET") == 0) {
        if (parse_enc_get(query, &q, r) < 0)
            return;
    } else if (parse_enc_post(k, master, body, body_len, &q, r) < 0) {
        return;
    }
    if (q.number < 0)
        q.number = 1;
    if (q.size < 0)
        q.size = p->key_size;
    char d[32];
    if (q.size % 8 != 0) {
        resp_error(r, 400, "size shall be a multiple of 8", NULL, NULL);
        return;
    }
    if (q.number < 1) {
        resp_error(r, 400, "number shall be a positive integer", NULL, NULL);
        return;
    }
    if (q.number > p->max_key_per_request) {
        snprintf(d, sizeof(d), "%u", p->max_key_per_request);
        resp_errorf(r, 400, "max_key_per_request", d,
                    "number of keys requested (%lld) exceeds max_key_per_request (%u)",
                    q.number, p->max_key_per_request);
        return;
    }
    if (q.size < p->min_key_size || q.size > p->max_key_size) {
        snprintf(d, sizeof(d), "%u..%u", p->min_key_size, p->max_key_size);
        resp_errorf(r, 400, "key_size_range", d,
                    "requested key size (%lld bits) is outside min_key_size..max_key_size (%u..%u bits)",
                    q.size, p->min_key_size, p->max_key_size);
        return;
    }
    if (q.nextra > (int)p->max_sae_id_count) {
        snprintf(d, sizeof(d), "%u", p->max_sae_id_count);
        resp_errorf(r, 400, "max_SAE_ID_count", d,
                    "number of additional_slave_SAE_IDs (%d) exceeds max_SAE_ID_count (%u)",
                    q.nextra, p->max_sae_id_count);
        return;
    }
    for (int t = 0; t < q.nextra; t++)
        if (q.extra[t] == slave) {
            resp_error(r, 400, "additional_slave_SAE_IDs repeats the slave SAE ID", NULL, NULL);
            return;
        }
    size_t keylen = (size_t)q.size / 8, n = (size_t)q.number;
    if (n * keylen > l->pool.cap) {
        resp_errorf(r, 400, NULL, NULL,
                    "request of %zu keys of %lld bits exceeds the key pool capacity (%zu bits)",
                    n, q.size, l->pool.cap * 8);
        return;
    }

    pthread_mutex_lock(&k->mu);
    pool_refill(&l->pool, p->rate_bps, now_fn());
    if (l->pending + n > p->max_pending_keys) {
        pthread_mutex_unlock(&k->mu);
        resp_errorf(r, 503, NULL, NULL,
                    "too many keys awaiting dec_keys by the slave on this link (max_pending_keys %u)",
                    p->max_pending_keys);
        return;
    }
    if (l->pool.len < n * keylen) {
        size_t have = l->pool.len * 8 / (size_t)q.size;
        pthread_mutex_unlock(&k->mu);
        if (p->rate_bps < 0)
            resp_errorf(r, 503, NULL, NULL, "not enough key material on KME: %zu keys of %lld bits "
                        "requested, %zu available", n, q.size, have);
        else
            resp_errorf(r, 503, NULL, NULL, "not enough key material on KME: %zu keys of %lld bits "
                        "requested, %zu available (refill rate %.0f bit/s)", n, q.size, have,
                        p->rate_bps);
        return;
    }
    struct pkey **made = calloc(n, sizeof(*made));
    if (!made) {
        pthread_mutex_unlock(&k->mu);
        resp_error(r, 503, "KME out of memory", NULL, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        made[i] = calloc(1, sizeof(struct pkey) + keylen);
        if (!made[i]) {
            for (size_t j = 0; j < i; j++)
                free(made[j]);
            free(made);
            pthread_mutex_unlock(&k->mu);
            resp_error(r, 503, "KME out of memory", NULL, NULL);
            return;
        }
    }
    char (*uuids)[37] = malloc(n * sizeof(*uuids));
    if (!uuids) {
        for (size_t j = 0; j < n; j++)
            free(made[j]);
        free(made);
        pthread_mutex_unlock(&k->mu);
        resp_error(r, 503, "KME out of memory", NULL, NULL);
        return;
    }
    make_uuids(uuids, n);
    for (size_t i = 0; i < n; i++) {
        struct pkey *pk = made[i];
        memcpy(pk->id, uuids[i], sizeof(pk->id));
        while (pkey_find(k, pk->id, NULL))
            make_uuids(&pk->id, 1);
        pk->link = l;
        pk->master = master;
        pk->slaves[0] = slave;
        pk->nslaves = 1;
        for (int t = 0; t < q.nextra; t++)
            pk->slaves[pk->nslaves++] = q.extra[t];
        pk->len = keylen;
        pool_take(&l->pool, pk->key, keylen);
        pkey_insert(k, pk);
        l->pending++;
    }
    free(uuids);
    rb_container_begin(r, n, keylen);
    for (size_t i = 0; i < n; i++)
        rb_key_entry(r, made[i]->id, made[i]->key, keylen, fault, i == 0);
    pthread_mutex_unlock(&k->mu);
    free(made);
    rb_puts(r, "]}");
    r->nkeys = (int)n;
    r->key_bits = (unsigned)q.size;
}

#define MAX_DEC_IDS 100000
#define MAX_KEY_ID_LEN 128

static void do_dec(struct kme *k, struct link *l, int slave, int master, const char *method,
                   const char *query, const char *body, size_t body_len, int fault,
                   struct kme_resp *r)
{
    const struct link_params *p = &l->cfg->p;
    char **ids = NULL;
    size_t nids = 0;
    json_t *j = NULL;

    if (strcmp(method, "GET") == 0) {
        const char *qp = query, *end = query + strlen(query), *kk, *v;
        size_t kl, vl;
        while (http_query_next(&qp, end, &kk, &kl, &v, &vl)) {
            if (!(kl == 6 && memcmp(kk, "key_ID", 6) == 0))
                continue;
            if (nids >= p->max_key_per_request)
                goto too_many;
            char *s = malloc(vl + 1);
            char **ni = realloc(ids, (nids + 1) * sizeof(*ids));
            if (!s || !ni) {
                free(s);
                if (ni)
                    ids = ni;
                resp_error(r, 503, "KME out of memory", NULL, NULL);
                goto out;
            }
            ids = ni;
            if (http_pct_decode(v, vl, s, vl + 1, 1) < 0) {
                free(s);
                resp_error(r, 400, "malformed key_ID in query", NULL, NULL);
                goto out;
            }
            ids[nids++] = s;
        }
        if (nids == 0) {
            resp_error(r, 400, "key_ID query parameter is required", NULL, NULL);
            goto out;
        }
    } else {
        json_t *a;
        if (body_blank(body, body_len)) {
            resp_error(r, 400, "key_IDs is required", NULL, NULL);
            goto out;
        }
        if (!(j = parse_body(body, body_len, r)))
            goto out;
        a = json_object_get(j, "key_IDs");
        if (!json_is_array(a) || json_array_size(a) == 0) {
            resp_error(r, 400, "key_IDs shall be a non-empty array", NULL, NULL);
            goto out;
        }
        if (json_array_size(a) > p->max_key_per_request)
            goto too_many;
        nids = json_array_size(a);
        ids = calloc(nids, sizeof(*ids));
        if (!ids) {
            nids = 0;
            resp_error(r, 503, "KME out of memory", NULL, NULL);
            goto out;
        }
        for (size_t i = 0; i < nids; i++) {
            json_t *o = json_array_get(a, i), *s = json_object_get(o, "key_ID");
            if (!json_is_object(o) || !json_is_string(s)) {
                resp_error(r, 400, "key_IDs shall be an array of objects with a key_ID string",
                           NULL, NULL);
                goto out;
            }
            if (!(ids[i] = strdup(json_string_value(s)))) {
                resp_error(r, 503, "KME out of memory", NULL, NULL);
                goto out;
            }
        }
    }

    /* All or nothing: check every ID first. */
    pthread_mutex_lock(&k->mu);
    const char *missing = NULL, *dup = NULL;
    int unauthorized = 0;
    for (size_t i = 0; i < nids; i++) {
        for (size_t t = 0; t < i && !dup; t++)
            if (strcmp(ids[t], ids[i]) == 0)
                dup = ids[i];
        struct pkey *pk = strlen(ids[i]) <= MAX_KEY_ID_LEN ? pkey_find(k, ids[i], NULL) : NULL;
        if (!pk || pk->master != master) {
            if (!missing)
                missing = ids[i];
            continue;
        }
        int is_slave = 0, pending = 0;
        for (int s = 0; s < pk->nslaves; s++)
            if (pk->slaves[s] == slave) {
                is_slave = 1;
                pending = !pk->fetched[s];
            }
        if (!is_slave)
            unauthorized = 1;
        else if (!pending && !missing)
            missing = ids[i];
    }
    if (unauthorized) {
        pthread_mutex_unlock(&k->mu);
        resp_errorf(r, 401, NULL, NULL, "SAE %s is not the slave SAE of one or more keys specified",
                    k->cfg->saes[slave]);
        goto out;
    }
    if (missing || dup) {
        char d[MAX_KEY_ID_LEN + 1];
        snprintf(d, sizeof(d), "%s", missing ? missing : dup);
        pthread_mutex_unlock(&k->mu);
        resp_error(r, 400, "one or more keys specified are not found on KME", "key_ID", d);
        if (!missing)
            snprintf(r->note, sizeof(r->note), "key_ID given twice in one request");
        goto out;
    }
    size_t keylen = 0;
    for (size_t i = 0; i < nids; i++) {
        struct pkey *pk = pkey_find(k, ids[i], NULL);
        if (pk->len > keylen)
            keylen = pk->len;
    }
    rb_container_begin(r, nids, keylen);
    for (size_t i = 0; i < nids; i++) {
        struct pkey **pp = NULL, *pk = pkey_find(k, ids[i], &pp);
        rb_key_entry(r, pk->id, pk->key, pk->len, fault, i == 0);
        r->key_bits = (unsigned)(pk->len * 8);
        int all = 1;
        for (int s = 0; s < pk->nslaves; s++) {
            if (pk->slaves[s] == slave)
                pk->fetched[s] = 1;
            all &= pk->fetched[s];
        }
        if (all) {
            *pp = pk->next;
            pk->link->pending--;
            k->tab_count--;
            pkey_free(pk);
        }
    }
    pthread_mutex_unlock(&k->mu);
    rb_puts(r, "]}");
    r->nkeys = (int)nids;
    goto out;

too_many:
    {
        char d[32];
        snprintf(d, sizeof(d), "%u", p->max_key_per_request);
        resp_errorf(r, 400, "max_key_per_request", d,
                    "too many key IDs in one request (max_key_per_request is %u)",
                    p->max_key_per_request);
    }
out:
    for (size_t i = 0; i < nids; i++)
        free(ids ? ids[i] : NULL);
    free(ids);
    if (j)
        json_decref(j);
}

/* ---------------------------------------------------------------- dispatch */

static const char PREFIX[] = "/api/v1/keys/";

void kme_handle(struct kme *k, const char *caller, const char *method, const char *target,
                const char *body, size_t body_len, struct kme_resp *r)
{
    const struct kme_config *c = k->cfg;
    char other[CFG_MAX_ID + 1];
    unsigned ep;

    r->fault = FAULT_NONE;
    if (!caller) {
        resp_error(r, 401, "client certificate required", NULL, NULL);
        return;
    }
    int me = sae_index(c, caller);
    if (me < 0) {
        resp_error(r, 401, "unknown SAE (client certificate CN not configured on this KME)",
                   NULL, NULL);
        return;
    }
    if (strncmp(target, PREFIX, sizeof(PREFIX) - 1) != 0) {
        resp_error(r, 404, "not found", NULL, NULL);
        return;
    }
    const char *seg = target + sizeof(PREFIX) - 1;
    const char *slash = strchr(seg, '/');
    if (!slash || slash == seg) {
        resp_error(r, 404, "not found", NULL, NULL);
        return;
    }
    const char *act = slash + 1, *qm = strchr(act, '?');
    size_t actlen = qm ? (size_t)(qm - act) : strlen(act);
    const char *query = qm ? qm + 1 : "";
    if (actlen == 6 && memcmp(act, "status", 6) == 0)
        ep = EP_STATUS;
    else if (actlen == 8 && memcmp(act, "enc_keys", 8) == 0)
        ep = EP_ENC;
    else if (actlen == 8 && memcmp(act, "dec_keys", 8) == 0)
        ep = EP_DEC;
    else {
        resp_error(r, 404, "not found", NULL, NULL);
        return;
    }
    int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    if (!(is_get || (is_post && ep != EP_STATUS))) {
        resp_error(r, 405, ep == EP_STATUS ? "method not allowed (use GET)"
                                           : "method not allowed (use POST or GET)", NULL, NULL);
        return;
    }
    long ol = http_pct_decode(seg, (size_t)(slash - seg), other, sizeof(other), 0);
    if (ol < 0 || !sae_id_valid(other, (size_t)ol)) {
        resp_error(r, 400, "malformed SAE ID in URL", NULL, NULL);
        return;
    }
    int them = sae_index(c, other);
    if (them < 0) {
        resp_error(r, 400, ep == EP_DEC ? "master SAE ID unknown" : "slave SAE ID unknown",
                   "SAE_ID", other);
        return;
    }
    /* status/enc_keys: caller is master; dec_keys: caller is slave of `them`. */
    struct link *l = ep == EP_DEC ? find_link(k, them, me) : find_link(k, me, them);
    if (!l) {
        if (ep == EP_DEC)
            resp_errorf(r, 401, NULL, NULL, "SAE %s has no key link with master SAE %s", caller, other);
        else
            resp_errorf(r, 401, NULL, NULL, "SAE %s may not act as master towards SAE %s", caller, other);
        return;
    }
    const struct link_params *p = &l->cfg->p;
    int fault = (p->fault_endpoints & ep) ? p->fault : FAULT_NONE;
    r->fault = fault;
    if (fault == FAULT_HTML_ERROR) {
        resp_html_error(r);
        return;
    }

    if (ep == EP_STATUS)
        do_status(k, l, me, them, fault, r);
    else if (ep == EP_ENC)
        do_enc(k, l, me, them, method, query, body, body_len, fault, r);
    else
        do_dec(k, l, me, them, method, query, body, body_len, fault, r);

    switch (fault) {
    case FAULT_BAD_JSON:
        /* Cut the JSON body in half and add a stray byte. */
        if (r->body && r->len > 1) {
            size_t cut = r->len / 2;
            if (r->secret)
                sodium_memzero(r->body + cut, r->len - cut);
            r->len = cut;
            rb_puts(r, "\"}{");
        }
        break;
    case FAULT_SLOW:
        r->delay_ms = p->slow_ms;
        break;
    case FAULT_DROP:
        r->drop = 1;
        break;
    default:
        break;
    }
}
