/*
 * kme_client.c - ETSI GS QKD 014 V1.1.1 client: this node, an SAE, asks its KME
 * for keys over HTTPS with mutual TLS.
 *
 * Transport.  One libcurl easy handle per backend, reused so that the TLS
 * connection to the KME stays open between requests (keep-alive; a handshake with
 * a client certificate costs more than a whole key request).  Every request resets
 * the handle and sets every option again from the ssn.* GUCs: HTTPS only, the SAE
 * certificate and key (ssn.sae_cert, ssn.sae_key), the KME checked against
 * ssn.kme_ca only (no system CA store) including its host name, ssn.kme_crl if set,
 * no redirects, ssn.kme_connect_timeout and ssn.kme_timeout.  libcurl compares the
 * TLS settings before reusing a connection, and no connection lives longer than a
 * minute, so a changed or revoked certificate takes effect promptly.  A transfer is
 * aborted from libcurl's progress callback as soon as a query cancel or a
 * termination request is pending (libcurl calls it at least once a second, also
 * while waiting), and CHECK_FOR_INTERRUPTS then raises the usual error.
 *
 * Requests.  enc_keys and dec_keys are POSTs with a JSON body.  The link's status
 * (limits: max_key_per_request, min/max_key_size, default key_size) is cached per
 * (KME URL, own SAE, peer SAE) for a few seconds; a batch larger than
 * max_key_per_request is split.  A KME that returns fewer keys than asked (some cap
 * `number`) is asked again for the rest; one that returns more, or other IDs than
 * asked, is broken.  Sizes are in bits and multiples of 8.
 *
 * Parsing.  PostgreSQL's own JSON parser (common/jsonapi.h) checks the syntax
 * (and the UTF-8) of every answer first, without de-escaping or copying anything.
 * Status and error bodies are then parsed with its semantic callbacks; key
 * containers, which can be large, by a walker over the checked text (see
 * parse_key_container) that decodes keys in place.  Both are strict about what we
 * use (the container is an object, `keys` an array
 * of objects, `key_ID` and `key` strings present once, `key` base64 of exactly
 * size/8 bytes, decoded in constant time by libsodium; key IDs are opaque strings
 * of 1..255 printable ASCII characters, the same bytes in every server encoding)
 * and lenient about what we ignore (unknown fields, extensions).  Bodies are
 * bounded (a little more than the keys asked for can need).  Error bodies are read
 * for their `message` only, truncated and stripped of control characters; an HTML
 * error page is reported by status and content type.
 *
 * Key material.  Keys are decoded straight into a sodium_malloc'd buffer owned by
 * a KmeKeyBatch, base64-decoded straight from the raw response body, which is held
 * in sodium_malloc'd memory too (kept between requests, so a request does not pay
 * for mmap and mlock) and is wiped when it grows and when the request ends; a key
 * string with JSON escapes is de-escaped into a temporary buffer that is wiped.
 * These are also wiped by memory context reset callbacks if an error is raised
 * half way.  The answer's syntax is checked in a first pass that copies nothing,
 * so a malformed answer never has its keys copied out of the (wiped) body buffer.  Error messages name the
 * KME URL, both SAE IDs, the HTTP status and the KME's message, never a key or a
 * response body.  What we cannot wipe: libcurl's and OpenSSL's receive buffers.
 */
#include "postgres.h"

#include <curl/curl.h>
#include <sodium.h>

#include "base/guc.h"
#include "common/jsonapi.h"
#include "crypto/base64_ct.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "qkd/kme_client.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* status answers are reused for this long (they only tell us the limits) */
#define KME_STATUS_CACHE_MS 10000
#define KME_STATUS_CACHE_SIZE 32
/* bodies we accept: status and errors; key containers are sized by request */
#define KME_SMALL_BODY_MAX (64 * 1024)
#define KME_BODY_HARD_MAX (64 * 1024 * 1024)
#define KME_MESSAGE_MAX 300

/* ---------------------------------------------------------------------------
 * growable secure buffers (sodium_malloc'd; every copy is wiped)
 * ------------------------------------------------------------------------- */
typedef struct SecBuf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
} SecBuf;

static void
secbuf_free(SecBuf *b)
{
	if (b->data)
		sodium_free(b->data);	/* wipes */
	b->data = NULL;
	b->len = b->cap = 0;
}

static bool
secbuf_reserve(SecBuf *b, size_t need)
{
	unsigned char *n;
	size_t		cap;

	if (need <= b->cap)
		return true;
	cap = Max(b->cap * 2, Max(need, (size_t) 16384));
	n = sodium_malloc(cap);
	if (n == NULL)
		return false;
	if (b->len > 0)
		memcpy(n, b->data, b->len);
	if (b->data)
		sodium_free(b->data);
	b->data = n;
	b->cap = cap;
	return true;
}

/*
 * Buffers kept between requests (empty and wiped), so that a request does not pay
 * for sodium_malloc's mmap, guard pages and mlock each time.  Kept only up to
 * KME_SPARE_MAX bytes.
 */
#define KME_SPARE_MAX (4 * 1024 * 1024)
static SecBuf spare_body;
static SecBuf spare_scratch;

static void
secbuf_take(SecBuf *b, SecBuf *spare)
{
	*b = *spare;
	b->len = 0;
	spare->data = NULL;
	spare->len = spare->cap = 0;
}

/* wipe what b holds and give it back to spare (or free it) */
static void
secbuf_give_back(SecBuf *b, SecBuf *spare)
{
	if (b->data == NULL)
		return;
	sodium_memzero(b->data, Min(b->cap, b->len + 1));	/* all that was written */
	b->len = 0;
	if (spare->data == NULL && b->cap <= KME_SPARE_MAX)
	{
		*spare = *b;
		b->data = NULL;
		b->len = b->cap = 0;
	}
	else
		secbuf_free(b);
}

/* ---------------------------------------------------------------------------
 * one request
 * ------------------------------------------------------------------------- */
typedef struct KmeRequest
{
	const char *endpoint;		/* "status", "enc_keys", "dec_keys" */
	const char *peer_sae;
	char	   *url;
	SecBuf		body;
	size_t		body_max;
	bool		too_large;
	bool		oom;
	long		http_code;
	char		content_type[96];
	char		errbuf[CURL_ERROR_SIZE];
	SecBuf		scratch;		/* decoded keys before reordering (dec_keys) */
	MemoryContextCallback cb;
} KmeRequest;

static CURL *kme_curl = NULL;

