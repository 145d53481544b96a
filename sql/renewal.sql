-- Long-term security on one node: the 1.2 -> 1.3 -> 1.4 upgrade, verifiable shares and
-- their checks, signing keys, renewal jobs and re-sharing as a DBA meets them
-- without peers.  (Between real nodes: t/023_renewal.pl, t/024_verify.pl.)
\set VERBOSITY terse
SET client_min_messages = warning;

-- the previous test left a 1.2 installation: it updates in place
ALTER EXTENSION ssn UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'ssn';
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssn'
WHERE p.proname IN ('ssn_store', 'ssn_verify', 'ssn_renew', 'reshare', 'channel_reshare_help',
					'channel_reshare_finish', 'rotate_signing_key', 'renew_signatures')
ORDER BY 1, 2;
SELECT has_function_privilege('public', 'ssn_renew(int)', 'EXECUTE') AS public_may_renew,
	   has_function_privilege('public', 'ssn.reshare(text, text, int)', 'EXECUTE') AS public_may_reshare,
	   has_function_privilege('ssn_peer', 'ssn.channel_reshare_help(text)', 'EXECUTE') AS peers_may_help,
	   has_function_privilege('public', 'ssn.channel_reshare_help(text)', 'EXECUTE') AS public_may_help,
	   has_table_privilege('public', 'ssn.signing_key', 'SELECT') AS public_reads_keys;

CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM,
						  '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END $$;

-- this node and two peers that cannot be reached
SET ssn.sae_id = 'SAE_R';
-- a KME for the links to the peers: stores seal their shares with its keys
\i sql/regress_kme.psql
SELECT name FROM ssn.add_shareholder('here', 'SAE_R', NULL, 1, 'here');
SELECT name FROM ssn.add_shareholder('ghost1', 'SAE_G1', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 2, 'ghost1');
SELECT name FROM ssn.add_shareholder('ghost2', 'SAE_G2', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 3, 'ghost2');

-- numbers are verifiable by default: the share carries y, its blinding and the
-- signed record (128 + 32k bytes); text and verify => false are not: they carry a
-- shared salt (32 bytes; for a number one more field element) and have a check value
CREATE TABLE vs (name text, s ssn_secret);
INSERT INTO vs VALUES ('int8', ssn_store(42::int8, 2, 3)),
	('numeric', ssn_store(3.25::numeric, 3, 3)),
	('plain', ssn_store(7::int8, 2, 3, verify => false)),
	('text', ssn_store('abc', 2, 3));
SET ssn.verify_shares = off;
INSERT INTO vs VALUES ('guc off', ssn_store(8::int8, 2, 3));
RESET ssn.verify_shares;
SELECT v.name, length(ssn_share_payload(h.share)) AS payload, s.commitment IS NOT NULL AS committed,
	   length(s.commitment) AS record
FROM vs v JOIN ssn.secret s ON s.id = ssn_secret_id(v.s)
JOIN ssn.held_share h ON h.secret_id = s.id ORDER BY v.name;

-- the signed check values (160 bytes) of the text and the unverifiable numbers
SELECT v.name, length(s.check_record) AS check_record, h.share::text LIKE '% s=0 g=1 id=%' AS flagged,
	   h.share::text::ssn_share::text = h.share::text AS round_trip
