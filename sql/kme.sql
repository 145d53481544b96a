-- KME client and key ledger: configuration, catalog and errors that need no KME.
-- (The client against a real KME over mutual TLS is tested in t/010_kme_client.pl.)
LOAD 'ssn';

-- ssn.* parameters: validated, and the key files are not for ordinary users
SHOW ssn.kme_url;
SHOW ssn.kme_timeout;
SHOW ssn.kme_connect_timeout;
SET ssn.kme_url = 'http://kme.example:8443';
SET ssn.kme_url = 'https://';
SET ssn.kme_url = 'https://kme example';
SET ssn.kme_url = 'https://kme.example:8443/';
SHOW ssn.kme_url;
SET ssn.sae_id = E'SAE\nA';
SET ssn.sae_id = 'SAE_A';
SET ssn.kme_timeout = 50;
SET ssn.kme_timeout = '2s';
SHOW ssn.kme_timeout;
SET ssn.no_such_parameter = 1;
RESET ALL;
CREATE ROLE ssn_kme_user;
SET ROLE ssn_kme_user;
SET ssn.sae_key = '/tmp/stolen.key';
SET ssn.kme_url = 'https://evil.example';
SET ssn.kme_timeout = 1000;		-- a user may shorten their own waits
RESET ssn.kme_timeout;
SELECT * FROM ssn.kme_enc_keys('p1', 1);
SELECT * FROM ssn.key_ledger;
RESET ROLE;

-- shareholders
SELECT name, sae_id, conninfo, share_index, trusted_node, state
	FROM ssn.add_shareholder('p1', 'SAE_P1', 'host=p1 dbname=ssn', 1);
SELECT name, sae_id, share_index, state
	FROM ssn.add_shareholder('p2', 'SAE_P2', share_index => 2, state => 'standby');
SELECT name FROM ssn.add_shareholder('p3', 'SAE_P1');
SELECT name FROM ssn.add_shareholder('p3', 'SAE_P3', share_index => 2);
\set VERBOSITY terse
SELECT name FROM ssn.add_shareholder('p3', 'SAE_P3', share_index => 0);
SELECT name FROM ssn.add_shareholder('p 3', 'SAE_P3');
SELECT name FROM ssn.add_shareholder('p3', E'SAE\tP3');
SELECT name FROM ssn.add_shareholder('p3', 'SAE_P3', state => 'broken');
\set VERBOSITY default
SELECT name FROM ssn.add_shareholder('p3', 'SAE_P3');
SELECT ssn.remove_shareholder('p3');
SELECT ssn.remove_shareholder('p3');
SELECT name, sae_id, state FROM ssn.shareholder ORDER BY name;

-- no KME configured: status says so, key requests fail clearly
SELECT shareholder, sae_id, reachable, error FROM ssn.kme_status('p1');
SELECT shareholder, reachable, error FROM ssn.kme_links ORDER BY 1;
SELECT * FROM ssn.kme_status('nobody');
SELECT * FROM ssn.kme_enc_keys('p1', 1);
SELECT * FROM ssn.kme_enc_keys('nobody', 1);
SELECT * FROM ssn.kme_dec_keys('p1', ARRAY['k1'], 256);

-- argument checks (before any KME is asked)
SELECT * FROM ssn.kme_enc_keys('p1', 0);
SELECT * FROM ssn.kme_enc_keys('p1', 100001);
SELECT * FROM ssn.kme_enc_keys('p1', 1, -8);
SELECT * FROM ssn.kme_enc_keys('p1', 1, 256, '');
SELECT * FROM ssn.kme_enc_keys('p1', NULL);
SELECT * FROM ssn.kme_dec_keys('p1', ARRAY[]::text[], 256);
SELECT * FROM ssn.kme_dec_keys('p1', ARRAY['k1', NULL], 256);
SELECT * FROM ssn.kme_dec_keys('p1', ARRAY['k1'], 100);