typedef struct StatusCacheEntry
{
	bool		valid;
	TimestampTz at;
	char		url[1025];
	char		own[SSN_SAE_ID_MAXLEN + 1];
	char		peer[SSN_SAE_ID_MAXLEN + 1];
	int64		key_size;
	int64		max_key_per_request;
	int64		max_key_size;
	int64		min_key_size;
} StatusCacheEntry;

static StatusCacheEntry status_cache[KME_STATUS_CACHE_SIZE];
static int	status_cache_next = 0;

static void
kme_request_wipe(void *arg)
{
	KmeRequest *rq = (KmeRequest *) arg;

	secbuf_give_back(&rq->body, &spare_body);
	secbuf_give_back(&rq->scratch, &spare_scratch);
}

const char *
kme_base_url(void)
{
	return ssn_kme_url ? ssn_kme_url : "";
}

static void
require_setting(const char *value, const char *name, const char *what)
{
	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not set", name),
				 errdetail("The KME client needs %s.", what),
				 errhint("Set ssn.kme_url, ssn.sae_id, ssn.sae_cert, ssn.sae_key and ssn.kme_ca in postgresql.conf and reload.")));
}

void
kme_check_config(void)
{
	require_setting(ssn_kme_url, "ssn.kme_url", "the URL of this node's KME");
	require_setting(ssn_sae_id, "ssn.sae_id", "this node's SAE ID");
	require_setting(ssn_sae_cert, "ssn.sae_cert", "this node's SAE certificate");
	require_setting(ssn_sae_key, "ssn.sae_key", "the private key of this node's SAE certificate");
	require_setting(ssn_kme_ca, "ssn.kme_ca", "the CA certificate that the KME's certificate must chain to");
}

static void
check_peer_sae(const char *sae)
{
	if (sae == NULL || !ssn_sae_id_is_valid(sae))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SAE ID \"%s\"", sae ? sae : ""),
				 errdetail("An SAE ID has 1 to %d bytes and no control characters.",
						   SSN_SAE_ID_MAXLEN)));
}

static KmeRequest *
kme_request_begin(const char *endpoint, const char *peer_sae)
{
	KmeRequest *rq = palloc0(sizeof(KmeRequest));
	StringInfoData url;
	char	   *esc;
	size_t		blen;

	rq->endpoint = endpoint;
	rq->peer_sae = peer_sae;
	secbuf_take(&rq->body, &spare_body);
	secbuf_take(&rq->scratch, &spare_scratch);
	rq->cb.func = kme_request_wipe;
	rq->cb.arg = rq;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &rq->cb);

	if (kme_curl == NULL)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
			(kme_curl = curl_easy_init()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialise libcurl")));
	}
	esc = curl_easy_escape(kme_curl, peer_sae, 0);
	if (esc == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	initStringInfo(&url);
	blen = strlen(ssn_kme_url);
	while (blen > 0 && ssn_kme_url[blen - 1] == '/')
		blen--;
	appendBinaryStringInfo(&url, ssn_kme_url, blen);
	appendStringInfo(&url, "/api/v1/keys/%s/%s", esc, endpoint);
	curl_free(esc);
	rq->url = url.data;
	return rq;
}

static void
kme_request_end(KmeRequest *rq)
{
	kme_request_wipe(rq);
}

static size_t
kme_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	KmeRequest *rq = (KmeRequest *) userdata;
	size_t		n = size * nmemb;

	if (rq->body.len + n > rq->body_max)
	{
		rq->too_large = true;
		return 0;
	}
	/* one spare byte for a terminating NUL */
	if (!secbuf_reserve(&rq->body, rq->body.len + n + 1))
	{
		rq->oom = true;
		return 0;
	}
	memcpy(rq->body.data + rq->body.len, ptr, n);
	rq->body.len += n;
	return n;
}

static int
kme_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
				curl_off_t ultotal, curl_off_t ulnow)
{
	/* abort only for interrupts that will raise an error */
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/* The own SAE and the peer, for messages: "SAE \"A\" (for SAE \"B\")". */
#define KME_WHO(rq) ssn_sae_id, (rq)->peer_sae

static void
kme_protocol_error(KmeRequest *rq, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
kme_protocol_error(KmeRequest *rq, const char *fmt,...)
{
	char		detail[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("KME \"%s\" sent an invalid answer to the %s request of SAE \"%s\" for SAE \"%s\"",
					kme_base_url(), rq->endpoint, KME_WHO(rq)),
			 errdetail("%s", detail),
			 errhint("The answer was discarded and none of its keys used.")));
	pg_unreachable();
}

/*
 * Run the request: GET if post_body is NULL.  Returns with rq->http_code and
 * rq->body set; transport failures and interrupts raise errors.
 */
static void
kme_perform(KmeRequest *rq, const char *post_body, size_t body_max)
{
	CURL	   *h = kme_curl;
	struct curl_slist *hdrs = NULL;
	CURLcode	rc;
	char	   *ct = NULL;

	rq->body_max = body_max;
	rq->errbuf[0] = '\0';
	curl_easy_reset(h);
#define SETOPT(o, v) \
	do { if (curl_easy_setopt(h, o, v) != CURLE_OK) \
			ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), \
							errmsg("libcurl does not support option %s", #o))); } while (0)
	SETOPT(CURLOPT_URL, rq->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	SETOPT(CURLOPT_SSLCERT, ssn_sae_cert);
	SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
	SETOPT(CURLOPT_SSLKEY, ssn_sae_key);
	SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	SETOPT(CURLOPT_CAINFO, ssn_kme_ca);
	SETOPT(CURLOPT_CAPATH, NULL);	/* the configured CA only, not the system's */
	if (ssn_kme_crl && ssn_kme_crl[0])
		SETOPT(CURLOPT_CRLFILE, ssn_kme_crl);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) ssn_kme_timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) ssn_kme_connect_timeout_ms);
	SETOPT(CURLOPT_MAXLIFETIME_CONN, 60L);
	SETOPT(CURLOPT_ERRORBUFFER, rq->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, kme_write_cb);
	SETOPT(CURLOPT_WRITEDATA, rq);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, kme_progress_cb);
	SETOPT(CURLOPT_XFERINFODATA, rq);
	SETOPT(CURLOPT_USERAGENT, "ssn/1.0 (PostgreSQL extension)");

	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (post_body)
	{
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Expect:");	/* no 100-continue round trip */
	}
	if (hdrs == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
		(post_body &&
		 (curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(post_body)) != CURLE_OK ||
		  curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body) != CURLE_OK)))
	{
		curl_slist_free_all(hdrs);
		ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("could not set up the KME request")));
	}
