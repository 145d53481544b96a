-- ssn 1.3 -> 1.4: holding the threat model (Y.3808 §8.1): peers known by their
-- login, shares kept per origin, shares sealed before they are written, faults
-- that stay with the node that caused them
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.4'" to load this file. \quit

---------------------------------------------------------------------------
-- peer identity: every peer logs in as a role of its own, bound to its
-- shareholder entry; held shares are kept per origin
---------------------------------------------------------------------------
ALTER TABLE ssn.shareholder ADD COLUMN peer_role text UNIQUE
	CHECK (peer_role ~ '^[[:alnum:]_.-]{1,63}$');
COMMENT ON COLUMN ssn.shareholder.peer_role IS
	'The login role this peer uses at this node (the CN of its client certificate): the channel functions know the caller by it, never by an argument';

-- a peer entry gets a login role of its own (member of ssn_peer, nothing else)
DROP FUNCTION ssn.add_shareholder(text, text, text, int, text, text);
CREATE FUNCTION ssn.add_shareholder(name text, sae_id text, conninfo text DEFAULT NULL,
		share_index int DEFAULT NULL, trusted_node text DEFAULT NULL,
		state text DEFAULT 'in service', peer_role text DEFAULT NULL)
	RETURNS ssn.shareholder LANGUAGE plpgsql AS $$
DECLARE
	r ssn.shareholder;
	login text;
BEGIN
	IF add_shareholder.sae_id IS DISTINCT FROM current_setting('ssn.sae_id', true) THEN
		login := coalesce(add_shareholder.peer_role, 'ssn_peer_' || add_shareholder.name);
	END IF;
	INSERT INTO ssn.shareholder AS s (name, sae_id, conninfo, share_index, trusted_node, state, peer_role)
		VALUES (add_shareholder.name, add_shareholder.sae_id, add_shareholder.conninfo,
				add_shareholder.share_index, add_shareholder.trusted_node, add_shareholder.state, login)
		RETURNING s.* INTO r;
	IF login IS NULL THEN
		NULL;				-- this node itself: it never logs in to itself
	ELSIF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login) THEN
		EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN IN ROLE ssn_peer', login);
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = login
				  AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
		RAISE EXCEPTION 'role "%" has rights a peer must not have', login
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A peer logs in with rights to the channel functions only (membership in ssn_peer).',
				  HINT = 'Give the peer a role of its own, e.g. the default ssn_peer_<name>.';
	ELSIF NOT pg_catalog.pg_has_role(login, 'ssn_peer', 'MEMBER') THEN
		EXECUTE pg_catalog.format('GRANT ssn_peer TO %I', login);
	END IF;
	RETURN r;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'shareholder "%" or SAE ID "%" or share index % or peer role "%" is already registered',
		add_shareholder.name, add_shareholder.sae_id, add_shareholder.share_index, login
		USING ERRCODE = 'unique_violation',
			  HINT = 'Remove the old entry with ssn.remove_shareholder(name) first.';
END $$;
COMMENT ON FUNCTION ssn.add_shareholder(text, text, text, int, text, text, text) IS
	'Register a shareholder (peer node) with its SAE ID and the login role it uses here (created if missing: ssn_peer_<name>)';
-- operators' function: superusers only unless granted
REVOKE ALL ON FUNCTION ssn.add_shareholder(text, text, text, int, text, text, text) FROM PUBLIC;

-- a share is kept per origin: a peer cannot plant one in another SSA's slot
ALTER TABLE ssn.held_share DROP CONSTRAINT held_share_pkey,
	ADD PRIMARY KEY (origin, secret_id, epoch);
COMMENT ON TABLE ssn.held_share IS
	'The share this node holds as a shareholder of each secret, per origin (the SSA that stored it) and epoch';
ALTER TABLE ssn.held_part DROP CONSTRAINT held_part_pkey,
	ADD PRIMARY KEY (origin, result_id, contributor);

-- the diagnostics sealer takes any message kind: a fault test forges what a node's
-- superuser could send anyway (with this node's keys, accounted in the ledger)
DROP FUNCTION ssn.channel_seal_test(text, bytea);
CREATE FUNCTION ssn.channel_seal_test(peer text, payload bytea, kind text DEFAULT 'test') RETURNS bytea
	AS 'MODULE_PATHNAME', 'ssn_channel_seal_test' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ssn.channel_seal_test(text, bytea, text) FROM PUBLIC;



---------------------------------------------------------------------------
-- sealed outbox: shares for peers are sealed before they are written
---------------------------------------------------------------------------

-- Each row is now one message sealed for its peer at store time (envelope, keys
-- recorded 'used' in ssn.key_ledger); rows written by an older ssn.so (clear
-- shares) are still sealed by the worker when it sends them.
ALTER TABLE ssn.outbox ADD COLUMN share_bytes bigint;	-- the shares without framing (ssn.link_stats)
COMMENT ON COLUMN ssn.outbox.blob IS
	'A message sealed for the peer (one-time pad and MAC under QKD keys of the link), never shares in clear';
COMMENT ON TABLE ssn.outbox IS
	'Shares waiting for delivery to a shareholder, sealed for it; written in the storing transaction, removed once the peer acknowledged them';



---------------------------------------------------------------------------
-- faults stay local: prepared renewal switches, bad replies
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- re-sharing: former holders, renewal afterwards
---------------------------------------------------------------------------



