/*
 * ssn-client - a data owner stores and retrieves values on an SSN without the
 * plaintext ever leaving this process except under a one-time pad (SSN-U,
 * Y.3808 §11.1).  See `ssn-client --help` and README.md ("The data owner's
 * client").
 *
 *   ssn-client [options] store [--type T[,T...]] [--csv] [--table T --column C[,C...]]
 *   ssn-client [options] retrieve [--query SQL] [--csv]
 *   ssn-client [options] seal [--type T[,T...]] [--csv]
 *   ssn-client [options] info
 *
 * Values are read and written as COPY's text format (one per line, \N for NULL,
 * backslash escapes) or as CSV (an unquoted empty field is NULL).  Each batch of
 * rows is one envelope per column and one statement, in its own transaction.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ssn_client.h"

#define MAX_COLUMNS 64

typedef struct Options
{
	const char *command;
	const char *types;
	const char *table;
	const char *columns;
	const char *query;
	bool		csv;
	bool		progress;
	bool		stats;
	bool		seal_only;		/* "seal": print the envelopes, send nothing */
	long		batch;
} Options;

/* one batch of rows: ncols cells per row, row-major; NULL cells are SQL NULL */
typedef struct Rows
{
	int			ncols;
	long		nrows;
	long		cap;
	char	  **cell;
	size_t	   *len;
} Rows;

static const char *progname = "ssn-client";

static void
report(const SsnClientError *e)
{
	fprintf(stderr, "%s: ERROR:  %s: %s\n", progname, e->sqlstate, e->message);
	if (e->detail[0])
		fprintf(stderr, "DETAIL:  %s\n", e->detail);
	if (e->hint[0])
		fprintf(stderr, "HINT:  %s\n", e->hint);
}

static void
fail(const char *sqlstate, const char *msg, long line)
{
	SsnClientError e;

	memset(&e, 0, sizeof(e));
	snprintf(e.sqlstate, sizeof(e.sqlstate), "%s", sqlstate);
	if (line > 0)
		snprintf(e.message, sizeof(e.message), "input line %ld: %s", line, msg);
	else
		snprintf(e.message, sizeof(e.message), "%s", msg);
	report(&e);
	exit(1);
}

static void
rows_clear(Rows *r)
{
	for (long i = 0; i < r->nrows * r->ncols; i++)
		if (r->cell[i])
		{
			sodium_memzero(r->cell[i], r->len[i]);
			free(r->cell[i]);
			r->cell[i] = NULL;
		}
	r->nrows = 0;
}

static void
rows_add(Rows *r, char **cells, size_t *lens)
{
	long		need = (r->nrows + 1) * r->ncols;

	if (need > r->cap)
	{
		r->cap = need * 2;
		r->cell = realloc(r->cell, sizeof(char *) * r->cap);
		r->len = realloc(r->len, sizeof(size_t) * r->cap);
		if (r->cell == NULL || r->len == NULL)
			fail("53200", "out of memory", 0);
	}
	memcpy(r->cell + r->nrows * r->ncols, cells, sizeof(char *) * r->ncols);
	memcpy(r->len + r->nrows * r->ncols, lens, sizeof(size_t) * r->ncols);
	r->nrows++;
}

/* ---- input --------------------------------------------------------------- */

/* COPY text format: one value per line (tab-separated if several), \N NULL */
static int
parse_text_line(char *line, size_t n, char **cells, size_t *lens, long lineno)
{
	int			nc = 0;
	size_t		i = 0;

	for (;;)
	{
		char	   *out = malloc(n + 1);
		size_t		o = 0;
		size_t		start = i;

		if (out == NULL)
			fail("53200", "out of memory", 0);
		if (nc == MAX_COLUMNS)
			fail("54011", "too many columns", lineno);
		while (i < n && line[i] != '\t')
		{
			char		ch = line[i++];

			if (ch == '\\' && i < n)
			{
				ch = line[i++];
				ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch;
			}
			out[o++] = ch;
		}
		out[o] = '\0';
		if (i - start == 2 && line[start] == '\\' && line[start + 1] == 'N')
		{
			free(out);
			out = NULL;
			o = 0;
		}
		cells[nc] = out;
		lens[nc++] = o;
		if (i >= n)
			break;
		i++;					/* the tab */
	}
	sodium_memzero(line, n);
	return nc;
}