#undef SETOPT

	rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	/* no pointer into this request may outlive it */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);

	if (rc == CURLE_ABORTED_BY_CALLBACK)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s request to KME \"%s\" interrupted", rq->endpoint, kme_base_url())));
	}
	if (rq->oom)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for the answer of KME \"%s\"", kme_base_url())));
	if (rq->too_large)
		kme_protocol_error(rq, "The answer is longer than %zu bytes.", body_max);
	if (rc != CURLE_OK)
	{
		bool		tls = (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
						   rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
						   rc == CURLE_SSL_CRL_BADFILE || rc == CURLE_SSL_ISSUER_ERROR ||
						   rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
						   rc == CURLE_SSL_CIPHER || rc == CURLE_SSL_ENGINE_INITFAILED);

		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not complete the %s request of SAE \"%s\" for SAE \"%s\" to KME \"%s\"",
						rq->endpoint, KME_WHO(rq), kme_base_url()),
				 errdetail("%s.", rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(rc)),
				 tls ? errhint("Check ssn.sae_cert, ssn.sae_key and ssn.kme_ca, that the SAE certificate is valid and not revoked, and that the KME's certificate names the host in ssn.kme_url.") :
				 rc == CURLE_OPERATION_TIMEDOUT ? errhint("ssn.kme_timeout is %d ms, ssn.kme_connect_timeout %d ms.",
														  ssn_kme_timeout_ms, ssn_kme_connect_timeout_ms) : 0));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rq->http_code);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
	{
		int			i;

		strlcpy(rq->content_type, ct, sizeof(rq->content_type));
		for (i = 0; rq->content_type[i]; i++)
			if ((unsigned char) rq->content_type[i] < 0x20 || (unsigned char) rq->content_type[i] > 0x7e)
				rq->content_type[i] = '?';
	}
	else
		strlcpy(rq->content_type, "none", sizeof(rq->content_type));
	if (rq->body.data)
		rq->body.data[rq->body.len] = '\0';
}

/* ---------------------------------------------------------------------------
 * JSON: objects of scalars (status, error bodies)
 * ------------------------------------------------------------------------- */
typedef struct TopFields
{
	int			depth;
	int			nnames;
	const char *const *names;
	char	  **values;			/* token, or NULL */
	JsonTokenType *types;		/* JSON_TOKEN_OBJECT_START/ARRAY_START for containers */
	int			cur;			/* field at depth 1 being read, -1 = ignored */
	bool		not_object;
	const char *duplicate;
} TopFields;

static void
tf_container(TopFields *tf, JsonTokenType t)
{
	if (tf->depth == 0 && t != JSON_TOKEN_OBJECT_START)
		tf->not_object = true;
	if (tf->depth == 1 && tf->cur >= 0)
		tf->types[tf->cur] = t;
	tf->depth++;
}

static void
tf_object_start(void *s)
{
	tf_container((TopFields *) s, JSON_TOKEN_OBJECT_START);
}

static void
tf_array_start(void *s)
{
	tf_container((TopFields *) s, JSON_TOKEN_ARRAY_START);
}

static void
tf_end(void *s)
{
	((TopFields *) s)->depth--;
}

static void
tf_field(void *s, char *fname, bool isnull)
{
	TopFields  *tf = (TopFields *) s;
	int			i;

	if (tf->depth == 1)
	{
		tf->cur = -1;
		for (i = 0; i < tf->nnames; i++)
			if (strcmp(fname, tf->names[i]) == 0)
			{
				if (tf->types[i] != JSON_TOKEN_INVALID && tf->duplicate == NULL)
					tf->duplicate = tf->names[i];
				tf->cur = i;
				tf->types[i] = JSON_TOKEN_NULL;	/* seen; the value says more */
			}
	}
	pfree(fname);
}

static void
tf_scalar(void *s, char *token, JsonTokenType t)
{
	TopFields  *tf = (TopFields *) s;

	if (tf->depth == 0)
		tf->not_object = true;
	else if (tf->depth == 1 && tf->cur >= 0)
	{
		tf->values[tf->cur] = token;
		tf->types[tf->cur] = t;
		return;
	}
	pfree(token);
}

/*
 * A syntax check first, without semantic actions and without de-escaping, so
 * that no token (no key) is copied anywhere: only a well-formed answer gets
 * parsed for its content.  Returns NULL or what is wrong.
 */
static const char *
json_syntax_problem(KmeRequest *rq)
{
	JsonLexContext *lex;
	JsonParseErrorType err;

	if (rq->body.len == 0)
		return "The answer is empty.";
	if (!pg_verify_mbstr(PG_UTF8, (const char *) rq->body.data, rq->body.len, true))
		return "The answer is not valid UTF-8.";
	lex = makeJsonLexContextCstringLen((char *) rq->body.data, rq->body.len, PG_UTF8, false);
	err = pg_parse_json(lex, &nullSemAction);
	if (err != JSON_SUCCESS)
		return psprintf("The answer is not valid JSON (error near byte %d of %zu).",
						(int) (lex->token_start ? lex->token_start - lex->input : 0), rq->body.len);
	return NULL;
}

/*
 * Parse an object and pick the scalar fields named; false (with *why set) if the
 * body is not a JSON object or repeats one of the fields.
 */
static bool
parse_top_fields(KmeRequest *rq, TopFields *tf, const char *const *names, int nnames,
				 const char **why)
{
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType err;
	int			i;

	memset(tf, 0, sizeof(*tf));
	tf->names = names;
	tf->nnames = nnames;
	tf->values = palloc0(sizeof(char *) * nnames);
	tf->types = palloc(sizeof(JsonTokenType) * nnames);
	for (i = 0; i < nnames; i++)
		tf->types[i] = JSON_TOKEN_INVALID;
	tf->cur = -1;
	*why = NULL;

	if ((*why = json_syntax_problem(rq)) != NULL)
		return false;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = tf;
	sem.object_start = tf_object_start;
	sem.object_end = tf_end;
	sem.array_start = tf_array_start;
	sem.array_end = tf_end;
	sem.object_field_start = tf_field;
	sem.scalar = tf_scalar;
	lex = makeJsonLexContextCstringLen((char *) rq->body.data, rq->body.len, PG_UTF8, true);
	err = pg_parse_json(lex, &sem);
	if (err != JSON_SUCCESS)
	{
		*why = "The answer is not valid JSON.";
		return false;
	}
	if (tf->not_object)
	{
		*why = "The answer is not a JSON object.";
		return false;
	}
	if (tf->duplicate)
	{
		*why = psprintf("The answer has field \"%s\" more than once.", tf->duplicate);
		return false;
	}
	return true;
}

