-- Part 4: node4 and node5 are stopped (n - k = 2 shareholders may fail).
\set ECHO queries
\pset footer off

-- The health checks noticed, and raised alarms.
SELECT peer, reachable, health_error FROM ssn.channels ORDER BY peer;
SELECT source, object, severity, problem FROM ssn.active_alarms ORDER BY id;

-- Retrieval still works from the three that remain.
SELECT id, name, ssn_retrieve(diagnosis) AS diagnosis FROM patients WHERE id <= 3 ORDER BY id;

-- Storing still works: the shares for node4 and node5 wait in the outbox.
SET ssn.synchronous_store = 'local';
INSERT INTO patients VALUES (1001, 'dave', ssn_store('fracture'::text, 3, 5), ssn_store(42.00::numeric));
SELECT ssn.wait_delivered('10 s', 'node2') AND ssn.wait_delivered('10 s', 'node3') AS delivered_to_node2_node3;
SELECT peer, reachable, pending_shares FROM ssn.channels ORDER BY peer;

