/*
 * peer_conn.c - cached libpq connections to peers and concurrent requests.
 *
 * Modelled on postgres_fdw's connection cache, but connections are keyed by peer
 * name and conninfo, live in TopMemoryContext for the life of the process, and
 * every request is asynchronous so that one slow or dead peer costs at most the
 * deadline, not the sum of all peers' timeouts.
 */
#include "net/peer_conn.h"

#include "base/guc.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define PEER_CACHE_SIZE 128		/* 64 peers on each of the two lanes */

typedef struct PeerConn
{
	char	   *peer;
	int			lane;
	char	   *conninfo;
	PGconn	   *conn;
} PeerConn;

static PeerConn cache[PEER_CACHE_SIZE];
static int	current_lane = 0;

typedef enum
{
	ST_CONNECTING,
	ST_SEND,
	ST_FLUSH,
	ST_READ,
	ST_DONE
} CallState;

static PeerConn *
cache_lookup(const char *peer, const char *conninfo)
{
	int			i,
				free_slot = -1;

	for (i = 0; i < PEER_CACHE_SIZE; i++)
	{
		if (cache[i].peer == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (cache[i].lane == current_lane && strcmp(cache[i].peer, peer) == 0)
		{
			if (strcmp(cache[i].conninfo, conninfo) != 0)
			{
				/* the catalog changed: reconnect with the new conninfo */
				if (cache[i].conn)
					PQfinish(cache[i].conn);
				cache[i].conn = NULL;
				pfree(cache[i].conninfo);
				cache[i].conninfo = MemoryContextStrdup(TopMemoryContext, conninfo);
			}
			return &cache[i];
		}
	}
	if (free_slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
				 errmsg("too many peer connections in one process (at most %d)", PEER_CACHE_SIZE)));
	cache[free_slot].peer = MemoryContextStrdup(TopMemoryContext, peer);
	cache[free_slot].lane = current_lane;
	cache[free_slot].conninfo = MemoryContextStrdup(TopMemoryContext, conninfo);
	cache[free_slot].conn = NULL;
	return &cache[free_slot];
}

static void
close_conn(PeerConn *pc)
{
	if (pc && pc->conn)
	{
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
}

void
peer_forget(const char *peer)
{
	for (int i = 0; i < PEER_CACHE_SIZE; i++)
		if (cache[i].peer && strcmp(cache[i].peer, peer) == 0)
			close_conn(&cache[i]);
}

int
peer_conn_use_lane(int lane)
{
	int			old = current_lane;

	current_lane = lane;
	return old;
}

/* The first line of libpq's message, without the trailing newline. */
static void
set_error(PeerCall *c, const char *prefix, const char *msg)
{
	size_t		len;

	snprintf(c->error, sizeof(c->error), "%s%s", prefix, msg ? msg : "");
	len = strcspn(c->error, "\n");
	c->error[len] = '\0';
}

/*
 * A peer's error as the cause to report: its message and, when it gave one, the
 * first line of its detail (where the peer says what it met, e.g. a timeout).
 */
static void
set_result_error(PeerCall *c, const PGresult *r, PGconn *conn)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *d = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	size_t		len;

	set_error(c, "", m ? m : PQerrorMessage(conn));
	if (m == NULL || d == NULL || d[0] == '\0')
		return;
	len = strlen(c->error);
	snprintf(c->error + len, sizeof(c->error) - len, " (%s", d);
	len += strcspn(c->error + len, "\n");
	c->error[len] = '\0';
	/* the detail's closing full stop gives way to the bracket */
	if (len > 0 && c->error[len - 1] == '.')
		len--;
	snprintf(c->error + len, sizeof(c->error) - len, ")");
}

static void
start_connect(PeerCall *c, PeerConn *pc)
{
	char		buf[64];
	const char *keys[4] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[4];

	snprintf(buf, sizeof(buf), "%d", ssn_peer_connect_timeout_s);
	vals[0] = pc->conninfo;
	vals[1] = buf;
	vals[2] = "ssn";
	vals[3] = NULL;
	/* expand_dbname: the conninfo string itself is parsed as the first value */
	pc->conn = PQconnectStartParams(keys, vals, 1);
	if (pc->conn == NULL)
		set_error(c, "out of memory", NULL);
	else if (PQstatus(pc->conn) == CONNECTION_BAD)
	{
		set_error(c, "cannot connect: ", PQerrorMessage(pc->conn));
		close_conn(pc);
	}
}

