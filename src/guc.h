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

/* longest SAE ID we accept (kme-sim: 128; the ETSI API sets no limit) */
#define SSN_SAE_ID_MAXLEN 255

extern void ssn_guc_init(void);
extern bool ssn_sae_id_is_valid(const char *s);

#endif							/* SSN_GUC_H */
