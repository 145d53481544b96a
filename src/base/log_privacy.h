/*
 * log_privacy.h - no statement text in the server log lines this extension causes
 * (base/log_privacy.c).
 */
#ifndef SSN_LOG_PRIVACY_H
#define SSN_LOG_PRIVACY_H

extern void log_privacy_init(void);

#endif							/* SSN_LOG_PRIVACY_H */
