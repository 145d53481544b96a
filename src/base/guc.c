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

#include "base/guc.h"

#include <limits.h>
#include "miscadmin.h"
#include "utils/guc.h"

char	   *ssn_kme_url = NULL;
char	   *ssn_sae_id = NULL;
char	   *ssn_sae_cert = NULL;
char	   *ssn_sae_key = NULL;
char	   *ssn_kme_ca = NULL;
char	   *ssn_kme_crl = NULL;
int			ssn_kme_timeout_ms = 10000;
int			ssn_kme_connect_timeout_ms = 5000;
char	   *ssn_database = NULL;
int			ssn_default_k = 3;
int			ssn_default_n = 0;
int			ssn_synchronous_store = SSN_SYNC_LOCAL;
bool		ssn_verify_shares = true;
int			ssn_commit_threads = 1;
int			ssn_audit_sign_interval_s = 60;
int			ssn_audit_retention_min = 0;
int			ssn_alarm_check_interval_s = 30;
bool		ssn_catalog_sync = false;
int			ssn_alarm_key_pool_s = 60;
int			ssn_alarm_outbox_age_s = 900;
int			ssn_alarm_unreachable_s = 300;
int			ssn_alarm_renewal_overdue_s = 3600;
int			ssn_synchronous_store_timeout_ms = 30000;
int			ssn_peer_connect_timeout_s = 3;
int			ssn_peer_timeout_ms = 10000;
int			ssn_health_interval_ms = 5000;
int			ssn_peer_alarm_after = 2;
int			ssn_failover_after_ms = 0;
int			ssn_channel_batch_kb = 1024;
int			ssn_channel_retry_max_ms = 10000;
int			ssn_lock_timeout_ms = 10000;
int			ssn_prepared_timeout_ms = 300000;
int			ssn_orphan_grace_s = 86400;
char	   *ssn_test_pause_after_prepare = NULL;

static const struct config_enum_entry sync_store_options[] = {
	{"off", SSN_SYNC_OFF, false},
	{"local", SSN_SYNC_LOCAL, false},
	{"k", SSN_SYNC_K, false},
	{"all", SSN_SYNC_ALL, false},
	{NULL, 0, false}
};

/*
 * lock_timeout = ssn.lock_timeout until the current transaction ends: a lock
 * held by a transaction that may stay prepared for long fails the step instead
 * of stopping the caller.
 */
