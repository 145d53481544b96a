/*
 * test_key_id_list.c - unit tests for key_id_list.c (the key IDs a node announces
 * to a peer for its replies): round trip of 1 and KEY_ID_LIST_MAX IDs, every truncation and
 * every trailing byte refused, bad magic, sizes, counts, lengths, bytes and
 * repeated IDs refused at both ends.
 *
 * make build/test_key_id_list && ./build/test_key_id_list
 */
#include <string.h>

#include "qkd/key_id_list.h"
#include "unit.h"

static KeyIdText parsed[KEY_ID_LIST_MAX];

int
main(void)
{
	static char idbuf[KEY_ID_LIST_MAX + 1][40];
	const char *ids[KEY_ID_LIST_MAX + 1];
	uint8_t		buf[KEY_ID_LIST_MAX * 64 + 16];
	size_t		len;
	uint32_t	bits;
	uint64_t	gen;
	int			n;
	char		err[256];

	for (int i = 0; i <= KEY_ID_LIST_MAX; i++)
	{
		snprintf(idbuf[i], sizeof(idbuf[i]), "6f1c0e2a-%04d-4b7e-9d11-0242ac120002", i);
		ids[i] = idbuf[i];
	}

	/* round trips */
	len = key_id_list_write(buf, 256, 0x1122334455667788ULL, ids, 1);
	CHECK(len == 18 + 1 + 36 && len == key_id_list_size(ids, 1), "size of one ID: %zu", len);
	CHECK(key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)), "one ID: %s", err);
	CHECK(bits == 256 && n == 1 && strcmp(parsed[0], ids[0]) == 0, "one ID back");
	CHECK(gen == 0x1122334455667788ULL, "generation back");
	len = key_id_list_write(buf, 8192, 7, ids, KEY_ID_LIST_MAX);
	CHECK(len == 18 + KEY_ID_LIST_MAX * 37, "size of %d IDs: %zu", KEY_ID_LIST_MAX, len);
	CHECK(key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)), "%d IDs: %s", KEY_ID_LIST_MAX, err);
	CHECK(bits == 8192 && n == KEY_ID_LIST_MAX, "%d IDs of 8192 bits back", KEY_ID_LIST_MAX);
	for (int i = 0; i < KEY_ID_LIST_MAX; i++)
		CHECK(strcmp(parsed[i], ids[i]) == 0, "ID %d back", i);

	/* every truncation and any trailing byte */
	len = key_id_list_write(buf, 256, 7, ids, 3);
	for (size_t cut = 0; cut < len; cut++)
		CHECK(!key_id_list_parse(buf, cut, &bits, &gen, &n, parsed, err, sizeof(err)) && err[0],
			  "cut at %zu refused", cut);
	buf[len] = 'x';
	CHECK(!key_id_list_parse(buf, len + 1, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "follow"),
		  "trailing byte refused: %s", err);

	/* the header */
	buf[0] = 'X';
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "magic"),
		  "bad magic refused");
	buf[0] = 'S';
	buf[4] = 7;
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "bits"),
		  "key size not in bytes refused");
	buf[4] = 0;
	buf[5] = 1;
	buf[16] = 0;
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "key IDs"),
		  "zero IDs refused");
	buf[16] = (KEY_ID_LIST_MAX + 1) & 0xff;
	buf[17] = (KEY_ID_LIST_MAX + 1) >> 8;
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)), "%d IDs refused", KEY_ID_LIST_MAX + 1);
	buf[16] = 3;
	buf[17] = 0;
	CHECK(key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)), "restored: %s", err);

	/* an ID: empty, not printable, repeated */
	buf[18] = 0;
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)), "empty ID refused");
	buf[18] = 36;
	buf[20] = ' ';
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "printable"),
		  "space in an ID refused");
	buf[20] = 'f';
	memcpy(buf + 18 + 37 + 1, ids[0], 36);
	CHECK(!key_id_list_parse(buf, len, &bits, &gen, &n, parsed, err, sizeof(err)) && strstr(err, "twice"),
		  "repeated ID refused");

	/* the writer refuses what the parser would */
	{
		const char *twice[2] = {ids[0], ids[0]};
		const char *bad[1] = {"a b"};
		const char *empty[1] = {""};

		CHECK(key_id_list_size(twice, 2) == 0, "writer refuses a repeated ID");
		CHECK(key_id_list_size(bad, 1) == 0, "writer refuses a space");
		CHECK(key_id_list_size(empty, 1) == 0, "writer refuses an empty ID");
		CHECK(key_id_list_size(ids, 0) == 0 && key_id_list_size(ids, KEY_ID_LIST_MAX + 1) == 0,
			  "writer refuses 0 and %d IDs", KEY_ID_LIST_MAX + 1);
		CHECK(key_id_list_write(buf, 12, 7, ids, 1) == 0, "writer refuses 12-bit keys");
	}
	return unit_finish("test_key_id_list");
}
