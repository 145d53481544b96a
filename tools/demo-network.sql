-- Part 2, the secure storage network: node1 stores values whose shares live on
-- five shareholder servers (node1..node5), k = 3 of which rebuild a value.
\set ECHO queries
\pset footer off
DROP TABLE IF EXISTS patients;

-- This node and its shareholders (the controller's catalog).
SELECT * FROM ssn.node;
SELECT name, share_index, trusted_node, state FROM ssn.shareholder ORDER BY share_index;

-- A table with secret columns: the handles say which shareholders hold the shares.
CREATE TABLE patients (id int PRIMARY KEY, name text, diagnosis ssn_secret(3,5), balance ssn_secret);
SET ssn.synchronous_store = 'all';	-- commit waits until all five shareholders hold their share
INSERT INTO patients VALUES
	(1, 'alice', ssn_store('hypertension'::text, 3, 5), ssn_store(1250.75::numeric)),
	(2, 'bob',   ssn_store('diabetes type 2'::text, 3, 5), ssn_store(310.00::numeric)),
	(3, 'carol', ssn_store('asthma'::text, 3, 5), ssn_store(0.50::numeric));
SELECT id, name, diagnosis FROM patients ORDER BY id;

-- What the user table and each shareholder hold: no plaintext anywhere.
SELECT origin, ssn_share_x(share) AS x, left(share::text, 60) || '...' AS share_on_node1
FROM ssn.held_share h JOIN patients p ON h.secret_id = ssn_secret_id(p.diagnosis) ORDER BY p.id;

-- Every message on the channels was one-time-pad encrypted with QKD keys.
SELECT peer, messages, shares, share_bytes, key_bytes FROM ssn.link_stats WHERE direction = 'send' ORDER BY peer;

-- Retrieval collects k = 3 shares (this node's own and the two fastest peers').
SELECT id, name, ssn_retrieve(diagnosis) AS diagnosis, ssn_retrieve(balance, NULL::numeric) AS balance
FROM patients ORDER BY id;

-- Many values at once: one message per shareholder for the whole array.
INSERT INTO patients SELECT g, 'patient ' || g, ssn_store(('code-' || g)::text, 3, 5), ssn_store(g * 10.0)
FROM generate_series(4, 1000) g;
SELECT count(*) AS rows, (ssn_retrieve(array_agg(balance ORDER BY id)))[1000] AS balance_of_1000 FROM patients;
