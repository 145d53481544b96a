-- Part 8: the data owner's client (SSN-U).  ssn-client sealed the salaries under a
-- one-time pad with keys of the owner's own QKD link before they left it; the SSA
-- opened them, stored each as ssn_store does, and sealed them again on the way back.
-- What the server saw of the statement, and what the link spent:
\set ECHO queries
\pset footer off
SELECT count(*) AS salaries, count(amount) AS handles FROM salaries;
SELECT direction, purpose, count(*) AS keys, sum(size_bits) / 8 AS key_bytes
FROM ssn.key_ledger WHERE peer = 'OWNER_1' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT peer, direction, messages, shares AS values, payload_bytes, key_bytes
FROM ssn.link_stats WHERE peer = 'OWNER_1' ORDER BY direction;
-- the values are ordinary secrets of role owner1: computing on them works as before
SET ROLE owner1;
SELECT ssn_sum(amount) AS total FROM salaries;
RESET ROLE;