/* The KME's `message`, made safe for a log line: truncated, no control characters. */
static char *
kme_error_message(KmeRequest *rq)
{
	static const char *const names[] = {"message"};
	TopFields	tf;
	const char *why;
	char	   *m;
	int			i;

	if (rq->body.len == 0 || rq->body.len > KME_SMALL_BODY_MAX ||
		!parse_top_fields(rq, &tf, names, 1, &why) ||
		tf.types[0] != JSON_TOKEN_STRING)
		return NULL;
	m = tf.values[0];
	if (strlen(m) > KME_MESSAGE_MAX)
	{
		/* cut at a character boundary */
		int			cut = pg_mbcliplen(m, strlen(m), KME_MESSAGE_MAX);

		m[cut] = '\0';
	}
	for (i = 0; m[i]; i++)
		if ((unsigned char) m[i] < 0x20 || m[i] == 0x7f)
			m[i] = ' ';
	return m;
}

/* Raise the error for a non-200 answer. */
static void
kme_http_error(KmeRequest *rq)
{
	char	   *msg = kme_error_message(rq);
	const char *url = kme_base_url();
	bool		not_found = (msg && strcmp(msg, "one or more keys specified are not found on KME") == 0);

	switch (rq->http_code)
	{
		case 400:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("KME \"%s\" rejected the %s request of SAE \"%s\" for SAE \"%s\": %s",
							url, rq->endpoint, KME_WHO(rq), msg ? msg : "(no message)"),
					 errdetail("HTTP 400 Bad Request."),
					 not_found ?
					 errhint("A key is delivered once: these keys were fetched before or never existed. The sender must resend under fresh keys.") : 0));
			break;
		case 401:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("KME \"%s\" refused the %s request of SAE \"%s\" for SAE \"%s\"",
							url, rq->endpoint, KME_WHO(rq)),
					 errdetail("HTTP 401 Unauthorized%s%s", msg ? ": " : ".", msg ? msg : ""),
					 errhint("The KME must know SAE \"%s\" by the certificate in ssn.sae_cert and have a link from it to SAE \"%s\"; dec_keys only serves the slave SAE the master named.",
							 ssn_sae_id, rq->peer_sae)));
			break;
		case 503:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("KME \"%s\" cannot serve the %s request of SAE \"%s\" for SAE \"%s\": %s",
							url, rq->endpoint, KME_WHO(rq), msg ? msg : "(no message)"),
					 errdetail("HTTP 503 Service Unavailable."),
					 errhint("The link's key pool is exhausted or the KME is overloaded; retry once the QKD link has produced more key.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("KME \"%s\" answered the %s request of SAE \"%s\" for SAE \"%s\" with HTTP %ld%s%s",
							url, rq->endpoint, KME_WHO(rq), rq->http_code,
							msg ? ": " : "", msg ? msg : ""),
					 errdetail("Content type %s, %zu bytes.", rq->content_type, rq->body.len)));
	}
}

/* ---------------------------------------------------------------------------
 * status
 * ------------------------------------------------------------------------- */
static const char *const status_names[] = {
	"source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID",
	"key_size", "stored_key_count", "max_key_count", "max_key_per_request",
	"max_key_size", "min_key_size", "max_SAE_ID_count"
};
#define NSTATUS_STRINGS 4
#define NSTATUS_FIELDS lengthof(status_names)

static char *
status_string(KmeRequest *rq, TopFields *tf, int i)
{
	if (tf->types[i] == JSON_TOKEN_INVALID || tf->types[i] == JSON_TOKEN_NULL)
		return NULL;
	if (tf->types[i] != JSON_TOKEN_STRING)
		kme_protocol_error(rq, "Status field \"%s\" is not a string.", status_names[i]);
	return tf->values[i];
}

static int64
status_int(KmeRequest *rq, TopFields *tf, int i, bool required, int64 max)
{
	char	   *end;
	int64		v;

	if (tf->types[i] == JSON_TOKEN_INVALID)
	{
		if (required)
			kme_protocol_error(rq, "Status field \"%s\" is missing.", status_names[i]);
		return -1;
	}
	if (tf->types[i] != JSON_TOKEN_NUMBER)
		kme_protocol_error(rq, "Status field \"%s\" is not a number.", status_names[i]);
	errno = 0;
	v = strtoi64(tf->values[i], &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > max)
		kme_protocol_error(rq, "Status field \"%s\" is not an integer between 0 and " INT64_FORMAT ".",
						   status_names[i], max);
	return v;
}

static StatusCacheEntry *
status_cache_find(const char *peer)
{
	int			i;

	for (i = 0; i < KME_STATUS_CACHE_SIZE; i++)
	{
		StatusCacheEntry *e = &status_cache[i];

		if (e->valid && strcmp(e->peer, peer) == 0 && strcmp(e->own, ssn_sae_id) == 0 &&
			strcmp(e->url, ssn_kme_url) == 0)
			return e;
	}
	return NULL;
}

static void
status_cache_invalidate(const char *peer)
{
	StatusCacheEntry *e = status_cache_find(peer);

	if (e)
		e->valid = false;
}

/*
 * Ask the KME for the status of the link to peer_sae.  If http_errors_ok, an HTTP
 * error answer returns false instead of raising an error.
 */
