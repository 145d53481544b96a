/*
 * backend_shim.c - the server services src/qkd/kme_client.c uses that the frontend
 * libpgcommon/libpgport do not provide, for a single-threaded program: error
 * reports (ERROR becomes a siglongjmp to shim_try), one memory "context" whose
 * reset callbacks run when shim_try returns, query-cancel interrupts, timestamps,
 * encoding checks in UTF-8, escape_json, and the ssn.kme_* / ssn.sae_* settings.
 *
 * Compiled against the server headers, like kme_client.c, so that every type and
 * prototype is the one it was compiled against.  palloc'd memory is plain malloc
 * (libpgcommon's fe_memutils) and is never reset: only the callbacks run, which is
 * what wipes key material.
 */
#include "postgres.h"

#include <setjmp.h>
#include <sodium.h>
#include <sys/time.h>

#include "backend_shim.h"
#include "base/guc.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* ---------------------------------------------------------------------------
 * settings (base/guc.h); never NULL, as under the GUC machinery
 * ------------------------------------------------------------------------- */
static char shim_empty[1] = "";

char	   *ssn_kme_url = shim_empty;
char	   *ssn_sae_id = shim_empty;
char	   *ssn_sae_cert = shim_empty;
char	   *ssn_sae_key = shim_empty;
char	   *ssn_kme_ca = shim_empty;
char	   *ssn_kme_crl = shim_empty;
int			ssn_kme_timeout_ms = 10000;
int			ssn_kme_connect_timeout_ms = 5000;

/* sodium_malloc, which holds key material, aborts before this (_PG_init does it) */
static void
shim_init(void)
{
	if (sodium_init() < 0)
	{
		fprintf(stderr, "ssn-client: could not initialise libsodium\n");
		exit(1);
	}
}

static void
set_string(char **var, const char *value)
{
	if (*var != shim_empty)
		pfree(*var);
	*var = (value && *value) ? pstrdup(value) : shim_empty;
}

void
shim_set_kme(const ShimKmeSettings *s)
{
	shim_init();
	set_string(&ssn_kme_url, s->kme_url);
	set_string(&ssn_sae_id, s->sae_id);
	set_string(&ssn_sae_cert, s->sae_cert);
	set_string(&ssn_sae_key, s->sae_key);
	set_string(&ssn_kme_ca, s->kme_ca);
	set_string(&ssn_kme_crl, s->kme_crl);
	ssn_kme_timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 10000;
	ssn_kme_connect_timeout_ms = s->connect_timeout_ms > 0 ? s->connect_timeout_ms : 5000;
}

/* ---------------------------------------------------------------------------
 * memory context: one, never reset; its callbacks form a LIFO list
 * ------------------------------------------------------------------------- */
static MemoryContextData shim_context;
MemoryContext CurrentMemoryContext = &shim_context;

/* how many callbacks have run (the test checks that wiping happened) */
int			shim_reset_callbacks_run = 0;

static bool shim_atexit_set = false;

/* Run the callbacks registered after `until` was the head, newest first. */
static void
run_callbacks_until(MemoryContextCallback *until)
{
	MemoryContextCallback *cb;

	while ((cb = shim_context.reset_cbs) != NULL && cb != until)
	{
		/* unlinked first: a callback that fails is not run again */
		shim_context.reset_cbs = cb->next;
		cb->func(cb->arg);
		shim_reset_callbacks_run++;
	}
}

/* callbacks registered outside shim_try: run at exit, also after a fatal error */
static void
run_all_callbacks(void)
{
	run_callbacks_until(NULL);
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	if (!shim_atexit_set)
	{
		atexit(run_all_callbacks);
		shim_atexit_set = true;
	}
	cb->next = shim_context.reset_cbs;
	shim_context.reset_cbs = cb;
}

/* ---------------------------------------------------------------------------
 * error reports
 * ------------------------------------------------------------------------- */
static struct
{
	int			elevel;
	int			sqlerrcode;		/* 0 = the level's default */
	int			saved_errno;	/* for %m */
	char		message[1024];
	char		detail[1024];
	char		hint[1024];
} report;

static bool shim_active = false;
static sigjmp_buf shim_jmp;