/*
 * CSV (RFC 4180, as COPY ... CSV reads it): fields quoted with "..." may hold
 * commas, doubled quotes and line breaks; an unquoted empty field is NULL.
 * Returns the number of fields, 0 at end of input.
 */
static int
read_csv_record(FILE *in, char **cells, size_t *lens, long *lineno)
{
	char	   *line = NULL;
	size_t		lcap = 0;
	ssize_t		n;
	int			nc = 0;
	char	   *f = NULL;
	size_t		flen = 0,
				fcap = 0;
	bool		quoted = false,
				was_quoted = false;

	if ((n = getline(&line, &lcap, in)) < 0)
	{
		free(line);
		return 0;
	}
	(*lineno)++;
	for (;;)
	{
		for (ssize_t i = 0; i <= n; i++)
		{
			char		ch = i < n ? line[i] : '\0';
			bool		eol = i == n || (!quoted && (ch == '\n' || (ch == '\r' && i + 1 < n && line[i + 1] == '\n')));

			if (fcap < flen + 2)
			{
				fcap = fcap ? fcap * 2 : 64;
				if ((f = realloc(f, fcap)) == NULL)
					fail("53200", "out of memory", 0);
			}
			if (quoted)
			{
				if (i == n)
					break;		/* the field goes on in the next line */
				if (ch == '"')
				{
					if (i + 1 < n && line[i + 1] == '"')
					{
						f[flen++] = '"';
						i++;
					}
					else
						quoted = false;
				}
				else
					f[flen++] = ch;
				continue;
			}
			if (ch == '"' && flen == 0 && !was_quoted)
			{
				quoted = was_quoted = true;
				continue;
			}
			if (ch == ',' || eol)
			{
				if (nc == MAX_COLUMNS)
					fail("54011", "too many columns", *lineno);
				f[flen] = '\0';
				if (flen == 0 && !was_quoted)
				{
					free(f);
					f = NULL;
				}
				cells[nc] = f;
				lens[nc++] = flen;
				f = NULL;
				flen = fcap = 0;
				was_quoted = false;
				if (eol)
				{
					sodium_memzero(line, lcap);
					free(line);
					return nc;
				}
				continue;
			}
			if (was_quoted)
				fail("22P04", "unexpected character after a quoted CSV field", *lineno);
			f[flen++] = ch;
		}
		/* inside quotes at the end of a line: the line break is part of the field */
		sodium_memzero(line, lcap);
		if ((n = getline(&line, &lcap, in)) < 0)
			fail("22P04", "unterminated quoted CSV field", *lineno);
		(*lineno)++;
	}
}

/* the next record from in, 0 at end of input */
static int
read_record(FILE *in, bool csv, char **cells, size_t *lens, long *lineno)
{
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	int			nc;

	if (csv)
		return read_csv_record(in, cells, lens, lineno);
	if ((n = getline(&line, &cap, in)) < 0)
	{
		free(line);
		return 0;
	}
	(*lineno)++;
	if (n > 0 && line[n - 1] == '\n')
		n--;
	nc = parse_text_line(line, (size_t) n, cells, lens, *lineno);
	sodium_memzero(line, cap);
	free(line);
	return nc;
}

/* ---- output -------------------------------------------------------------- */

