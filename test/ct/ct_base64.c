/*
 * ct_base64.c - run under valgrind's memcheck (make ct): the key bytes encoded
 * and the characters decoded (base64_ct.c) are marked undefined, so any branch
 * or memory index that depends on them is reported as an error.  Only the
 * decoder's answer (accepted or not) is declassified, as its caller uses it.
 */
#include <sodium.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "crypto/base64_ct.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

int
main(void)
{
	uint8_t		key[100],
				back[100];
	char		text[BASE64_CT_LEN(100)];
	int			ok = 1;

	if (sodium_init() < 0)
		return 1;
	/* every length of a tail (0-5 bytes after whole six-byte blocks) and a KME's 32 */
	for (size_t n = 28; n <= 40; n++)
	{
		int			rc;

		randombytes_buf(key, n);
		SECRET(key, n);
		base64_ct_encode(text, key, n);
		rc = base64_ct_decode(back, n, text, BASE64_CT_LEN(n));
		PUBLIC(&rc, sizeof(rc));
		PUBLIC(back, n);
		PUBLIC(key, n);
		ok &= rc == 0 && memcmp(back, key, n) == 0;
		/* a refused one takes the same path */
		text[3] = '*';
		rc = base64_ct_decode(back, n, text, BASE64_CT_LEN(n));
		PUBLIC(&rc, sizeof(rc));
		ok &= rc == -1;
	}
	return ok ? 0 : 1;
}
