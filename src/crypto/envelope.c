/*
 * envelope.c - OTP + one-time MAC messages on shareholder links; see envelope.h.
 */
#include "crypto/envelope.h"

#include <sodium.h>
#include <string.h>

#include "base/errbuf.h"

#define MAGIC "SSNE"
#define FIXED_HEADER 36

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t	v = 0;
	int			i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* length of a name or key ID as framed: 0 if empty or too long */
static size_t
framed_len(const char *s)
{
	size_t		n = s ? strlen(s) : 0;

	return (n == 0 || n > ENVELOPE_MAX_NAME) ? 0 : n + 1;
}

size_t
envelope_size(const EnvelopeHeader *h, size_t plaintext_len)
{
	size_t		size = FIXED_HEADER;
	size_t		f;
	int			i;

	if (h->nkeys < 1 || h->nkeys > ENVELOPE_MAX_KEYS ||
		plaintext_len > ENVELOPE_MAX_PAYLOAD || h->clear_len > ENVELOPE_MAX_PAYLOAD)
		return 0;
	if (h->clear_len > 0)
		size += 4 + h->clear_len;
	if ((f = framed_len(h->sender)) == 0)
		return 0;
	size += f;
	if ((f = framed_len(h->receiver)) == 0)
		return 0;
	size += f;
	for (i = 0; i < h->nkeys; i++)
	{
		if ((f = framed_len(h->key_ids[i])) == 0)
			return 0;
		size += f;
	}
	return size + plaintext_len + ENVELOPE_TAG;
}

static uint8_t *
put_framed(uint8_t *p, const char *s)
{
	size_t		n = strlen(s);

	*p++ = (uint8_t) n;
	memcpy(p, s, n);
	return p + n;
}

size_t
envelope_seal(uint8_t *out, const EnvelopeHeader *h,
			  const uint8_t *key_stream, size_t key_stream_len,
			  const uint8_t *plaintext, size_t plaintext_len)
{
	size_t		size = envelope_size(h, plaintext_len);
	const uint8_t *pad = key_stream + ENVELOPE_MAC_KEY;
	uint8_t    *p;
	size_t		i;
	int			k;

	if (size == 0 || key_stream_len < envelope_key_bytes(plaintext_len))
		return 0;
	memcpy(out, MAGIC, 4);
	out[4] = h->clear_len > 0 ? ENVELOPE_VERSION_CLEAR : ENVELOPE_VERSION;
	out[5] = h->kind;
	put_le(out + 6, (uint64_t) h->nkeys, 2);
	memcpy(out + 8, h->msg_id, ENVELOPE_ID_SIZE);
	put_le(out + 24, h->key_bits, 8);
	put_le(out + 32, plaintext_len, 4);
	p = out + FIXED_HEADER;
	if (h->clear_len > 0)
	{
		put_le(p, h->clear_len, 4);
		p += 4;
	}
	p = put_framed(p, h->sender);
	p = put_framed(p, h->receiver);
	for (k = 0; k < h->nkeys; k++)
		p = put_framed(p, h->key_ids[k]);
	if (h->clear_len > 0)
	{
		memcpy(p, h->clear, h->clear_len);
		p += h->clear_len;
	}
	for (i = 0; i < plaintext_len; i++)
		p[i] = plaintext[i] ^ pad[i];
	p += plaintext_len;
	crypto_onetimeauth(p, out, (unsigned long long) (p - out), key_stream);
	return size;
}

/* Read one length-prefixed field at *off; false if it does not fit. */
static bool
take_framed(const uint8_t *buf, size_t len, size_t *off, const uint8_t **s, size_t *n)
{
	if (*off >= len)
		return false;
	*n = buf[*off];
	if (*n == 0 || *n > len - *off - 1)
		return false;
	*s = buf + *off + 1;
	*off += 1 + *n;
	return true;
}

