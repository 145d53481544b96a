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

-- Who held which share index, in which state, and until when: written by a
-- trigger whenever a catalog entry comes, goes or changes its name, SAE ID,
-- share index or state (ssn.reshare, ssn.remove_shareholder, by hand).
-- ssn.reshare refuses a replacement that ever held an index of the secrets it
-- re-shares: it could keep an old share beside the rebuilt one.
CREATE TABLE ssn.shareholder_history (
	name text NOT NULL,
	sae_id text NOT NULL,
	share_index int,
	state text NOT NULL,
	held_from timestamptz NOT NULL DEFAULT clock_timestamp(),
	held_until timestamptz			-- NULL: still so
);
CREATE INDEX shareholder_history_name ON ssn.shareholder_history (name);
CREATE INDEX shareholder_history_sae_id ON ssn.shareholder_history (sae_id);
REVOKE ALL ON ssn.shareholder_history FROM PUBLIC;
COMMENT ON TABLE ssn.shareholder_history IS
	'Every shareholder catalog entry as it was: which node held which share index, in which state, from when until when';
SELECT pg_catalog.pg_extension_config_dump('ssn.shareholder_history', '');

CREATE FUNCTION ssn.shareholder_history_record() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		UPDATE ssn.shareholder_history h SET held_until = clock_timestamp()
		WHERE h.name = OLD.name AND h.held_until IS NULL;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		INSERT INTO ssn.shareholder_history (name, sae_id, share_index, state)
		VALUES (NEW.name, NEW.sae_id, NEW.share_index, NEW.state);
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION ssn.shareholder_history_record() FROM PUBLIC;
CREATE TRIGGER shareholder_history_insert_delete AFTER INSERT OR DELETE ON ssn.shareholder
	FOR EACH ROW EXECUTE FUNCTION ssn.shareholder_history_record();
CREATE TRIGGER shareholder_history_update AFTER UPDATE ON ssn.shareholder
	FOR EACH ROW WHEN ((OLD.name, OLD.sae_id, OLD.share_index, OLD.state)
					   IS DISTINCT FROM (NEW.name, NEW.sae_id, NEW.share_index, NEW.state))
	EXECUTE FUNCTION ssn.shareholder_history_record();
-- the catalog as it is now (from before 1.4 nothing else is known)
INSERT INTO ssn.shareholder_history (name, sae_id, share_index, state, held_from)
	SELECT s.name, s.sae_id, s.share_index, s.state, coalesce(s.added_at, now()) FROM ssn.shareholder s;

-- asked by an SSA before it re-shares onto this node at share index x: how many
-- shares of its secrets this node holds at other indexes
CREATE FUNCTION ssn.channel_reshare_check(origin text, x int) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_channel_reshare_check' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_reshare_check(text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_reshare_check(text, int) TO ssn_peer;

COMMENT ON FUNCTION ssn.reshare(text, text, int) IS
	'Rebuild the shares a failed shareholder held of this node''s secrets on a replacement that never held any, give it the failed one''s share index, and queue a renewal of every secret (see the NOTICE for the run)';


-- the signed check value of a byte-string secret (text, bytea, json, dates, floats):
-- its shares carry a salt, and the SSA rebuilds the value only from k shares that
-- open this digest of value and salt (lifecycle/check.c)
ALTER TABLE ssn.secret ADD COLUMN check_record bytea;
COMMENT ON COLUMN ssn.secret.check_record IS
	'The signed check value of a byte-string secret: a digest of its value and salt, checked before the value is rebuilt (NULL: a number, or stored before 1.4)';
COMMENT ON FUNCTION ssn.renew_signatures() IS
	'Re-sign and re-timestamp the commitments of every verifiable secret and the check values of byte strings with the current key (the signature chain of §8.3)';

-- alarms about one secret (its shares do not open its check value, the check value
-- itself is not valid): source 'secret', object its id
ALTER TABLE ssn.alarm DROP CONSTRAINT alarm_source_check;
ALTER TABLE ssn.alarm ADD CONSTRAINT alarm_source_check
	CHECK (source IN ('peer', 'kme', 'channel', 'message', 'secret'));

