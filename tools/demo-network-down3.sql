-- Part 5: node3 is stopped too; only two shareholders answer.
\set ECHO queries
\set ON_ERROR_STOP 0
SELECT ssn_retrieve(diagnosis) FROM patients WHERE id = 1;
\set ON_ERROR_STOP 1