bool
envelope_parse(const uint8_t *buf, size_t len, EnvelopeView *v,
			   char *errbuf, size_t errlen)
{
	size_t		off = FIXED_HEADER;
	const uint8_t *s;
	size_t		n;
	int			k;

	memset(v, 0, sizeof(*v));
	if (len < FIXED_HEADER + ENVELOPE_TAG)
		return fail(errbuf, errlen, "message is truncated: %zu bytes", len);
	if (memcmp(buf, MAGIC, 4) != 0)
		return fail(errbuf, errlen, "not an ssn message (bad magic)");
	v->version = buf[4];
	if (v->version != ENVELOPE_VERSION && v->version != ENVELOPE_VERSION_CLEAR)
		return fail(errbuf, errlen, "unsupported message version %d", v->version);
	v->kind = buf[5];
	v->nkeys = (int) get_le(buf + 6, 2);
	if (v->nkeys < 1)
		return fail(errbuf, errlen, "message names no key");
	memcpy(v->msg_id, buf + 8, ENVELOPE_ID_SIZE);
	v->len = (uint32_t) get_le(buf + 32, 4);
	if (v->len > ENVELOPE_MAX_PAYLOAD)
		return fail(errbuf, errlen, "message payload of %u bytes exceeds the limit", v->len);
	{
		uint64_t	kb = get_le(buf + 24, 8);

		/* the keys cover 32 + L bytes, and no whole key is left over */
		if (kb != 0 && (kb % 8 != 0 || kb > ENVELOPE_MAX_KEY_BITS ||
						(uint64_t) v->nkeys * (kb / 8) < envelope_key_bytes(v->len) ||
						(uint64_t) (v->nkeys - 1) * (kb / 8) >= envelope_key_bytes(v->len)))
			return fail(errbuf, errlen, "message names %d keys of %llu bits for its %u bytes",
						v->nkeys, (unsigned long long) kb, v->len);
		v->key_bits = (uint32_t) kb;
	}
	if (v->version == ENVELOPE_VERSION_CLEAR)
	{
		if (len < FIXED_HEADER + 4 + ENVELOPE_TAG)
			return fail(errbuf, errlen, "message is truncated: %zu bytes", len);
		v->clear_len = (size_t) get_le(buf + FIXED_HEADER, 4);
		if (v->clear_len == 0 || v->clear_len > ENVELOPE_MAX_PAYLOAD)
			return fail(errbuf, errlen, "message states a clear part of %zu bytes", v->clear_len);
		off += 4;
	}
	if (!take_framed(buf, len, &off, &v->sender, &v->sender_len) ||
		!take_framed(buf, len, &off, &v->receiver, &v->receiver_len))
		return fail(errbuf, errlen, "message is truncated in its node names");
	v->key_ids = buf + off;
	for (k = 0; k < v->nkeys; k++)
		if (!take_framed(buf, len, &off, &s, &n))
			return fail(errbuf, errlen, "message is truncated in key ID %d of %d",
						k + 1, v->nkeys);
	if (len - off != v->clear_len + (size_t) v->len + ENVELOPE_TAG)
		return fail(errbuf, errlen,
					"message length does not match its header: %zu bytes after the header, %zu + %u + %d expected",
					len - off, v->clear_len, v->len, ENVELOPE_TAG);
	if (v->clear_len > 0)
	{
		v->clear = buf + off;
		off += v->clear_len;
	}
	v->authenticated_len = off + v->len;
	v->ciphertext = buf + off;
	v->tag = buf + off + v->len;
	return true;
}

void
envelope_key_id(const EnvelopeView *v, int i, const uint8_t **id, size_t *len)
{
	const uint8_t *p = v->key_ids;

	/* parse validated the framing; walk to the i-th field */
	while (i-- > 0)
		p += 1 + p[0];
	*len = p[0];
	*id = p + 1;
}

bool
envelope_open(const EnvelopeView *v, const uint8_t *key_stream,
			  size_t key_stream_len, uint8_t *plaintext)
{
	const uint8_t *buf = v->ciphertext - (v->authenticated_len - v->len);
	const uint8_t *pad = key_stream + ENVELOPE_MAC_KEY;
	size_t		i;

	if (key_stream_len < envelope_key_bytes(v->len) ||
		crypto_onetimeauth_verify(v->tag, buf, v->authenticated_len, key_stream) != 0)
	{
		memset(plaintext, 0, v->len);
		return false;
	}
	for (i = 0; i < v->len; i++)
		plaintext[i] = v->ciphertext[i] ^ pad[i];
	return true;
}

int
envelope_key_size_bits(size_t plaintext_len, int nkeys, int min_bits)
{
	size_t		need = envelope_key_bytes(plaintext_len);
	size_t		per = (need + nkeys - 1) / nkeys;

	if ((uint64_t) per * 8 < (uint64_t) (min_bits > 0 ? min_bits : 0))
		per = (size_t) min_bits / 8;
	return (int) (per * 8);
}

int
envelope_key_plan(size_t plaintext_len, int min_bits, int max_bits, int *size_bits)
{
	uint64_t	need_bits = (uint64_t) envelope_key_bytes(plaintext_len) * 8;
	uint64_t	nkeys = max_bits > 0 ? (need_bits + max_bits - 1) / max_bits : 1;

	if (nkeys < 1)
		nkeys = 1;
	if (nkeys > ENVELOPE_MAX_KEYS)
		nkeys = ENVELOPE_MAX_KEYS + 1;	/* the caller refuses it */
	*size_bits = envelope_key_size_bits(plaintext_len, (int) nkeys, min_bits);
	return (int) nkeys;
}
