-- ssn 1.1: the secure storage network (ITU-T Y.3808 §9-12): values stored as
-- shares on different shareholder databases, delivered over one-time-pad channels
-- owned by background workers, retrieved from any k of them.
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.1'" to load this file. \quit

---------------------------------------------------------------------------
-- the key ledger carries a row per key of every message: byte-wise key IDs
-- (opaque strings; no collation), and an index on 'fetched' rows that the
-- state change leaves to HOT updates
---------------------------------------------------------------------------
ALTER TABLE ssn.key_ledger ALTER COLUMN key_id TYPE text COLLATE "C";
ALTER TABLE ssn.key_ledger SET (fillfactor = 80);

---------------------------------------------------------------------------
-- ssn_secret: the handle a user table keeps (no share material in it)
---------------------------------------------------------------------------
CREATE TYPE ssn_secret;

CREATE FUNCTION ssn_secret_in(cstring, oid, int4) RETURNS ssn_secret
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_out(ssn_secret) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_recv(internal, oid, int4) RETURNS ssn_secret
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_send(ssn_secret) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_typmod_in(cstring[]) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_typmod_out(int4) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ssn_secret (
	INPUT = ssn_secret_in,
	OUTPUT = ssn_secret_out,
	RECEIVE = ssn_secret_recv,
	SEND = ssn_secret_send,
	TYPMOD_IN = ssn_secret_typmod_in,
	TYPMOD_OUT = ssn_secret_typmod_out,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = main
);
COMMENT ON TYPE ssn_secret IS
	'Handle of a value stored in the secure storage network: secret id, value type, k, n and the shareholders holding its shares; typmod ssn_secret(k,n)';

-- ssn_secret(k,n) columns accept only handles of that sharing
CREATE FUNCTION ssn_secret(ssn_secret, int4, boolean) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_enforce_typmod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (ssn_secret AS ssn_secret) WITH FUNCTION ssn_secret(ssn_secret, int4, boolean) AS IMPLICIT;

