/*
 * peer_conn.h - libpq connections to peer nodes (as role ssn_peer, TLS with a
 * client certificate: the conninfo in ssn.shareholder says how), cached per
 * process, and running one request on many peers at once.
 *
 * Waits are interruptible and bounded by a deadline; a connection that failed or
 * timed out is closed and forgotten, so the next call reconnects.
 */
#ifndef SSN_PEER_CONN_H
#define SSN_PEER_CONN_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "libpq-fe.h"

typedef struct PeerCall
{
	/* in */
	const char *peer;			/* name: the cache key */
	const char *conninfo;
	const char *sql;
	int			nparams;
	const Oid  *types;
	const char *const *values;
	const int  *lengths;
	const int  *formats;
	int			result_format;	/* 0 text, 1 binary */
	bool		skip;			/* leave this one out */
	bool		command;		/* a utility statement: COMMAND_OK is success */
	/* out */
	PGresult   *res;			/* one row of TUPLES_OK; NULL on failure */
	bool		sent;			/* the request (or part of it) left this node */
	double		elapsed_ms;
	char		error[512];		/* why it failed (no secret in it) */
	/* private to peer_conn.c */
	int			state;
	uint32		want;
	void	   *conn_slot;
	TimestampTz started;
} PeerCall;

/*
 * Run calls[i].sql on each peer concurrently, connecting as needed, until every
 * call has an answer or timeout_ms has passed.  Failures are reported per call,
 * never raised (except for a query cancel, which closes the connections in use).
 */
extern void peer_call_all(PeerCall *calls, int n, int timeout_ms);

/*
 * The same in steps: begin connects and sends as far as it can without waiting,
 * poll moves the calls on without waiting, end waits for them (timeout_ms).
 */
extern void peer_call_begin(PeerCall *calls, int n);
extern void peer_call_poll(PeerCall *calls, int n);
extern void peer_call_end(PeerCall *calls, int n, int timeout_ms);

/*
 * Wait until every call's request has left this node (or the call ended), so
 * that the peers work while this process does something else before
 * peer_call_end; on a timeout the calls not sent are abandoned with their error.
 */
extern void peer_call_sent(PeerCall *calls, int n, int timeout_ms);

/* give up the calls still running (their connections closed), e.g. on an error */
extern void peer_call_abandon(PeerCall *calls, int n);

/*
 * Calls made from now on use the connections of this lane (0 by default):
 * lane 1 reaches the same peers while lane 0's calls are still running.
 * Returns the lane in use before.
 */
extern int	peer_conn_use_lane(int lane);

/* the result value of a finished call (row 0, column 0), NULL if none */
extern const char *peer_call_value(PeerCall *c, int *len);

/* clear the results of the calls */
extern void peer_call_reset(PeerCall *calls, int n);

/* close the connection to a peer (after a protocol failure) */
extern void peer_forget(const char *peer);

#endif							/* SSN_PEER_CONN_H */
