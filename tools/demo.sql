-- Part 1, on one server: split, compute on shares, combine (shares in one table).
\set ECHO queries
\pset footer off
CREATE EXTENSION IF NOT EXISTS ssn;

-- Split a value into n = 5 shares, any k = 3 of which rebuild it.
SELECT ssn_share_x(s) AS x, s AS share
FROM unnest(ssn_split('attack at dawn'::text, 3, 5)) AS s;

-- Shares are ordinary column values.  Here each row keeps all five; in a secure
-- storage network each would live on a different shareholder server.
CREATE TABLE payroll (name text, salary ssn_share[]);
INSERT INTO payroll VALUES
	('alice', ssn_split(82000::int8, 3, 5)),
	('bob',   ssn_split(71500::int8, 3, 5)),
	('carol', ssn_split(90250::int8, 3, 5));

-- Any 3 shares rebuild a salary; which 3 does not matter.
SELECT name, ssn_combine(salary[1:3], NULL::int8) AS from_1_2_3,
	   ssn_combine(ARRAY[salary[2], salary[4], salary[5]], NULL::int8) AS from_2_4_5
FROM payroll;

-- Two shares are not enough, and the error says so.
\set ON_ERROR_STOP 0
SELECT ssn_combine(salary[1:2], NULL::int8) FROM payroll WHERE name = 'alice';
\set ON_ERROR_STOP 1

-- Compute on shares without rebuilding any salary: each shareholder (here: each
-- x-coordinate) sums the shares it holds; only the total is rebuilt.
SELECT x, sum(salary[x]) AS shareholder_sum FROM payroll, generate_series(1, 5) AS x GROUP BY x ORDER BY x;
SELECT ssn_combine(array_agg(total ORDER BY x), NULL::int8) AS total_payroll
FROM (SELECT x, sum(salary[x]) AS total FROM payroll, generate_series(1, 5) AS x GROUP BY x) AS per_shareholder;

-- A 3% raise for everyone, computed on the shares (scale is tracked: numeric result).
SELECT name, ssn_combine(salary * 1.03, NULL::numeric) AS after_raise FROM payroll;

-- Multiplying two shared values doubles the polynomial degree: the product needs
-- 2k-1 = 5 shares to rebuild.
SELECT ssn_share_degree(p[1]) AS degree, ssn_combine(p, NULL::int8) AS product
FROM (SELECT ssn_split(6::int8, 3, 5) * ssn_split(7::int8, 3, 5) AS p) AS t;

-- Mixing shares of different secrets is refused, not silently wrong.
\set ON_ERROR_STOP 0
SELECT ssn_combine(ARRAY[a.salary[1], a.salary[2], b.salary[3]], NULL::int8)
FROM payroll a, payroll b WHERE a.name = 'alice' AND b.name = 'bob';
\set ON_ERROR_STOP 1