-- a KME that cannot be reached: a transport error naming KME and SAEs
SET ssn.kme_url = 'https://127.0.0.1:1';
SET ssn.sae_id = 'SAE_ME';
SET ssn.sae_cert = '/nonexistent/sae.crt';
SET ssn.sae_key = '/nonexistent/sae.key';
SET ssn.kme_ca = '/nonexistent/ca.crt';
SET ssn.kme_connect_timeout = 500;
\set VERBOSITY terse
SELECT * FROM ssn.kme_enc_keys('p1', 1);
SELECT shareholder, reachable, error FROM ssn.kme_status('p1');
-- dec_keys records the IDs before asking: the failure burns them
SELECT * FROM ssn.kme_dec_keys('p1', ARRAY['id-1', 'id-2'], 256);
\set VERBOSITY default
SELECT key_id, direction, peer, peer_sae_id, purpose, size_bits, state
	FROM ssn.key_ledger ORDER BY key_id;
SELECT ssn.key_ledger_recover();
SELECT key_id, state, settled_at IS NOT NULL AS settled FROM ssn.key_ledger ORDER BY key_id;
-- ... and a key ID in the ledger is refused locally, whatever the KME would say
DO $$
DECLARE m text; h text;
BEGIN
	PERFORM * FROM ssn.kme_dec_keys('p1', ARRAY['id-3', 'id-2'], 256);
EXCEPTION WHEN unique_violation THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
	RAISE NOTICE '%', m;
	RAISE NOTICE 'hint: %', h;
END $$;
SELECT count(*) FROM ssn.key_ledger WHERE key_id = 'id-3';
-- ... and so is a key ID named twice in one request (nothing of it recorded)
DO $$
DECLARE m text; h text;
BEGIN
	PERFORM * FROM ssn.kme_dec_keys('p1', ARRAY['id-4', 'id-5', 'id-4'], 256);
EXCEPTION WHEN unique_violation THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
	RAISE NOTICE '%', m;
	RAISE NOTICE 'hint: %', h;
END $$;
SELECT count(*) FROM ssn.key_ledger WHERE key_id IN ('id-4', 'id-5');

-- the ledger: a key ID is never recorded twice; its states are checked
INSERT INTO ssn.key_ledger (key_id, direction, peer, peer_sae_id, purpose, size_bits, state, settled_at)
	VALUES ('id-1', 'send', 'p1', 'SAE_P1', 'test', 256, 'used', now());
\set VERBOSITY terse
INSERT INTO ssn.key_ledger (key_id, direction, peer, peer_sae_id, purpose, size_bits, state)
	VALUES ('id-9', 'send', 'p1', 'SAE_P1', 'test', 256, 'reused');
INSERT INTO ssn.key_ledger (key_id, direction, peer, peer_sae_id, purpose, size_bits)
	VALUES ('id-9', 'send', 'p1', 'SAE_P1', 'test', 100);
\set VERBOSITY default
-- a 'fetched' row of a process that is gone is settled as 'lost'
INSERT INTO ssn.key_ledger (key_id, direction, peer, peer_sae_id, purpose, size_bits, holder_pid, holder_start)
	VALUES ('id-9', 'send', 'p1', 'SAE_P1', 'test', 256, 2147483647, now());
SELECT ssn.key_ledger_recover();
SELECT key_id, state FROM ssn.key_ledger WHERE key_id = 'id-9';
SELECT ssn.key_ledger_recover();

-- operators' functions are not for everybody, even with access to the schema
GRANT USAGE ON SCHEMA ssn TO ssn_kme_user;
SET ROLE ssn_kme_user;
SELECT ssn.key_ledger_recover();
SELECT * FROM ssn.kme_status('p1');
SELECT ssn.add_shareholder('p9', 'SAE_P9');
SELECT * FROM ssn.key_ledger;
RESET ROLE;
REVOKE USAGE ON SCHEMA ssn FROM ssn_kme_user;
DROP ROLE ssn_kme_user;
DELETE FROM ssn.key_ledger;
DELETE FROM ssn.shareholder;