bool
errstart(int elevel, const char *domain)
{
	/* what a client would not see from a server is not worth printing */
	if (elevel < INFO)
		return false;
	report.elevel = elevel;
	report.sqlerrcode = 0;
	report.saved_errno = errno;
	report.message[0] = report.detail[0] = report.hint[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	report.sqlerrcode = sqlerrcode;
	return 0;
}

/* errmsg and friends: the format with errno as it was at errstart */
#define FORMAT_INTO(buf, fmt) \
	do { \
		va_list		ap_; \
		errno = report.saved_errno; \
		va_start(ap_, fmt); \
		pg_vsnprintf((buf), sizeof(buf), (fmt), ap_); \
		va_end(ap_); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	FORMAT_INTO(report.message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_INTO(report.detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_INTO(report.hint, fmt);
	return 0;
}

static void
unpack_sqlstate(int code, char *out)
{
	int			i;

	for (i = 0; i < 5; i++)
	{
		out[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	out[5] = '\0';
}

static void
print_report(void)
{
	const char *level = report.elevel >= FATAL ? "FATAL" :
		report.elevel >= ERROR ? "ERROR" :
		report.elevel >= WARNING ? "WARNING" :
		report.elevel >= NOTICE ? "NOTICE" : "INFO";

	fprintf(stderr, "ssn-client: %s: %s\n", level, report.message);
	if (report.detail[0])
		fprintf(stderr, "DETAIL: %s\n", report.detail);
	if (report.hint[0])
		fprintf(stderr, "HINT: %s\n", report.hint);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (report.sqlerrcode == 0)
		report.sqlerrcode = report.elevel >= ERROR ? ERRCODE_INTERNAL_ERROR :
			report.elevel >= WARNING ? ERRCODE_WARNING : ERRCODE_SUCCESSFUL_COMPLETION;
	if (report.elevel < ERROR)
	{
		print_report();
		return;
	}
	if (report.elevel == ERROR && shim_active)
		siglongjmp(shim_jmp, 1);
	/* no one to catch it: as a backend would end the session (callbacks at exit) */
	print_report();
	exit(1);
}

/* ---------------------------------------------------------------------------
 * interrupts: shim_interrupt plays the SIGINT handler of a backend
 * ------------------------------------------------------------------------- */
volatile sig_atomic_t InterruptPending = false;
volatile sig_atomic_t QueryCancelPending = false;
volatile sig_atomic_t ProcDiePending = false;

void
shim_interrupt(void)
{
	QueryCancelPending = true;
	InterruptPending = true;
}

static void
clear_interrupts(void)
{
	InterruptPending = false;
	QueryCancelPending = false;
	ProcDiePending = false;
}

void
ProcessInterrupts(void)
{
	bool		cancel = QueryCancelPending || ProcDiePending;

	clear_interrupts();
	if (cancel)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling on user request")));
}

/* ---------------------------------------------------------------------------
 * shim_try
 * ------------------------------------------------------------------------- */
bool
shim_try(void (*fn) (void *arg), void *arg, ShimError *err)
{
	MemoryContextCallback *before = shim_context.reset_cbs;
	bool		ok;

	if (shim_active)
	{
		/* a nested call would lose the outer jump target */
		fprintf(stderr, "ssn-client: shim_try called inside shim_try\n");
		abort();
	}
	shim_init();
	shim_active = true;
	if (sigsetjmp(shim_jmp, 1) == 0)
	{
		fn(arg);
		ok = true;
	}
	else
	{
		ok = false;
		if (err)
		{
			unpack_sqlstate(report.sqlerrcode, err->sqlstate);
			strlcpy(err->message, report.message, sizeof(err->message));
			strlcpy(err->detail, report.detail, sizeof(err->detail));
			strlcpy(err->hint, report.hint, sizeof(err->hint));
		}
	}
	/* inactive first: an error in a callback ends the program instead of looping */
	shim_active = false;
	run_callbacks_until(before);
	/* an interrupt that came too late for this call must not cancel the next */
	clear_interrupts();
	return ok;
}

/* ---------------------------------------------------------------------------
 * time
 * ------------------------------------------------------------------------- */
TimestampTz
GetCurrentTimestamp(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return ((TimestampTz) tv.tv_sec -
			((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) * USECS_PER_SEC +
		tv.tv_usec;
}

bool
TimestampDifferenceExceeds(TimestampTz start_time, TimestampTz stop_time, int msec)
{
	return stop_time - start_time >= (TimestampTz) msec * 1000;
}

/* ---------------------------------------------------------------------------
 * encodings: the client's "database encoding" is UTF-8
 * ------------------------------------------------------------------------- */
bool
pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError)
{
	if (pg_encoding_verifymbstr(encoding, mbstr, len) == len)
		return true;
	if (!noError)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid byte sequence for encoding \"%s\"",
						pg_encoding_to_char(encoding))));
	return false;
}

/* the longest prefix of whole characters of at most limit bytes */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	int			clen = 0;

	while (len > 0 && *mbstr)
	{
		int			l = pg_utf_mblen((const unsigned char *) mbstr);

		if (clen + l > limit)
			break;
		clen += l;
		len -= l;
		mbstr += l;
	}
	return clen;
}

/* a JSON string literal, with the escapes the server's escape_json makes */
void
escape_json(StringInfo buf, const char *str)
{
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}