static void
put_cell(FILE *out, const char *v, size_t len, bool csv)
{
	if (v == NULL)
	{
		if (!csv)
			fputs("\\N", out);
		return;
	}
	if (csv)
	{
		bool		quote = len == 0 || strpbrk(v, ",\"\r\n") != NULL ||
			v[0] == ' ' || v[len - 1] == ' ';

		if (!quote)
		{
			fwrite(v, 1, len, out);
			return;
		}
		fputc('"', out);
		for (size_t i = 0; i < len; i++)
		{
			if (v[i] == '"')
				fputc('"', out);
			fputc(v[i], out);
		}
		fputc('"', out);
		return;
	}
	for (size_t i = 0; i < len; i++)
	{
		switch (v[i])
		{
			case '\\':
				fputs("\\\\", out);
				break;
			case '\n':
				fputs("\\n", out);
				break;
			case '\r':
				fputs("\\r", out);
				break;
			case '\t':
				fputs("\\t", out);
				break;
			default:
				fputc(v[i], out);
		}
	}
}

static void
put_row(FILE *out, char *const *v, const size_t *len, int ncols, bool csv)
{
	for (int c = 0; c < ncols; c++)
	{
		if (c)
			fputc(csv ? ',' : '\t', out);
		put_cell(out, v[c], v[c] ? len[c] : 0, csv);
	}
	fputc('\n', out);
}

/* ---- progress ------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
progress(const Options *o, const char *what, long values, double t0)
{
	double		dt = now_s() - t0;

	if (o->progress)
		fprintf(stderr, "%s: %s %ld values (%.0f/s)\n", progname, what, values,
				dt > 0 ? values / dt : 0.0);
}

/* ---- store --------------------------------------------------------------- */

/* a possibly schema-qualified name, each part quoted */
static char *
quoted_name(PGconn *conn, const char *name)
{
	char	   *copy = strdup(name),
			   *save = NULL,
			   *out = calloc(1, strlen(name) * 2 + 64);

	for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save))
	{
		char	   *q = PQescapeIdentifier(conn, part, strlen(part));

		if (q == NULL)
			fail("42602", "invalid name", 0);
		if (out[0])
			strcat(out, ".");
		out = realloc(out, strlen(out) + strlen(q) + 2);
		strcat(out, q);
		PQfreemem(q);
	}
	free(copy);
	return out;
}

static char *
split_list(const char *list, char **items, int *n)
{
	char	   *copy = strdup(list),
			   *save = NULL;

	*n = 0;
	for (char *p = strtok_r(copy, ",", &save); p && *n < MAX_COLUMNS; p = strtok_r(NULL, ",", &save))
		items[(*n)++] = p;
	return copy;
}

