/*
 * test_secret_record.c - unit tests for secret_record.c (a secret's record for
 * its holders): write / parse round trip with and without grantees and check
 * record, every truncation refused, bad names, k, n, holders and flags refused,
 * records that cannot be written sized 0.
 *
 * make build/test_secret_record && ./build/test_secret_record
 */
#include <string.h>

#include "share/secret_record.h"
#include "unit.h"

static size_t
write_message(uint8_t *buf, const SecretRecord *a, const SecretRecord *b)
{
	size_t		o = 1;

	buf[0] = SECRET_RECORD_FORMAT;
	o += secret_record_write(buf + o, a);
	o += secret_record_write(buf + o, b);
	return o;
}

int
main(void)
{
	const char *grantees[] = {"bob", "carol \"c\", esq."};
	uint8_t		check[160];
	SecretRecord a,
				b,
				r;
	uint8_t		buf[4096];
	size_t		len,
				off;
	char		err[256];

	memset(&a, 0, sizeof(a));
	for (int i = 0; i < 16; i++)
		a.id[i] = (uint8_t) (i + 1);
	a.version = 1765000000123456LL;
	a.k = 3;
	a.n = 5;
	for (int i = 0; i < 5; i++)
		a.holders[i] = (uint8_t) (i * 2 + 1);
	a.owner = "alice";
	a.type = "timestamp with time zone";
	a.ngrantees = 2;
	a.grantees = grantees;
	b = a;
	b.id[0] = 0xee;
	b.flags = SECRET_RECORD_DELETED;
	b.ngrantees = 0;
	for (int i = 0; i < 160; i++)
		check[i] = (uint8_t) i;
	b.check = check;
	b.check_len = sizeof(check);
	CHECK(secret_record_size(&a) == 16 + 8 + 1 + 2 + 5 + 6 + 25 + 2 + 2 + 4 + 16, "size %zu", secret_record_size(&a));
	len = write_message(buf, &a, &b);
	CHECK(len == 1 + secret_record_size(&a) + secret_record_size(&b), "message length");
	CHECK(secret_record_format_ok(buf, len, err, sizeof(err)), "format");
	off = 1;
	CHECK(secret_record_next(buf, len, &off, &r, err, sizeof(err)), "first: %s", err);
	CHECK(memcmp(r.id, a.id, 16) == 0 && r.version == a.version && r.k == 3 && r.n == 5 &&
		  memcmp(r.holders, a.holders, 5) == 0 && r.flags == 0, "first fields");
	CHECK(r.owner_len == 5 && memcmp(r.owner, "alice", 5) == 0, "owner");
	CHECK(r.type_len == strlen(a.type) && memcmp(r.type, a.type, r.type_len) == 0, "type");
	CHECK(r.check == NULL && r.check_len == 0 && r.ngrantees == 2, "no check, 2 grantees");
	for (int i = 0; i < 2; i++)
	{
		const char *g;
		size_t		gl;

		secret_record_grantee(&r, i, &g, &gl);
		CHECK(gl == strlen(grantees[i]) && memcmp(g, grantees[i], gl) == 0, "grantee %d", i);
	}
	CHECK(secret_record_next(buf, len, &off, &r, err, sizeof(err)), "second: %s", err);
	CHECK(r.flags == SECRET_RECORD_DELETED && r.check_len == 160 && memcmp(r.check, check, 160) == 0 &&
		  r.ngrantees == 0 && r.id[0] == 0xee, "second fields");
	CHECK(!secret_record_next(buf, len, &off, &r, err, sizeof(err)) && err[0] == 0, "end");

	/* every truncation inside a record is refused, never read past */
	for (size_t cut = 2; cut < len; cut++)
	{
		int			ok = 0;
		bool		failed = false;

		off = 1;
		while (secret_record_next(buf, cut, &off, &r, err, sizeof(err)))
			ok++;
		failed = err[0] != 0;
		if (cut == 1 + secret_record_size(&a))
			CHECK(ok == 1 && !failed, "cut at the record boundary");
		else
			CHECK(failed, "cut at %zu accepted", cut);
	}
	/* bad fields */
	buf[0] = 2;
	CHECK(!secret_record_format_ok(buf, len, err, sizeof(err)) && err[0], "unknown format");
	buf[0] = SECRET_RECORD_FORMAT;
	buf[1 + 24] = 0x80;
	off = 1;
	CHECK(!secret_record_next(buf, len, &off, &r, err, sizeof(err)) && err[0], "unknown flag");
	buf[1 + 24] = 0;
	buf[1 + 25] = 1;			/* k = 1 */
	off = 1;
	CHECK(!secret_record_next(buf, len, &off, &r, err, sizeof(err)) && err[0], "k = 1");
	buf[1 + 25] = 3;
	buf[1 + 28] = buf[1 + 27];	/* holders not ascending */
	off = 1;
	CHECK(!secret_record_next(buf, len, &off, &r, err, sizeof(err)) && err[0], "holders repeat");
	buf[1 + 28] = 3;
	buf[1 + 33] = 'a' - 'a';	/* owner name "\0lice" */
	buf[1 + 34] = 0;
	off = 1;
	CHECK(!secret_record_next(buf, len, &off, &r, err, sizeof(err)) && err[0], "NUL in a name");

	/* what cannot be written */
	b = a;
	b.owner = "";
	CHECK(secret_record_size(&b) == 0, "empty owner");
	b = a;
	b.owner = "0123456789012345678901234567890123456789012345678901234567890123";
	CHECK(secret_record_size(&b) == 0, "owner of 64 bytes");
	b = a;
	b.k = 6;
	CHECK(secret_record_size(&b) == 0, "k > n");
	b = a;
	b.grantees = (const char *const[]) {"ok", "tab\there"};
	CHECK(secret_record_size(&b) == 0, "control character in a grantee");
	return unit_finish("test_secret_record");
}
