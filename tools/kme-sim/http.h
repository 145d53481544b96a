/* Minimal, strict HTTP/1.1 request parsing for kme-sim. */
#ifndef KME_SIM_HTTP_H
#define KME_SIM_HTTP_H

#include <stddef.h>

#define HTTP_MAX_HEAD    8192     /* request line + headers, including the blank line */
#define HTTP_MAX_BODY    65536
#define HTTP_MAX_TARGET  4096
#define HTTP_MAX_HEADERS 64

struct http_req {
    char method[8];
    char target[HTTP_MAX_TARGET + 1];
    int minor;                  /* HTTP/1.minor */
    size_t content_length;
    int keep_alive;
    int expect_continue;
};

/* Length of the head (through the CRLFCRLF) in buf, or 0 if it is not complete. */
size_t http_head_end(const char *buf, size_t len);

/* Parse a complete head.  Returns 0, or an HTTP status (400, 413, 417, 431, 501, 505)
 * with *msg set to a static explanation. */
int http_parse_head(const char *head, size_t len, struct http_req *r, const char **msg);

/* Percent-decode in[0..inlen) into out (NUL-terminated).  '+' becomes ' ' when
 * plus_is_space.  Rejects malformed escapes, NUL and control characters, and
 * output longer than outlen-1.  Returns the decoded length or -1. */
long http_pct_decode(const char *in, size_t inlen, char *out, size_t outlen, int plus_is_space);

/* Iterate over "k=v&k=v" in [*q, end).  Returns 1 with a parameter, 0 at the end. */
int http_query_next(const char **q, const char *end, const char **k, size_t *kl,
                    const char **v, size_t *vl);

const char *http_reason(int status);

#endif
