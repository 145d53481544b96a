-- Part 4, long-term security: every number is stored with signed Pedersen
-- commitments, every text with a signed check value, and the shares are renewed
-- without rebuilding any secret.
\set ECHO queries
\pset footer off

-- One secret checked end to end: the SSA's signed commitments, then every shareholder's share.
SELECT v.shareholder, v.share_index, v.epoch, v.status FROM patients p, ssn_verify(p.balance) v WHERE p.id = 1;
-- Text has no homomorphic commitments: its shares carry a shared salt, and the SSA
-- signed a digest of value and salt, which k of the shares must open.
SELECT v.shareholder, v.share_index, v.epoch, v.status FROM patients p, ssn_verify(p.diagnosis) v WHERE p.id = 1;

-- Renewal: every secret of node1 gets a fresh sharing of zero added; the worker
-- switches each batch from epoch e to e+1 on all shareholders with two-phase commit.
SELECT epoch, count(*) AS shares_on_node1 FROM ssn.held_share GROUP BY epoch ORDER BY epoch;
SELECT ssn_renew() AS run \gset
SELECT ssn.wait_renewal(:run);
SELECT run, state, secrets_renewed, batches, messages, key_bytes, round(key_bytes_per_secret) AS key_bytes_per_secret
FROM ssn.job_history WHERE run = :run;
SELECT epoch, count(*) AS shares_on_node1 FROM ssn.held_share GROUP BY epoch ORDER BY epoch;
-- the values have not changed (the handles in the table keep working)
SELECT name, ssn_retrieve(balance, NULL::numeric) AS balance FROM patients WHERE id <= 3 ORDER BY id;

-- From now on every day, by the node worker.
SELECT ssn.schedule_renewal('daily', '1 day');
SELECT kind, name, every, next_run > now() AS scheduled FROM ssn.jobs;