static void
store_batch(SsnClient *c, const Options *o, Rows *r, char **types, int ntypes,
			const char *insert_into, size_t *key_bytes, long *envelopes)
{
	PGconn	   *conn = ssn_client_conn(c);
	const char *params[MAX_COLUMNS];
	int			plens[MAX_COLUMNS],
				formats[MAX_COLUMNS];
	uint8_t    *env[MAX_COLUMNS];
	char	  **col = malloc(sizeof(char *) * r->nrows);
	size_t	   *len = malloc(sizeof(size_t) * r->nrows);
	char	   *sql = malloc(64 + (size_t) r->ncols * 32 + (insert_into ? strlen(insert_into) : 0));
	SsnClientError e;
	PGresult   *res;

	if (col == NULL || len == NULL || sql == NULL)
		fail("53200", "out of memory", 0);
	strcpy(sql, insert_into ? insert_into : "SELECT * FROM unnest(");
	for (int k = 0; k < r->ncols; k++)
	{
		size_t		envlen;

		for (long i = 0; i < r->nrows; i++)
		{
			col[i] = r->cell[i * r->ncols + k];
			len[i] = r->len[i * r->ncols + k];
		}
		if (ssn_client_seal_store(c, types[ntypes == 1 ? 0 : k], col, len, (int) r->nrows,
								  &env[k], &envlen, &e) != 0)
		{
			report(&e);
			exit(1);
		}
		*key_bytes += ssn_client_last_key_bytes(c);
		(*envelopes)++;
		params[k] = (const char *) env[k];
		plens[k] = (int) envlen;
		formats[k] = 1;
		sprintf(sql + strlen(sql), "%sssn_store_sealed($%d)", k ? ", " : "", k + 1);
	}
	/* no plaintext left: the envelopes are all that goes to the server */
	rows_clear(r);
	if (o->seal_only)
	{
		for (int k = 0; k < r->ncols; k++)
		{
			fputs("\\x", stdout);
			for (int i = 0; i < plens[k]; i++)
				printf("%02x", env[k][i]);
			fputc(k + 1 < r->ncols ? '\t' : '\n', stdout);
			free(env[k]);
		}
		free(col);
		free(len);
		free(sql);
		return;
	}
	strcat(sql, ")");
	res = PQexecParams(conn, sql, r->ncols, NULL, params, plens, formats, 0);
	if (PQresultStatus(res) != (insert_into ? PGRES_COMMAND_OK : PGRES_TUPLES_OK))
	{
		ssn_client_pq_error(conn, res, &e);
		report(&e);
		exit(1);
	}
	if (!insert_into)
		for (int i = 0; i < PQntuples(res); i++)
		{
			char	   *v[MAX_COLUMNS];
			size_t		l[MAX_COLUMNS];

			for (int k = 0; k < PQnfields(res); k++)
			{
				v[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
				l[k] = (size_t) PQgetlength(res, i, k);
			}
			put_row(stdout, v, l, PQnfields(res), o->csv);
		}
	PQclear(res);
	for (int k = 0; k < r->ncols; k++)
		free(env[k]);
	free(col);
	free(len);
	free(sql);
}

static int
do_store(SsnClient *c, const Options *o)
{
	char	   *types[MAX_COLUMNS],
			   *cols[MAX_COLUMNS];
	int			ntypes,
				ncols = 0;
	char	   *tcopy = split_list(o->types ? o->types : "text", types, &ntypes);
	char	   *ccopy = NULL;
	char	   *insert_into = NULL;
	Rows		r = {0};
	char	   *cells[MAX_COLUMNS];
	size_t		lens[MAX_COLUMNS];
	long		lineno = 0,
				total = 0,
				envelopes = 0;
	size_t		key_bytes = 0;
	double		t0 = now_s();
	int			nc;

	if (o->table && !o->seal_only)
	{
		char	   *t = quoted_name(ssn_client_conn(c), o->table);

		if (o->columns == NULL)
			fail("42601", "--table needs --column", 0);
		ccopy = split_list(o->columns, cols, &ncols);
		insert_into = malloc(strlen(t) + strlen(o->columns) * 2 + 64 * ncols + 64);
		sprintf(insert_into, "INSERT INTO %s (", t);
		for (int k = 0; k < ncols; k++)
		{
			char	   *q = PQescapeIdentifier(ssn_client_conn(c), cols[k], strlen(cols[k]));

			sprintf(insert_into + strlen(insert_into), "%s%s", k ? ", " : "", q);
			PQfreemem(q);
		}
		strcat(insert_into, ") SELECT * FROM unnest(");
		free(t);
	}
	while ((nc = read_record(stdin, o->csv, cells, lens, &lineno)) > 0)
	{
		if (r.ncols == 0)
		{
			r.ncols = nc;
			if (ntypes != 1 && ntypes != nc)
				fail("42601", "--type names one type, or one per column", lineno);
			if (insert_into && ncols != nc)
				fail("42601", "the input has another number of columns than --column names", lineno);
		}
		if (nc != r.ncols)
		{
			char		msg[128];

			snprintf(msg, sizeof(msg), "%d columns where the first record has %d", nc, r.ncols);
			fail("22P04", msg, lineno);
		}
		rows_add(&r, cells, lens);
		if (r.nrows >= o->batch)
		{
			total += r.nrows;
			store_batch(c, o, &r, types, ntypes, insert_into, &key_bytes, &envelopes);
			progress(o, "stored", total, t0);
		}
	}
	if (r.nrows > 0)
	{
		total += r.nrows;
		store_batch(c, o, &r, types, ntypes, insert_into, &key_bytes, &envelopes);
		progress(o, "stored", total, t0);
	}
	if (o->stats || o->progress)
		fprintf(stderr, "%s: stored %ld values in %ld envelopes, %zu bytes of QKD key (%.1f per value)%s%s\n",
				progname, total, envelopes, key_bytes, total ? (double) key_bytes / total : 0.0,
				o->table ? " into " : "", o->table ? o->table : "");
	free(tcopy);
	free(ccopy);
	free(insert_into);
	free(r.cell);
	free(r.len);
	return 0;
}

/* ---- retrieve ------------------------------------------------------------ */

static void
retrieve_batch(SsnClient *c, const Options *o, Rows *r, size_t *key_bytes, long *envelopes)
{
	char	  **v;
	size_t	   *l;
	SsnClientError e;
	long		n = r->nrows * r->ncols;

	if (n == 0)
		return;
	if (ssn_client_retrieve(c, r->cell, (int) n, &v, &l, &e) != 0)
	{
		report(&e);
		exit(1);
	}
	*key_bytes += ssn_client_last_key_bytes(c);
	(*envelopes)++;
	for (long i = 0; i < r->nrows; i++)
		put_row(stdout, v + i * r->ncols, l + i * r->ncols, r->ncols, o->csv);
	fflush(stdout);
	ssn_client_free_values(v, l, (int) n);
	rows_clear(r);
}

static void
exec_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
	PGresult   *res = PQexec(conn, sql);
	SsnClientError e;

	if (PQresultStatus(res) != want)
	{
		ssn_client_pq_error(conn, res, &e);
		report(&e);
		exit(1);
	}
	PQclear(res);
}

