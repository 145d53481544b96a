-- algebra on shares: the shares are combined, never the secrets

-- a + b, a - b, -a, a + c, c - a, a * c on random int8 values, and products
CREATE TABLE pairs AS
	SELECT i, (random() * 2e12 - 1e12)::int8 AS a, (random() * 2e12 - 1e12)::int8 AS b,
		   (random() * 2000 - 1000)::int8 AS c
	FROM generate_series(1, 200) AS i;
INSERT INTO pairs VALUES (201, 9223372036854775807, 9223372036854775807, -1),
						 (202, -9223372036854775808, -9223372036854775808, 0),
						 (203, 0, -1, 1);

CREATE TABLE pair_shares AS
	SELECT i, ssn_split(a, 3, 5) AS sa, ssn_split(b, 3, 5) AS sb FROM pairs;

SELECT count(*) AS pairs,
	   bool_and(ssn_combine((sa + sb)[1:3], NULL::numeric) = a::numeric + b) AS sum_ok,
	   bool_and(ssn_combine((sa - sb)[2:4], NULL::numeric) = a::numeric - b) AS difference_ok,
	   bool_and(ssn_combine((-sa)[3:5], NULL::numeric) = -(a::numeric)) AS negation_ok,
	   bool_and(ssn_combine((sa + c)[1:3], NULL::numeric) = a::numeric + c) AS plus_constant_ok,
	   bool_and(ssn_combine((sa * c)[1:3], NULL::numeric) = a::numeric * c) AS times_constant_ok,
	   bool_and(ssn_combine(sa * sb, NULL::numeric) = a::numeric * b) AS product_ok
FROM pair_shares JOIN pairs USING (i);

-- operators on single shares, with constants on either side
SELECT ssn_combine(ARRAY[s[1] + 10, s[2] + 10], NULL::int8) AS plus_10,
	   ssn_combine(ARRAY[10 + s[1], 10 + s[2]], NULL::int8) AS ten_plus,
	   ssn_combine(ARRAY[s[1] - 10, s[2] - 10], NULL::int8) AS minus_10,
	   ssn_combine(ARRAY[10 - s[1], 10 - s[2]], NULL::int8) AS ten_minus,
	   ssn_combine(ARRAY[s[1] * 3, s[2] * 3], NULL::int8) AS times_3,
	   ssn_combine(ARRAY[3 * s[1], 3 * s[2]], NULL::int8) AS three_times,
	   ssn_combine(ARRAY[-s[1], -s[2]], NULL::int8) AS negated
FROM ssn_split(5::int8, 2, 3) AS s;

-- a product has degree 2(k-1) and needs 2k-1 shares; the share says so
SELECT ssn_share_degree(p[1]) AS degree, ssn_share_k(p[1]) AS k,
	   ssn_combine(p[1:5], NULL::int8) AS product
FROM (SELECT ssn_split(6::int8, 3, 5) * ssn_split(7::int8, 3, 5) AS p) AS t;
SELECT ssn_combine(p[1:4], NULL::int8) FROM (SELECT ssn_split(6::int8, 3, 5) * ssn_split(7::int8, 3, 5) AS p) AS t;

-- three factors: degree 3(k-1)
SELECT ssn_share_degree(p[1]) AS degree, ssn_combine(p, NULL::int8) AS product
FROM (SELECT ssn_split(2::int8, 2, 4) * ssn_split(3::int8, 2, 4) * ssn_split(-4::int8, 2, 4) AS p) AS t;

-- products of int8 extremes do not wrap: exact as numeric
SELECT ssn_combine(ssn_split(9223372036854775807::int8, 2, 3) * ssn_split((-9223372036854775808)::int8, 2, 3), NULL::numeric) AS extreme_product,
	   9223372036854775807::numeric * -9223372036854775808 AS expected;
-- but not as int8
SELECT ssn_combine(ssn_split(9223372036854775807::int8, 2, 3) + ssn_split(1::int8, 2, 3), NULL::int8);
-- as text the exact value is always available
SELECT ssn_combine(ssn_split(9223372036854775807::int8, 2, 3) + ssn_split(1::int8, 2, 3)) AS exact_text;

