/*
 * audit_seal.h - the audit chain kept and signed by the node worker
 * (ssn.audit_chain, ssn.audit_sign_head, ssn.audit_head_valid).
 */
#ifndef SSN_AUDIT_SEAL_H
#define SSN_AUDIT_SEAL_H

/* the worker pass that chains, prunes and signs (from _PG_init) */
extern void audit_seal_init(void);

#endif							/* SSN_AUDIT_SEAL_H */
