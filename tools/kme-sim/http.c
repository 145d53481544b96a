/* Minimal, strict HTTP/1.1 request parsing for kme-sim.  Everything is bounded by
 * the caller's buffer (at most HTTP_MAX_HEAD bytes of head). */
#include "http.h"

#include <string.h>
#include <strings.h>

size_t http_head_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Case-insensitive search for a comma-separated token in a header value. */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

int http_parse_head(const char *h, size_t len, struct http_req *r, const char **msg)
{
    size_t i = 0, n;
    int have_cl = 0, have_te = 0, nheaders = 0, conn_close = 0, conn_keep = 0;

    memset(r, 0, sizeof(*r));
    *msg = "bad request";
    if (len > HTTP_MAX_HEAD) {
        *msg = "request head too large";
        return 431;
    }
    if (len < 4 || memcmp(h + len - 4, "\r\n\r\n", 4) != 0)
        return 400;

    /* method */
    n = 0;
    while (i < len && h[i] >= 'A' && h[i] <= 'Z') {
        if (n >= sizeof(r->method) - 1) {
            *msg = "method not implemented";
            return 501;
        }
        r->method[n++] = h[i++];
    }
    if (n == 0 || i >= len || h[i] != ' ') {
        *msg = "malformed request line";
        return 400;
    }
    i++;
    /* target: origin-form */
    n = 0;
    if (i >= len || h[i] != '/') {
        *msg = "request target must start with '/'";
        return 400;
    }
    while (i < len && h[i] != ' ') {
        unsigned char c = (unsigned char)h[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            *msg = "bad character in request target";
            return 400;
        }
        if (n >= HTTP_MAX_TARGET) {
            *msg = "request target too long";
            return 414;
        }
        r->target[n++] = (char)c;
        i++;
    }
    r->target[n] = '\0';
    if (i >= len || h[i] != ' ') {
        *msg = "malformed request line";
        return 400;
    }
    i++;
    if (len - i < 10 || memcmp(h + i, "HTTP/1.", 7) != 0 || h[i + 8] != '\r' || h[i + 9] != '\n') {
        if (len - i >= 5 && memcmp(h + i, "HTTP/", 5) == 0) {
            *msg = "HTTP version not supported";
            return 505;
        }
        *msg = "malformed request line";
        return 400;
    }
    if (h[i + 7] == '0')
        r->minor = 0;
    else if (h[i + 7] == '1')
        r->minor = 1;
    else {
        *msg = "HTTP version not supported";
        return 505;
    }
    i += 10;

    /* header fields, up to the final CRLF */
    while (i < len - 2) {
        size_t ns = i, ne, vs, ve;
        if (++nheaders > HTTP_MAX_HEADERS) {
            *msg = "too many header fields";
            return 431;
        }
        while (i < len && is_tchar((unsigned char)h[i]))
            i++;
        ne = i;
        if (ne == ns || i >= len || h[i] != ':') {
            *msg = "malformed header field";
            return 400;
        }
        i++;
        while (i < len && (h[i] == ' ' || h[i] == '\t'))
            i++;
        vs = i;
        while (i < len && h[i] != '\r') {
            unsigned char c = (unsigned char)h[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *msg = "bad character in header field";
                return 400;
            }
            i++;
        }
        if (i + 1 >= len || h[i + 1] != '\n') {
            *msg = "malformed header field";
            return 400;
        }
        ve = i;
        while (ve > vs && (h[ve - 1] == ' ' || h[ve - 1] == '\t'))
            ve--;
        i += 2;

        const char *name = h + ns, *val = h + vs;
        size_t nl = ne - ns, vl = ve - vs;
        if (nl == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
            size_t v = 0;
            if (have_cl++) {
                *msg = "more than one Content-Length";
                return 400;
            }
            if (vl == 0 || vl > 9) {
                *msg = vl > 9 ? "request body too large" : "bad Content-Length";
                return vl > 9 ? 413 : 400;
            }
            for (size_t k = 0; k < vl; k++) {
                if (val[k] < '0' || val[k] > '9') {
                    *msg = "bad Content-Length";
                    return 400;
                }
                v = v * 10 + (size_t)(val[k] - '0');
            }
            if (v > HTTP_MAX_BODY) {
                *msg = "request body too large";
                return 413;
            }
            r->content_length = v;
        } else if (nl == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
            have_te = 1;
        } else if (nl == 10 && strncasecmp(name, "Connection", 10) == 0) {
            if (has_token(val, vl, "close"))
                conn_close = 1;
            if (has_token(val, vl, "keep-alive"))
                conn_keep = 1;
        } else if (nl == 6 && strncasecmp(name, "Expect", 6) == 0) {
            if (vl == 12 && strncasecmp(val, "100-continue", 12) == 0)
                r->expect_continue = 1;
            else {
                *msg = "unsupported expectation";
                return 417;
            }
        }
    }
    if (i != len - 2) {
        *msg = "malformed header section";
        return 400;
    }
    if (have_te) {
        *msg = have_cl ? "both Transfer-Encoding and Content-Length" : "Transfer-Encoding not supported";
        return have_cl ? 400 : 501;
    }
    if (r->minor == 0)
        r->keep_alive = conn_keep && !conn_close;
    else
        r->keep_alive = !conn_close;
    if (r->minor == 0)
        r->expect_continue = 0;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long http_pct_decode(const char *in, size_t inlen, char *out, size_t outlen, int plus_is_space)
{
    size_t o = 0;
    if (outlen == 0)
        return -1;
    for (size_t i = 0; i < inlen; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= inlen)
                return -1;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

int http_query_next(const char **q, const char *end, const char **k, size_t *kl,
                    const char **v, size_t *vl)
{
    const char *p = *q;
    while (p < end && *p == '&')
        p++;
    if (p >= end) {
        *q = end;
        return 0;
    }
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    *k = p;
    if (eq) {
        *kl = (size_t)(eq - p);
        *v = eq + 1;
        *vl = (size_t)(e - eq - 1);
    } else {
        *kl = (size_t)(e - p);
        *v = e;
        *vl = 0;
    }
    *q = e;
    return 1;
}

const char *http_reason(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}
