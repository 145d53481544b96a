/*
 * log_privacy.c - the extension's own log lines never carry the statement that
 * caused them: a value given to ssn_store as a literal would otherwise reach the
 * server log with every error or warning of ours ("STATEMENT: ... ssn_store('s3cret')").
 *
 * Every ereport of this extension is in the message domain "ssn" (TEXTDOMAIN, set
 * by the Makefile); an emit_log_hook hides the statement of those reports.  Errors
 * PostgreSQL itself raises keep its rules (log_min_error_statement): see the
 * README's security notes for the settings a DBA should choose.
 */
#include "postgres.h"

#include "base/log_privacy.h"
#include "utils/elog.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

static void
hide_our_statements(ErrorData *edata)
{
	if (edata->domain != NULL && strcmp(edata->domain, TEXTDOMAIN) == 0)
		edata->hide_stmt = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
log_privacy_init(void)
{
	if (emit_log_hook == hide_our_statements)
		return;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = hide_our_statements;
}
