-- Part 3, computing on secrets: the shareholders add and multiply their shares;
-- node1 (the SSA) rebuilds only the results.
\set ECHO queries
\pset footer off
DROP TABLE IF EXISTS orders;

-- Sums and averages over secret columns: one program per shareholder, one result share back.
SELECT ssn_sum(balance) AS total, ssn_avg(balance) AS average, ssn_count(balance) AS n FROM patients;

-- Operators make computed secrets: expressions over stored secrets, evaluated when retrieved.
SELECT name, balance + 100 AS computed_secret FROM patients WHERE id = 1;
SELECT name, ssn_retrieve(balance * 1.1 + 100, NULL::numeric) AS balance_plus_fees FROM patients WHERE id <= 3 ORDER BY id;

-- A table of secret quantities and prices: a dot product, grouped by a plain column.
CREATE TABLE orders (id int, ward text, qty ssn_secret, price ssn_secret);
SET ssn.synchronous_store = 'all';
INSERT INTO orders SELECT i, 'ward ' || (i % 3), ssn_store((i % 7 + 1)::int8), ssn_store(round(i * 0.37, 2))
FROM generate_series(1, 300) i;
SELECT ward, ssn_sum(qty * price) AS revenue, ssn_sum(qty) AS items FROM orders GROUP BY ward ORDER BY ward;
-- the same on plaintext, for comparison
SELECT 'ward ' || (i % 3) AS ward, sum((i % 7 + 1) * round(i * 0.37, 2)) AS revenue, sum(i % 7 + 1) AS items
FROM generate_series(1, 300) i GROUP BY 1 ORDER BY 1;

-- A product stored as a secret of its own: at commit the shareholders reduce its
-- degree by re-sharing among themselves over the OTP channels (no node sees it).
ALTER TABLE orders ADD COLUMN total ssn_secret;
UPDATE orders SET total = ssn_store(qty * price);
SELECT id, ssn_retrieve(total, NULL::numeric) AS total, ssn_retrieve(total * qty, NULL::numeric) AS total_times_qty
FROM orders WHERE id <= 3 ORDER BY id;
SELECT peer, direction, messages, key_bytes FROM ssn.link_stats WHERE peer = 'node2' ORDER BY direction;
