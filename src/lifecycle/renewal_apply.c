/*
 * renewal_apply.c - the shareholder's part of a renewal: add the parts of the
 * zero-sharings to its shares and replace epoch e by e+1.
 *
 * It runs inside the transaction that the coordinator then PREPAREs (or, on the
 * coordinator itself, in its decision transaction), so the old share disappears
 * and the new one appears in one commit.  Every part is checked against the share
 * it renews: the same secret, x, sharing, type and length, at the epoch before.
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lifecycle/hold.h"
#include "lifecycle/prepared.h"
#include "lifecycle/renewal_apply.h"
#include "lifecycle/verify.h"
#include "math/field_p.h"
#include "net/catalog.h"
#include "net/channel.h"
#include "net/message_kind.h"
#include "share/secret_handle.h"
#include "share/share_batch.h"
#include "share/share_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

typedef struct Part
{
	const uint8 *bytes;
	size_t		len;
	ShareHeader h;
	bool		done;
} Part;

static int
part_cmp(const void *a, const void *b)
{
	return memcmp(((const Part *) a)->h.id, ((const Part *) b)->h.id, SHARE_ID_SIZE);
}

/* new = old + delta, at the delta's epoch (false: the two do not belong together) */
static struct varlena *
renew_share(const uint8 *old, size_t oldlen, const ShareHeader *oh, const Part *p,
			char *why, size_t whylen)
{
	struct varlena *s;
	ShareHeader nh;
	uint8	   *out;
	const uint8 *a = old + SHARE_HEADER_SIZE,
			   *d = p->bytes + SHARE_HEADER_SIZE;

	if (oh->x != p->h.x || oh->k != p->h.k || oh->n != p->h.n || oh->type != p->h.type ||
		oh->field != p->h.field || oh->payload_len != p->h.payload_len ||
		oh->degree != p->h.degree || oh->scale != p->h.scale || oh->flags != p->h.flags)
	{
		snprintf(why, whylen, "the renewal part of secret %s does not match the share held "
				 "(x=%d k=%d n=%d, part x=%d k=%d n=%d)", secret_id_text(oh->id),
				 oh->x, oh->k, oh->n, p->h.x, p->h.k, p->h.n);
		return NULL;
	}
	if ((uint64) oh->epoch + 1 != p->h.epoch)
	{
		snprintf(why, whylen, "secret %s is held at epoch %u, the renewal is to epoch %u",
				 secret_id_text(oh->id), oh->epoch, p->h.epoch);
		return NULL;
	}
	nh = *oh;
	nh.epoch = p->h.epoch;
	s = share_alloc(oh->payload_len);
	out = SHARE_PAYLOAD(s);
	if (oh->field == SHARE_FIELD_PRIME)
	{
		fp_t		x,
					y;

		/* value, and blinding of a verifiable share; both validated canonical */
		for (int part = 0; part < share_scalars(oh); part++)
		{
			(void) fp_from_bytes(&x, a + part * FP_BYTES);
			(void) fp_from_bytes(&y, d + part * FP_BYTES);
			fp_add(&x, &x, &y);
			fp_to_bytes(out + part * FP_BYTES, &x);
		}
		/* the new epoch's signed commitments come with the parts */
		if (share_is_verifiable(oh))
			memcpy(out + 2 * FP_BYTES, d + 2 * FP_BYTES, oh->payload_len - 2 * FP_BYTES);
		sodium_memzero(&x, sizeof(x));
		sodium_memzero(&y, sizeof(y));
	}
	else
	{
		for (uint32 i = 0; i < oh->payload_len; i++)
			out[i] = a[i] ^ d[i];
	}
	share_seal_varlena(s, &nh);
	return s;
}

