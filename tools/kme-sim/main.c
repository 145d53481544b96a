/* kme-sim: an ETSI GS QKD 014 V1.1.1 key management entity simulator.
 *
 * HTTPS with mutual TLS (OpenSSL); the calling SAE is the subject CN of its client
 * certificate, which must chain to the configured CA (and not be revoked when a CRL
 * is configured).  One thread per connection, bounded by max_connections. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"
#include "http.h"
#include "kme.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#define CONN_BUF (HTTP_MAX_HEAD + HTTP_MAX_BODY + 1024)

static struct kme_config cfg;
static struct kme *kme;
static volatile sig_atomic_t stop_flag, reload_flag;
static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *cur_ctx;
static struct stat crl_st, cert_st;
static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned nconn;

/* ---------------------------------------------------------------- logging */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    char line[1024], ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ kme-sim: %s\n", ts, now.tv_nsec / 1000000, line);
}

/* Printable, bounded copy of untrusted text for the log. */
static void sanitize(char *out, size_t outlen, const char *in, size_t inlen)
{
    size_t o = 0;
    for (size_t i = 0; i < inlen && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    if (inlen > 0 && o + 5 >= outlen && outlen > 4) {
        o = outlen - 4;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

static void log_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        logmsg("%s: %s", what, buf);
    }
}

/* ---------------------------------------------------------------- TLS */

static int load_crl(X509_STORE *st, const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(path, "r");
    X509_CRL *crl;
    int n = 0;
    if (!b) {
        snprintf(err, errlen, "cannot open CRL %s", path);
        return -1;
    }
    while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_crl(st, crl);
        X509_CRL_free(crl);
        n++;
    }
    ERR_clear_error();
    BIO_free(b);
    if (n == 0) {
        snprintf(err, errlen, "no PEM CRL in %s", path);
        return -1;
    }
    X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    return 0;
}

static SSL_CTX *make_ctx(char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(X509_NAME) *cas;
    static const unsigned char sid[] = "kme-sim";

    if (!ctx) {
        snprintf(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                             SSL_OP_NO_TICKET);
    /* No resumption: every connection is verified against the current CRL. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert) != 1) {
        snprintf(err, errlen, "cannot load certificate %s", cfg.cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "cannot load private key %s (or it does not match the certificate)",
                 cfg.key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca, NULL) != 1) {
        snprintf(err, errlen, "cannot load CA certificate %s", cfg.ca);
        goto fail;
    }
    cas = SSL_load_client_CA_file(cfg.ca);
    if (!cas) {
        snprintf(err, errlen, "no CA names in %s", cfg.ca);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, cas);
    /* Ask for a client certificate; a missing one is answered with 401, a bad or
     * revoked one fails the handshake. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (cfg.crl && load_crl(SSL_CTX_get_cert_store(ctx), cfg.crl, err, errlen) < 0)
        goto fail;
    return ctx;
fail:
    log_ssl_errors("tls");
    SSL_CTX_free(ctx);
    return NULL;
}

static int stat_changed(const char *path, struct stat *old)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return 0;
    int changed = st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != old->st_mtim.tv_nsec ||
                  st.st_ino != old->st_ino || st.st_size != old->st_size;
    *old = st;
    return changed;
}

/* Rebuild the TLS context when the CRL or the certificate changed on disk, or on SIGHUP.
 * Connections in progress keep their reference to the old context. */
static void maybe_reload(void)
{
    int changed = stat_changed(cfg.crl, &crl_st);
    changed |= stat_changed(cfg.cert, &cert_st);
    if (!changed && !reload_flag)
        return;
    reload_flag = 0;
    char err[256];
    SSL_CTX *n = make_ctx(err, sizeof(err));
    if (!n) {
        logmsg("reload failed, keeping the previous TLS setup: %s", err);
        return;
    }
    pthread_mutex_lock(&ctx_mu);
    SSL_CTX *old = cur_ctx;
    cur_ctx = n;
    pthread_mutex_unlock(&ctx_mu);
    SSL_CTX_free(old);
    logmsg("reloaded certificate, CA and CRL");
}

/* Subject CN of the verified peer certificate, or NULL.  Exactly one CN required. */
static char *peer_cn(SSL *ssl)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    X509_NAME *nm = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(nm, NID_commonName, idx) >= 0)
        return NULL;
    ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, idx));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, d);
    if (n <= 0)
        return NULL;
    char *r = NULL;
    if ((size_t)n == strlen((char *)utf8) && sae_id_valid((char *)utf8, (size_t)n))
        r = strdup((char *)utf8);
    OPENSSL_free(utf8);
    return r;
}

