/*
 * guc.h - the ssn.* configuration parameters (the one place they are defined).
 */
#ifndef SSN_GUC_H
#define SSN_GUC_H

/* KME client (ETSI GS QKD 014); empty string = not configured */
extern char *ssn_kme_url;
extern char *ssn_sae_id;
extern char *ssn_sae_cert;
extern char *ssn_sae_key;
extern char *ssn_kme_ca;
extern char *ssn_kme_crl;
extern int	ssn_kme_timeout_ms;
extern int	ssn_kme_connect_timeout_ms;

/* the storage network */
typedef enum
{
	SSN_SYNC_OFF,
	SSN_SYNC_LOCAL,
	SSN_SYNC_K,
	SSN_SYNC_ALL
} SsnSyncStore;

extern char *ssn_database;
extern int	ssn_default_k;
extern int	ssn_audit_sign_interval_s;
extern int	ssn_audit_retention_min;
extern int	ssn_alarm_check_interval_s;
extern bool ssn_catalog_sync;
extern int	ssn_alarm_key_pool_s;
extern int	ssn_alarm_outbox_age_s;
extern int	ssn_alarm_unreachable_s;
extern int	ssn_alarm_renewal_overdue_s;
extern int	ssn_default_n;
extern int	ssn_synchronous_store;
extern bool ssn_verify_shares;
extern int	ssn_commit_threads;
extern int	ssn_synchronous_store_timeout_ms;
extern int	ssn_peer_connect_timeout_s;
extern int	ssn_peer_timeout_ms;
extern int	ssn_health_interval_ms;
extern int	ssn_peer_alarm_after;
extern int	ssn_failover_after_ms;
extern int	ssn_channel_batch_kb;
extern int	ssn_channel_retry_max_ms;
extern int	ssn_lock_timeout_ms;
extern int	ssn_prepared_timeout_ms;
extern int	ssn_orphan_grace_s;
extern char *ssn_test_pause_after_prepare;

/* longest SAE ID we accept (kme-sim: 128; the ETSI API sets no limit) */
#define SSN_SAE_ID_MAXLEN 255

extern void ssn_guc_init(void);
extern void ssn_bound_lock_waits(void);

/*
 * An SAE ID: 1..255 bytes, no control characters (it goes into URLs and logs).
 * Inline so that tools/ssn-client, which links the KME client without this
 * file's GUC definitions, shares the one rule.
 */
static inline bool
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

#endif							/* SSN_GUC_H */