static bool
kme_fetch_status(const char *peer_sae, KmeStatus *st, bool http_errors_ok)
{
	KmeRequest *rq;
	TopFields	tf;
	const char *why;
	StatusCacheEntry *e;

	kme_check_config();
	check_peer_sae(peer_sae);
	rq = kme_request_begin("status", peer_sae);
	kme_perform(rq, NULL, KME_SMALL_BODY_MAX);
	if (rq->http_code != 200)
	{
		if (http_errors_ok)
		{
			kme_request_end(rq);
			return false;
		}
		kme_http_error(rq);
	}
	if (!parse_top_fields(rq, &tf, status_names, NSTATUS_FIELDS, &why))
		kme_protocol_error(rq, "%s", why);
	st->source_kme_id = status_string(rq, &tf, 0);
	st->target_kme_id = status_string(rq, &tf, 1);
	st->master_sae_id = status_string(rq, &tf, 2);
	st->slave_sae_id = status_string(rq, &tf, 3);
	st->key_size = status_int(rq, &tf, 4, true, KME_MAX_KEY_BITS);
	st->stored_key_count = status_int(rq, &tf, 5, true, PG_INT64_MAX);
	st->max_key_count = status_int(rq, &tf, 6, true, PG_INT64_MAX);
	st->max_key_per_request = status_int(rq, &tf, 7, true, PG_INT32_MAX);
	st->max_key_size = status_int(rq, &tf, 8, true, PG_INT32_MAX);
	st->min_key_size = status_int(rq, &tf, 9, true, PG_INT32_MAX);
	st->max_sae_id_count = status_int(rq, &tf, 10, false, PG_INT32_MAX);
	if (st->max_key_per_request < 1)
		kme_protocol_error(rq, "max_key_per_request is 0.");
	if (st->min_key_size > st->max_key_size || st->key_size == 0 ||
		st->key_size % 8 != 0 || st->min_key_size % 8 != 0 || st->max_key_size % 8 != 0)
		kme_protocol_error(rq, "The key sizes (key_size " INT64_FORMAT ", min_key_size " INT64_FORMAT
						   ", max_key_size " INT64_FORMAT ") are inconsistent or not multiples of 8.",
						   st->key_size, st->min_key_size, st->max_key_size);
	kme_request_end(rq);

	e = status_cache_find(peer_sae);
	if (e == NULL)
	{
		e = &status_cache[status_cache_next];
		status_cache_next = (status_cache_next + 1) % KME_STATUS_CACHE_SIZE;
		strlcpy(e->url, ssn_kme_url, sizeof(e->url));
		strlcpy(e->own, ssn_sae_id, sizeof(e->own));
		strlcpy(e->peer, peer_sae, sizeof(e->peer));
	}
	e->valid = true;
	e->at = GetCurrentTimestamp();
	e->key_size = st->key_size;
	e->max_key_per_request = st->max_key_per_request;
	e->max_key_size = st->max_key_size;
	e->min_key_size = st->min_key_size;
	return true;
}

void
kme_get_status(const char *peer_sae, KmeStatus *status)
{
	memset(status, 0, sizeof(*status));
	kme_fetch_status(peer_sae, status, false);
}

/* The limits of the link, from the cache if fresh. */
static StatusCacheEntry *
kme_limits(const char *peer_sae, bool http_errors_ok)
{
	StatusCacheEntry *e;
	KmeStatus	st;

	kme_check_config();
	e = status_cache_find(peer_sae);
	if (e && !TimestampDifferenceExceeds(e->at, GetCurrentTimestamp(), KME_STATUS_CACHE_MS))
		return e;
	if (!kme_fetch_status(peer_sae, &st, http_errors_ok))
		return NULL;
	return status_cache_find(peer_sae);
}

void
kme_link_limits(const char *peer_sae, int *min_bits, int *max_bits, int *max_per_request)
{
	StatusCacheEntry *e = kme_limits(peer_sae, false);

	*min_bits = (int) e->min_key_size;
	*max_bits = (int) Min(e->max_key_size, KME_MAX_KEY_BITS);
	*max_per_request = (int) e->max_key_per_request;
}

/* ---------------------------------------------------------------------------
 * key containers
 * ------------------------------------------------------------------------- */
typedef enum
{
	KF_OTHER, KF_KEYS, KF_KEY_ID, KF_KEY
} KeyField;

/*
 * The second pass over a key container, which the first pass found to be
 * well-formed JSON in valid UTF-8: a walker that reads the structure where it
 * lies in the (secure) body buffer.  A string without escapes - every key and key
 * ID in practice - is used in place: a key is base64-decoded from the body straight
 * into its destination and never copied.  A string with escapes is checked first,
 * then de-escaped into a temporary buffer that is wiped.  Like PostgreSQL's parser
 * (which the first pass runs without de-escaping), the walker refuses \u0000 and
 * unpaired surrogates anywhere.  It relies on the syntax check, but never reads
 * past the body.
 */
typedef struct KeysWalk
{
	KmeRequest *rq;
	const char *p;
	const char *end;
	int			nkeys;			/* complete key objects */
	int			max_keys;
	size_t		key_bytes;
	unsigned char *dest;		/* max_keys * key_bytes */
	char	  **ids;			/* max_keys key IDs (palloc'd) */
} KeysWalk;

static bool
key_id_is_valid(const char *id)
{
	size_t		len = strlen(id);

	if (len == 0 || len > KME_KEY_ID_MAXLEN)
		return false;
	for (; *id; id++)
		if ((unsigned char) *id < 0x21 || (unsigned char) *id > 0x7e)
			return false;
	return true;
}

static void kw_invalid(KeysWalk *w) pg_attribute_noreturn();

static void
kw_invalid(KeysWalk *w)
{
	kme_protocol_error(w->rq, "The answer is not valid JSON.");
	pg_unreachable();
}

