/*
 * ssn_client.c - the data owner's end of SSN-U (see ssn_client.h).
 *
 * Nothing here ever hands a value to libpq: a store sends one envelope (one-time
 * pad and one-time MAC, src/crypto/envelope.c) as a binary bytea parameter, and a
 * retrieval gets one back, opened here with keys from the owner's KME.  The
 * plaintext lives in sodium_malloc'd memory (locked, guard pages) and is wiped
 * when the envelope is sealed or the values are handed out.
 */
#include "ssn_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/envelope.h"
#include "kme_bridge.h"
#include "share/value_list.h"

struct SsnClient
{
	PGconn	   *conn;
	char	   *own_sae;
	char	   *node;
	char	   *node_sae;
	int			k,
				n,
				verify;
	size_t		last_key_bytes;
};

static void
set_err(SsnClientError *err, const char *sqlstate, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(SsnClientError *err, const char *sqlstate, const char *fmt,...)
{
	va_list		ap;

	memset(err, 0, sizeof(*err));
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
ssn_client_pq_error(PGconn *conn, const PGresult *res, SsnClientError *err)
{
	const char *f;

	memset(err, 0, sizeof(*err));
	f = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", f ? f : "08006");
	f = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	snprintf(err->message, sizeof(err->message), "%s", f ? f : PQerrorMessage(conn));
	/* libpq's own messages end with a newline */
	err->message[strcspn(err->message, "\n")] = '\0';
	if (res && (f = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) != NULL)
		snprintf(err->detail, sizeof(err->detail), "%s", f);
	if (res && (f = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) != NULL)
		snprintf(err->hint, sizeof(err->hint), "%s", f);
}

SsnClient *
ssn_client_open(const SsnClientConfig *cfg, SsnClientError *err)
{
	SsnClient  *c;
	PGresult   *res;
	const char *params[1];

	if (sodium_init() < 0)
	{
		set_err(err, "58000", "could not initialise libsodium");
		return NULL;
	}
	if (cfg->kme.sae_id == NULL || cfg->kme.sae_id[0] == '\0' ||
		cfg->kme.kme_url == NULL || cfg->kme.kme_url[0] == '\0')
	{
		set_err(err, "55000", "the data owner's SAE ID and KME URL are not set");
		snprintf(err->hint, sizeof(err->hint),
				 "Give --sae-id, --kme-url, --sae-cert, --sae-key and --kme-ca (or SSN_SAE_ID, SSN_KME_URL, ...).");
		return NULL;
	}
	c = calloc(1, sizeof(SsnClient));
	if (c == NULL)
	{
		set_err(err, "53200", "out of memory");
		return NULL;
	}
	c->k = cfg->k;
	c->n = cfg->n;
	c->verify = cfg->verify;
	c->own_sae = strdup(cfg->kme.sae_id);
	shim_set_kme(&cfg->kme);
	c->conn = PQconnectdb(cfg->conninfo ? cfg->conninfo : "");
	if (PQstatus(c->conn) != CONNECTION_OK)
	{
		set_err(err, "08006", "could not connect to the SSA: %s", PQerrorMessage(c->conn));
		err->message[strcspn(err->message, "\n")] = '\0';
		ssn_client_close(c);
		return NULL;
	}
	params[0] = c->own_sae;
	res = PQexecParams(c->conn, "SELECT node, node_sae_id FROM ssn_owner_link() WHERE owner_sae_id = $1",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		ssn_client_pq_error(c->conn, res, err);
		PQclear(res);
		ssn_client_close(c);
		return NULL;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1))
	{
		set_err(err, "42501", "role \"%s\" does not act for data owner \"%s\" on this SSA",
				PQuser(c->conn), c->own_sae);
		snprintf(err->hint, sizeof(err->hint),
				 "A superuser of the SSA maps the owner's SAE to a role: SELECT ssn.add_data_owner('%s', 'role');",
				 c->own_sae);
		PQclear(res);
		ssn_client_close(c);
		return NULL;
	}
	c->node = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
	c->node_sae = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	return c;
}

PGconn *
ssn_client_conn(SsnClient *c)
{
	return c->conn;
}

const char *
ssn_client_node(SsnClient *c)
{
	return c->node;
}

const char *
ssn_client_node_sae(SsnClient *c)
{
	return c->node_sae;
}

size_t
ssn_client_last_key_bytes(SsnClient *c)
{
	return c->last_key_bytes;
}

int
ssn_client_seal_store(SsnClient *c, const char *type_name, char *const *values,
					  const size_t *lens, int count, uint8_t **envelope, size_t *envelope_len,
					  SsnClientError *err)
{
	ValueListHead head;
	size_t		len,
				off,
				size;
	uint8_t    *pt;
	BridgeKeys	keys;
	EnvelopeHeader h;

	memset(&head, 0, sizeof(head));
	head.k = (uint8_t) c->k;
	head.n = (uint8_t) c->n;
	head.verify = (uint8_t) c->verify;
	head.count = (uint32_t) count;
	if (strlen(type_name) > VALUE_LIST_TYPE_MAX)
	{
		set_err(err, "42704", "type name is longer than %d bytes", VALUE_LIST_TYPE_MAX);
		return -1;
	}
	strcpy(head.type_name, type_name);
	len = value_list_head_size(&head);
	for (int i = 0; i < count; i++)
	{
		if (values[i] && lens[i] > UINT32_MAX)
		{
			set_err(err, "54000", "value %d is too long", i + 1);
			return -1;
		}
		len += VALUE_LIST_VALUE_OVERHEAD + (values[i] ? lens[i] : 0);
	}
	pt = sodium_malloc(len ? len : 1);
	if (pt == NULL)
	{
		set_err(err, "53200", "out of memory for %zu bytes of values", len);
		return -1;
	}
	off = value_list_put_head(pt, &head);
	for (int i = 0; i < count; i++)
		off += value_list_put_value(pt + off, (const uint8_t *) values[i],
									values[i] ? (uint32_t) lens[i] : 0, values[i] == NULL);

	if (!bridge_enc_keys(c->node_sae, len, &keys, err))
	{
		sodium_free(pt);
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.kind = VALUE_LIST_KIND_STORE;
	randombytes_buf(h.msg_id, sizeof(h.msg_id));
	h.key_bits = (uint32_t) keys.size_bits;
	h.sender = c->own_sae;
	h.receiver = c->node_sae;
	h.nkeys = keys.nkeys;
	h.key_ids = (const char *const *) keys.ids;
	size = envelope_size(&h, len);
	*envelope = size ? malloc(size) : NULL;
	if (*envelope == NULL)
	{
		set_err(err, "22023", "cannot seal for SAE \"%s\": a name or key ID is empty or too long",
				c->node_sae);
		bridge_keys_free(&keys);
		sodium_free(pt);
		return -1;
	}
	*envelope_len = envelope_seal(*envelope, &h, keys.material, keys.material_len, pt, len);
	c->last_key_bytes = keys.material_len;
	bridge_keys_free(&keys);
	sodium_free(pt);
	return 0;
}

/* an ssn_secret[] literal of the handles (they are public: no value in them) */
static char *
handle_array(char *const *handles, int count)
{
	size_t		cap = 3;
	char	   *s,
			   *p;

	for (int i = 0; i < count; i++)
		cap += handles[i] ? 2 * strlen(handles[i]) + 3 : 5;
	p = s = malloc(cap);
	if (s == NULL)
		return NULL;
	*p++ = '{';
	for (int i = 0; i < count; i++)
	{
		if (i)
			*p++ = ',';
		if (handles[i] == NULL)
		{
			memcpy(p, "NULL", 4);
			p += 4;
			continue;
		}
		*p++ = '"';
		for (const char *q = handles[i]; *q; q++)
		{
			if (*q == '"' || *q == '\\')
				*p++ = '\\';
			*p++ = *q;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

/* open a sealed reply; values out; -1 with *err set if it is not what we asked for */
static int
open_reply(SsnClient *c, const uint8_t *env, size_t envlen, const uint8_t *request_id, int count,
		   char ***values, size_t **lens, SsnClientError *err)
{
	EnvelopeView v;
	char		why[256];
	char	  **ids;
	BridgeKeys	keys;
	uint8_t    *pt;
	ValueListHead head;
	size_t		off;
	bool		ok;
	int			rc = -1;

	if (!envelope_parse(env, envlen, &v, why, sizeof(why)))
	{
		set_err(err, "22P03", "the SSA's sealed reply is malformed: %s", why);
		return -1;
	}
	if (v.kind != VALUE_LIST_KIND_VALUES || v.clear_len != 0 || v.key_bits == 0 ||
		v.sender_len != strlen(c->node_sae) || memcmp(v.sender, c->node_sae, v.sender_len) != 0 ||
		v.receiver_len != strlen(c->own_sae) || memcmp(v.receiver, c->own_sae, v.receiver_len) != 0)
	{
		set_err(err, "28000", "the sealed reply is not from SAE \"%s\" for SAE \"%s\"", c->node_sae,
				c->own_sae);
		return -1;
	}
	ids = calloc(v.nkeys, sizeof(char *));
	for (int i = 0; ids && i < v.nkeys; i++)
	{
		const uint8_t *id;
		size_t		idlen;

		envelope_key_id(&v, i, &id, &idlen);
		if ((ids[i] = malloc(idlen + 1)) == NULL)
			break;
		memcpy(ids[i], id, idlen);
		ids[i][idlen] = '\0';
	}
	ok = ids != NULL && bridge_dec_keys(c->node_sae, ids, v.nkeys, (int) v.key_bits, &keys, err);
	for (int i = 0; ids && i < v.nkeys; i++)
		free(ids[i]);
	free(ids);
	if (!ok)
		return -1;
	c->last_key_bytes = keys.material_len;
	pt = sodium_malloc(v.len ? v.len : 1);
	ok = pt != NULL && envelope_open(&v, keys.material, keys.material_len, pt);
	bridge_keys_free(&keys);
	if (!ok)
	{
		set_err(err, "28000", "the SSA's sealed reply failed authentication");
		snprintf(err->detail, sizeof(err->detail),
				 "The one-time MAC does not verify: the reply was altered or forged.");
		if (pt)
			sodium_free(pt);
		return -1;
	}
	if (!value_list_get_head(pt, v.len, &head, &off, why, sizeof(why)))
		set_err(err, "22P03", "the SSA's sealed reply is malformed: %s", why);
	else if (sodium_memcmp(head.request_id, request_id, VALUE_LIST_REQUEST_ID) != 0)
		set_err(err, "28000", "the sealed reply answers another request");
	else if (head.count != (uint32_t) count)
		set_err(err, "22P03", "the sealed reply has %u values for %d handles", head.count, count);
	else
	{
		*values = calloc(count ? count : 1, sizeof(char *));
		*lens = calloc(count ? count : 1, sizeof(size_t));
		rc = (*values && *lens) ? 0 : -1;
		for (int i = 0; rc == 0 && i < count; i++)
		{
			const uint8_t *val;
			uint32_t	vlen;
			bool		isnull;

			if (!value_list_get_value(pt, v.len, &off, &val, &vlen, &isnull, why, sizeof(why)))
			{
				set_err(err, "22P03", "the SSA's sealed reply is malformed: %s", why);
				rc = -1;
				break;
			}
			if (isnull)
				continue;
			(*values)[i] = malloc((size_t) vlen + 1);
			if ((*values)[i] == NULL)
			{
				set_err(err, "53200", "out of memory");
				rc = -1;
				break;
			}
			memcpy((*values)[i], val, vlen);
			(*values)[i][vlen] = '\0';
			(*lens)[i] = vlen;
		}
		if (rc == 0 && !value_list_get_end(v.len, off, why, sizeof(why)))
		{
			set_err(err, "22P03", "the SSA's sealed reply is malformed: %s", why);
			rc = -1;
		}
		if (rc != 0 && *values)
		{
			ssn_client_free_values(*values, *lens, count);
			*values = NULL;
			*lens = NULL;
		}
	}
	sodium_free(pt);
	return rc;
}

int
ssn_client_retrieve(SsnClient *c, char *const *handles, int count, char ***values,
					size_t **lens, SsnClientError *err)
{
	uint8_t		request_id[VALUE_LIST_REQUEST_ID];
	char	   *arr = handle_array(handles, count);
	const char *params[3];
	int			plens[3] = {0, VALUE_LIST_REQUEST_ID, 0};
	int			formats[3] = {0, 1, 0};
	PGresult   *res;
	int			rc;

	if (arr == NULL)
	{
		set_err(err, "53200", "out of memory");
		return -1;
	}
	randombytes_buf(request_id, sizeof(request_id));
	params[0] = arr;
	params[1] = (const char *) request_id;
	params[2] = c->own_sae;
	res = PQexecParams(c->conn, "SELECT ssn_retrieve_sealed($1::ssn_secret[], $2, $3)", 3, NULL,
					   params, plens, formats, 1);
	free(arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		ssn_client_pq_error(c->conn, res, err);
		PQclear(res);
		return -1;
	}
	rc = open_reply(c, (const uint8_t *) PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0),
					request_id, count, values, lens, err);
	PQclear(res);
	return rc;
}

void
ssn_client_free_values(char **values, size_t *lens, int count)
{
	if (values == NULL)
		return;
	for (int i = 0; i < count; i++)
		if (values[i])
		{
			sodium_memzero(values[i], lens[i]);
			free(values[i]);
		}
	free(values);
	free(lens);
}

void
ssn_client_close(SsnClient *c)
{
	if (c == NULL)
		return;
	if (c->conn)
		PQfinish(c->conn);
	free(c->own_sae);
	free(c->node);
	free(c->node_sae);
	free(c);
}