/* ---------------------------------------------------------------- connections */

struct conn {
    int fd;
    SSL *ssl;
    char peer[64];
};

static int ssl_write_all(SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        size_t w = 0;
        if (SSL_write_ex(ssl, p, n, &w) != 1)
            return -1;
        p += w;
        n -= w;
    }
    return 0;
}

static int send_response(struct conn *c, struct kme_resp *r, int keep_alive)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nServer: kme-sim\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
                      r->status, http_reason(r->status),
                      r->content_type ? r->content_type : "application/json", r->len,
                      r->status == 405 ? "Allow: GET, POST\r\n" : "",
                      keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    /* One buffer, one SSL_write: one TLS record train and no small first segment. */
    char *all = r->len ? malloc((size_t)hl + r->len) : NULL;
    if (all) {
        memcpy(all, head, (size_t)hl);
        memcpy(all + hl, r->body, r->len);
        int rc = ssl_write_all(c->ssl, all, (size_t)hl + r->len);
        if (r->secret)
            sodium_memzero(all, (size_t)hl + r->len);
        free(all);
        return rc;
    }
    if (ssl_write_all(c->ssl, head, (size_t)hl) < 0)
        return -1;
    if (r->len && ssl_write_all(c->ssl, r->body, r->len) < 0)
        return -1;
    return 0;
}