static int
do_retrieve(SsnClient *c, const Options *o)
{
	PGconn	   *conn = ssn_client_conn(c);
	Rows		r = {0};
	char	   *cells[MAX_COLUMNS];
	size_t		lens[MAX_COLUMNS];
	long		lineno = 0,
				total = 0,
				envelopes = 0;
	size_t		key_bytes = 0;
	double		t0 = now_s();
	int			nc;

	if (o->query)
	{
		/* the handles come from a cursor over the query, a batch at a time */
		char	   *declare = malloc(strlen(o->query) + 64);
		char		fetch[64];

		exec_ok(conn, "BEGIN", PGRES_COMMAND_OK);
		sprintf(declare, "DECLARE ssn_client_handles NO SCROLL CURSOR FOR %s", o->query);
		exec_ok(conn, declare, PGRES_COMMAND_OK);
		free(declare);
		snprintf(fetch, sizeof(fetch), "FETCH %ld FROM ssn_client_handles", o->batch);
		for (;;)
		{
			PGresult   *res = PQexec(conn, fetch);
			SsnClientError e;
			int			rows;

			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				ssn_client_pq_error(conn, res, &e);
				report(&e);
				exit(1);
			}
			rows = PQntuples(res);
			r.ncols = PQnfields(res);
			if (r.ncols > MAX_COLUMNS)
				fail("54011", "the query returns too many columns", 0);
			for (int i = 0; i < rows; i++)
			{
				for (int k = 0; k < r.ncols; k++)
				{
					cells[k] = PQgetisnull(res, i, k) ? NULL : strdup(PQgetvalue(res, i, k));
					lens[k] = cells[k] ? strlen(cells[k]) : 0;
				}
				rows_add(&r, cells, lens);
			}
			PQclear(res);
			if (rows == 0)
				break;
			total += rows;
			retrieve_batch(c, o, &r, &key_bytes, &envelopes);
			progress(o, "retrieved", total, t0);
		}
		exec_ok(conn, "COMMIT", PGRES_COMMAND_OK);
	}
	else
	{
		while ((nc = read_record(stdin, o->csv, cells, lens, &lineno)) > 0)
		{
			if (r.ncols == 0)
				r.ncols = nc;
			if (nc != r.ncols)
				fail("22P04", "another number of handles than in the first line", lineno);
			rows_add(&r, cells, lens);
			if (r.nrows >= o->batch)
			{
				total += r.nrows;
				retrieve_batch(c, o, &r, &key_bytes, &envelopes);
				progress(o, "retrieved", total, t0);
			}
		}
		total += r.nrows;
		retrieve_batch(c, o, &r, &key_bytes, &envelopes);
		progress(o, "retrieved", total, t0);
	}
	if (o->stats || o->progress)
		fprintf(stderr, "%s: retrieved %ld rows in %ld envelopes, %zu bytes of QKD key\n",
				progname, total, envelopes, key_bytes);
	free(r.cell);
	free(r.len);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(FILE *out)
{
	fprintf(out,
			"%s - store and retrieve values on an SSN under a one-time pad (SSN-U)\n\n"
			"Usage:\n"
			"  %s [OPTION]... store [--type TYPE[,TYPE...]] [--csv] [--table TABLE --column COL[,COL...]]\n"
			"  %s [OPTION]... retrieve [--query SQL] [--csv]\n"
			"  %s [OPTION]... seal [--type TYPE[,TYPE...]] [--csv]\n"
			"  %s [OPTION]... info\n\n"
			"store     reads values from standard input: one per line (COPY text format: \\N is\n"
			"          NULL, backslash escapes; several columns tab-separated) or CSV (--csv).\n"
			"          Prints one handle per value, or inserts them into TABLE's columns.\n"
			"retrieve  reads handles from standard input (same formats), or runs --query and\n"
			"          takes every column of its result as handles; prints the values.\n"
			"seal      as store, but prints each envelope (bytea hex, a line per batch, columns\n"
			"          tab-separated) for SELECT ssn_store_sealed(...) to be run elsewhere.\n"
			"info      prints the SSA and the data owner this session acts for.\n\n"
			"Options:\n"
			"  -d, --dbname=CONNINFO   the SSA's database (libpq connection string; else PG* variables)\n"
			"  --kme-url=URL           this data owner's KME            (SSN_KME_URL)\n"
			"  --sae-id=ID             this data owner's SAE ID         (SSN_SAE_ID)\n"
			"  --sae-cert=FILE         its SAE certificate              (SSN_SAE_CERT)\n"
			"  --sae-key=FILE          the certificate's private key    (SSN_SAE_KEY)\n"
			"  --kme-ca=FILE           the CA of the KME's certificate  (SSN_KME_CA)\n"
			"  --kme-crl=FILE          a CRL for it                     (SSN_KME_CRL)\n"
			"  --kme-timeout=MS        per KME request (default 10000)\n"
			"  -t, --type=TYPE[,...]   the values' SQL type, one or one per column (default text)\n"
			"  -k K, -n N              the sharing (default: the SSA's ssn.default_k, ssn.default_n)\n"
			"  --verify=on|off         verifiable shares (default: the SSA's ssn.verify_shares)\n"
			"  --table=TABLE, --column=COL[,COL...]   insert the handles instead of printing them\n"
			"  --query=SQL             retrieve: the handles are this query's result\n"
			"  --csv                   CSV in and out (an unquoted empty field is NULL)\n"
			"  --batch=N               rows per envelope and statement (default 1000)\n"
			"  --progress              report progress on standard error\n"
			"  --stats                 report values, envelopes and QKD key bytes at the end\n\n"
			"Errors are printed with their SQLSTATE; the exit status is 1 (2 for bad usage).\n",
			progname, progname, progname, progname, progname);
}

