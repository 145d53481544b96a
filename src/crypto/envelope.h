/*
 * envelope.h - one message on a shareholder link: one-time-pad encrypted and
 * one-time-MAC authenticated with QKD key material (Y.3808 §8.2; Req_SSN_S 3, 5).
 *
 * Wire layout (integers little-endian):
 *
 *   off len
 *     0   4 magic "SSNE"
 *     4   1 version (ENVELOPE_VERSION)
 *     5   1 kind: what the plaintext is (public; the channel layer defines kinds)
 *     6   2 number of key IDs, 1..ENVELOPE_MAX_KEYS
 *     8  16 message id (random; receivers deduplicate and refuse replays by it)
 *    24   8 size of every key in bits, or 0: each key is the smallest share of
 *           32 + L bytes (public; a receiver asks its KME for keys of this size;
 *           the keys must cover 32 + L bytes with no whole key left over)
 *    32   4 L, the length of the plaintext and of the ciphertext
 *    36   - sender node name, receiver node name, then the key IDs: each a
 *           1-byte length (1..ENVELOPE_MAX_NAME) and that many bytes
 *     .   L ciphertext = plaintext XOR pad
 *     .  16 Poly1305 tag over every byte before it
 *
 * Version 2 adds a part sent in clear, authenticated by the same tag and not
 * encrypted (what needs integrity but no secrecy: share headers without their
 * checksums, commitments), so that it spends no one-time pad:
 *
 *    36   4 A, the length of the clear part (1..ENVELOPE_MAX_PAYLOAD)
 *    40   - names and key IDs as in version 1
 *     .   A the clear part
 *     .   L ciphertext
 *     .  16 tag over every byte before it
 *
 * A sender writes version 1 when there is no clear part.
 *
 * Key material: the keys the key IDs name, concatenated in their order, form the
 * key stream K.  K[0..32) is the one-time Poly1305 key, K[32..32+L) the pad; any
 * rest is discarded.  A message therefore consumes 32 + L bytes of key and no byte
 * of key serves twice.  Poly1305 with a one-time uniformly random key is an
 * information-theoretically secure MAC (Wegman-Carter), as the OTP is a secure cipher.
 *
 * A receiver parses the header (bounded, no allocation), fetches the keys by ID,
 * and checks the tag in constant time before it decrypts, stores or believes any
 * part of the message.  Plain C (no PostgreSQL headers), fuzzed.
 */
#ifndef SSN_ENVELOPE_H
#define SSN_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_VERSION	1
#define ENVELOPE_VERSION_CLEAR	2	/* with a clear part */
#define ENVELOPE_MAX_KEYS	65535
#define ENVELOPE_MAX_NAME	255
#define ENVELOPE_MAC_KEY	32	/* bytes of key stream for the MAC */
#define ENVELOPE_TAG		16
#define ENVELOPE_MAX_PAYLOAD (256u * 1024 * 1024)
#define ENVELOPE_ID_SIZE	16
#define ENVELOPE_MAX_KEY_BITS (1u << 24)

/* What a sender puts in a header. */
typedef struct EnvelopeHeader
{
	uint8_t		kind;
	uint8_t		msg_id[ENVELOPE_ID_SIZE];
	uint32_t	key_bits;		/* size of each key, 0: derived from L and nkeys */
	const char *sender;
	const char *receiver;
	int			nkeys;
	const char *const *key_ids;
	const uint8_t *clear;		/* sent authenticated, not encrypted (may be NULL) */
	size_t		clear_len;
} EnvelopeHeader;

/* A parsed envelope: pointers into the buffer it was parsed from. */
typedef struct EnvelopeView
{
	uint8_t		version;
	uint8_t		kind;
	uint8_t		msg_id[ENVELOPE_ID_SIZE];
	uint32_t	key_bits;		/* 0, or checked: nkeys keys of it cover 32 + L bytes */
	uint32_t	len;			/* L */
	const uint8_t *sender;
	size_t		sender_len;
	const uint8_t *receiver;
	size_t		receiver_len;
	int			nkeys;
	const uint8_t *key_ids;		/* the length-prefixed key IDs */
	const uint8_t *clear;		/* version 2: the clear part (authentic once opened) */
	size_t		clear_len;
	size_t		authenticated_len;	/* bytes the tag covers */
	const uint8_t *ciphertext;
	const uint8_t *tag;
} EnvelopeView;

/* Bytes of key stream a message of L plaintext bytes consumes. */
static inline size_t
envelope_key_bytes(size_t plaintext_len)
{
	return ENVELOPE_MAC_KEY + plaintext_len;
}

/*
 * The key plan of a message of L plaintext bytes on a link whose keys are
 * min_bits..max_bits long: the fewest keys of one size that cover 32 + L bytes
 * (each as short as it can be, and at least min_bits), as the receiver derives
 * it from L and the number of key IDs.  Returns the number of keys; *size_bits
 * gets their size.
 */
extern int	envelope_key_plan(size_t plaintext_len, int min_bits, int max_bits, int *size_bits);

/* The size of each of nkeys keys that cover a message of L bytes (the receiver's side). */
extern int	envelope_key_size_bits(size_t plaintext_len, int nkeys, int min_bits);

/* Size of the envelope for this header and plaintext length; 0 if the header is
 * not valid (a name or key ID empty or too long, too many or no keys). */
extern size_t envelope_size(const EnvelopeHeader *h, size_t plaintext_len);

/*
 * Write the envelope into out (envelope_size() bytes).  key_stream holds at least
 * envelope_key_bytes(plaintext_len) bytes.  Returns the size written, 0 on a bad
 * header.  The caller wipes the key stream afterwards.
 */
extern size_t envelope_seal(uint8_t *out, const EnvelopeHeader *h,
							const uint8_t *key_stream, size_t key_stream_len,
							const uint8_t *plaintext, size_t plaintext_len);

/*
 * Parse the header of a received envelope.  Checks only the framing; nothing in it
 * is authentic until envelope_open() succeeds.  false with a reason in errbuf.
 */
extern bool envelope_parse(const uint8_t *buf, size_t len, EnvelopeView *v,
						   char *errbuf, size_t errlen);

/* Key ID i (0-based) of a parsed envelope. */
extern void envelope_key_id(const EnvelopeView *v, int i, const uint8_t **id, size_t *len);

/*
 * Verify the tag (constant time) and only then decrypt into plaintext (v->len
 * bytes).  false if the key stream is too short or the tag does not verify; the
 * output is then zeroed.
 */
extern bool envelope_open(const EnvelopeView *v, const uint8_t *key_stream,
						  size_t key_stream_len, uint8_t *plaintext);

#endif							/* SSN_ENVELOPE_H */