/* the next non-blank character (not consumed) */
static inline char
kw_peek(KeysWalk *w)
{
	while (w->p < w->end &&
		   (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
	if (w->p >= w->end)
		kw_invalid(w);
	return *w->p;
}

/* consume c, or the answer is broken */
static inline void
kw_expect(KeysWalk *w, char c)
{
	if (kw_peek(w) != c)
		kw_invalid(w);
	w->p++;
}

/*
 * The string at the current position: *raw and *rawlen get its contents as they
 * lie in the body (between the quotes); returns whether it has escapes.
 */
static bool
kw_string(KeysWalk *w, const char **raw, size_t *rawlen)
{
	const char *s;
	bool		esc = false;

	kw_expect(w, '"');
	s = w->p;
	while (w->p < w->end && *w->p != '"')
	{
		if (*w->p == '\\')
		{
			esc = true;
			w->p++;				/* skip the escaped character */
		}
		w->p++;
	}
	if (w->p >= w->end)
		kw_invalid(w);
	*raw = s;
	*rawlen = w->p - s;
	w->p++;
	return esc;
}

static pg_wchar
kw_hex4(KeysWalk *w, const char *raw, size_t rawlen, size_t *i)
{
	pg_wchar	v = 0;
	int			k;

	if (*i + 4 > rawlen)
		kw_invalid(w);
	for (k = 0; k < 4; k++)
	{
		char		c = raw[(*i)++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			kw_invalid(w);
	}
	return v;
}

/*
 * De-escape the contents of a JSON string into out (rawlen + 1 bytes; NULL: only
 * check the escapes); returns the length.  Never fails once a check has passed.
 */
static size_t
kw_unescape(KeysWalk *w, const char *raw, size_t rawlen, char *out)
{
	size_t		i = 0,
				o = 0;

	while (i < rawlen)
	{
		char		c = raw[i++];

		if (c == '\\')
		{
			if (i >= rawlen)
				kw_invalid(w);
			c = raw[i++];
			switch (c)
			{
				case '"':
				case '\\':
				case '/':
					break;
				case 'b':
					c = '\b';
					break;
				case 'f':
					c = '\f';
					break;
				case 'n':
					c = '\n';
					break;
				case 'r':
					c = '\r';
					break;
				case 't':
					c = '\t';
					break;
				case 'u':
					{
						pg_wchar	cp = kw_hex4(w, raw, rawlen, &i);
						unsigned char utf8[4];
						int			n;

						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							pg_wchar	lo;

							if (i + 2 > rawlen || raw[i] != '\\' || raw[i + 1] != 'u')
								kw_invalid(w);
							i += 2;
							lo = kw_hex4(w, raw, rawlen, &i);
							if (lo < 0xDC00 || lo > 0xDFFF)
								kw_invalid(w);
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						}
						else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0)
							kw_invalid(w);
						unicode_to_utf8(cp, utf8);
						n = pg_utf_mblen(utf8);
						if (out)
							memcpy(out + o, utf8, n);
						o += n;
						continue;
					}
				default:
					kw_invalid(w);
			}
		}
		if (out)
			out[o] = c;
		o++;
	}
	if (out)
		out[o] = '\0';
	return o;
}

/* a string's contents, de-escaped, in palloc'd memory (for names and key IDs) */
static char *
kw_string_copy(KeysWalk *w, size_t *len)
{
	const char *raw;
	size_t		rawlen;
	char	   *s;

	if (kw_string(w, &raw, &rawlen))
	{
		kw_unescape(w, raw, rawlen, NULL);
		s = palloc(rawlen + 1);
		*len = kw_unescape(w, raw, rawlen, s);
	}
	else
	{
		s = palloc(rawlen + 1);
		memcpy(s, raw, rawlen);
		s[rawlen] = '\0';
		*len = rawlen;
	}
	return s;
}

/* a field name and its colon */
static KeyField
kw_name(KeysWalk *w)
{
	size_t		len;
	char	   *name = kw_string_copy(w, &len);
	KeyField	f;

	f = (len == 4 && memcmp(name, "keys", 4) == 0) ? KF_KEYS :
		(len == 6 && memcmp(name, "key_ID", 6) == 0) ? KF_KEY_ID :
		(len == 3 && memcmp(name, "key", 3) == 0) ? KF_KEY : KF_OTHER;
	pfree(name);
	kw_expect(w, ':');
	return f;
}

/* skip a value we ignore (its strings are checked, never copied) */
static void
kw_skip(KeysWalk *w)
{
	int			depth = 0;

	do
	{
		char		c = kw_peek(w);

		if (c == '"')
		{
			const char *raw;
			size_t		rawlen;

			if (kw_string(w, &raw, &rawlen))
				kw_unescape(w, raw, rawlen, NULL);
		}
		else if (c == '{' || c == '[')
		{
			depth++;
			w->p++;
		}
		else if (c == '}' || c == ']')
		{
			if (--depth < 0)
				kw_invalid(w);
			w->p++;
		}
		else if (c == ',' || c == ':')
			w->p++;
		else
		{
			/* number, true, false, null */
			const char *start = w->p;

			while (w->p < w->end && *w->p != '\0' && strchr(",:{}[]\" \t\r\n", *w->p) == NULL)
				w->p++;
			if (w->p == start)
				kw_invalid(w);
		}
	} while (depth > 0);
}

/* Not valid base64 at all, or valid base64 of another length? (error path only) */
static const char *
base64_problem(const char *tok, size_t len, size_t *decoded_len)
{
	size_t		i,
				pad = 0;

	for (i = 0; i < len; i++)
	{
		char		c = tok[i];

		/* '=' only as the last character or the last two */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '+' || c == '/' || (c == '=' && (i + 1 == len || (i + 2 == len && tok[len - 1] == '=')))))
			return "is not valid base64";
	}
	if (len % 4 != 0)
		return "is not valid base64";
	if (len >= 1 && tok[len - 1] == '=')
		pad++;
	if (len >= 2 && tok[len - 2] == '=')
		pad++;
	*decoded_len = len / 4 * 3 - pad;
	return NULL;
}

/* the value of "key" of key k: base64 of exactly key_bytes bytes, into dest */
static void
kw_key(KeysWalk *w, int k)
{
	KmeRequest *rq = w->rq;
	unsigned char *dst = w->dest + (size_t) k * w->key_bytes;
	const char *raw;
	size_t		len;
	char	   *tmp = NULL;

	if (kw_peek(w) != '"')
		kme_protocol_error(rq, "\"key\" of key %d is not a string.", k + 1);
	if (kw_string(w, &raw, &len))
	{
		kw_unescape(w, raw, len, NULL);	/* check first: no error half way */
		tmp = palloc(len + 1);
		len = kw_unescape(w, raw, len, tmp);
		raw = tmp;
	}
	if (base64_ct_decode(dst, w->key_bytes, raw, len) == 0)
	{
		if (tmp)
		{
			sodium_memzero(tmp, len);
			pfree(tmp);
		}
		return;
	}
	/* rejected: classify (the key is never used), then wipe */
	sodium_memzero(dst, w->key_bytes);
	{
		size_t		dlen = 0;
		const char *problem = base64_problem(raw, len, &dlen);

		if (problem == NULL && dlen == w->key_bytes)
			problem = "has bits set after its last byte (not canonical base64)";
		if (tmp)
		{
			sodium_memzero(tmp, len);
			pfree(tmp);
		}
		if (problem)
			kme_protocol_error(rq, "\"key\" of key %d %s.", k + 1, problem);
		kme_protocol_error(rq, "Key %d has %zu bits, but %zu were asked for.",
						   k + 1, dlen * 8, w->key_bytes * 8);
	}
}

