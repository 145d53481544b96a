-- ssn 1.2 -> 1.3: long-term security (Y.3808 §8.3, §9.3, §10.3, §12.3): renewal
-- of shares in epochs, re-sharing after a shareholder fails, verifiable shares
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.3'" to load this file. \quit

---------------------------------------------------------------------------
-- renewal (proactive secret sharing): jobs, their runs, and the batches the
-- worker switches from epoch e to e+1 with two-phase commit on every holder
---------------------------------------------------------------------------
CREATE TABLE ssn.renewal_job (
	name text PRIMARY KEY,
	every interval NOT NULL CHECK (every >= interval '1 minute'),
	batch_size int NOT NULL DEFAULT 1000 CHECK (batch_size BETWEEN 1 AND 100000),
	enabled boolean NOT NULL DEFAULT true,
	next_run timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ssn.renewal_job IS
	'Scheduled renewals of the shares of the secrets stored from this node (Y.3808 §12.3)';
SELECT pg_catalog.pg_extension_config_dump('ssn.renewal_job', '');

CREATE TABLE ssn.renewal_run (
	id bigserial PRIMARY KEY,
	job text,						-- NULL: on demand (ssn_renew)
	requested_by oid NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT now(),
	batch_size int NOT NULL,
	state text NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
	started_at timestamptz,
	finished_at timestamptz,
	cursor uuid,					-- the last secret of the last batch switched
	secrets_total bigint,			-- secrets of this node when the run started
	secrets_renewed bigint NOT NULL DEFAULT 0,
	batches int NOT NULL DEFAULT 0,
	messages bigint NOT NULL DEFAULT 0,
	key_bytes bigint NOT NULL DEFAULT 0,	-- QKD key material consumed
	skipped uuid[] NOT NULL DEFAULT '{}',	-- secrets a shareholder refused to renew (its share fails its checks)
	error text
);
CREATE INDEX renewal_run_active ON ssn.renewal_run (id) WHERE state IN ('queued', 'running');
COMMENT ON TABLE ssn.renewal_run IS
	'Runs of renewal jobs (history and progress): which secrets were switched to a new epoch';

CREATE TABLE ssn.renewal_batch (
	run_id bigint NOT NULL REFERENCES ssn.renewal_run ON DELETE CASCADE,
	batch int NOT NULL,
	gid text NOT NULL UNIQUE,		-- the prepared transaction's name on every peer
	peers text[] NOT NULL,			-- shareholders asked to prepare
	pending text[] NOT NULL DEFAULT '{}',	-- peers whose prepared switch is not yet committed
	secrets int NOT NULL,
	state text NOT NULL CHECK (state IN ('preparing', 'committing', 'done', 'aborted')),
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	PRIMARY KEY (run_id, batch)
);
CREATE INDEX renewal_batch_open ON ssn.renewal_batch (run_id, batch) WHERE state IN ('preparing', 'committing');
COMMENT ON TABLE ssn.renewal_batch IS
	'Batches of a renewal: the coordinator''s two-phase commit record (presumed abort: preparing = roll back, committing = commit)';
REVOKE ALL ON ssn.renewal_job, ssn.renewal_run, ssn.renewal_batch FROM PUBLIC;

CREATE FUNCTION ssn.schedule_renewal(name text, every interval, batch_size int DEFAULT 1000,
		first_run timestamptz DEFAULT NULL) RETURNS void
	LANGUAGE sql AS $$
	INSERT INTO ssn.renewal_job AS j (name, every, batch_size, next_run)
	VALUES (schedule_renewal.name, schedule_renewal.every, schedule_renewal.batch_size,
			coalesce(schedule_renewal.first_run, now() + schedule_renewal.every))
	ON CONFLICT (name) DO UPDATE SET every = excluded.every, batch_size = excluded.batch_size,
		next_run = excluded.next_run, enabled = true;
$$;
COMMENT ON FUNCTION ssn.schedule_renewal(text, interval, int, timestamptz) IS
	'Renew every secret stored from this node every given interval (first at first_run, default now() + every)';

CREATE FUNCTION ssn.unschedule_renewal(name text) RETURNS boolean
	LANGUAGE sql AS $$
	WITH d AS (DELETE FROM ssn.renewal_job j WHERE j.name = unschedule_renewal.name RETURNING 1)
	SELECT count(*) > 0 FROM d;
$$;

CREATE FUNCTION ssn_renew(batch_size int DEFAULT 1000) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_renew' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_renew(int) IS
	'Queue a renewal of every secret stored from this node; returns the run id (see ssn.jobs, ssn.wait_renewal)';

-- whether xid is this transaction's (or one of its subtransactions')
CREATE FUNCTION ssn.xid_is_current(xid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ssn_xid_is_current' LANGUAGE C STABLE STRICT;

CREATE FUNCTION ssn.wait_renewal(run bigint, timeout interval DEFAULT '10 min') RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	st text;
	deadline timestamptz := clock_timestamp() + timeout;
BEGIN
	IF (SELECT ssn.xid_is_current(r.xmin) FROM ssn.renewal_run r WHERE r.id = run) THEN
		RAISE EXCEPTION 'renewal run % was queued by this transaction', run
			USING ERRCODE = 'active_sql_transaction',
				  HINT = 'The node worker sees it once this transaction commits: wait in the next one.';
	END IF;
	LOOP
		SELECT r.state INTO st FROM ssn.renewal_run r WHERE r.id = run;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'renewal run % does not exist', run USING ERRCODE = 'undefined_object',
				HINT = 'Its queuing transaction must have committed first.';
		END IF;
		IF st IN ('done', 'failed', 'cancelled') OR clock_timestamp() > deadline THEN
			RETURN st;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;

CREATE FUNCTION ssn.cancel_renewal(run bigint) RETURNS boolean
	LANGUAGE sql AS $$
	UPDATE ssn.renewal_run SET state = 'cancelled', finished_at = now()
	WHERE id = run AND state IN ('queued', 'running') RETURNING true;
$$;

CREATE VIEW ssn.jobs AS
	SELECT 'renewal'::text AS kind, j.name, j.every, j.batch_size, j.enabled, j.next_run,
		   r.id AS last_run, r.state AS last_state, r.started_at AS last_started,
		   r.finished_at AS last_finished, r.secrets_renewed, r.secrets_total, r.error AS last_error
	FROM ssn.renewal_job j
	LEFT JOIN LATERAL (SELECT * FROM ssn.renewal_run x WHERE x.job = j.name ORDER BY x.id DESC LIMIT 1) r ON true
	UNION ALL
	SELECT 'renewal', NULL, NULL, r.batch_size, true, NULL, r.id, r.state, r.started_at, r.finished_at,
		   r.secrets_renewed, r.secrets_total, r.error
	FROM ssn.renewal_run r WHERE r.job IS NULL AND r.state IN ('queued', 'running');
COMMENT ON VIEW ssn.jobs IS 'Scheduled jobs with their last run, and on-demand runs in progress';

CREATE VIEW ssn.job_history AS
	SELECT r.id AS run, coalesce(r.job, '(on demand)') AS job, r.requested_by::regrole AS requested_by,
		   r.state, r.requested_at, r.started_at, r.finished_at, r.finished_at - r.started_at AS duration,
		   r.secrets_total, r.secrets_renewed, cardinality(r.skipped) AS secrets_refused, r.batches, r.messages, r.key_bytes,
		   CASE WHEN r.secrets_renewed > 0 THEN r.key_bytes::numeric / r.secrets_renewed END AS key_bytes_per_secret,
		   r.error
	FROM ssn.renewal_run r;
COMMENT ON VIEW ssn.job_history IS 'Every renewal run, newest last: progress, duration, QKD key consumed';

---------------------------------------------------------------------------
-- verifiable shares (Y.3808 §8.3, §10.3): Pedersen commitments over
-- ristretto255, signed (Ed25519) and timestamped by this node as the SSA
---------------------------------------------------------------------------
CREATE TABLE ssn.signing_key (
	id serial PRIMARY KEY,
	public_key bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
	secret_key bytea NOT NULL CHECK (length(secret_key) = 64),
	created_at timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz
);
CREATE UNIQUE INDEX signing_key_current ON ssn.signing_key ((true)) WHERE retired_at IS NULL;
REVOKE ALL ON ssn.signing_key FROM PUBLIC;
COMMENT ON TABLE ssn.signing_key IS
	'Ed25519 keys with which this node signs the commitments of the secrets it stores; one current, older ones retired (still trusted)';
-- Not dumped: a restored node makes a new key and re-signs (ssn.renew_signatures).

CREATE VIEW ssn.signing_keys AS
	SELECT id, encode(public_key, 'hex') AS public_key, created_at, retired_at FROM ssn.signing_key;

CREATE FUNCTION ssn.rotate_signing_key() RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_rotate_signing_key' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn.rotate_signing_key() IS
	'Retire the current signing key and make a new one; returns the new public key (hex)';
CREATE FUNCTION ssn.renew_signatures() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_renew_signatures' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn.renew_signatures() IS
	'Re-sign and re-timestamp the commitments of every verifiable secret with the current key (the signature chain of §8.3)';
REVOKE ALL ON FUNCTION ssn.rotate_signing_key(), ssn.renew_signatures(), ssn_renew(int) FROM PUBLIC;

ALTER TABLE ssn.secret ADD COLUMN commitment bytea;
COMMENT ON COLUMN ssn.secret.commitment IS
	'The signed Pedersen commitment record of its current epoch (NULL: stored without verification)';

-- ssn_store gains a per-store switch for verification (NULL: ssn.verify_shares)
DROP FUNCTION ssn_store(anyelement, int, int);
DROP FUNCTION ssn_store(text, int, int);
CREATE FUNCTION ssn_store(value anyelement, k int DEFAULT NULL, n int DEFAULT NULL, verify boolean DEFAULT NULL)
	RETURNS ssn_secret AS 'MODULE_PATHNAME', 'ssn_store' LANGUAGE C VOLATILE;
CREATE FUNCTION ssn_store(value text, k int DEFAULT NULL, n int DEFAULT NULL, verify boolean DEFAULT NULL)
	RETURNS ssn_secret AS 'MODULE_PATHNAME', 'ssn_store' LANGUAGE C VOLATILE;

CREATE FUNCTION ssn_verify(h ssn_secret,
		OUT shareholder text, OUT share_index int, OUT epoch bigint, OUT status text)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'ssn_verify' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_verify(ssn_secret) IS
	'Check a secret end to end: its signed commitments, and every shareholder''s share against them';

---------------------------------------------------------------------------
-- re-sharing (Y.3808 §9.2 Req_SSN_C 3): a failed shareholder's shares rebuilt
-- on a replacement from masked Lagrange contributions of k other holders
---------------------------------------------------------------------------
CREATE FUNCTION ssn.reshare(failed text, replacement text, batch_size int DEFAULT 1000) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_reshare' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn.reshare(text, text, int) IS
	'Rebuild the shares the failed shareholder held of this node''s secrets on the replacement, then give it the failed one''s share index';
REVOKE ALL ON FUNCTION ssn.reshare(text, text, int) FROM PUBLIC;

CREATE FUNCTION ssn.channel_reshare_finish(origin text, ids uuid[]) RETURNS int
	AS 'MODULE_PATHNAME', 'ssn_channel_reshare_finish' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_reshare_finish(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_reshare_finish(text, uuid[]) TO ssn_peer;

CREATE TABLE ssn.reshare_request (
	message_id uuid PRIMARY KEY,
	origin text NOT NULL,
	request bytea NOT NULL,			-- the SSA's request: secrets, helpers, mask seeds
	received_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON ssn.reshare_request FROM PUBLIC;
COMMENT ON TABLE ssn.reshare_request IS
	'Re-sharing requests received from an SSA until it asks for the contributions (ssn.channel_reshare_help)';

CREATE FUNCTION ssn.channel_reshare_help(origin text) RETURNS int
	AS 'MODULE_PATHNAME', 'ssn_channel_reshare_help' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_reshare_help(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_reshare_help(text) TO ssn_peer;