static const char *
env_or(const char *v, const char *name)
{
	return v ? v : getenv(name);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"kme-url", required_argument, NULL, 1},
		{"sae-id", required_argument, NULL, 2},
		{"sae-cert", required_argument, NULL, 3},
		{"sae-key", required_argument, NULL, 4},
		{"kme-ca", required_argument, NULL, 5},
		{"kme-crl", required_argument, NULL, 6},
		{"kme-timeout", required_argument, NULL, 7},
		{"type", required_argument, NULL, 't'},
		{"verify", required_argument, NULL, 8},
		{"table", required_argument, NULL, 9},
		{"column", required_argument, NULL, 10},
		{"query", required_argument, NULL, 11},
		{"csv", no_argument, NULL, 12},
		{"batch", required_argument, NULL, 13},
		{"progress", no_argument, NULL, 14},
		{"stats", no_argument, NULL, 15},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	Options		o = {.batch = 1000};
	SsnClientConfig cfg = {0};
	const char *url = NULL,
			   *sae = NULL,
			   *cert = NULL,
			   *key = NULL,
			   *ca = NULL,
			   *crl = NULL;
	SsnClient  *c;
	SsnClientError e;
	int			ch,
				rc = 0;

	cfg.kme.timeout_ms = 10000;
	while ((ch = getopt_long(argc, argv, "d:t:k:n:h", longopts, NULL)) != -1)
	{
		switch (ch)
		{
			case 'd':
				cfg.conninfo = optarg;
				break;
			case 1:
				url = optarg;
				break;
			case 2:
				sae = optarg;
				break;
			case 3:
				cert = optarg;
				break;
			case 4:
				key = optarg;
				break;
			case 5:
				ca = optarg;
				break;
			case 6:
				crl = optarg;
				break;
			case 7:
				cfg.kme.timeout_ms = atoi(optarg);
				break;
			case 't':
				o.types = optarg;
				break;
			case 'k':
				cfg.k = atoi(optarg);
				break;
			case 'n':
				cfg.n = atoi(optarg);
				break;
			case 8:
				cfg.verify = strcmp(optarg, "on") == 0 ? 1 : strcmp(optarg, "off") == 0 ? 2 : -1;
				break;
			case 9:
				o.table = optarg;
				break;
			case 10:
				o.columns = optarg;
				break;
			case 11:
				o.query = optarg;
				break;
			case 12:
				o.csv = true;
				break;
			case 13:
				o.batch = atol(optarg);
				break;
			case 14:
				o.progress = true;
				break;
			case 15:
				o.stats = true;
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind != argc - 1 || cfg.k < 0 || cfg.k > 255 || cfg.n < 0 || cfg.n > 255 ||
		cfg.verify < 0 || o.batch < 1 || o.batch > 1000000)
	{
		usage(stderr);
		return 2;
	}
	o.command = argv[optind];
	cfg.kme.kme_url = env_or(url, "SSN_KME_URL");
	cfg.kme.sae_id = env_or(sae, "SSN_SAE_ID");
	cfg.kme.sae_cert = env_or(cert, "SSN_SAE_CERT");
	cfg.kme.sae_key = env_or(key, "SSN_SAE_KEY");
	cfg.kme.kme_ca = env_or(ca, "SSN_KME_CA");
	cfg.kme.kme_crl = env_or(crl, "SSN_KME_CRL");
	cfg.kme.connect_timeout_ms = cfg.kme.timeout_ms;
	o.seal_only = strcmp(o.command, "seal") == 0;
	if (strcmp(o.command, "store") != 0 && strcmp(o.command, "retrieve") != 0 &&
		strcmp(o.command, "info") != 0 && !o.seal_only)
	{
		usage(stderr);
		return 2;
	}
	if ((c = ssn_client_open(&cfg, &e)) == NULL)
	{
		report(&e);
		return 1;
	}
	if (strcmp(o.command, "info") == 0)
		printf("node %s, SAE %s; data owner SAE %s\n", ssn_client_node(c),
			   ssn_client_node_sae(c), cfg.kme.sae_id);
	else if (strcmp(o.command, "store") == 0 || o.seal_only)
		rc = do_store(c, &o);
	else
		rc = do_retrieve(c, &o);
	ssn_client_close(c);
	return rc;
}
