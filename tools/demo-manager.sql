-- Part 9: the SSN manager.  Every node as node1 sees it (asked over the peer
-- connections: control data only), the audit trail of what the tour did, whether
-- its chain is whole, and the store policy and placement refusing a store.
\set ECHO queries
\pset footer off
SELECT node, reachable, catalog_agrees, alarms, outbox_messages, secrets, audit_head FROM ssn.network;
-- (the node worker chains and signs the trail every ssn.audit_sign_interval: make it now)
SELECT ssn.audit_sign_head() > 0 AS chained;
SELECT operation, role, outcome, sum(secrets) AS secrets, sum(key_bytes) AS key_bytes
FROM ssn.audit_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT count(*) AS problems FROM ssn.audit_verify();
-- a role that must store with k >= 4
SELECT min_k FROM ssn.set_store_policy('owner1', min_k => 4);
SET ROLE owner1;
\set ON_ERROR_STOP off
SELECT ssn_store(1::int8, 3, 5);
\set ON_ERROR_STOP on
RESET ROLE;
SELECT ssn.drop_store_policy('owner1');
