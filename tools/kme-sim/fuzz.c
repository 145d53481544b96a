/* Fuzz drivers for kme-sim.
 *   -DFUZZ_CONFIG: the input is a configuration file.
 *   -DFUZZ_HTTP:   the input is a raw HTTP request (head + body) from SAE "A",
 *                  parsed and handled against a fixed configuration.
 * Without -fsanitize=fuzzer, main() reads one input from stdin (AFL style);
 * with clang -fsanitize=fuzzer, LLVMFuzzerTestOneInput is the entry point. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#ifdef FUZZ_HTTP
#include "http.h"
#include "kme.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_HTTP
static const char fuzz_cfg[] =
    "[kme]\nid = K\ncert = c\nkey = k\nca = a\n"
    "[link A B]\nkey_size = 64\nmax_key_count = 64\nmax_key_per_request = 8\nmax_SAE_ID_count = 2\n"
    "[link A C]\nrate = 1k\n"
    "[link B C]\nfault = bad_json\n"
    "[link A D]\nfault = short_key\n";
static struct kme_config cfg;
static struct kme *k;
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_CONFIG
    struct kme_config c;
    char err[256];
    if (config_parse((const char *)data, size, "/base", &c, err, sizeof(err)) == 0)
        config_free(&c);
#endif
#ifdef FUZZ_HTTP
    char err[256];
    if (!k) {
        if (config_parse(fuzz_cfg, sizeof(fuzz_cfg) - 1, NULL, &cfg, err, sizeof(err)) < 0 ||
            !(k = kme_new(&cfg, err, sizeof(err)))) {
            fprintf(stderr, "fuzz setup: %s\n", err);
            abort();
        }
    }
    /* First byte picks the caller; the rest is the request. */
    static const char *const callers[] = { "A", "B", "C", "D", "Z", NULL };
    if (size < 1)
        return 0;
    const char *caller = callers[data[0] % 6];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    if (len > HTTP_MAX_HEAD + HTTP_MAX_BODY)
        return 0;
    size_t hlen = http_head_end(buf, len < HTTP_MAX_HEAD + 4 ? len : HTTP_MAX_HEAD + 4);
    if (!hlen)
        return 0;
    struct http_req req;
    const char *msg;
    if (http_parse_head(buf, hlen, &req, &msg) != 0)
        return 0;
    size_t blen = len - hlen < req.content_length ? len - hlen : req.content_length;
    char *body = malloc(blen + 1);
    if (!body)
        return 0;
    memcpy(body, buf + hlen, blen);
    body[blen] = '\0';
    struct kme_resp r;
    memset(&r, 0, sizeof(r));
    kme_handle(k, caller, req.method, req.target, body, blen, &r);
    kme_resp_free(&r);
    free(body);
#endif
    return 0;
}

#ifndef FUZZ_LIBFUZZER
int main(void)
{
    size_t cap = 1 << 20, n = 0, got;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return 1;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap)
            break;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}
#endif