void
ssn_bound_lock_waits(void)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", ssn_lock_timeout_ms);
	(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
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

	/* the storage network */
	DefineCustomStringVariable("ssn.database",
							   "Database in which this node's background worker runs the storage network.",
							   "The ssn extension must be installed there.",
							   &ssn_database, "postgres",
							   /* postmaster-only once preloaded; a later load must not define it so */
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.default_k",
							"Threshold k of ssn_store() when none is given: shares needed to rebuild a value.",
							NULL, &ssn_default_k, 3, 2, 255,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.default_n",
							"Number of shares (shareholders) of ssn_store() when none is given.",
							"0 means every shareholder in service.",
							&ssn_default_n, 0, 0, 255,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("ssn.verify_shares",
							 "Whether ssn_store() makes numbers verifiable (signed Pedersen commitments).",
							 "Off saves the commitments' cost at store, renewal and retrieval; ssn_store(..., verify => ...) decides per store.",
							 &ssn_verify_shares, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.commit_threads",
							"Threads per session that make random Pedersen commitment pairs ahead of the verifiable stores that use them.",
							"They overlap most of a verifiable store's point arithmetic on other cores; 0 makes every commitment in the storing call. "
							"Read at a session's first verifiable store; 0 also stops a session's threads.",
							&ssn_commit_threads, 1, 0, 16,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.failover_after",
							"How long a shareholder may stay unreachable before the node worker re-shares this node's secrets onto a standby.",
							"0 (the default) never does it by itself: an operator runs ssn.reshare(failed, replacement).",
							&ssn_failover_after_ms, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomEnumVariable("ssn.synchronous_store",
							 "What a committing transaction that stored values waits for.",
							 "off or local: the local shareholder and the outbox hold the shares at commit; "
							 "k: wait until k shareholders hold them; all: until all n do.",
							 &ssn_synchronous_store, SSN_SYNC_LOCAL, sync_store_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.synchronous_store_timeout",
							"Longest wait of ssn.synchronous_store at commit (then a warning).",
							NULL, &ssn_synchronous_store_timeout_ms, 30000, 0, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.peer_connect_timeout",
							"Longest time to connect to a peer node.",
							NULL, &ssn_peer_connect_timeout_s, 3, 1, 600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.peer_timeout",
							"Longest time one request to a peer node may take (retrieval, delivery, health check).",
							NULL, &ssn_peer_timeout_ms, 10000, 100, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.health_interval",
							"How often the worker checks that the peers answer.",
							NULL, &ssn_health_interval_ms, 5000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.peer_alarm_after",
							"How many health checks in a row a peer must fail before it is alarmed as unreachable.",
							"One lost ping on a loaded host is not an outage; ssn.peer_health shows every check.",
							&ssn_peer_alarm_after, 2, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.channel_batch_size",
							"Most share bytes in one message on a channel.",
							NULL, &ssn_channel_batch_kb, 1024, 16, 65536,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.channel_retry_max",
							"Longest pause between two delivery attempts to a failing peer.",
							NULL, &ssn_channel_retry_max_ms, 10000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	/* faults stay local: no lock of a transaction left prepared stops the node */
	DefineCustomIntVariable("ssn.lock_timeout",
							"Longest wait for a row lock in the node worker, the key ledger writer and in-doubt resolution.",
							"A blocked step is retried later; 0 waits without limit.",
							&ssn_lock_timeout_ms, 10000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.orphan_grace",
							"Age from which the node worker collects what no SSA will come back for: parts and staged results of a degree reduction, re-sharing contributions and requests.",
							"Shares of deleted secrets are collected on the next pass whatever their age.",
							&ssn_orphan_grace_s, 86400, 60, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.prepared_timeout",
							"Age from which a renewal switch prepared on this node and not yet decided is in doubt.",
							"The worker then raises an alarm and asks the other holders of the batch how it ended.",
							&ssn_prepared_timeout_ms, 300000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	/* the audit trail */
	DefineCustomIntVariable("ssn.audit_sign_interval",
							"How often the node worker chains the audit rows appended since and signs the chain's head.",
							"A row edited or removed once chained is detected; one removed from the end, once a head covering it is signed.",
							&ssn_audit_sign_interval_s, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.audit_retention",
							"Age from which audit rows are removed (the chain keeps a signed anchor where it was cut).",
							"0 keeps every row.",
							&ssn_audit_retention_min, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	/* the catalog kept in step */
	DefineCustomBoolVariable("ssn.catalog_sync",
							 "Whether a change of the shareholder catalog made here is signed and sent to every other node, and theirs applied here.",
							 "Turn it on on every node once their catalogs agree (see ssn.network).",
							 &ssn_catalog_sync, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	/* alarms raised before trouble */
	DefineCustomIntVariable("ssn.alarm_check_interval",
							"How often the node worker reads the key pools and checks the thresholds below.",
							NULL, &ssn_alarm_check_interval_s, 30, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.alarm_key_pool",
							"Alarm when a QKD link's key pool holds less than this much traffic at the rate this node spends it.",
							NULL, &ssn_alarm_key_pool_s, 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.alarm_outbox_age",
							"Alarm when a message to a shareholder has waited in the outbox longer than this.",
							NULL, &ssn_alarm_outbox_age_s, 900, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.alarm_unreachable_after",
							"Alarm when a shareholder has not answered a health check for this long.",
							NULL, &ssn_alarm_unreachable_s, 300, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ssn.alarm_renewal_overdue",
							"Alarm when a scheduled renewal job is this much behind its next run.",
							NULL, &ssn_alarm_renewal_overdue_s, 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	/* a test hook, never for production: see README (faults) */
	DefineCustomStringVariable("ssn.test_pause_after_prepare",
							   "Test hook: the renewal coordinator stops at this point of a batch (prepared, first_commit).",
							   NULL, &ssn_test_pause_after_prepare, "",
							   PGC_SIGHUP, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);

	MarkGUCPrefixReserved("ssn");
}