-- numeric with scale: scales align for +, add up for *
SELECT ssn_combine(ssn_split(1.25, 2, 3) + ssn_split(2.5, 2, 3), NULL::numeric) AS sum_scaled,
	   ssn_combine(ssn_split(1.25, 2, 3) - ssn_split(10, 2, 3), NULL::numeric) AS diff_scaled,
	   ssn_combine(ssn_split(1.25, 2, 3) * ssn_split(-0.5, 2, 3), NULL::numeric) AS product_scaled,
	   ssn_combine(ssn_split(1.25, 2, 3) * 0.1, NULL::numeric) AS times_decimal,
	   ssn_combine(ssn_split(7::int8, 2, 3) + 0.25, NULL::numeric) AS int_plus_decimal;
SELECT ssn_share_value_type(s[1]), ssn_share_scale(s[1])
FROM (SELECT ssn_split(7::int8, 2, 3) + 0.25 AS s) AS t;

-- numeric sums against plain SQL on random data
SELECT bool_and(ssn_combine(ssn_split(x, 3, 5) + ssn_split(y, 3, 5), NULL::numeric) = x + y) AS numeric_sums_ok,
	   bool_and(ssn_combine(ssn_split(x, 3, 5) * ssn_split(y, 3, 5), NULL::numeric) = x * y) AS numeric_products_ok
FROM (SELECT round((random() * 2e6 - 1e6)::numeric, 3) AS x,
			 round((random() * 2e4 - 1e4)::numeric, 1) AS y
	  FROM generate_series(1, 200)) AS t;

-- booleans add up to a count
SELECT ssn_combine(ssn_split(true, 2, 3) + ssn_split(true, 2, 3) + ssn_split(false, 2, 3), NULL::int8) AS trues;

-- byte strings: + is bytewise XOR in GF(2^8), the result is bytea
SELECT ssn_combine(ssn_split('\x0f0f'::bytea, 2, 3) + ssn_split('\xff00'::bytea, 2, 3), NULL::bytea) AS xor,
	   ssn_share_value_type((ssn_split('ab'::text, 2, 3) + ssn_split('cd'::text, 2, 3))[1]) AS xor_type;

-- results of algebra are shares like any other: text form round-trips, ids are
-- the same at every x and differ between computations
SELECT count(DISTINCT ssn_share_secret_id(s)) AS ids_per_result
FROM unnest(ssn_split(1::int8, 2, 3) + ssn_split(2::int8, 2, 3)) AS s;
SELECT bool_and(s::text::ssn_share::text = s::text) AS result_text_round_trip
FROM unnest(ssn_split(1::int8, 2, 3) * ssn_split(2::int8, 2, 3)) AS s;
WITH t AS (SELECT ssn_split(1::int8, 2, 3) AS a, ssn_split(2::int8, 2, 3) AS b)
SELECT ssn_share_secret_id((a + b)[1]) <> ssn_share_secret_id((a - b)[1]) AS distinct_ids,
	   ssn_share_secret_id((a + b)[1]) = ssn_share_secret_id((a + b)[3]) AS same_id_at_each_x
FROM t;

DROP TABLE pair_shares;
DROP TABLE pairs;

-- sum(ssn_share): each shareholder sums its own shares; any row order agrees
CREATE TABLE ledger AS SELECT i, ssn_split(i * 1000 - 3, 3, 5) AS s FROM generate_series(1, 100) AS i;
SELECT ssn_combine(ARRAY[
		 (SELECT sum(s[1] ORDER BY i) FROM ledger),
		 (SELECT sum(s[3] ORDER BY i DESC) FROM ledger),
		 (SELECT sum(s[5] ORDER BY md5(i::text)) FROM ledger)], NULL::int8) AS shared_total,
	   (SELECT sum(i * 1000 - 3) FROM ledger) AS plain_total;
SELECT sum(s[1]) IS NULL AS empty_sum FROM ledger WHERE false;
DROP TABLE ledger;
