-- ssn 1.3 -> 1.4: holding the threat model (Y.3808 §8.1): peers known by their
-- login, shares kept per origin, shares sealed before they are written, faults
-- that stay with the node that caused them
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.4'" to load this file. \quit

---------------------------------------------------------------------------
-- peer identity: every peer logs in as a role of its own, bound to its
-- shareholder entry; held shares are kept per origin
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- sealed outbox: shares for peers are sealed before they are written
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- faults stay local: prepared renewal switches, bad replies
---------------------------------------------------------------------------

-- how a renewal switch prepared on this node ended: a 'committed' row joins the
-- prepared transaction itself (a hook on PREPARE TRANSACTION), so it exists
-- exactly when the switch committed; an 'aborted' row (a veto) is written when
-- a peer asks about a switch that is neither prepared nor committed here, and
-- makes a PREPARE of it that would still come fail
CREATE TABLE ssn.renewal_switch (
	gid text PRIMARY KEY,
	coordinator text NOT NULL,
	outcome text NOT NULL CHECK (outcome IN ('committed', 'aborted')),
	at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ssn.renewal_switch IS
	'Renewal switches of this holder and how they ended (evidence for peers whose coordinator never returned)';
SELECT pg_catalog.pg_extension_config_dump('ssn.renewal_switch', '');

-- an operator's decision on a switch in doubt, applied by the node worker
CREATE TABLE ssn.prepared_decision (
	gid text PRIMARY KEY,
	commit boolean NOT NULL,
	decided_by text NOT NULL,
	decided_at timestamptz NOT NULL DEFAULT now(),
	applied_at timestamptz
);
COMMENT ON TABLE ssn.prepared_decision IS
	'Operators'' decisions on renewal switches in doubt (ssn.resolve_prepared), applied by the node worker';
REVOKE ALL ON ssn.renewal_switch, ssn.prepared_decision FROM PUBLIC;

CREATE VIEW ssn.prepared_switches AS
	SELECT p.gid, p.prepared, now() - p.prepared AS age,
		(SELECT a.detail FROM ssn.alarm a WHERE a.source = 'channel' AND a.object = p.gid
			AND a.problem = 'renewal switch in doubt' AND a.cleared_at IS NULL) AS in_doubt
	FROM pg_catalog.pg_prepared_xacts p
	WHERE p.gid LIKE 'ssn\_renew\_%' AND p.database = current_database();
COMMENT ON VIEW ssn.prepared_switches IS
	'Renewal switches prepared on this node and not yet committed or rolled back';

-- asked by peers: 'prepared', 'committed', 'aborted', 'deciding' (its coordinator
-- has not decided) or 'unknown' (this node holds none of those secrets)
CREATE FUNCTION ssn.renewal_switch_status(gid text, coordinator text, secrets uuid[])
	RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_renewal_switch_status' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.renewal_switch_status(text, text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.renewal_switch_status(text, text, uuid[]) TO ssn_peer;

CREATE FUNCTION ssn.resolve_prepared(gid text, commit boolean) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_resolve_prepared' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ssn.resolve_prepared(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION ssn.resolve_prepared(text, boolean) IS
	'Decide a renewal switch in doubt on this node (commit or roll back); refused if a peer''s answer contradicts it; alarmed';

-- what peers call never waits without bound for a lock (e.g. one of a switch
-- whose coordinator never returns): the call fails and its sender retries
ALTER FUNCTION ssn.channel_announce(text, text[], int) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_receive(bytea) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_serve(text, uuid[]) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_take() SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_compute(text, bytea) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_materialize(text, bytea) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_reshare(text, bytea, int[], int[]) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_confirm(text, uuid[]) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_reshare_finish(text, uuid[]) SET lock_timeout = '10s';
ALTER FUNCTION ssn.channel_reshare_help(text) SET lock_timeout = '10s';
ALTER FUNCTION ssn.renewal_switch_status(text, text, uuid[]) SET lock_timeout = '10s';

---------------------------------------------------------------------------
-- re-sharing: former holders, renewal afterwards
---------------------------------------------------------------------------