/* one element of "keys" */
static void
kw_key_object(KeysWalk *w)
{
	KmeRequest *rq = w->rq;
	int			k = w->nkeys;
	bool		have_id = false,
				have_key = false;
	char		c;

	if (kw_peek(w) != '{')
		kme_protocol_error(rq, "Element %d of \"keys\" is not an object.", k + 1);
	if (k >= w->max_keys)
		kme_protocol_error(rq, "The answer has more keys than the %d asked for.", w->max_keys);
	w->p++;
	if (kw_peek(w) == '}')
		w->p++;
	else
		for (;;)
		{
			KeyField	f = kw_name(w);

			if (f == KF_KEY_ID)
			{
				size_t		len;

				if (have_id)
					kme_protocol_error(rq, "Key %d has \"%s\" more than once.", k + 1, "key_ID");
				if (kw_peek(w) != '"')
					kme_protocol_error(rq, "\"key_ID\" of key %d is not a string.", k + 1);
				w->ids[k] = kw_string_copy(w, &len);
				if (!key_id_is_valid(w->ids[k]))
					kme_protocol_error(rq, "\"key_ID\" of key %d is not 1 to %d printable ASCII characters.",
									   k + 1, KME_KEY_ID_MAXLEN);
				have_id = true;
			}
			else if (f == KF_KEY)
			{
				if (have_key)
					kme_protocol_error(rq, "Key %d has \"%s\" more than once.", k + 1, "key");
				kw_key(w, k);
				have_key = true;
			}
			else
				kw_skip(w);
			c = kw_peek(w);
			w->p++;
			if (c == '}')
				break;
			if (c != ',')
				kw_invalid(w);
		}
	if (!have_id || !have_key)
		kme_protocol_error(rq, "Key %d has no \"%s\".", k + 1, have_id ? "key" : "key_ID");
	w->nkeys++;
}

/*
 * Parse a key container of at most max_keys keys of key_bytes each into dest and
 * ids; returns the number of keys.
 */
static int
parse_key_container(KmeRequest *rq, int max_keys, size_t key_bytes,
					unsigned char *dest, char **ids)
{
	KeysWalk	w;
	bool		keys_seen = false;
	char		c;
	const char *why = json_syntax_problem(rq);

	if (why)
		kme_protocol_error(rq, "%s", why);
	memset(&w, 0, sizeof(w));
	w.rq = rq;
	w.p = (const char *) rq->body.data;
	w.end = w.p + rq->body.len;
	w.max_keys = max_keys;
	w.key_bytes = key_bytes;
	w.dest = dest;
	w.ids = ids;

	if (kw_peek(&w) != '{')
		kme_protocol_error(rq, "The key container is not a JSON object.");
	w.p++;
	if (kw_peek(&w) == '}')
		w.p++;
	else
		for (;;)
		{
			if (kw_name(&w) == KF_KEYS)
			{
				if (keys_seen)
					kme_protocol_error(rq, "The answer has \"keys\" more than once.");
				keys_seen = true;
				if (kw_peek(&w) != '[')
					kme_protocol_error(rq, "\"keys\" is not an array.");
				w.p++;
				if (kw_peek(&w) == ']')
					w.p++;
				else
					for (;;)
					{
						kw_key_object(&w);
						c = kw_peek(&w);
						w.p++;
						if (c == ']')
							break;
						if (c != ',')
							kw_invalid(&w);
					}
			}
			else
				kw_skip(&w);
			c = kw_peek(&w);
			w.p++;
			if (c == '}')
				break;
			if (c != ',')
				kw_invalid(&w);
		}
	if (!keys_seen)
		kme_protocol_error(rq, "The answer has no \"keys\".");
	if (w.nkeys == 0)
		kme_protocol_error(rq, "The answer has no keys.");
	return w.nkeys;
}

/* the most a container of n keys of key_bytes can reasonably take */
static size_t
container_body_max(int n, size_t key_bytes)
{
	size_t		m = (size_t) n * ((key_bytes + 2) / 3 * 4 * 2 + 2 * KME_KEY_ID_MAXLEN + 1024) + KME_SMALL_BODY_MAX;

	return Min(m, (size_t) KME_BODY_HARD_MAX);
}

/* ---------------------------------------------------------------------------
 * batches
 * ------------------------------------------------------------------------- */
/*
 * Key material lives in sodium_malloc memory (guard pages, locked against swap).
 * Setting that up and tearing it down costs tens of microseconds, as much as a
 * whole small request, so one released buffer is kept for the next batch.  Every
 * batch wipes the bytes it used when it is released, so the spare holds no key.
 */
#define SPARE_MATERIAL_MAX ((size_t) 16 * 1024 * 1024)
static unsigned char *spare_material;
static size_t spare_material_cap;

static unsigned char *
material_alloc(size_t len, size_t *cap)
{
	unsigned char *m;

	if (spare_material != NULL && spare_material_cap >= len)
	{
		m = spare_material;
		*cap = spare_material_cap;
		spare_material = NULL;
		return m;
	}
	*cap = Max(len, 1);
	return sodium_malloc(*cap);
}

static void
material_release(unsigned char *m, size_t used, size_t cap)
{
	sodium_memzero(m, used);
	if (cap <= SPARE_MATERIAL_MAX &&
		(spare_material == NULL || spare_material_cap < cap))
	{
		if (spare_material != NULL)
			sodium_free(spare_material);
		spare_material = m;
		spare_material_cap = cap;
	}
	else
		sodium_free(m);
}

static void
batch_wipe_cb(void *arg)
{
	KmeKeyBatch *b = (KmeKeyBatch *) arg;

	if (b->material)
		material_release(b->material, b->material_len, b->material_cap);
	b->material = NULL;
	b->nkeys = 0;
}

static KmeKeyBatch *
batch_alloc(int count, int size_bits)
{
	KmeKeyBatch *b = palloc0(sizeof(KmeKeyBatch));
	int			i;

	b->size_bits = size_bits;
	b->material_len = (size_t) count * (size_bits / 8);
	b->material = material_alloc(b->material_len, &b->material_cap);
	if (b->material == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for %d keys of %d bits", count, size_bits)));
	b->keys = palloc0(sizeof(KmeKey) * count);
	for (i = 0; i < count; i++)
		b->keys[i].key = b->material + (size_t) i * (size_bits / 8);
	b->wipe_cb.func = batch_wipe_cb;
	b->wipe_cb.arg = b;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &b->wipe_cb);
	return b;
}

KmeKeyBatch *
kme_batch_new(int count, int size_bits)
{
	KmeKeyBatch *b = batch_alloc(count, size_bits);

	b->nkeys = count;
	return b;
}

void
kme_batch_free(KmeKeyBatch *batch)
{
	if (batch == NULL)
		return;
	batch_wipe_cb(batch);
}

static void
check_count(int count)
{
	if (count < 1 || count > KME_MAX_KEYS_PER_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of keys must be between 1 and %d, not %d",
						KME_MAX_KEYS_PER_BATCH, count)));
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* for sorting pointers to string pointers */
static int
cmp_strpp(const void *a, const void *b)
{
	return strcmp(**(char **const *) a, **(char **const *) b);
}

