-- Part 6: all nodes are back; the outbox drains, the alarms clear.
\set ECHO queries
\pset footer off
SELECT ssn.wait_delivered('60 s') AS all_delivered;
SELECT peer, reachable, pending_shares, delivered_shares FROM ssn.channels ORDER BY peer;
SELECT source, object, problem, raised_at, cleared_at IS NOT NULL AS cleared FROM ssn.alarm ORDER BY id;
SELECT ssn_retrieve(diagnosis) AS diagnosis FROM patients WHERE id = 1001;
