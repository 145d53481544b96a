/*
 * test_shim.c - src/qkd/kme_client.c linked into a frontend program through
 * backend_shim, against a running kme-sim (test_shim.sh starts one).
 *
 *   test_shim KME_URL PKI_DIR      (SAEs SAE_A and SAE_B linked on that KME)
 *
 * Compiled with the server headers because kme_client.h is backend C; the shim's
 * own API is used as a frontend program would use it.
 */
#include "postgres.h"

#include <sys/wait.h>
#include <unistd.h>

#include "backend_shim.h"
#include "qkd/kme_client.h"

#define NKEYS 3
#define KEY_BITS 256

/* in backend_shim.c, for this test only */
extern int	shim_reset_callbacks_run;

static int	passed = 0,
			failed = 0;

static void
check(bool ok, const char *what)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s - %s\n", ok ? "ok" : "NOT OK", what);
}

static const char *kme_url;
static const char *pki;

static void
be_sae(const char *sae, const char *url)
{
	char		cert[1024],
				key[1024],
				ca[1024],
				crl[1024];
	ShimKmeSettings s = {0};

	snprintf(cert, sizeof(cert), "%s/sae/%s.crt", pki, sae);
	snprintf(key, sizeof(key), "%s/sae/%s.key", pki, sae);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(crl, sizeof(crl), "%s/crl.pem", pki);
	s.kme_url = url;
	s.sae_id = sae;
	s.sae_cert = cert;
	s.sae_key = key;
	s.kme_ca = ca;
	s.kme_crl = crl;
	s.timeout_ms = 20000;
	s.connect_timeout_ms = 20000;
	shim_set_kme(&s);
}

/* what the calls hand out of shim_try */
static struct
{
	int			min_bits,
				max_bits,
				max_per_request;
	KmeKeyBatch *batch;			/* kept only to see it wiped afterwards */
	int			nkeys,
				size_bits;
	char		ids[NKEYS][KME_KEY_ID_MAXLEN + 1];
	unsigned char keys[NKEYS][KEY_BITS / 8];
	unsigned char peer_keys[NKEYS][KEY_BITS / 8];
	bool		interrupt_first;
} out;

static void
get_enc(void *arg)
{
	int			i;

	if (out.interrupt_first)
		shim_interrupt();
	kme_link_limits("SAE_B", &out.min_bits, &out.max_bits, &out.max_per_request);
	out.batch = kme_get_enc_keys("SAE_B", NKEYS, KEY_BITS);
	out.nkeys = out.batch->nkeys;
	out.size_bits = out.batch->size_bits;
	for (i = 0; i < out.batch->nkeys && i < NKEYS; i++)
	{
		strlcpy(out.ids[i], out.batch->keys[i].key_id, sizeof(out.ids[i]));
		memcpy(out.keys[i], out.batch->keys[i].key, KEY_BITS / 8);
	}
}

static void
get_dec(void *arg)
{
	const char *ids[NKEYS];
	int			i;

	for (i = 0; i < NKEYS; i++)
		ids[i] = out.ids[i];
	out.batch = kme_get_dec_keys("SAE_A", ids, NKEYS, KEY_BITS);
	for (i = 0; i < out.batch->nkeys && i < NKEYS; i++)
		memcpy(out.peer_keys[i], out.batch->keys[i].key, KEY_BITS / 8);
}

/*
 * An ERROR outside shim_try ends the program with status 1 and the report on
 * stderr (a WARNING only prints); run in a child, its stderr read back.
 */
static void
check_uncaught(void)
{
	int			fd[2];
	pid_t		pid;
	int			status = 0;
	char		text[4096];
	ssize_t		n,
				len = 0;

	if (pipe(fd) != 0 || (pid = fork()) < 0)
	{
		check(false, "fork");
		return;
	}
	if (pid == 0)
	{
		dup2(fd[1], 2);
		ereport(WARNING, (errmsg("just %s", "a warning")));
		be_sae("SAE_A", "https://127.0.0.1:1");
		get_enc(NULL);
		_exit(0);				/* not reached */
	}
	close(fd[1]);
	while (len < (ssize_t) sizeof(text) - 1 &&
		   (n = read(fd[0], text + len, sizeof(text) - 1 - len)) > 0)
		len += n;
	text[len] = '\0';
	close(fd[0]);
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 1, "uncaught ERROR: exit status 1");
	check(strstr(text, "ssn-client: WARNING: just a warning\n") != NULL &&
		  strstr(text, "ssn-client: ERROR: could not complete") != NULL &&
		  strstr(text, "\nDETAIL: ") != NULL, "reports on stderr");
}