CREATE FUNCTION ssn_secret_id(ssn_secret) RETURNS uuid
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_k(ssn_secret) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_n(ssn_secret) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_value_type(ssn_secret) RETURNS regtype
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_secret_holders(ssn_secret) RETURNS int[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- handles are compared by secret id (so they can be keys and be joined)
CREATE FUNCTION ssn.secret_eq(ssn_secret, ssn_secret) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ssn_secret_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR = (LEFTARG = ssn_secret, RIGHTARG = ssn_secret,
	FUNCTION = ssn.secret_eq, COMMUTATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel);

---------------------------------------------------------------------------
-- the SSA's own catalog: which secrets this node stored, and who may read them
---------------------------------------------------------------------------
CREATE TABLE ssn.secret (
	id uuid PRIMARY KEY,
	owner oid NOT NULL,				-- role that stored it (pg_authid.oid)
	value_type regtype NOT NULL,
	k int NOT NULL,
	n int NOT NULL,
	epoch bigint NOT NULL DEFAULT 0,
	holders int[] NOT NULL,			-- share indexes (x-coordinates) of its shareholders
	stored_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ssn.secret IS
	'Secrets stored from this node (the SSA): owner, sharing and shareholders; no share material';
SELECT pg_catalog.pg_extension_config_dump('ssn.secret', '');

CREATE TABLE ssn.secret_grant (
	secret_id uuid NOT NULL REFERENCES ssn.secret ON DELETE CASCADE,
	grantee oid NOT NULL,
	granted_by oid NOT NULL,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (secret_id, grantee)
);
SELECT pg_catalog.pg_extension_config_dump('ssn.secret_grant', '');

-- a shareholder with shares waiting for it is not removed by accident
CREATE OR REPLACE FUNCTION ssn.remove_shareholder(name text) RETURNS boolean
	LANGUAGE plpgsql AS $$
DECLARE
	pending bigint;
BEGIN
	SELECT coalesce(sum(o.shares), 0) INTO pending FROM ssn.outbox o WHERE o.peer = remove_shareholder.name;
	IF pending > 0 THEN
		RAISE EXCEPTION 'shareholder "%" still has % shares waiting in the outbox', remove_shareholder.name, pending
			USING ERRCODE = 'object_in_use',
				  HINT = 'Let them be delivered (ssn.wait_delivered), or delete them from ssn.outbox if they are to be given up.';
	END IF;
	DELETE FROM ssn.shareholder s WHERE s.name = remove_shareholder.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'shareholder "%" does not exist', remove_shareholder.name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN true;
END $$;

---------------------------------------------------------------------------
-- the shareholder's storage: the one share this node holds of each secret
---------------------------------------------------------------------------
CREATE TABLE ssn.held_share (
	secret_id uuid NOT NULL,
	epoch bigint NOT NULL,
	origin text NOT NULL,			-- the node (SSA) that stored the secret
	share ssn_share NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (secret_id, epoch)
);
COMMENT ON TABLE ssn.held_share IS
	'The share of each secret this node holds as a shareholder (one per secret and epoch)';
SELECT pg_catalog.pg_extension_config_dump('ssn.held_share', '');

---------------------------------------------------------------------------
-- channels: the outbox (committed with the storing transaction), what was
-- received, link accounting
---------------------------------------------------------------------------
CREATE TABLE ssn.outbox (
	id bigserial PRIMARY KEY,
	peer text NOT NULL,
	shares int NOT NULL,			-- how many shares the blob holds
	blob bytea NOT NULL,			-- shares, each as a 4-byte length and its binary form
	queued_at timestamptz NOT NULL DEFAULT now(),
	attempts int NOT NULL DEFAULT 0,
	last_error text
);
ALTER TABLE ssn.outbox ALTER COLUMN blob SET STORAGE external;
CREATE INDEX outbox_peer ON ssn.outbox (peer, id);
COMMENT ON TABLE ssn.outbox IS
	'Shares waiting for delivery to a shareholder; written in the storing transaction, removed once the peer acknowledged them';
-- Not dumped: with this node's own share it would put n shares of every
-- undelivered secret into the backup.  Let it drain (ssn.wait_delivered) first.

CREATE TABLE ssn.message_seen (
	message_id uuid PRIMARY KEY,
	sender text NOT NULL,
	kind text NOT NULL,
	shares int NOT NULL DEFAULT 0,
	received_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ssn.message_seen IS
	'Messages accepted on the channels, by message id: a message is stored once';

CREATE TABLE ssn.link_stats (
	peer text NOT NULL,
	direction text NOT NULL CHECK (direction IN ('send', 'receive')),
	messages bigint NOT NULL DEFAULT 0,
	shares bigint NOT NULL DEFAULT 0,
	share_bytes bigint NOT NULL DEFAULT 0,		-- binary shares carried
	payload_bytes bigint NOT NULL DEFAULT 0,	-- encrypted plaintext (shares + framing)
	envelope_bytes bigint NOT NULL DEFAULT 0,	-- on the wire, headers and tag included
	key_bytes bigint NOT NULL DEFAULT 0,		-- QKD key material consumed
	rejected bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (peer, direction)
);
COMMENT ON TABLE ssn.link_stats IS
	'Accounting per link and direction: messages, shares, bytes and QKD key bytes consumed';

---------------------------------------------------------------------------
-- health and alarms (the manager's fault management, Y.3808 §11)
---------------------------------------------------------------------------
CREATE TABLE ssn.peer_health (
	peer text PRIMARY KEY,
	reachable boolean NOT NULL,
	checked_at timestamptz NOT NULL,
	last_ok timestamptz,
	rtt_ms double precision,
	error text
);

CREATE TABLE ssn.alarm (
	id bigserial PRIMARY KEY,
	source text NOT NULL CHECK (source IN ('peer', 'kme', 'channel', 'message')),
	object text NOT NULL,			-- the peer or link concerned
	severity text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
	problem text NOT NULL,
	detail text,
	raised_at timestamptz NOT NULL DEFAULT now(),
	cleared_at timestamptz,
	count int NOT NULL DEFAULT 1	-- how many times it was seen while active
);
CREATE UNIQUE INDEX alarm_active ON ssn.alarm (source, object, problem) WHERE cleared_at IS NULL;
COMMENT ON TABLE ssn.alarm IS
	'Alarms raised and cleared by the workers and the channel receivers';

-- an operator acknowledges (clears) an alarm, e.g. a refused message
CREATE FUNCTION ssn.acknowledge_alarm(alarm_id bigint) RETURNS boolean
	LANGUAGE sql AS $$
	UPDATE ssn.alarm SET cleared_at = now() WHERE id = alarm_id AND cleared_at IS NULL RETURNING true
$$;

CREATE VIEW ssn.active_alarms AS
	SELECT id, source, object, severity, problem, detail, raised_at, count
	FROM ssn.alarm WHERE cleared_at IS NULL ORDER BY raised_at;

---------------------------------------------------------------------------
-- this node, and the state of every channel
---------------------------------------------------------------------------
CREATE FUNCTION ssn.node_name() RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_node_name' LANGUAGE C STABLE;
COMMENT ON FUNCTION ssn.node_name() IS
	'This node''s shareholder name: the catalog entry whose SAE ID is ssn.sae_id';

CREATE VIEW ssn.node AS
	SELECT s.name, s.sae_id, s.share_index, s.trusted_node, s.state
	FROM ssn.shareholder s WHERE s.name = ssn.node_name();

CREATE VIEW ssn.channels AS
	SELECT s.name AS peer, s.state, h.reachable, h.rtt_ms, h.checked_at, h.error AS health_error,
		   coalesce(o.pending_shares, 0) AS pending_shares,
		   coalesce(o.pending_messages, 0) AS pending_blobs,
		   o.oldest AS oldest_pending, o.last_error,
		   coalesce(st.shares, 0) AS delivered_shares,
		   coalesce(st.key_bytes, 0) AS key_bytes_sent
	FROM ssn.shareholder s
	LEFT JOIN ssn.peer_health h ON h.peer = s.name
	LEFT JOIN (SELECT peer, sum(shares) AS pending_shares, count(*) AS pending_messages,
					  min(queued_at) AS oldest, (array_agg(last_error ORDER BY id))[1] AS last_error
			   FROM ssn.outbox GROUP BY peer) o ON o.peer = s.name
	LEFT JOIN ssn.link_stats st ON st.peer = s.name AND st.direction = 'send'
	WHERE s.name IS DISTINCT FROM ssn.node_name();

---------------------------------------------------------------------------
-- storing and retrieving (the SSA's functions)
---------------------------------------------------------------------------
CREATE FUNCTION ssn_store(value anyelement, k int DEFAULT NULL, n int DEFAULT NULL)
	RETURNS ssn_secret AS 'MODULE_PATHNAME', 'ssn_store' LANGUAGE C VOLATILE;
CREATE FUNCTION ssn_store(value text, k int DEFAULT NULL, n int DEFAULT NULL)
	RETURNS ssn_secret AS 'MODULE_PATHNAME', 'ssn_store' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ssn_store(anyelement, int, int) IS
	'Split a value into n shares (k rebuild it), store them on n shareholders, return its handle';

CREATE FUNCTION ssn_retrieve(h ssn_secret) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_retrieve_text' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION ssn_retrieve(h ssn_secret, as_type anyelement) RETURNS anyelement
	AS 'MODULE_PATHNAME', 'ssn_retrieve' LANGUAGE C VOLATILE;
CREATE FUNCTION ssn_retrieve(h ssn_secret[]) RETURNS text[]
	AS 'MODULE_PATHNAME', 'ssn_retrieve_array' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_retrieve(ssn_secret) IS
	'Rebuild a stored value from k shareholders (as text)';
COMMENT ON FUNCTION ssn_retrieve(ssn_secret[]) IS
	'Rebuild many stored values at once: one message per shareholder for the whole array';

CREATE FUNCTION ssn_grant(h ssn_secret, grantee regrole) RETURNS void
	AS 'MODULE_PATHNAME', 'ssn_grant' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION ssn_revoke(h ssn_secret, grantee regrole) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ssn_revoke' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION ssn.store_check_committed() RETURNS void
	AS 'MODULE_PATHNAME', 'ssn_store_check_committed' LANGUAGE C VOLATILE;

-- wait until the outbox is empty (or the timeout passes); true if it is
CREATE FUNCTION ssn.wait_delivered(timeout interval DEFAULT '60 s', peer text DEFAULT NULL)
	RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + timeout;
BEGIN
	PERFORM ssn.store_check_committed();
	LOOP
		IF NOT EXISTS (SELECT FROM ssn.outbox o WHERE wait_delivered.peer IS NULL OR o.peer = wait_delivered.peer) THEN
			RETURN true;
		END IF;
		IF clock_timestamp() > deadline THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;

---------------------------------------------------------------------------
-- the channel protocol (called by peers' workers and SSAs as role ssn_peer)
---------------------------------------------------------------------------
CREATE FUNCTION ssn.channel_announce(sender text, key_ids text[], size_bits int) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_announce' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_receive(envelope bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_receive' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_serve(requester text, secret_ids uuid[]) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_serve' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_take() RETURNS bytea
	AS 'MODULE_PATHNAME', 'ssn_channel_take' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_ping() RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_ping' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
-- seal a test message to a peer with fresh QKD keys (diagnostics; superuser)
CREATE FUNCTION ssn.channel_seal_test(peer text, payload bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ssn_channel_seal_test' LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION ssn.channel_announce(text, text[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION ssn.channel_receive(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION ssn.channel_serve(text, uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ssn.channel_take() FROM PUBLIC;
REVOKE ALL ON FUNCTION ssn.channel_ping() FROM PUBLIC;
REVOKE ALL ON FUNCTION ssn.channel_seal_test(text, bytea) FROM PUBLIC;

-- the role peers log in as (certificate authentication); it may call the channel
-- protocol and nothing else of ssn
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ssn_peer') THEN
		CREATE ROLE ssn_peer NOLOGIN;
	END IF;
END $$;
GRANT USAGE ON SCHEMA ssn TO ssn_peer;
GRANT EXECUTE ON FUNCTION ssn.channel_announce(text, text[], int), ssn.channel_receive(bytea),
	ssn.channel_serve(text, uuid[]), ssn.channel_take(), ssn.channel_ping() TO ssn_peer;

-- users reach the catalogs only through the functions above
REVOKE ALL ON ssn.secret, ssn.secret_grant, ssn.held_share, ssn.outbox, ssn.message_seen FROM PUBLIC;