void
peer_call_reset(PeerCall *calls, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (calls[i].res)
			PQclear(calls[i].res);
		calls[i].res = NULL;
		calls[i].sent = false;
		calls[i].error[0] = '\0';
		calls[i].elapsed_ms = 0;
	}
}

const char *
peer_call_value(PeerCall *c, int *len)
{
	if (c->res == NULL || PQntuples(c->res) < 1 || PQgetisnull(c->res, 0, 0))
		return NULL;
	if (len)
		*len = PQgetlength(c->res, 0, 0);
	return PQgetvalue(c->res, 0, 0);
}

/* one step of a call's state machine; returns the events it now waits for */
static uint32
advance(PeerCall *c, PeerConn *pc, CallState *st)
{
	for (;;)
	{
		switch (*st)
		{
			case ST_CONNECTING:
				{
					PostgresPollingStatusType r = PQconnectPoll(pc->conn);

					if (r == PGRES_POLLING_OK)
					{
						*st = ST_SEND;
						continue;
					}
					if (r == PGRES_POLLING_FAILED)
					{
						set_error(c, "cannot connect: ", PQerrorMessage(pc->conn));
						close_conn(pc);
						*st = ST_DONE;
						return 0;
					}
					return r == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
				}
			case ST_SEND:
				if (PQsetnonblocking(pc->conn, 1) != 0 ||
					!PQsendQueryParams(pc->conn, c->sql, c->nparams, c->types, c->values,
									   c->lengths, c->formats, c->result_format))
				{
					set_error(c, "cannot send: ", PQerrorMessage(pc->conn));
					close_conn(pc);
					*st = ST_DONE;
					return 0;
				}
				c->sent = true;
				*st = ST_FLUSH;
				continue;
			case ST_FLUSH:
				{
					int			r = PQflush(pc->conn);

					if (r < 0)
					{
						set_error(c, "cannot send: ", PQerrorMessage(pc->conn));
						close_conn(pc);
						*st = ST_DONE;
						return 0;
					}
					if (r == 1)
						return WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE;
					*st = ST_READ;
					continue;
				}
			case ST_READ:
				if (!PQconsumeInput(pc->conn))
				{
					set_error(c, "connection lost: ", PQerrorMessage(pc->conn));
					close_conn(pc);
					*st = ST_DONE;
					return 0;
				}
				if (PQisBusy(pc->conn))
					return WL_SOCKET_READABLE;
				{
					PGresult   *r,
							   *first = c->res;	/* kept from an earlier turn */

					c->res = NULL;
					/* every result up to the end of the command, never blocking */
					for (;;)
					{
						r = PQgetResult(pc->conn);
						if (r == NULL)
							break;
						if (first == NULL)
							first = r;
						else
							PQclear(r);
						if (PQisBusy(pc->conn))
						{
							c->res = first;
							return WL_SOCKET_READABLE;
						}
					}
					if (first == NULL ||
						(PQresultStatus(first) != PGRES_TUPLES_OK &&
						 !(c->command && PQresultStatus(first) == PGRES_COMMAND_OK)))
					{
						set_result_error(c, first, pc->conn);
						if (first)
							PQclear(first);
						if (PQstatus(pc->conn) != CONNECTION_OK)
							close_conn(pc);
					}
					else
						c->res = first;
				}
				*st = ST_DONE;
				return 0;
			case ST_DONE:
				return 0;
		}
	}
}

void
peer_call_begin(PeerCall *calls, int n)
{
	for (int i = 0; i < n; i++)
	{
		PeerCall   *c = &calls[i];
		PeerConn   *pc;

		c->res = NULL;
		c->sent = false;
		c->error[0] = '\0';
		c->state = ST_DONE;
		c->conn_slot = NULL;
		c->started = GetCurrentTimestamp();
		if (c->skip)
			continue;
		if (c->conninfo == NULL || c->conninfo[0] == '\0')
		{
			set_error(c, "no conninfo is registered for this shareholder", NULL);
			continue;
		}
		pc = cache_lookup(c->peer, c->conninfo);
		c->conn_slot = pc;
		if (pc->conn && PQstatus(pc->conn) != CONNECTION_OK)
			close_conn(pc);
		if (pc->conn == NULL)
		{
			start_connect(c, pc);
			if (pc->conn == NULL)
				continue;
			/* as libpq asks: poll only once the socket is writable */
			c->state = ST_CONNECTING;
			c->want = WL_SOCKET_WRITEABLE;
			continue;
		}
		c->state = ST_SEND;
		c->want = advance(c, pc, (CallState *) &c->state);
		if (c->state == ST_DONE)
			c->elapsed_ms = (GetCurrentTimestamp() - c->started) / 1000.0;
	}
}

