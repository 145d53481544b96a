/*
 * test_value_list.c - unit tests for value_list.c (values in text form on the
 * SSN-U link) and envelope_key_plan (the key plan both ends of a link derive):
 * round trip with NULLs and empty values, every truncation refused, bad flags,
 * counts and trailing bytes refused; key plans that cover the message exactly.
 *
 * make build/test_value_list && ./build/test_value_list
 */
#include <string.h>

#include "crypto/envelope.h"
#include "share/value_list.h"
#include "unit.h"

int
main(void)
{
	const char *vals[] = {"42", NULL, "", "tab\there, comma", "-9223372036854775808"};
	const int	nvals = 5;
	uint8_t		buf[512];
	ValueListHead h,
				r;
	size_t		len,
				off;
	char		err[256];

	memset(&h, 0, sizeof(h));
	h.k = 3;
	h.n = 5;
	h.verify = 2;
	memset(h.request_id, 0xab, sizeof(h.request_id));
	strcpy(h.type_name, "int8");
	h.count = nvals;
	len = value_list_put_head(buf, &h);
	CHECK(len == value_list_head_size(&h), "head size %zu", len);
	for (int i = 0; i < nvals; i++)
		len += value_list_put_value(buf + len, (const uint8_t *) vals[i],
									vals[i] ? (uint32_t) strlen(vals[i]) : 0, vals[i] == NULL);

	/* round trip */
	CHECK(value_list_get_head(buf, len, &r, &off, err, sizeof(err)), "head: %s", err);
	CHECK(r.k == 3 && r.n == 5 && r.verify == 2 && r.count == nvals, "head fields");
	CHECK(strcmp(r.type_name, "int8") == 0, "type name");
	CHECK(memcmp(r.request_id, h.request_id, sizeof(h.request_id)) == 0, "request id");
	for (int i = 0; i < nvals; i++)
	{
		const uint8_t *v;
		uint32_t	vl;
		bool		isnull;

		CHECK(value_list_get_value(buf, len, &off, &v, &vl, &isnull, err, sizeof(err)), "value %d: %s", i, err);
		CHECK(isnull == (vals[i] == NULL), "null flag %d", i);
		if (vals[i])
			CHECK(vl == strlen(vals[i]) && memcmp(v, vals[i], vl) == 0, "value %d bytes", i);
	}
	CHECK(value_list_get_end(len, off, err, sizeof(err)), "end");

	/* every truncation fails somewhere, with a reason */
	for (size_t cut = 0; cut < len; cut++)
	{
		bool		ok = value_list_get_head(buf, cut, &r, &off, err, sizeof(err));

		err[0] = 0;
		for (uint32_t i = 0; ok && i < r.count; i++)
		{
			const uint8_t *v;
			uint32_t	vl;
			bool		isnull;

			ok = value_list_get_value(buf, cut, &off, &v, &vl, &isnull, err, sizeof(err));
		}
		if (ok)
			ok = value_list_get_end(cut, off, err, sizeof(err));
		CHECK(!ok, "truncated at %zu accepted", cut);
	}

	/* trailing bytes, bad flags, a NULL with a length, a count too large, a bad format */
	{
		uint8_t		b2[600];

		memcpy(b2, buf, len);
		b2[len] = 0;
		CHECK(value_list_get_head(b2, len + 1, &r, &off, err, sizeof(err)), "head with a trailing byte");
		for (uint32_t i = 0; i < r.count; i++)
		{
			const uint8_t *v;
			uint32_t	vl;
			bool		isnull;

			(void) value_list_get_value(b2, len + 1, &off, &v, &vl, &isnull, err, sizeof(err));
		}
		CHECK(!value_list_get_end(len + 1, off, err, sizeof(err)), "a trailing byte refused");

		memcpy(b2, buf, len);
		(void) value_list_get_head(b2, len, &r, &off, err, sizeof(err));
		b2[off] = 0x80;
		{
			const uint8_t *v;
			uint32_t	vl;
			bool		isnull;

			CHECK(!value_list_get_value(b2, len, &off, &v, &vl, &isnull, err, sizeof(err)), "unknown flag refused");
			memcpy(b2, buf, len);
			(void) value_list_get_head(b2, len, &r, &off, err, sizeof(err));
			(void) value_list_get_value(b2, len, &off, &v, &vl, &isnull, err, sizeof(err));
			b2[off + 1] = 1;	/* the NULL value now claims a byte */
			CHECK(!value_list_get_value(b2, len, &off, &v, &vl, &isnull, err, sizeof(err)), "NULL with a length refused");
		}
		memcpy(b2, buf, len);
		b2[0] = 2;
		CHECK(!value_list_get_head(b2, len, &r, &off, err, sizeof(err)), "unknown format refused");
		memcpy(b2, buf, len);
		b2[3] = 3;
		CHECK(!value_list_get_head(b2, len, &r, &off, err, sizeof(err)), "bad verify refused");
		memcpy(b2, buf, len);
		b2[value_list_head_size(&h) - 1] = 0x7f;	/* count's top byte */
		CHECK(!value_list_get_head(b2, len, &r, &off, err, sizeof(err)), "huge count refused");
	}
	{
		ValueListHead big = h;

		memset(big.type_name, 'x', VALUE_LIST_TYPE_MAX);
		big.type_name[VALUE_LIST_TYPE_MAX] = 0;
		CHECK(value_list_head_size(&big) > 0, "a type name of the longest length fits");
	}

	/* key plans: the fewest keys of one size, covering 32 + L, receiver agrees */
	{
		size_t		lens[] = {0, 1, 95, 96, 97, 1000, 65536, 1000000};

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		{
			int			bits,
						n = envelope_key_plan(lens[i], 64, 1024, &bits);
			size_t		need = envelope_key_bytes(lens[i]);

			CHECK(n >= 1 && (size_t) n * (bits / 8) >= need, "plan covers %zu bytes", lens[i]);
			CHECK(bits <= 1024 && bits >= 64 && bits % 8 == 0, "key size %d in range", bits);
			CHECK(n == 1 || (size_t) (n - 1) * 1024 / 8 < need, "no fewer keys would do (L=%zu)", lens[i]);
			CHECK(envelope_key_size_bits(lens[i], n, 64) == bits, "receiver derives %d bits", bits);
		}
	}
	return unit_finish("test_value_list");
}