FROM vs v JOIN ssn.secret s ON s.id = ssn_secret_id(v.s)
JOIN ssn.held_share h ON h.secret_id = s.id ORDER BY v.name;
SELECT shareholder, regexp_replace(status, 'key [0-9a-f]{16} at .*', 'key <key> at <time>') AS status
FROM ssn_verify((SELECT s FROM vs WHERE name = 'text'));
-- an altered check value: its signature fails, and nothing is rebuilt
CREATE TEMP TABLE ck AS SELECT id, check_record FROM ssn.secret WHERE check_record IS NOT NULL;
-- (a bit of byte 70 flipped: setting it could leave it as it was, 1 time in 256)
UPDATE ssn.secret SET check_record = set_byte(check_record, 69, get_byte(check_record, 69) # 1)
WHERE id = (SELECT ssn_secret_id(s) FROM vs WHERE name = 'text');
SELECT shareholder, status FROM ssn_verify((SELECT s FROM vs WHERE name = 'text')) WHERE share_index IS NULL;
SELECT try($$SELECT ssn.renew_signatures()$$);
UPDATE ssn.secret s SET check_record = ck.check_record FROM ck WHERE ck.id = s.id;

-- one signing key was made on first use; its secret half is not readable by others
SELECT count(*) AS keys, bool_and(retired_at IS NULL) AS current, bool_and(length(public_key) = 64) AS hex
FROM ssn.signing_keys;

-- a verifiable share round-trips through its text form; its record is checked
SELECT h.share::text::ssn_share::text = h.share::text AS round_trip
FROM ssn.held_share h JOIN vs v ON h.secret_id = ssn_secret_id(v.s) WHERE v.name = 'int8';
-- the record's k must match the share's
SELECT try(format($$SELECT %L::ssn_share$$,
	regexp_replace(h.share::text, ' k=2 n=3 d=1 ', ' k=3 n=3 d=2 ')))
FROM ssn.held_share h JOIN vs v ON h.secret_id = ssn_secret_id(v.s) WHERE v.name = 'int8';

-- ssn_verify without peers: the commitments are valid, the peers' shares missing
SELECT shareholder, share_index, epoch, regexp_replace(status, 'key [0-9a-f]{16} at .*', 'key <key> at <time>') AS status
FROM ssn_verify((SELECT s FROM vs WHERE name = 'int8'));
SELECT shareholder, regexp_replace(status, 'key [0-9a-f]{16} at .*', 'key <key> at <time>') AS status
FROM ssn_verify((SELECT s FROM vs WHERE name = 'plain'));
SELECT try($$SELECT * FROM ssn_verify((SELECT s FROM vs WHERE name = 'int8') + 1)$$);

-- commitments from the commit pool's threads, or all made by the storing call: the
-- same checks hold (every commitment record, and the share held here, valid)
SET ssn.commit_threads = 0;
CREATE TABLE pooled AS SELECT g, ssn_store(g::int8, 2, 3) AS s FROM generate_series(1, 5) g;
RESET ssn.commit_threads;
INSERT INTO pooled SELECT g, ssn_store(g::int8, 2, 3) FROM generate_series(6, 400) g;
SELECT count(*) AS checks, count(*) FILTER (WHERE v.status LIKE 'valid%') AS valid
FROM pooled p, ssn_verify(p.s) v WHERE v.share_index IS NULL OR v.shareholder = 'here';
DELETE FROM ssn.held_share WHERE secret_id IN (SELECT ssn_secret_id(s) FROM pooled);
DELETE FROM ssn.secret WHERE id IN (SELECT ssn_secret_id(s) FROM pooled);
DROP TABLE pooled;
CREATE ROLE ssn_pool_user;
SET ROLE ssn_pool_user;
SELECT try($$SET ssn.commit_threads = 16$$);
RESET ROLE;
DROP ROLE ssn_pool_user;

-- a forged commitment: its signature fails
UPDATE ssn.secret SET commitment = set_byte(commitment, 69, get_byte(commitment, 69) # 1)
WHERE id = (SELECT ssn_secret_id(s) FROM vs WHERE name = 'numeric');
SELECT shareholder, status FROM ssn_verify((SELECT s FROM vs WHERE name = 'numeric')) WHERE share_index IS NULL;
SELECT try($$SELECT ssn.renew_signatures()$$);
DELETE FROM ssn.secret WHERE id = (SELECT ssn_secret_id(s) FROM vs WHERE name = 'numeric');

-- renewing the signatures, rotating the key: old records stay trusted
SELECT ssn.renew_signatures() AS resigned;
SELECT length(ssn.rotate_signing_key()) AS new_key_hex;
SELECT count(*) AS keys, count(*) FILTER (WHERE retired_at IS NULL) AS current FROM ssn.signing_keys;
SELECT shareholder, regexp_replace(status, 'key [0-9a-f]{16} at .*', 'key <key> at <time>') AS status
FROM ssn_verify((SELECT s FROM vs WHERE name = 'int8')) WHERE share_index IS NULL;
SELECT ssn.renew_signatures() AS resigned;

-- renewal jobs: scheduling, on-demand runs, bad input
SELECT ssn.schedule_renewal('nightly', '1 day', 500, '2100-01-01');
SELECT ssn.schedule_renewal('nightly', '12 hours');
SELECT name, every, batch_size, enabled, next_run > now() AS later FROM ssn.renewal_job;
SELECT try($$SELECT ssn.schedule_renewal('often', '1 second')$$);
SELECT try($$SELECT ssn_renew(0)$$);
SELECT ssn_renew(100) > 0 AS queued;
SELECT kind, name, batch_size, last_state FROM ssn.jobs ORDER BY name NULLS LAST;
SELECT job, state, batches, secrets_renewed FROM ssn.job_history;
SELECT try($$SELECT ssn.wait_renewal(-1)$$);
SELECT try($$SELECT ssn.wait_renewal(ssn_renew())$$);
SELECT ssn.cancel_renewal(id) FROM ssn.renewal_run;
SELECT ssn.wait_renewal(id, '1 s') FROM ssn.renewal_run;
SELECT ssn.unschedule_renewal('nightly'), ssn.unschedule_renewal('nightly');

-- re-sharing: the failed node and the replacement must make sense
SELECT try($$SELECT ssn.reshare('nobody', 'ghost2')$$);
SELECT try($$SELECT ssn.reshare('here', 'ghost2')$$);
SELECT try($$SELECT ssn.reshare('ghost1', 'ghost2')$$);
SELECT try($$SELECT ssn.reshare('ghost1', 'nobody')$$);
SELECT try($$SELECT ssn.reshare('ghost1', 'ghost2', 0)$$);

DROP TABLE vs;
DELETE FROM ssn.outbox;
DELETE FROM ssn.held_share;
DELETE FROM ssn.secret;
SELECT ssn.remove_shareholder(name) FROM ssn.shareholder ORDER BY name;
DROP FUNCTION try(text);
\! "$SSN_TOOLS/regress-kme" stop kme_regress