static bool
all_zero(const unsigned char *p, size_t n)
{
	unsigned char acc = 0;

	while (n--)
		acc |= *p++;
	return acc == 0;
}

int
main(int argc, char **argv)
{
	ShimError err;
	bool		ok;
	int			before;
	char		kme_name[1100];

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s KME_URL PKI_DIR\n", argv[0]);
		return 2;
	}
	kme_url = argv[1];
	pki = argv[2];
	snprintf(kme_name, sizeof(kme_name), "KME \"%s\"", kme_url);

	/* SAE_A takes keys for SAE_B */
	be_sae("SAE_A", kme_url);
	before = shim_reset_callbacks_run;
	ok = shim_try(get_enc, NULL, &err);
	check(ok, "enc_keys as SAE_A");
	if (!ok)
		fprintf(stderr, "  %s: %s\n", err.sqlstate, err.message);
	check(out.max_bits >= KEY_BITS && out.min_bits <= KEY_BITS && out.max_per_request > 0,
		  "link limits of SAE_A -> SAE_B");
	check(ok && out.nkeys == NKEYS && out.size_bits == KEY_BITS,
		  "enc_keys returned 3 keys of 256 bits");
	check(ok && out.batch->material == NULL && out.batch->nkeys == 0, "the batch was wiped when shim_try returned");
	check(shim_reset_callbacks_run > before, "reset callbacks ran");
	check(ok && !all_zero(out.keys[0], KEY_BITS / 8) &&
		  memcmp(out.keys[0], out.keys[1], KEY_BITS / 8) != 0, "the copied keys are keys");

	/* SAE_B fetches the same keys by their IDs */
	be_sae("SAE_B", kme_url);
	before = shim_reset_callbacks_run;
	ok = shim_try(get_dec, NULL, &err);
	check(ok, "dec_keys as SAE_B");
	if (!ok)
		fprintf(stderr, "  %s: %s\n", err.sqlstate, err.message);
	check(ok && memcmp(out.keys, out.peer_keys, sizeof(out.keys)) == 0,
		  "SAE_B's keys equal SAE_A's byte for byte");
	check(ok && out.batch->material == NULL && shim_reset_callbacks_run > before,
		  "dec_keys' batch wiped by its callback");

	/* a key is delivered once: the second dec_keys is an HTTP 400 */
	memset(&err, 0, sizeof(err));
	ok = shim_try(get_dec, NULL, &err);
	check(!ok && strcmp(err.sqlstate, "22023") == 0, "dec_keys again: 22023");
	check(!ok && strstr(err.message, kme_name) != NULL, "the message names the KME");
	check(!ok && err.detail[0] != '\0' && err.hint[0] != '\0', "with detail and hint");
	printf("  # %s: %s\n  # DETAIL: %s\n  # HINT: %s\n", err.sqlstate, err.message,
		   err.detail, err.hint);

	/* nothing listens on port 1 */
	be_sae("SAE_A", "https://127.0.0.1:1");
	memset(&err, 0, sizeof(err));
	ok = shim_try(get_enc, NULL, &err);
	check(!ok && strcmp(err.sqlstate, "08006") == 0, "unreachable KME: 08006");
	printf("  # %s: %s\n", err.sqlstate, err.message);

	/* a missing setting */
	be_sae("SAE_A", "");
	memset(&err, 0, sizeof(err));
	ok = shim_try(get_enc, NULL, &err);
	check(!ok && strcmp(err.sqlstate, "55000") == 0 && strstr(err.message, "ssn.kme_url"),
		  "no KME URL: 55000");

	/* an interrupt stops the call, and does not outlive it */
	be_sae("SAE_A", kme_url);
	out.interrupt_first = true;
	memset(&err, 0, sizeof(err));
	ok = shim_try(get_enc, NULL, &err);
	check(!ok && strcmp(err.sqlstate, "57014") == 0, "interrupted: 57014");
	printf("  # %s: %s\n", err.sqlstate, err.message);
	out.interrupt_first = false;
	ok = shim_try(get_enc, NULL, &err);
	check(ok, "the next call runs");

	fflush(stdout);				/* not twice from the child */
	check_uncaught();

	printf("shim: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