static void send_simple_error(struct conn *c, int status, const char *msg)
{
    struct kme_resp r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.content_type = "application/json";
    char body[256];
    char esc[160];
    sanitize(esc, sizeof(esc), msg, strlen(msg));
    int n = snprintf(body, sizeof(body), "{\"message\":\"%s\",\"details\":[]}", esc);
    r.body = body;
    r.len = (size_t)n;
    send_response(c, &r, 0);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One SSL read, bounded by an absolute deadline for the whole request (so a client
 * trickling bytes cannot hold a connection thread for longer than idle_timeout). */
static int read_some(struct conn *c, char *p, size_t n, double deadline, size_t *got)
{
    double left = deadline - mono_now();
    if (left <= 0)
        return -1;
    struct timeval tv = { (time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6) };
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1000;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    *got = 0;
    return SSL_read_ex(c->ssl, p, n, got) == 1 ? 0 : -1;
}

/* Read and discard input for up to a second or 1 MiB (a lingering close). */
static void drain_input(struct conn *c, char *buf, size_t cap)
{
    double deadline = mono_now() + 1.0;
    size_t total = 0;

    while (total < ((size_t) 1 << 20)) {
        size_t got = 0;
        if (read_some(c, buf, cap, deadline, &got) < 0)
            break;
        total += got;
    }
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char *buf = malloc(CONN_BUF);
    char *cn = NULL;
    size_t have = 0;
    unsigned served = 0;

    if (!buf)
        goto done;
    ERR_clear_error();
    if (SSL_accept(c->ssl) != 1) {
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            logmsg("%s TLS handshake refused: client certificate: %s", c->peer,
                   X509_verify_cert_error_string(vr));
        else {
            unsigned long e = ERR_peek_last_error();
            char eb[200] = "connection closed";
            if (e)
                ERR_error_string_n(e, eb, sizeof(eb));
            logmsg("%s TLS handshake failed: %s", c->peer, eb);
        }
        ERR_clear_error();
        goto done;
    }
    cn = peer_cn(c->ssl);

    while (!stop_flag && served < cfg.max_requests_per_conn) {
        struct http_req req;
        const char *msg;
        size_t hlen;
        double deadline = mono_now() + cfg.idle_timeout_s;

        /* Read the head. */
        while ((hlen = http_head_end(buf, have)) == 0) {
            if (have >= HTTP_MAX_HEAD) {
                send_simple_error(c, 431, "request head too large");
                goto done;
            }
            size_t got = 0;
            if (read_some(c, buf + have, HTTP_MAX_HEAD + 4 - have, deadline, &got) < 0)
                goto done;      /* closed, timed out or failed */
            have += got;
        }
        int st = http_parse_head(buf, hlen, &req, &msg);
        if (st) {
            char m[64];
            sanitize(m, sizeof(m), buf, hlen < 40 ? hlen : 40);
            logmsg("%s %s bad request (%d %s): \"%s\"", c->peer, cn ? cn : "-", st, msg, m);
            send_simple_error(c, st, msg);
            /* A client still sending a refused body would get a reset instead of our
             * answer if we closed now: read and drop what it sends for a moment. */
            drain_input(c, buf, CONN_BUF);
            goto done;
        }
        if (req.expect_continue && have - hlen < req.content_length) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (ssl_write_all(c->ssl, cont, sizeof(cont) - 1) < 0)
                goto done;
        }
        while (have - hlen < req.content_length) {
            size_t got = 0;
            if (read_some(c, buf + have, CONN_BUF - have, deadline, &got) < 0)
                goto done;
            have += got;
        }
        /* NUL-terminate the body for the JSON parser's sake (it takes a length). */
        char save = buf[hlen + req.content_length];
        buf[hlen + req.content_length] = '\0';

        struct kme_resp r;
        memset(&r, 0, sizeof(r));
        kme_handle(kme, cn, req.method, req.target, buf + hlen, req.content_length, &r);
        buf[hlen + req.content_length] = save;

        char t[200];
        sanitize(t, sizeof(t), req.target, strlen(req.target));
        if (r.status == 200 && r.nkeys > 0)
            logmsg("%s %s \"%s %s\" %d keys=%d bits=%u%s%s", c->peer, cn ? cn : "-", req.method, t,
                   r.status, r.nkeys, r.key_bits, r.fault ? " fault=" : "",
                   r.fault ? fault_name(r.fault) : "");
        else if (r.status == 200)
            logmsg("%s %s \"%s %s\" %d%s%s", c->peer, cn ? cn : "-", req.method, t,
                   r.status, r.fault ? " fault=" : "", r.fault ? fault_name(r.fault) : "");
        else
            logmsg("%s %s \"%s %s\" %d %s%s%s", c->peer, cn ? cn : "-", req.method, t, r.status,
                   r.note, r.fault ? " fault=" : "", r.fault ? fault_name(r.fault) : "");

        int keep = req.keep_alive && served + 1 < cfg.max_requests_per_conn && !stop_flag;
        if (r.drop) {
            kme_resp_free(&r);
            goto done_noshutdown;
        }
        if (r.delay_ms) {
            struct timespec ts = { r.delay_ms / 1000, (long)(r.delay_ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_flag)
                ;
        }
        int wr = send_response(c, &r, keep);
        kme_resp_free(&r);
        if (wr < 0 || !keep)
            goto done;
        served++;
        /* Keep pipelined bytes that followed this request. */
        size_t used = hlen + req.content_length;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
done:
    if (c->ssl)
        SSL_shutdown(c->ssl);
done_noshutdown:
    if (buf) {
        sodium_memzero(buf, CONN_BUF);
        free(buf);
    }
    free(cn);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
    pthread_mutex_lock(&conn_mu);
    nconn--;
    pthread_mutex_unlock(&conn_mu);
    ERR_clear_error();
    return NULL;
}

/* ---------------------------------------------------------------- main */

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_flag = 1;
    else
        stop_flag = 1;
}

static int open_listener(unsigned *port_out)
{
    struct addrinfo hints, *res, *ai;
    char portstr[16];
    int fd = -1, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%u", cfg.port);
    int gr = getaddrinfo(cfg.listen, portstr, &hints, &res);
    if (gr != 0) {
        logmsg("cannot resolve listen address %s: %s", cfg.listen, gai_strerror(gr));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        logmsg("cannot listen on %s:%u: %s", cfg.listen, cfg.port, strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fputs(text, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kme-sim -c CONFIG [-t] [-d] [-p PIDFILE] [-P PORTFILE]\n"
               "  -c CONFIG    configuration file (see README.md)\n"
               "  -t           check the configuration and TLS files, then exit\n"
               "  -d           detach (daemonise) once listening\n"
               "  -p PIDFILE   write the process ID here\n"
               "  -P PORTFILE  write the bound port here (useful with port = 0)\n");
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *pidfile = NULL, *portfile = NULL;
    int opt, check_only = 0, detach = 0;
    char err[512];

    while ((opt = getopt(argc, argv, "c:tdp:P:h")) != -1) {
        switch (opt) {
        case 'c': cfgpath = optarg; break;
        case 't': check_only = 1; break;
        case 'd': detach = 1; break;
        case 'p': pidfile = optarg; break;
        case 'P': portfile = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!cfgpath || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "kme-sim: libsodium initialisation failed\n");
        return 1;
    }
    if (config_load(cfgpath, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "kme-sim: %s\n", err);
        return 1;
    }
    stat_changed(cfg.crl, &crl_st);
    stat_changed(cfg.cert, &cert_st);
    cur_ctx = make_ctx(err, sizeof(err));
    if (!cur_ctx) {
        fprintf(stderr, "kme-sim: %s\n", err);
        return 1;
    }
    if (check_only) {
        printf("kme-sim: configuration OK: KME %s, %zu SAEs, %zu links\n", cfg.kme_id, cfg.nsaes,
               cfg.nlinks);
        return 0;
    }
    kme = kme_new(&cfg, err, sizeof(err));
    if (!kme) {
        fprintf(stderr, "kme-sim: %s\n", err);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned port;
    int lfd = open_listener(&port);
    if (lfd < 0)
        return 1;
    if (detach && daemon(1, 1) < 0) {
        logmsg("daemon: %s", strerror(errno));
        return 1;
    }
    char num[32];
    if (pidfile) {
        snprintf(num, sizeof(num), "%ld\n", (long)getpid());
        if (write_file(pidfile, num) < 0)
            logmsg("cannot write pidfile %s: %s", pidfile, strerror(errno));
    }
    if (portfile) {
        snprintf(num, sizeof(num), "%u\n", port);
        if (write_file(portfile, num) < 0)
            logmsg("cannot write portfile %s: %s", portfile, strerror(errno));
    }
    logmsg("KME %s listening on %s port %u: %zu SAEs, %zu links%s", cfg.kme_id, cfg.listen, port,
           cfg.nsaes, cfg.nlinks, cfg.crl ? ", CRL checked" : "");
    for (size_t i = 0; i < cfg.nlinks; i++) {
        const struct link_cfg *l = &cfg.links[i];
        char rate[32];
        if (l->p.rate_bps < 0)
            snprintf(rate, sizeof(rate), "unlimited");
        else
            snprintf(rate, sizeof(rate), "%.0f bit/s", l->p.rate_bps);
        logmsg("link %s %s %s: key_size %u, max_key_count %u, rate %s, fault %s",
               cfg.saes[l->sae_a], l->p.oneway ? "->" : "<->", cfg.saes[l->sae_b],
               l->p.key_size, l->p.max_key_count, rate, fault_name(l->p.fault));
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);

    while (!stop_flag) {
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };
        int pr = poll(&pfd, 1, 500);
        if (pr < 0 && errno != EINTR) {
            logmsg("poll: %s", strerror(errno));
            break;
        }
        if (reload_flag)
            maybe_reload();
        if (pr <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned short pport = 0;
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
            pport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
            pport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, pport);

        pthread_mutex_lock(&conn_mu);
        int full = nconn >= cfg.max_connections;
        if (!full)
            nconn++;
        pthread_mutex_unlock(&conn_mu);
        if (full) {
            logmsg("%s refused: max_connections (%u) reached", c->peer, cfg.max_connections);
            close(fd);
            free(c);
            continue;
        }
        struct timeval tv = { (time_t)cfg.idle_timeout_s, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        maybe_reload();     /* picks up a new CRL before this handshake */
        pthread_mutex_lock(&ctx_mu);
        c->ssl = SSL_new(cur_ctx);
        pthread_mutex_unlock(&ctx_mu);
        pthread_t th;
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 ||
            pthread_create(&th, &attr, conn_main, c) != 0) {
            logmsg("%s refused: cannot start a connection thread", c->peer);
            SSL_free(c->ssl);
            close(fd);
            free(c);
            pthread_mutex_lock(&conn_mu);
            nconn--;
            pthread_mutex_unlock(&conn_mu);
        }
    }
    close(lfd);
    logmsg("stopping: wiping key material");
    kme_wipe(kme);      /* leaves the state locked: no thread can hand out keys now */
    if (pidfile)
        unlink(pidfile);
    fflush(stderr);
    _exit(0);
}