-- a retrieval in one round trip: a holder's shares sealed for the SSA that stored
-- them and returned in the same call (their keys recorded 'used' first)
CREATE FUNCTION ssn.channel_fetch(requester text, secret_ids uuid[]) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ssn_channel_fetch' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp SET lock_timeout = '10s';
REVOKE ALL ON FUNCTION ssn.channel_fetch(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_fetch(text, uuid[]) TO ssn_peer;
COMMENT ON FUNCTION ssn.channel_fetch(text, uuid[]) IS
	'Called by a peer (the SSA that stored the secrets): this node''s shares of them, sealed for it with QKD keys of the link, in one call';
-- the same under fresh keys: the SSA lost its copies of the keys this node set
-- aside for its replies (a restart), so this node drops them and fetches new ones
CREATE FUNCTION ssn.channel_fetch(requester text, secret_ids uuid[], fresh_keys boolean) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ssn_channel_fetch' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp SET lock_timeout = '10s';
REVOKE ALL ON FUNCTION ssn.channel_fetch(text, uuid[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_fetch(text, uuid[], boolean) TO ssn_peer;
COMMENT ON FUNCTION ssn.channel_fetch(text, uuid[], boolean) IS
	'Called by a peer (the SSA that stored the secrets): its shares as ssn.channel_fetch(text, uuid[]) returns them; with fresh_keys, sealed under keys fetched now, not the ones set aside for the peer''s link (which are dropped: the peer lost its copies)';

-- keys fetched ahead for the replies of each peer (net/reply_key_copies): how
-- many copies this node holds in shared memory, per peer
CREATE FUNCTION ssn.reply_key_copies(OUT peer text, OUT held integer) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ssn_reply_key_copies' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ssn.reply_key_copies() FROM PUBLIC;
COMMENT ON FUNCTION ssn.reply_key_copies() IS
	'Copies of the QKD keys each peer set aside for its replies to this node, fetched ahead and held in shared memory (their key ledger rows: purpose ''reply keys ahead'', state ''fetched'')';

-- grouped aggregates in one round per query: a small state estimate (a state is a
-- few hundred bytes of program per group) lets the planner hash the groups, and
-- a hashed aggregate's groups are all computed by the shareholders in one round
CREATE OR REPLACE AGGREGATE ssn_sum(ssn_secret) (
	SFUNC = ssn.agg_add, STYPE = internal, FINALFUNC = ssn.agg_sum_final, SSPACE = 256);
CREATE OR REPLACE AGGREGATE ssn_avg(ssn_secret) (
	SFUNC = ssn.agg_add, STYPE = internal, FINALFUNC = ssn.agg_avg_final, SSPACE = 256);

-- a degree reduction's parts kept per message, not per part: one row per
-- contributor and batch of results, summed when the batch's last message arrives
CREATE TABLE ssn.held_part_batch (
	origin text NOT NULL,			-- the SSA that asked for the re-sharing
	batch_id uuid NOT NULL,			-- the first result of the batch
	contributor int NOT NULL,		-- share index of the contributor; 0: the complete shares, staged
	contributors int NOT NULL,		-- how many contributors' batches make the shares (0: staged)
	parts bytea NOT NULL,			-- the contributor's parts (or the staged shares), a share batch
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (origin, batch_id, contributor)
);
-- random field elements: not worth a compression attempt
ALTER TABLE ssn.held_part_batch ALTER COLUMN parts SET STORAGE EXTERNAL;
COMMENT ON TABLE ssn.held_part_batch IS
	'Parts of a degree reduction this node received, one row per contributor and batch of results, until every contributor''s batch has arrived; then (contributor 0) the new shares of the batch, until the SSA confirms that every shareholder has its own';
REVOKE ALL ON ssn.held_part_batch FROM PUBLIC;
COMMENT ON TABLE ssn.held_part IS
	'Contributions to a re-sharing onto a replacement shareholder (contributors < 0), until the SSA finishes it; degree reductions keep their parts in ssn.held_part_batch';

-- ===========================================================================
-- the storing node lost: every holder keeps what another SSA needs of a secret
-- (its record), and a node that holds a share takes the lost node's secrets over
-- ===========================================================================
CREATE TABLE ssn.held_secret (
	secret_id uuid NOT NULL,
	origin text NOT NULL,			-- the SSA that sent it (or took it over)
	version bigint NOT NULL,		-- microseconds since 1970 of the SSA's change
	deleted boolean NOT NULL DEFAULT false,
	owner_name text NOT NULL,		-- role names, not OIDs: they mean the same on every node
	value_type text NOT NULL,
	k int NOT NULL,
	n int NOT NULL,
	holders int[] NOT NULL,
	check_record bytea,				-- the signed check value (secrets without commitments)
	grantees text[] NOT NULL DEFAULT '{}',
	taken_from text,				-- the lost SSA, once handed over to origin
	received_at timestamptz NOT NULL DEFAULT now(),
	-- each SSA's records apart, like its shares: another node's record of the
	-- same id neither replaces nor blocks them
	PRIMARY KEY (origin, secret_id)
);
-- tombstones, for the node worker's look for shares that came after their deletion
CREATE INDEX held_secret_deleted ON ssn.held_secret (received_at) WHERE deleted;
REVOKE ALL ON ssn.held_secret FROM PUBLIC;
COMMENT ON TABLE ssn.held_secret IS
	'The record of each secret this node holds a share of, as its SSA sent it (owner, grantees, type, k, n, holders, check record): what another node needs to take the secret over';
SELECT pg_catalog.pg_extension_config_dump('ssn.held_secret', '');

-- signing keys of other nodes whose signed records this node trusts: those of a
-- node whose secrets it took over (learnt from its own shares' records)
CREATE TABLE ssn.trusted_signer (
	public_key bytea PRIMARY KEY CHECK (length(public_key) = 32),
	node text NOT NULL,
	trusted_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON ssn.trusted_signer FROM PUBLIC;
COMMENT ON TABLE ssn.trusted_signer IS
	'Ed25519 public keys of other nodes trusted for the records of secrets taken over from them';
SELECT pg_catalog.pg_extension_config_dump('ssn.trusted_signer', '');

-- on a holder: the operator's permission for a take-over; on the new SSA: the take-over
CREATE TABLE ssn.take_over (
	failed text PRIMARY KEY,
	successor text NOT NULL,
	allowed_at timestamptz,			-- this node (a holder) lets the successor take over
	allowed_by text,
	handed_over bigint,				-- secrets this holder handed over
	taken_at timestamptz,			-- this node is the successor: when it took over
	secrets bigint					-- how many it took over
);
REVOKE ALL ON ssn.take_over FROM PUBLIC;
COMMENT ON TABLE ssn.take_over IS
	'Take-overs of a lost SSA: allowed on this holder by its operator, or done by this node as the successor';
SELECT pg_catalog.pg_extension_config_dump('ssn.take_over', '');

CREATE FUNCTION ssn.allow_take_over(failed text, successor text) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF allow_take_over.failed = allow_take_over.successor THEN
		RAISE EXCEPTION 'a node cannot take over its own secrets' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT FROM ssn.shareholder s WHERE s.name = allow_take_over.successor) THEN
		RAISE EXCEPTION 'shareholder "%" does not exist', allow_take_over.successor
			USING ERRCODE = 'undefined_object';
	END IF;
	INSERT INTO ssn.take_over AS t (failed, successor, allowed_at, allowed_by)
		VALUES (allow_take_over.failed, allow_take_over.successor, now(), session_user)
		ON CONFLICT ON CONSTRAINT take_over_pkey DO UPDATE
			SET successor = EXCLUDED.successor, allowed_at = now(), allowed_by = session_user
			WHERE (t.handed_over IS NULL AND t.taken_at IS NULL) OR t.successor = EXCLUDED.successor;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the secrets of "%" were already handed over to "%"', allow_take_over.failed,
			(SELECT t.successor FROM ssn.take_over t WHERE t.failed = allow_take_over.failed)
			USING ERRCODE = 'object_in_use';
	END IF;
	UPDATE ssn.shareholder s SET state = 'out of service'
		WHERE s.name = allow_take_over.failed AND s.state = 'in service';
END $$;
REVOKE ALL ON FUNCTION ssn.allow_take_over(text, text) FROM PUBLIC;
COMMENT ON FUNCTION ssn.allow_take_over(text, text) IS
	'On a holder: the operator declares the node failed gone for good and lets successor become the SSA of its secrets (run on at least k holders)';

CREATE FUNCTION ssn.take_over(failed text, force boolean DEFAULT false) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_take_over' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ssn.take_over(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION ssn.take_over(text, boolean) IS
	'Become the SSA of every secret the lost node failed stored, from the records its holders keep (any k agreeing with this node''s own)';

CREATE FUNCTION ssn.channel_take_over(failed text, after uuid, page int) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_take_over' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp SET lock_timeout = '10s';
REVOKE ALL ON FUNCTION ssn.channel_take_over(text, uuid, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_take_over(text, uuid, int) TO ssn_peer;
COMMENT ON FUNCTION ssn.channel_take_over(text, uuid, int) IS
	'Called by the successor the operator allowed: hand the lost SSA''s secrets over to it, and return a page of their records (JSON; no share value)';

CREATE FUNCTION ssn.publish_records() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_publish_records' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ssn.publish_records() FROM PUBLIC;
COMMENT ON FUNCTION ssn.publish_records() IS
	'Send the record of every secret this node stored to its holders again (secrets stored before records existed)';

-- erasure on request: the owner deletes a secret on every holder
CREATE TABLE ssn.deleted_secret (
	id uuid PRIMARY KEY,
	value_type regtype,
	owner_name text,
	deleted_at timestamptz NOT NULL DEFAULT now(),
	deleted_by text NOT NULL
);
REVOKE ALL ON ssn.deleted_secret FROM PUBLIC;
COMMENT ON TABLE ssn.deleted_secret IS
	'Secrets deleted on this node (their SSA): a retrieval says so; their holders got the deletion with the secret''s record';
SELECT pg_catalog.pg_extension_config_dump('ssn.deleted_secret', '');

CREATE FUNCTION ssn_delete(h ssn_secret) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ssn_delete' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_delete(ssn_secret) IS
	'Delete a stored secret (its owner): its shares on every holder (a holder that is down gets the deletion when it returns) and its record here; false if it was deleted already';
CREATE FUNCTION ssn_delete(h ssn_secret[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_delete_array' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_delete(ssn_secret[]) IS
	'Delete the stored secrets of an array of handles; returns how many were deleted now';

-- owners and grantees as regrole: the same OIDs, but pg_dump writes role names and
-- pg_restore reads them back, so a restore with roles created in another order
-- keeps every secret with its owner
ALTER TABLE ssn.secret ALTER COLUMN owner TYPE regrole;
ALTER TABLE ssn.secret_grant ALTER COLUMN grantee TYPE regrole, ALTER COLUMN granted_by TYPE regrole;

-- orphans: what no SSA will come back for, collected by the node worker after
-- ssn.orphan_grace (shares of deleted secrets at once)
CREATE TABLE ssn.orphan_collected (
	kind text PRIMARY KEY,
	collected bigint NOT NULL DEFAULT 0,
	last_collected_at timestamptz
);
REVOKE ALL ON ssn.orphan_collected FROM PUBLIC;

CREATE VIEW ssn.orphans AS
	WITH waiting (kind, rows, oldest) AS (
		SELECT 're-sharing contributions', count(*), min(received_at) FROM ssn.held_part
		UNION ALL
		SELECT 'degree-reduction parts and unconfirmed results', count(*), min(received_at) FROM ssn.held_part_batch
		UNION ALL
		SELECT 're-sharing requests', count(*), min(received_at) FROM ssn.reshare_request
		UNION ALL
		SELECT 'shares of deleted secrets', count(*), min(s.received_at)
			FROM ssn.held_share s JOIN ssn.held_secret r ON r.secret_id = s.secret_id AND r.origin = s.origin
			WHERE r.deleted)
	SELECT w.kind, w.rows AS waiting, w.oldest,
		   CASE WHEN w.kind = 'shares of deleted secrets' THEN w.oldest
				ELSE w.oldest + pg_catalog.current_setting('ssn.orphan_grace')::interval END
			   AS collected_from,
		   coalesce(c.collected, 0) AS collected, c.last_collected_at
	FROM waiting w LEFT JOIN ssn.orphan_collected c USING (kind)
	UNION ALL
	-- not orphans, but nobody could take them over: shares whose SSA sent no record
	SELECT 'shares without a record (their SSA: ssn.publish_records())', count(*), min(s.received_at), NULL, NULL, NULL
	FROM ssn.held_share s
	WHERE NOT EXISTS (SELECT FROM ssn.held_secret r WHERE r.origin = s.origin AND r.secret_id = s.secret_id)
	  AND s.origin IS DISTINCT FROM (SELECT name FROM ssn.shareholder WHERE sae_id = pg_catalog.current_setting('ssn.sae_id', true));
COMMENT ON VIEW ssn.orphans IS
	'What this node keeps for an SSA that will not come back for it, by kind: how much waits, since when, when the node worker collects it (ssn.orphan_grace), how much it collected';

---------------------------------------------------------------------------
-- data owners (SSN-U, Y.3808 §11.1): SAEs of the QKD network whose values come
-- and go under a one-time pad (ssn_store_sealed, ssn_retrieve_sealed; the client
-- is tools/ssn-client).  A data owner holds no share; it is mapped to a role.
---------------------------------------------------------------------------
CREATE TABLE ssn.data_owner (
	sae_id text COLLATE "C" PRIMARY KEY
		CHECK (length(sae_id) BETWEEN 1 AND 63 AND sae_id !~ '[[:cntrl:]]'),
	role regrole NOT NULL,			-- the role whose sessions may act for it (or members of it)
	added_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ssn.data_owner IS
	'Data owners (SSN-U): the SAE ID of each and the role its values are stored and retrieved as';
SELECT pg_catalog.pg_extension_config_dump('ssn.data_owner', '');
REVOKE ALL ON ssn.data_owner FROM PUBLIC;
-- refusals on a data owner's link: source 'owner', object its SAE ID
ALTER TABLE ssn.alarm DROP CONSTRAINT alarm_source_check;
ALTER TABLE ssn.alarm ADD CONSTRAINT alarm_source_check
	CHECK (source IN ('peer', 'kme', 'channel', 'message', 'secret', 'owner'));

CREATE FUNCTION ssn.add_data_owner(sae_id text, role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF add_data_owner.sae_id = current_setting('ssn.sae_id', true)
	   OR EXISTS (SELECT FROM ssn.shareholder s WHERE s.sae_id = add_data_owner.sae_id) THEN
		RAISE EXCEPTION 'SAE "%" is a shareholder of this network', add_data_owner.sae_id
			USING ERRCODE = 'duplicate_object',
				  HINT = 'A data owner is an SAE of its own, with its own certificate: it holds no share.';
	END IF;
	INSERT INTO ssn.data_owner (sae_id, role) VALUES (add_data_owner.sae_id, add_data_owner.role)
	ON CONFLICT ON CONSTRAINT data_owner_pkey DO UPDATE SET role = EXCLUDED.role;
END $$;
COMMENT ON FUNCTION ssn.add_data_owner(text, regrole) IS
	'Register (or re-map) a data owner: its SAE ID and the role that acts for it';
CREATE FUNCTION ssn.drop_data_owner(sae_id text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	WITH d AS (DELETE FROM ssn.data_owner o WHERE o.sae_id = drop_data_owner.sae_id RETURNING 1)
	SELECT count(*) > 0 FROM d
$$;
REVOKE ALL ON FUNCTION ssn.add_data_owner(text, regrole), ssn.drop_data_owner(text) FROM PUBLIC;

CREATE FUNCTION ssn_owner_link(OUT node text, OUT node_sae_id text, OUT owner_sae_id text,
							   OUT owner_role regrole) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ssn_owner_link' LANGUAGE C STABLE;
COMMENT ON FUNCTION ssn_owner_link() IS
	'This node and its SAE ID, with each data owner the current role acts for: what a client needs to seal for this SSA';
CREATE FUNCTION ssn_store_sealed(envelope bytea) RETURNS ssn_secret[]
	AS 'MODULE_PATHNAME', 'ssn_store_sealed' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_store_sealed(bytea) IS
	'Store the values a data owner sealed under a one-time pad (tools/ssn-client); their handles, in order';
CREATE FUNCTION ssn_retrieve_sealed(h ssn_secret[], request_id bytea, owner_sae_id text DEFAULT NULL)
	RETURNS bytea AS 'MODULE_PATHNAME', 'ssn_retrieve_sealed' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ssn_retrieve_sealed(ssn_secret[], bytea, text) IS
	'Rebuild values and seal them under a one-time pad for the data owner the current role acts for';

-- ---------------------------------------------------------------------------
-- Store policy (Y.3808 §10.2: the controller's policy control): per role, or for
-- every role of this database, the least k, the n allowed, verification required,
-- the value types allowed and a quota of secrets; organizations on shareholders,
-- so that no store places k shares of one secret in one organization.
-- ---------------------------------------------------------------------------
ALTER TABLE ssn.shareholder ADD COLUMN organization text
	CHECK (length(organization) BETWEEN 1 AND 63 AND organization !~ '[[:cntrl:]]');
COMMENT ON COLUMN ssn.shareholder.organization IS
	'Organization (or domain) running the node: a store places at most k - 1 shares of a secret in one organization (NULL: not counted)';

CREATE FUNCTION ssn.set_organization(shareholder text, organization text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE ssn.shareholder s SET organization = set_organization.organization
	 WHERE s.name = set_organization.shareholder;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'shareholder "%" does not exist', set_organization.shareholder
			USING ERRCODE = 'undefined_object';
	END IF;
END $$;
COMMENT ON FUNCTION ssn.set_organization(text, text) IS
	'Label a shareholder with the organization that runs it (NULL: none)';
REVOKE ALL ON FUNCTION ssn.set_organization(text, text) FROM PUBLIC;

CREATE TABLE ssn.store_policy (
	role regrole UNIQUE NULLS NOT DISTINCT,	-- NULL: every role of this database
	min_k int CHECK (min_k BETWEEN 1 AND 255),
	min_n int CHECK (min_n BETWEEN 1 AND 255),
	max_n int CHECK (max_n BETWEEN 1 AND 255),
	verify_required boolean NOT NULL DEFAULT false,
	allowed_types regtype[],				-- NULL: any type ssn_store takes
	max_secrets bigint CHECK (max_secrets >= 0),
	max_key_bytes_per_day bigint CHECK (max_key_bytes_per_day >= 0),	-- QKD key a role's operations spend a day
	max_bytes_per_day bigint CHECK (max_bytes_per_day >= 0),	-- what a role's stored values take in a share, a day
	changed_at timestamptz NOT NULL DEFAULT now(),
	changed_by name NOT NULL DEFAULT session_user,
	CHECK (min_n IS NULL OR max_n IS NULL OR min_n <= max_n)
);
COMMENT ON TABLE ssn.store_policy IS
	'What a store may do, per role (its members included) or, with role NULL, for every role; the strictest of the rows that apply holds';
SELECT pg_catalog.pg_extension_config_dump('ssn.store_policy', '');
REVOKE ALL ON ssn.store_policy FROM PUBLIC;
-- refusals by policy: source 'policy', object the role refused
ALTER TABLE ssn.alarm DROP CONSTRAINT alarm_source_check;
ALTER TABLE ssn.alarm ADD CONSTRAINT alarm_source_check
	CHECK (source IN ('peer', 'kme', 'channel', 'message', 'secret', 'owner', 'policy'));

-- SECURITY DEFINER: a superuser may grant EXECUTE to a role that administers policy
CREATE FUNCTION ssn.set_store_policy(role regrole, min_k int DEFAULT NULL, min_n int DEFAULT NULL,
		max_n int DEFAULT NULL, verify_required boolean DEFAULT false,
		allowed_types regtype[] DEFAULT NULL, max_secrets bigint DEFAULT NULL,
		max_key_bytes_per_day bigint DEFAULT NULL, max_bytes_per_day bigint DEFAULT NULL)
	RETURNS ssn.store_policy
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r ssn.store_policy;
BEGIN
	INSERT INTO ssn.store_policy AS p (role, min_k, min_n, max_n, verify_required, allowed_types,
									   max_secrets, max_key_bytes_per_day, max_bytes_per_day, changed_at, changed_by)
	VALUES (set_store_policy.role, set_store_policy.min_k, set_store_policy.min_n,
			set_store_policy.max_n, coalesce(set_store_policy.verify_required, false),
			set_store_policy.allowed_types, set_store_policy.max_secrets,
			set_store_policy.max_key_bytes_per_day, set_store_policy.max_bytes_per_day, now(), session_user)
	ON CONFLICT ON CONSTRAINT store_policy_role_key DO UPDATE SET min_k = EXCLUDED.min_k, min_n = EXCLUDED.min_n,
		max_n = EXCLUDED.max_n, verify_required = EXCLUDED.verify_required,
		allowed_types = EXCLUDED.allowed_types, max_secrets = EXCLUDED.max_secrets,
		max_key_bytes_per_day = EXCLUDED.max_key_bytes_per_day, max_bytes_per_day = EXCLUDED.max_bytes_per_day,
		changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
	RETURNING p.* INTO r;
	RETURN r;
END $$;
COMMENT ON FUNCTION ssn.set_store_policy(regrole, int, int, int, boolean, regtype[], bigint, bigint, bigint) IS
	'Set the store policy of a role (NULL: every role of this database), replacing the one it had';
CREATE FUNCTION ssn.drop_store_policy(role regrole) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH d AS (DELETE FROM ssn.store_policy p WHERE p.role IS NOT DISTINCT FROM drop_store_policy.role
			   RETURNING 1)
	SELECT count(*) > 0 FROM d
$$;
REVOKE ALL ON FUNCTION ssn.set_store_policy(regrole, int, int, int, boolean, regtype[], bigint, bigint, bigint),
	ssn.drop_store_policy(regrole) FROM PUBLIC;

-- what applies to the current role (members of a role included; a superuser is
-- bound only by the rows of roles it is a member of)
CREATE FUNCTION ssn_store_policy(OUT min_k int, OUT min_n int, OUT max_n int,
		OUT verify_required boolean, OUT allowed_types regtype[], OUT max_secrets bigint,
		OUT secrets bigint, OUT max_key_bytes_per_day bigint, OUT max_bytes_per_day bigint,
		OUT from_roles text[])
	AS 'MODULE_PATHNAME', 'ssn_store_policy' LANGUAGE C STABLE;
COMMENT ON FUNCTION ssn_store_policy() IS
	'The store policy that holds for the current role: the strictest of the rows of ssn.store_policy that apply, and its secrets so far';

-- ---------------------------------------------------------------------------
-- Audit trail (Y.3808 §10.4, the manager's security and accounting management):
-- who stored, retrieved, computed, granted, revoked, verified, renewed, re-shared,
-- took over or deleted which secrets, and what came of it.  Rows are appended by
-- the SSA (in the caller's transaction when it commits; through the node worker
-- when it rolls back or may not write), chained by the node worker (each row's
-- hash covers the one before it), and the chain's head signed with this node's
-- signing key, so that a row edited or removed afterwards is found by
-- ssn.audit_verify().  Never a value or a share.
-- ---------------------------------------------------------------------------
CREATE TABLE ssn.audit_log (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	role name NOT NULL,				-- current_user of the operation
	session_role name NOT NULL,		-- session_user
	client text,					-- the client's address ('[local]': a Unix socket; NULL: a background worker)
	operation text NOT NULL CHECK (operation IN ('store', 'retrieve', 'compute', 'grant', 'revoke',
			'verify', 'renew', 're-share', 'take-over', 'delete')),
	secrets bigint NOT NULL,		-- how many
	secret_id uuid,					-- the secret, when one
	digest bytea,					-- BLAKE2b-256 of their ids in order, when several
	key_bytes bigint NOT NULL DEFAULT 0,	-- QKD key spent for it (sealed shares, opened replies)
	messages bigint NOT NULL DEFAULT 0,		-- sealed messages sent or opened for it
	value_bytes bigint NOT NULL DEFAULT 0,	-- a store: what its values take in each share
	outcome text NOT NULL CHECK (outcome IN ('committed', 'rolled back', 'refused')),
	chain_seq bigint UNIQUE,		-- its place in the chain (NULL: not chained yet)
	hash bytea						-- sha256(previous hash || chain_seq || ssn.audit_row_text(row))
);
CREATE INDEX audit_log_unchained ON ssn.audit_log (id) WHERE chain_seq IS NULL;
CREATE INDEX audit_log_at ON ssn.audit_log (at);
REVOKE ALL ON ssn.audit_log FROM PUBLIC;
COMMENT ON TABLE ssn.audit_log IS
	'Every operation on secrets: time, roles, client, secret ids (or a count and a digest), outcome; append-only, hash-chained';

-- the chain's head, signed from time to time; pruned: the anchor the retention left
CREATE TABLE ssn.audit_head (
	chain_seq bigint NOT NULL,		-- 0: the chain was empty
	hash bytea NOT NULL,
	signed_at timestamptz NOT NULL,	-- signed again every interval while the chain stands still
	signer bytea NOT NULL,			-- Ed25519 public key (ssn.signing_key)
	signature bytea NOT NULL,
	pruned boolean NOT NULL DEFAULT false,
	PRIMARY KEY (chain_seq, pruned)
);
REVOKE ALL ON ssn.audit_head FROM PUBLIC;
COMMENT ON TABLE ssn.audit_head IS
	'Signed heads of the audit chain (pruned: where the retention cut it)';

-- what a row's hash covers, unambiguous (every field quoted)
CREATE FUNCTION ssn.audit_row_text(a ssn.audit_log) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT format('%s|%s|%L|%L|%L|%L|%s|%L|%L|%s|%s|%s|%L', a.id,
				  (extract(epoch FROM a.at) * 1000000)::bigint, a.role, a.session_role, a.client,
				  a.operation, a.secrets, a.secret_id, encode(a.digest, 'hex'), a.key_bytes, a.messages,
				  a.value_bytes, a.outcome)
$$;

-- chain the rows not chained yet, in the order they were appended (the node worker)
CREATE FUNCTION ssn.audit_chain() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	last_seq bigint;
	last_hash bytea;
	r ssn.audit_log;
	n bigint := 0;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('ssn.audit_chain'));
	SELECT a.chain_seq, a.hash INTO last_seq, last_hash FROM ssn.audit_log a
	 WHERE a.chain_seq IS NOT NULL ORDER BY a.chain_seq DESC LIMIT 1;
	IF last_seq IS NULL THEN
		SELECT h.chain_seq, h.hash INTO last_seq, last_hash FROM ssn.audit_head h
		 WHERE h.pruned ORDER BY h.chain_seq DESC LIMIT 1;
	END IF;
	last_seq := coalesce(last_seq, 0);
	last_hash := coalesce(last_hash, '\x'::bytea);
	FOR r IN SELECT * FROM ssn.audit_log a WHERE a.chain_seq IS NULL ORDER BY a.id FOR UPDATE LOOP
		last_seq := last_seq + 1;
		last_hash := sha256(last_hash || convert_to(last_seq || '|' || ssn.audit_row_text(r), 'UTF8'));
		UPDATE ssn.audit_log a SET chain_seq = last_seq, hash = last_hash WHERE a.id = r.id;
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
REVOKE ALL ON FUNCTION ssn.audit_chain() FROM PUBLIC;

CREATE FUNCTION ssn.audit_head_valid(h ssn.audit_head) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ssn_audit_head_valid' LANGUAGE C STABLE STRICT;
CREATE FUNCTION ssn.audit_sign_head() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_audit_sign_head' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION ssn.audit_sign_head() FROM PUBLIC;
COMMENT ON FUNCTION ssn.audit_sign_head() IS
	'Chain the rows appended since, and sign the chain''s head with this node''s signing key (the node worker does it every ssn.audit_sign_interval)';

-- every break of the chain: rows altered, missing, removed after a signed head;
-- heads removed or no longer signed
CREATE FUNCTION ssn.audit_verify(OUT problem text, OUT chain_seq bigint, OUT detail text)
	RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	prev_seq bigint := 0;
	prev_hash bytea := '\x'::bytea;
	anchor_seq bigint := 0;
	anchor_hash bytea := '\x'::bytea;
	want bytea;
	r ssn.audit_log;
	h ssn.audit_head;
	last_seq bigint;
	newest timestamptz;
	stale interval := 10 * current_setting('ssn.audit_sign_interval')::interval + interval '60 s';
BEGIN
	SELECT * INTO h FROM ssn.audit_head x WHERE x.pruned ORDER BY x.chain_seq DESC LIMIT 1;
	IF FOUND THEN
		IF NOT ssn.audit_head_valid(h) THEN
			problem := 'anchor signature invalid'; chain_seq := h.chain_seq;
			detail := 'the signed record of where the retention cut the chain does not verify';
			RETURN NEXT;
		END IF;
		prev_seq := h.chain_seq; prev_hash := h.hash;
		anchor_seq := h.chain_seq; anchor_hash := h.hash;
	END IF;
	FOR r IN SELECT * FROM ssn.audit_log a WHERE a.chain_seq > prev_seq ORDER BY a.chain_seq LOOP
		IF r.chain_seq <> prev_seq + 1 THEN
			problem := 'rows missing'; chain_seq := prev_seq + 1;
			detail := format('chain positions %s to %s are gone', prev_seq + 1, r.chain_seq - 1);
			RETURN NEXT;
			prev_hash := NULL;		-- the next row cannot be checked against a row that is gone
		END IF;
		IF prev_hash IS NOT NULL THEN
			want := sha256(prev_hash || convert_to(r.chain_seq || '|' || ssn.audit_row_text(r), 'UTF8'));
			IF r.hash IS DISTINCT FROM want THEN
				problem := 'row altered'; chain_seq := r.chain_seq;
				detail := format('audit row %s does not match its hash', r.id);
				RETURN NEXT;
			END IF;
		END IF;
		prev_seq := r.chain_seq;
		prev_hash := r.hash;
	END LOOP;
	last_seq := greatest(coalesce((SELECT max(a.chain_seq) FROM ssn.audit_log a), 0), anchor_seq);
	FOR h IN SELECT * FROM ssn.audit_head x WHERE NOT x.pruned AND x.chain_seq >= anchor_seq ORDER BY x.chain_seq LOOP
		IF NOT ssn.audit_head_valid(h) THEN
			problem := 'head signature invalid'; chain_seq := h.chain_seq;
			detail := format('the head signed at %s does not verify', h.signed_at);
			RETURN NEXT;
		ELSIF h.chain_seq > last_seq THEN
			problem := 'rows removed at the end'; chain_seq := h.chain_seq;
			detail := format('a head signed at %s covers %s rows; the chain ends at %s',
							 h.signed_at, h.chain_seq, last_seq);
			RETURN NEXT;
		ELSIF (CASE WHEN h.chain_seq = anchor_seq THEN h.hash IS DISTINCT FROM anchor_hash
					ELSE NOT EXISTS (SELECT FROM ssn.audit_log a WHERE a.chain_seq = h.chain_seq AND a.hash = h.hash)
			   END) THEN
			problem := 'chain rewritten'; chain_seq := h.chain_seq;
			detail := format('the row at the head signed at %s is not the one signed', h.signed_at);
			RETURN NEXT;
		END IF;
	END LOOP;
	SELECT max(x.signed_at) INTO newest FROM ssn.audit_head x;
	IF newest IS NULL THEN
		problem := 'no signed head'; chain_seq := NULL;
		detail := 'no head of the chain is signed: the trail was never sealed (is the node worker running?), or its heads were removed';
		RETURN NEXT;
	ELSIF newest < now() - stale THEN
		problem := 'heads not signed of late'; chain_seq := NULL;
		detail := format('the last head was signed at %s; one is signed every ssn.audit_sign_interval: the node worker is not sealing, or newer heads were removed', newest);
		RETURN NEXT;
	END IF;
END $$;
REVOKE ALL ON FUNCTION ssn.audit_verify() FROM PUBLIC;
COMMENT ON FUNCTION ssn.audit_verify() IS
	'Check the audit chain and its signed heads: every row altered, missing or removed since it was chained';

-- ---------------------------------------------------------------------------
-- The SSN manager's network view (Y.3808 §10.4, Req_SSN_M1, Ma1-Ma3) and alarms
-- raised before trouble: each node's state as control data (no share, no value),
-- gathered from every node over the authenticated peer connections.
-- ---------------------------------------------------------------------------
-- each QKD link's key pool and the rate this node spends it at (the node worker)
CREATE TABLE ssn.link_rate (
	peer text PRIMARY KEY,
	pool_bytes bigint,				-- key the KME holds for the link now (NULL: it did not say)
	capacity_bytes bigint,			-- the most it can hold (max_key_count x key_size)
	key_bytes_per_s double precision,	-- spent here, both directions, recent average
	seconds_left double precision,	-- pool_bytes at that rate (NULL: no traffic)
	checked_at timestamptz NOT NULL,
	kme_error text
);
REVOKE ALL ON ssn.link_rate FROM PUBLIC;
COMMENT ON TABLE ssn.link_rate IS
	'Each QKD link''s key pool as its KME reports it and the rate this node spends it at (the node worker, every ssn.alarm_check_interval)';
-- renewal jobs that fall behind: source 'job'
ALTER TABLE ssn.alarm DROP CONSTRAINT alarm_source_check;
ALTER TABLE ssn.alarm ADD CONSTRAINT alarm_source_check
	CHECK (source IN ('peer', 'kme', 'channel', 'message', 'secret', 'owner', 'policy', 'job'));

-- the version of the shareholder catalog: equal on two nodes when their catalogs agree
CREATE FUNCTION ssn.catalog_version() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT md5(coalesce(string_agg(format('%L|%L|%s|%L|%L', s.name, s.sae_id, s.share_index, s.state,
										  s.organization), ',' ORDER BY s.name), ''))
	FROM ssn.shareholder s
$$;
COMMENT ON FUNCTION ssn.catalog_version() IS
	'A digest of the shareholder catalog (names, SAE IDs, share indexes, states, organizations)';

CREATE FUNCTION ssn.node_status() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'node', ssn.node_name(),
		'catalog_version', ssn.catalog_version(),
		'alarms', (SELECT count(*) FROM ssn.alarm WHERE cleared_at IS NULL),
		'major_alarms', (SELECT count(*) FROM ssn.alarm WHERE cleared_at IS NULL
						 AND severity IN ('critical', 'major')),
		'outbox_messages', (SELECT count(*) FROM ssn.outbox),
		'outbox_oldest_s', (SELECT round(extract(epoch FROM now() - min(queued_at)))::bigint FROM ssn.outbox),
		-- counted up to a hundred thousand, estimated beyond
		'secrets', (SELECT CASE WHEN c.reltuples >= 100000 THEN c.reltuples::bigint
							   ELSE (SELECT count(*) FROM ssn.secret) END
					FROM pg_class c WHERE c.oid = 'ssn.secret'::regclass),
		'last_renewal', (SELECT max(finished_at) FROM ssn.renewal_run WHERE state = 'done'),
		'renewal_epoch', (SELECT max(epoch) FROM ssn.secret),
		'renewal_overdue', (SELECT count(*) FROM ssn.active_alarms WHERE source = 'job'),
		'audit_head', (SELECT max(chain_seq) FROM ssn.audit_head),
		'audit_signed_at', (SELECT max(signed_at) FROM ssn.audit_head),
		'links', (SELECT coalesce(jsonb_agg(jsonb_build_object(
					'peer', c.peer, 'reachable', c.reachable, 'rtt_ms', c.rtt_ms,
					'pending_messages', c.pending_blobs, 'pool_bytes', r.pool_bytes,
					'key_bytes_per_s', round(r.key_bytes_per_s::numeric, 1),
					'seconds_left', round(r.seconds_left::numeric, 1)) ORDER BY c.peer), '[]')
				  FROM ssn.channels c LEFT JOIN ssn.link_rate r ON r.peer = c.peer))
$$;
REVOKE ALL ON FUNCTION ssn.node_status() FROM PUBLIC;
COMMENT ON FUNCTION ssn.node_status() IS
	'This node''s state as control data: catalog version, alarms, outbox, key pools and rates, renewals, audit head';

-- a peer's answer has the shape the views read, or it is not shown (a peer may lie)
CREATE FUNCTION ssn.node_status_check(s jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	l jsonb;
BEGIN
	IF jsonb_typeof(s) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'the status is not a JSON object' USING ERRCODE = 'invalid_text_representation';
	END IF;
	PERFORM (s ->> 'node')::text, (s ->> 'catalog_version')::text, (s ->> 'alarms')::bigint,
		(s ->> 'major_alarms')::bigint, (s ->> 'outbox_messages')::bigint, (s ->> 'outbox_oldest_s')::bigint,
		(s ->> 'secrets')::bigint, (s ->> 'last_renewal')::timestamptz, (s ->> 'renewal_epoch')::bigint,
		(s ->> 'audit_head')::bigint,
		(s ->> 'audit_signed_at')::timestamptz;
	IF jsonb_typeof(s -> 'links') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'its links are not a JSON array' USING ERRCODE = 'invalid_text_representation';
	END IF;
	FOR l IN SELECT * FROM jsonb_array_elements(s -> 'links') LOOP
		PERFORM (l ->> 'peer')::text, (l ->> 'reachable')::boolean, (l ->> 'rtt_ms')::float8,
			(l ->> 'pending_messages')::bigint, (l ->> 'pool_bytes')::bigint,
			(l ->> 'key_bytes_per_s')::float8, (l ->> 'seconds_left')::float8;
	END LOOP;
END $$;

-- a peer asks (its own login role, as for every channel function)
CREATE FUNCTION ssn.channel_status() RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_status' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_status() TO ssn_peer;

CREATE FUNCTION ssn.network_status(OUT node text, OUT reachable boolean, OUT error text, OUT status jsonb)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'ssn_network_status' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION ssn.network_status() FROM PUBLIC;
COMMENT ON FUNCTION ssn.network_status() IS
	'Every node''s ssn.node_status(), this node''s and each peer''s (asked at once, ssn.peer_timeout each); a node that does not answer is shown with the reason';

CREATE VIEW ssn.network AS
	SELECT n.node, n.reachable, n.error,
		   n.status ->> 'catalog_version' AS catalog_version,
		   (n.status ->> 'catalog_version') IS NOT DISTINCT FROM ssn.catalog_version() AS catalog_agrees,
		   (n.status ->> 'alarms')::bigint AS alarms,
		   (n.status ->> 'major_alarms')::bigint AS major_alarms,
		   (n.status ->> 'outbox_messages')::bigint AS outbox_messages,
		   (n.status ->> 'outbox_oldest_s')::bigint AS outbox_oldest_s,
		   (n.status ->> 'secrets')::bigint AS secrets,
		   (n.status ->> 'last_renewal')::timestamptz AS last_renewal,
		   (n.status ->> 'renewal_epoch')::bigint AS renewal_epoch,
		   (n.status ->> 'audit_head')::bigint AS audit_head,
		   (n.status ->> 'audit_signed_at')::timestamptz AS audit_signed_at,
		   n.status -> 'links' AS links
	FROM ssn.network_status() n;
COMMENT ON VIEW ssn.network IS
	'The whole storage network seen from this node: one row per node (unreachable ones too), gathered over the peer connections';

CREATE VIEW ssn.network_links AS
	SELECT n.node, l ->> 'peer' AS peer, (l ->> 'reachable')::boolean AS reachable,
		   (l ->> 'rtt_ms')::double precision AS rtt_ms,
		   (l ->> 'pending_messages')::bigint AS pending_messages,
		   (l ->> 'pool_bytes')::bigint AS pool_bytes,
		   (l ->> 'key_bytes_per_s')::double precision AS key_bytes_per_s,
		   (l ->> 'seconds_left')::double precision AS seconds_left
	FROM ssn.network_status() n, jsonb_array_elements(n.status -> 'links') l;
COMMENT ON VIEW ssn.network_links IS
	'Every node''s QKD links: reachability, pending messages, key pool, key rate and the seconds of traffic the pool holds';

-- accounting (Y.3808 §10.4): operations, secrets and QKD key per role, database and
-- day (from the audit trail), and per link and day against what its KME can hold
CREATE VIEW ssn.accounting AS
	SELECT date_trunc('day', a.at) AS day, current_database() AS database, a.role, a.operation,
		   count(*) AS operations, sum(a.secrets) AS secrets, sum(a.value_bytes) AS value_bytes,
		   sum(a.messages) AS messages, sum(a.key_bytes) AS key_bytes,
		   count(*) FILTER (WHERE a.outcome = 'rolled back') AS rolled_back
	FROM ssn.audit_log a
	GROUP BY 1, 3, 4;
REVOKE ALL ON ssn.accounting FROM PUBLIC;
COMMENT ON VIEW ssn.accounting IS
	'Operations, secrets, bytes stored, messages and QKD key bytes per day, database, role and operation (from ssn.audit_log)';

CREATE VIEW ssn.link_accounting AS
	SELECT date_trunc('day', l.fetched_at) AS day, l.peer, l.direction, l.purpose,
		   count(*) AS keys, sum(l.size_bits::bigint) / 8 AS key_bytes,
		   r.capacity_bytes, r.pool_bytes
	FROM ssn.key_ledger l LEFT JOIN ssn.link_rate r ON r.peer = l.peer
	GROUP BY 1, 2, 3, 4, r.capacity_bytes, r.pool_bytes;
REVOKE ALL ON ssn.link_accounting FROM PUBLIC;
COMMENT ON VIEW ssn.link_accounting IS
	'QKD keys and key bytes per day, link, direction and purpose (from the key ledger), with the link''s pool and capacity as its KME reports them';

-- ---------------------------------------------------------------------------
-- The catalog kept in step (Y.3808 §10.2, SSN-Cx): with ssn.catalog_sync on, a
-- change of ssn.shareholder made on one node is numbered, signed with its
-- signing key and sent to every other node, which applies the changes of each
-- node in order, once, under the key it pinned for that node.
-- ---------------------------------------------------------------------------
CREATE TABLE ssn.catalog_change (
	origin text NOT NULL,			-- the node that made it
	seq bigint NOT NULL CHECK (seq > 0),
	change jsonb NOT NULL,			-- op (upsert, delete), name, sae_id, share_index, state, organization, trusted_node
	made_at timestamptz NOT NULL,
	signer bytea NOT NULL,			-- the origin's Ed25519 public key
	signature bytea NOT NULL,
	applied_at timestamptz,			-- here (NULL: made here)
	PRIMARY KEY (origin, seq)
);
REVOKE ALL ON ssn.catalog_change FROM PUBLIC;
COMMENT ON TABLE ssn.catalog_change IS
	'Every signed change of the shareholder catalog: those made here and those of other nodes applied here';
CREATE TABLE ssn.catalog_signer (
	node text PRIMARY KEY,
	public_key bytea NOT NULL CHECK (length(public_key) = 32),
	pinned_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON ssn.catalog_signer FROM PUBLIC;
COMMENT ON TABLE ssn.catalog_signer IS
	'The key each node signs its catalog changes with, pinned at its first change (delete a row to accept a new key)';

CREATE FUNCTION ssn.catalog_publish(change jsonb, subject text, is_new boolean) RETURNS void
	AS 'MODULE_PATHNAME', 'ssn_catalog_publish' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION ssn.catalog_publish(jsonb, text, boolean) FROM PUBLIC;

CREATE FUNCTION ssn.catalog_capture() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ch jsonb;
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM ssn.catalog_publish(jsonb_build_object('op', 'delete', 'name', OLD.name), OLD.name, false);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' OR OLD.name <> NEW.name THEN
		IF TG_OP = 'UPDATE' THEN
			PERFORM ssn.catalog_publish(jsonb_build_object('op', 'delete', 'name', OLD.name), OLD.name, false);
		END IF;
		PERFORM ssn.catalog_publish(jsonb_build_object('op', 'upsert', 'name', NEW.name, 'sae_id', NEW.sae_id,
				'share_index', NEW.share_index, 'state', NEW.state, 'organization', NEW.organization,
				'trusted_node', NEW.trusted_node), NEW.name, TG_OP = 'INSERT');
		RETURN NULL;
	END IF;
	-- an update carries the fields every node's catalog shares that it changed (a conninfo
	-- or a login role is each node's own): changes of other fields made elsewhere stand
	SELECT jsonb_object_agg(n.key, n.value) INTO ch
	  FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
	 WHERE n.key IN ('sae_id', 'share_index', 'state', 'organization', 'trusted_node')
	   AND n.value IS DISTINCT FROM o.value;
	IF ch IS NOT NULL THEN
		PERFORM ssn.catalog_publish(jsonb_build_object('op', 'upsert', 'name', NEW.name) || ch, NEW.name, false);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER shareholder_catalog_sync AFTER INSERT OR UPDATE OR DELETE ON ssn.shareholder
	FOR EACH ROW EXECUTE FUNCTION ssn.catalog_capture();

-- a peer's change, applied here (message kind 'catalog'); never this node's own identity
CREATE FUNCTION ssn.catalog_apply(ch jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n text := ch ->> 'name';
	self text := ssn.node_name();
BEGIN
	IF n IS NULL THEN
		RAISE EXCEPTION 'a catalog change without a name' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ch ->> 'op' = 'delete' THEN
		IF n = self THEN
			RAISE EXCEPTION 'another node may not remove this node''s own entry "%"', n
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		DELETE FROM ssn.shareholder s WHERE s.name = n;
		RETURN;
	END IF;
	IF ch ->> 'op' IS DISTINCT FROM 'upsert' THEN
		RAISE EXCEPTION 'unknown catalog change "%"', ch ->> 'op' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF n = self AND ch ? 'sae_id' AND (ch ->> 'sae_id') IS DISTINCT FROM current_setting('ssn.sae_id', true) THEN
		RAISE EXCEPTION 'another node may not give this node''s own entry "%" another SAE ID', n
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT FROM ssn.shareholder s WHERE s.name = n) THEN
		-- only the fields the change carries (a JSON null sets NULL)
		UPDATE ssn.shareholder s SET
			sae_id = CASE WHEN ch ? 'sae_id' THEN ch ->> 'sae_id' ELSE s.sae_id END,
			share_index = CASE WHEN ch ? 'share_index' THEN (ch ->> 'share_index')::int ELSE s.share_index END,
			state = CASE WHEN ch ? 'state' THEN ch ->> 'state' ELSE s.state END,
			organization = CASE WHEN ch ? 'organization' THEN ch ->> 'organization' ELSE s.organization END,
			trusted_node = CASE WHEN ch ? 'trusted_node' THEN ch ->> 'trusted_node' ELSE s.trusted_node END
		 WHERE s.name = n;
	ELSE
		PERFORM ssn.add_shareholder(n, ch ->> 'sae_id', NULL, (ch ->> 'share_index')::int,
									ch ->> 'trusted_node', ch ->> 'state');
		UPDATE ssn.shareholder s SET organization = ch ->> 'organization' WHERE s.name = n;
	END IF;
END $$;
REVOKE ALL ON FUNCTION ssn.catalog_apply(jsonb) FROM PUBLIC;