/* the first ID that occurs twice, or NULL */
static const char *
find_duplicate(const char *const *ids, int n)
{
	const char **s = palloc(sizeof(char *) * Max(n, 1));
	const char *dup = NULL;
	int			i;

	memcpy(s, ids, sizeof(char *) * n);
	qsort(s, n, sizeof(char *), cmp_strp);
	for (i = 1; i < n && dup == NULL; i++)
		if (strcmp(s[i - 1], s[i]) == 0)
			dup = s[i];
	pfree(s);
	return dup;
}

KmeKeyBatch *
kme_get_enc_keys(const char *slave_sae, int count, int size_bits)
{
	StatusCacheEntry *lim;
	KmeKeyBatch *b;
	size_t		key_bytes;
	int			got = 0;
	const char **idp;
	const char *dup;
	int			i;

	check_count(count);
	check_peer_sae(slave_sae);
	lim = kme_limits(slave_sae, false);
	if (size_bits == 0)
		size_bits = (int) lim->key_size;
	if (size_bits <= 0 || size_bits % 8 != 0 ||
		size_bits < lim->min_key_size || size_bits > lim->max_key_size || size_bits > KME_MAX_KEY_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key size %d bits is not possible on the link from SAE \"%s\" to SAE \"%s\"",
						size_bits, ssn_sae_id, slave_sae),
				 errdetail("KME \"%s\" serves keys of " INT64_FORMAT " to " INT64_FORMAT " bits, in multiples of 8.",
						   kme_base_url(), lim->min_key_size, lim->max_key_size)));
	key_bytes = size_bits / 8;
	b = batch_alloc(count, size_bits);

	while (got < count)
	{
		int			n = (int) Min((int64) (count - got), lim->max_key_per_request);
		KmeRequest *rq;
		char	  **ids;
		char		body[64];
		int			k;

		CHECK_FOR_INTERRUPTS();
		rq = kme_request_begin("enc_keys", slave_sae);
		snprintf(body, sizeof(body), "{\"number\":%d,\"size\":%d}", n, size_bits);
		kme_perform(rq, body, container_body_max(n, key_bytes));
		if (rq->http_code != 200)
		{
			if (rq->http_code == 400)
				status_cache_invalidate(slave_sae);
			kme_http_error(rq);
		}
		ids = palloc(sizeof(char *) * n);
		k = parse_key_container(rq, n, key_bytes, b->material + (size_t) got * key_bytes, ids);
		for (i = 0; i < k; i++)
			b->keys[got + i].key_id = ids[i];
		pfree(ids);
		kme_request_end(rq);
		got += k;
		b->nkeys = got;
	}

	idp = palloc(sizeof(char *) * count);
	for (i = 0; i < count; i++)
		idp[i] = b->keys[i].key_id;
	dup = find_duplicate(idp, count);
	if (dup)
	{
		kme_batch_free(b);
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("KME \"%s\" returned key ID \"%s\" twice to SAE \"%s\" for SAE \"%s\"",
						kme_base_url(), dup, ssn_sae_id, slave_sae),
				 errhint("The keys were discarded and none of them used.")));
	}
	pfree(idp);
	return b;
}

KmeKeyBatch *
kme_get_dec_keys(const char *master_sae, const char *const *key_ids, int count, int size_bits)
{
	StatusCacheEntry *lim;
	KmeKeyBatch *b;
	size_t		key_bytes;
	int			chunk;
	int			done = 0;
	const char *dup;
	int			i;

	check_count(count);
	check_peer_sae(master_sae);
	kme_check_config();
	if (size_bits <= 0 || size_bits % 8 != 0 || size_bits > KME_MAX_KEY_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key size must be a positive multiple of 8 bits up to %d, not %d",
						KME_MAX_KEY_BITS, size_bits)));
	for (i = 0; i < count; i++)
		if (key_ids[i] == NULL || !key_id_is_valid(key_ids[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid key ID \"%s\"", key_ids[i] ? key_ids[i] : "(null)"),
					 errdetail("A key ID has 1 to %d printable ASCII characters.", KME_KEY_ID_MAXLEN)));
	dup = find_duplicate(key_ids, count);
	if (dup)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key ID \"%s\" is asked for twice", dup)));

	/*
	 * The slave may not be allowed to read the link's status (one-way links); then
	 * we send all IDs at once and let the KME say if that is too many.
	 */
	lim = kme_limits(master_sae, true);
	chunk = lim ? (int) Min((int64) count, lim->max_key_per_request) : count;
	key_bytes = size_bits / 8;
	b = batch_alloc(count, size_bits);

	while (done < count)
	{
		int			n = Min(count - done, chunk);
		KmeRequest *rq;
		StringInfoData body;
		char	  **ids;
		int			k,
					j;

		CHECK_FOR_INTERRUPTS();
		rq = kme_request_begin("dec_keys", master_sae);
		initStringInfo(&body);
		appendStringInfoString(&body, "{\"key_IDs\":[");
		for (j = 0; j < n; j++)
		{
			appendStringInfo(&body, "%s{\"key_ID\":", j ? "," : "");
			escape_json(&body, key_ids[done + j]);
			appendStringInfoChar(&body, '}');
		}
		appendStringInfoString(&body, "]}");
		kme_perform(rq, body.data, container_body_max(n, key_bytes));
		if (rq->http_code != 200)
			kme_http_error(rq);
		if (!secbuf_reserve(&rq->scratch, (size_t) n * key_bytes))
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		rq->scratch.len = (size_t) n * key_bytes;	/* so that all of it is wiped */
		ids = palloc(sizeof(char *) * n);
		k = parse_key_container(rq, n, key_bytes, rq->scratch.data, ids);
		if (k != n)
			kme_protocol_error(rq, "The answer has %d keys for %d key IDs.", k, n);
		/* every asked-for ID exactly once, in any order (both lists are unique) */
		{
			char	 ***sorted = palloc(sizeof(char **) * n);

			for (j = 0; j < n; j++)
				sorted[j] = &ids[j];
			qsort(sorted, n, sizeof(char **), cmp_strpp);
			for (j = 0; j < n; j++)
			{
				char	   *want = pstrdup(key_ids[done + j]);
				char	  **wantp = &want;
				char	 ***hit = bsearch(&wantp, sorted, n, sizeof(char **), cmp_strpp);
				size_t		m;

				if (hit == NULL)
					kme_protocol_error(rq, "The answer lacks key ID \"%s\" (and has another).", want);
				m = *hit - ids;
				memcpy(b->keys[done + j].key, rq->scratch.data + m * key_bytes, key_bytes);
				b->keys[done + j].key_id = want;
			}
			pfree(sorted);
		}
		pfree(ids);
		kme_request_end(rq);
		done += n;
		b->nkeys = done;
	}
	return b;
}