/* wait up to timeout_ms (0: just look) and advance the calls that are ready */
static void
wait_and_advance(PeerCall *calls, int n, long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent	ev[64];
	int			active = 0,
				nev;

	for (int i = 0; i < n; i++)
		if (calls[i].state != ST_DONE)
			active++;
	if (active == 0)
		return;
	set = CreateWaitEventSet(CurrentMemoryContext, active + 2);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < n; i++)
		if (calls[i].state != ST_DONE)
			AddWaitEventToSet(set, calls[i].want, PQsocket(((PeerConn *) calls[i].conn_slot)->conn),
							  NULL, (void *) (intptr_t) i);
	nev = WaitEventSetWait(set, timeout_ms, ev, lengthof(ev), PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);
	for (int e = 0; e < nev; e++)
	{
		PeerCall   *c;

		if (ev[e].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		c = &calls[(int) (intptr_t) ev[e].user_data];
		if (c->state != ST_DONE)
		{
			c->want = advance(c, (PeerConn *) c->conn_slot, (CallState *) &c->state);
			if (c->state == ST_DONE)
				c->elapsed_ms = (GetCurrentTimestamp() - c->started) / 1000.0;
		}
	}
}

/*
 * Give up the calls still running.  A result read before the end of its command
 * is no answer: it goes, but if it was the peer's error, that error is the cause
 * reported (not the timeout, nor what a next call on a new connection would say).
 */
static void
abandon_unfinished(PeerCall *calls, int n)
{
	for (int i = 0; i < n; i++)
		if (calls[i].state != ST_DONE && calls[i].conn_slot)
		{
			PeerCall   *c = &calls[i];

			if (c->res)
			{
				if (PQresultStatus(c->res) == PGRES_FATAL_ERROR)
					set_result_error(c, c->res, ((PeerConn *) c->conn_slot)->conn);
				PQclear(c->res);
				c->res = NULL;
			}
			close_conn((PeerConn *) c->conn_slot);
			c->state = ST_DONE;
		}
}

void
peer_call_abandon(PeerCall *calls, int n)
{
	abandon_unfinished(calls, n);
}

void
peer_call_poll(PeerCall *calls, int n)
{
	PG_TRY();
	{
		wait_and_advance(calls, n, 0);
	}
	PG_CATCH();
	{
		abandon_unfinished(calls, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* wait until every call is past state "until" (ST_FLUSH: its request sent; ST_READ: answered) */
static void
wait_past(PeerCall *calls, int n, int timeout_ms, CallState until)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	PG_TRY();
	{
		for (;;)
		{
			long		left;
			bool		active = false;

			for (int i = 0; i < n; i++)
				active |= calls[i].state <= (int) until;
			if (!active)
				break;
			left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			if (left <= 0)
			{
				for (int i = 0; i < n; i++)
					if (calls[i].state <= (int) until)
						snprintf(calls[i].error, sizeof(calls[i].error),
								 until == ST_READ ? "no answer within %d ms" : "request not sent within %d ms",
								 timeout_ms);
					else if (calls[i].state != ST_DONE)
						snprintf(calls[i].error, sizeof(calls[i].error),
								 "abandoned: another peer's request was not sent within %d ms", timeout_ms);
				abandon_unfinished(calls, n);
				break;
			}
			wait_and_advance(calls, n, left);
		}
	}
	PG_CATCH();
	{
		abandon_unfinished(calls, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
peer_call_sent(PeerCall *calls, int n, int timeout_ms)
{
	wait_past(calls, n, timeout_ms, ST_FLUSH);
}

void
peer_call_end(PeerCall *calls, int n, int timeout_ms)
{
	wait_past(calls, n, timeout_ms, ST_READ);
}

void
peer_call_all(PeerCall *calls, int n, int timeout_ms)
{
	PG_TRY();
	{
		peer_call_begin(calls, n);
	}
	PG_CATCH();
	{
		abandon_unfinished(calls, n);
		PG_RE_THROW();
	}
	PG_END_TRY();
	peer_call_end(calls, n, timeout_ms);
}