int
renewal_apply(const uint8 *pt, size_t len, const char *origin, int self_x,
			  char *why, size_t whylen)
{
	size_t		off = 0;
	const uint8 *sb;
	size_t		sblen;
	ShareHeader sh;
	int			n = 0,
				cap = 64,
				done = 0;
	Part	   *parts = palloc(sizeof(Part) * cap);
	Datum	   *ids;
	Datum	   *newshares;
	Datum	   *epochs;
	Oid			types[4];
	Datum		values[4];
	MemoryContext caller = CurrentMemoryContext;

	why[0] = '\0';
	while (share_batch_next(pt, len, &off, &sb, &sblen, &sh, why, whylen))
	{
		if (sh.x != self_x)
		{
			snprintf(why, whylen, "a renewal part for x=%d arrived at this node (share index %d)",
					 sh.x, self_x);
			return -1;
		}
		if (n == cap)
		{
			cap *= 2;
			parts = repalloc(parts, sizeof(Part) * cap);
		}
		parts[n].bytes = sb;
		parts[n].len = sblen;
		parts[n].h = sh;
		parts[n].done = false;
		n++;
	}
	if (why[0])
		return -1;
	if (n == 0)
		return 0;
	qsort(parts, n, sizeof(Part), part_cmp);
	ids = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && memcmp(parts[i].h.id, parts[i - 1].h.id, SHARE_ID_SIZE) == 0)
		{
			snprintf(why, whylen, "two renewal parts for secret %s", secret_id_text(parts[i].h.id));
			return -1;
		}
		ids[i] = UUIDPGetDatum((pg_uuid_t *) parts[i].h.id);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	types[0] = UUIDARRAYOID;
	types[1] = TEXTOID;
	values[0] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = CStringGetTextDatum(origin);
	/* the old epoch goes in the same transaction as the new one comes */
	if (SPI_execute_with_args("DELETE FROM ssn.held_share WHERE secret_id = ANY($1) AND origin = $2"
							  " RETURNING share",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not read ssn.held_share");
	newshares = palloc(sizeof(Datum) * n);
	epochs = palloc(sizeof(Datum) * n);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		ShareHeader oh;
		struct varlena *old = share_open(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull), &oh);
		Part		key;
		Part	   *p;
		MemoryContext spi;
		struct varlena *s;

		memcpy(key.h.id, oh.id, SHARE_ID_SIZE);
		p = bsearch(&key, parts, n, sizeof(Part), part_cmp);
		if (p == NULL)
			continue;			/* cannot happen: deleted by id */
		if (p->done)
		{
			snprintf(why, whylen, "secret %s is held at two epochs", secret_id_text(oh.id));
			SPI_finish();
			return -1;
		}
		spi = MemoryContextSwitchTo(caller);
		s = renew_share(SHARE_BYTES(old), SHARE_SIZE(old), &oh, p, why, whylen);
		MemoryContextSwitchTo(spi);
		sodium_memzero(SHARE_BYTES(old), SHARE_SIZE(old));
		if (s == NULL)
		{
			SPI_finish();
			return -1;
		}
		p->done = true;
		newshares[done] = PointerGetDatum(s);
		ids[done] = UUIDPGetDatum((pg_uuid_t *) p->h.id);
		epochs[done] = Int64GetDatum((int64) p->h.epoch);
		done++;
	}
	{
		/* renewed verifiable shares must open the new commitments */
		const uint8 **raw = palloc(sizeof(uint8 *) * Max(done, 1));

		for (int i = 0; i < done; i++)
			raw[i] = SHARE_BYTES(DatumGetPointer(newshares[i]));
		if (!verify_received_why(raw, done, "renewed share", why, whylen))
		{
			SPI_finish();
			return -1;
		}
	}
	if (done < n)
	{
		for (int i = 0; i < n; i++)
			if (!parts[i].done)
			{
				snprintf(why, whylen, "this node holds no share of secret %s from \"%s\"",
						 secret_id_text(parts[i].h.id), origin);
				break;
			}
		SPI_finish();
		return -1;
	}
	held_share_args(types, values, ids, epochs, newshares, n, origin);
	if (SPI_execute_with_args("INSERT INTO ssn.held_share (secret_id, epoch, origin, share)"
							  " SELECT u.id, u.e, $4, u.s FROM unnest($1, $2, $3) AS u(id, e, s)",
							  4, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store renewed shares in ssn.held_share");
	for (int i = 0; i < n; i++)
		sodium_memzero(VARDATA(DatumGetPointer(newshares[i])), VARSIZE(DatumGetPointer(newshares[i])) - VARHDRSZ);
	sodium_memzero(VARDATA(DatumGetPointer(values[2])), VARSIZE(DatumGetPointer(values[2])) - VARHDRSZ);
	SPI_finish();
	return n;
}

/* kind 'renew': in the transaction the coordinator prepares, so the switch is all or nothing */
static bool
receive_renewal(const ReceivedMessage *m, MessageOutcome *out, char *why, size_t whylen)
{
	int			n = renewal_apply(m->pt, m->len, m->sender->name, m->self->share_index, why, whylen);

	if (n < 0)
		return false;
	/* PREPARE TRANSACTION then records the switch, so that it can be asked about */
	prepared_note_switch(m->sender->name);
	out->items = n;
	out->reply = psprintf("renewed %d shares", n);
	return true;
}

void
renewal_apply_init(void)
{
	static const MessageKind renew = {
		.kind = MSG_KIND_RENEW,
		.handle = receive_renewal,
		.flags = MESSAGE_IN_XACT_BLOCK,
		.what = "renewal parts",
		.refusal = "renewal parts refused",
		.duplicate = "duplicate message of renewal parts",
		.touches = "ssn.held_share (the sender's secrets: new epoch in, old out)",
		.batch_at = message_batch_at_start,	/* the parts' values alone under the pad */
	};

	message_kind_register(&renew);
}
