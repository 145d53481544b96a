/*
 * guc.c - the ssn.* configuration parameters.
 *
 * Paths to the SAE's private key and certificates and the KME's URL are PGC_SUSET:
 * an ordinary user must not be able to point the server at another key file or
 * another KME.  A superuser may still SET them per session (tests, benchmarks);
 * the channel workers read them from the configuration files (SIGHUP reloads).
 * Timeouts only bound the caller's own waits, so any user may shorten them.
 */
#include "postgres.h"

#include "guc.h"
#include "utils/guc.h"

char	   *ssn_kme_url = NULL;
char	   *ssn_sae_id = NULL;
char	   *ssn_sae_cert = NULL;
char	   *ssn_sae_key = NULL;
char	   *ssn_kme_ca = NULL;
char	   *ssn_kme_crl = NULL;
int			ssn_kme_timeout_ms = 10000;
int			ssn_kme_connect_timeout_ms = 5000;

/* An SAE ID: 1..255 bytes, no control characters (it goes into URLs and logs). */
bool
ssn_sae_id_is_valid(const char *s)
{
	size_t		len = strlen(s);

	if (len == 0 || len > SSN_SAE_ID_MAXLEN)
		return false;
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
			return false;
	return true;
}

static bool
check_kme_url(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;

	if (s == NULL || *s == '\0')
		return true;
	if (pg_strncasecmp(s, "https://", 8) != 0 || s[8] == '\0' || s[8] == '/')
	{
		GUC_check_errdetail("The KME must be reached over HTTPS: \"https://host[:port][/prefix]\".");
		return false;
	}
	if (strlen(s) > 1024)
	{
		GUC_check_errdetail("The URL is longer than 1024 bytes.");
		return false;
	}
	for (; *s; s++)
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
		{
			GUC_check_errdetail("The URL contains a space, control or non-ASCII character.");
			return false;
		}
	return true;
}

static bool
check_sae_id(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0')
		return true;
	if (!ssn_sae_id_is_valid(*newval))
	{
		GUC_check_errdetail("An SAE ID has 1 to %d bytes and no control characters.",
							SSN_SAE_ID_MAXLEN);
		return false;
	}
	return true;
}

static bool
check_path(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > MAXPGPATH)
	{
		GUC_check_errdetail("The path is longer than %d bytes.", MAXPGPATH);
		return false;
	}
	return true;
}

void
ssn_guc_init(void)
{
	DefineCustomStringVariable("ssn.kme_url",
							   "Base URL of this node's KME (ETSI GS QKD 014), e.g. https://kme.example:8443.",
							   "Empty means no KME is configured.",
							   &ssn_kme_url, "", PGC_SUSET, 0,
							   check_kme_url, NULL, NULL);
	DefineCustomStringVariable("ssn.sae_id",
							   "SAE ID of this node at its KME (the subject CN of ssn.sae_cert).",
							   NULL, &ssn_sae_id, "", PGC_SUSET, 0,
							   check_sae_id, NULL, NULL);
	DefineCustomStringVariable("ssn.sae_cert",
							   "PEM file with this node's SAE client certificate (chain) for the KME.",
							   "Relative paths are relative to the data directory.",
							   &ssn_sae_cert, "", PGC_SUSET, 0,
							   check_path, NULL, NULL);
	DefineCustomStringVariable("ssn.sae_key",
							   "PEM file with the private key of ssn.sae_cert.",
							   "Relative paths are relative to the data directory.",
							   &ssn_sae_key, "", PGC_SUSET, 0,
							   check_path, NULL, NULL);
	DefineCustomStringVariable("ssn.kme_ca",
							   "PEM file with the CA certificate(s) that the KME's certificate must chain to.",
							   "Relative paths are relative to the data directory.",
							   &ssn_kme_ca, "", PGC_SUSET, 0,
							   check_path, NULL, NULL);
	DefineCustomStringVariable("ssn.kme_crl",
							   "Optional PEM CRL file against which the KME's certificate is checked.",
							   "Empty means no revocation check.",
							   &ssn_kme_crl, "", PGC_SUSET, 0,
							   check_path, NULL, NULL);
	DefineCustomIntVariable("ssn.kme_timeout",
							"Longest time one KME request may take, connection included.",
							NULL, &ssn_kme_timeout_ms, 10000, 100, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.kme_connect_timeout",
							"Longest time to connect to the KME (TCP and TLS handshake).",
							NULL, &ssn_kme_connect_timeout_ms, 5000, 100, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);

	MarkGUCPrefixReserved("ssn");
}
