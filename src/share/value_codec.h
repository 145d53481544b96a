/*
 * value_codec.h - SQL values to field elements and back.
 *
 * Numbers (bool, int2, int4, int8, numeric) become one element of F_l: the integer
 * value * 10^scale, signed (see field_p.h).  They are exact while
 * |value * 10^scale| <= (l-1)/2, about 3.6 * 10^75.  Everything else becomes a byte
 * string in GF(2^8): text types and bytea as their bytes, json/jsonb as their text,
 * fixed-width types as their little-endian binary form.
 */
#ifndef SSN_VALUE_CODEC_H
#define SSN_VALUE_CODEC_H

#include "postgres.h"

#include "fmgr.h"
#include "math/field_p.h"

typedef struct ShareValue
{
	int			type;			/* SHARE_TYPE_* */
	int			field;			/* SHARE_FIELD_* */
	uint16		scale;			/* decimal scale, prime field only */
	fp_t		fp;				/* prime field value */
	uint8	   *bytes;			/* GF(2^8) value */
	size_t		len;
	/*
	 * Memory this value owns (wiped and freed by value_wipe), or NULL when bytes
	 * point into a datum it must not touch.  When block is a varlena whose data
	 * are the bytes, decoding hands it over as the result instead of copying.
	 */
	void	   *block;
	size_t		block_len;
} ShareValue;

/* Room for a GF(2^8) result of len bytes, laid out as a varlena. */
extern void value_alloc_bytes(ShareValue *v, size_t len);

/* SHARE_TYPE_* for a SQL type (domains resolved), or ereport 0A000. */
extern int	value_type_for_oid(Oid typid);
extern Oid	value_type_oid(int type);

/* Encode a non-null SQL value of type typid. */
extern void value_encode(Datum value, Oid typid, ShareValue *out);

/* The type of argument argno, which names the result type (e.g. NULL::int8). */
extern Oid	value_result_type_arg(FunctionCallInfo fcinfo, int argno);

/* Decode into a value of type want (it may differ within a family: ints/numeric,
 * text/varchar/bpchar/bytea); ereport on anything that does not fit. */
extern Datum value_decode(ShareValue *v, Oid want);

/* The value as text, in the notation of its own type; exact for any number. */
extern char *value_to_cstring(ShareValue *v);

/* The same as a text datum; the value and the intermediate string are wiped. */
extern text *value_to_text_wiped(ShareValue *v);

/* Parse a public numeric constant as an integer and a scale (for algebra). */
extern void numeric_to_field(Datum num, fp_t *out, uint16 *scale);

/* 10^e as a field element. */
extern void field_pow10(fp_t *out, int e);

/* Wipe the secret parts of a value. */
extern void value_wipe(ShareValue *v);

#endif							/* SSN_VALUE_CODEC_H */
