-- k-1 shares carry no information about the secret (Y.3808 §8.1).
--
-- For two different secrets, split each many times and look at the joint
-- distribution of k-1 shares (their high nibbles: 256 cells).  A chi-square test of
-- homogeneity over the 2 x 256 table must not tell the secrets apart.  The threshold
-- 377 is the chi-square(255 df) quantile at p = 1e-6 (Wilson-Hilferty), so a correct
-- implementation fails this test about once in a million runs.  The same test on k
-- shares must tell the secrets apart: that shows the test has the power to fail.

CREATE FUNCTION chi2_homogeneity(samples text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	result float8;
BEGIN
	EXECUTE format($q$
		WITH obs AS (SELECT secret, cell, count(*)::float8 AS c FROM (%s) AS s GROUP BY 1, 2),
			 cols AS (SELECT cell, sum(c) AS cs FROM obs GROUP BY cell),
			 rows AS (SELECT secret, sum(c) AS rs FROM obs GROUP BY secret),
			 tot AS (SELECT sum(c) AS n FROM obs),
			 grid AS (SELECT coalesce(o.c, 0) AS o, r.rs * c.cs / t.n AS e
					  FROM rows r CROSS JOIN cols c CROSS JOIN tot t
					  LEFT JOIN obs o ON o.secret = r.secret AND o.cell = c.cell)
		SELECT sum((o - e) ^ 2 / e) FROM grid$q$, samples) INTO result;
	RETURN result;
END $$;

-- GF(2^8), k = 3: shares x=1 and x=2 of the byte 0x00 vs the byte 0xff
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   (get_byte(ssn_share_payload(s[1]), 0) >> 4) * 16 + (get_byte(ssn_share_payload(s[2]), 0) >> 4) AS cell
	FROM (SELECT v, ssn_split(v, 3, 5) AS s
		  FROM unnest(ARRAY['\x00'::bytea, '\xff'::bytea]) AS v, generate_series(1, 25600)) AS t
$$) < 377 AS gf256_k_minus_1_shares_independent;

-- the same with the low nibbles of shares x=4 and x=5
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   (get_byte(ssn_share_payload(s[4]), 0) & 15) * 16 + (get_byte(ssn_share_payload(s[5]), 0) & 15) AS cell
	FROM (SELECT v, ssn_split(v, 3, 5) AS s
		  FROM unnest(ARRAY['\x00'::bytea, '\x5a'::bytea]) AS v, generate_series(1, 25600)) AS t
$$) < 377 AS gf256_low_nibbles_independent;

-- prime field, k = 3: shares x=1 and x=3 of 0 vs the largest int8
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   (get_byte(ssn_share_payload(s[1]), 0) >> 4) * 16 + (get_byte(ssn_share_payload(s[3]), 0) >> 4) AS cell
	FROM (SELECT v, ssn_split(v, 3, 5) AS s
		  FROM unnest(ARRAY[0, 9223372036854775807]::int8[]) AS v, generate_series(1, 25600)) AS t
$$) < 377 AS prime_k_minus_1_shares_independent;

-- prime field: the top byte of a share (the field is 2^252 + small, so 0..16)
SELECT chi2_homogeneity($$
	SELECT v AS secret, get_byte(ssn_share_payload(s[2]), 31) AS cell
	FROM (SELECT v, ssn_split(v, 2, 3) AS s
		  FROM unnest(ARRAY[-1, 1]::int8[]) AS v, generate_series(1, 25600)) AS t
$$) < 48.1 AS prime_top_byte_independent;	-- chi-square(16 df) at p = 1e-6 is ~48.1

-- The linear statistic y2 - 2*y1 (in each field) is a function of the secret alone
-- when k = 2, so on k shares the test must tell the secrets apart; on k-1 shares of
-- a k = 3 sharing the same statistic must show nothing.
CREATE FUNCTION xtime(b int) RETURNS int LANGUAGE sql IMMUTABLE AS
	'SELECT ((b << 1) & 255) # (CASE WHEN b & 128 > 0 THEN 27 ELSE 0 END)';
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   get_byte(ssn_share_payload(s[2]), 0) # xtime(get_byte(ssn_share_payload(s[1]), 0)) AS cell
	FROM (SELECT v, ssn_split(v, 2, 3) AS s
		  FROM unnest(ARRAY['\x00'::bytea, '\xff'::bytea]) AS v, generate_series(1, 25600)) AS t
$$) > 377 AS gf256_k_shares_dependent;
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   get_byte(ssn_share_payload(s[2]), 0) # xtime(get_byte(ssn_share_payload(s[1]), 0)) AS cell
	FROM (SELECT v, ssn_split(v, 3, 5) AS s
		  FROM unnest(ARRAY['\x00'::bytea, '\xff'::bytea]) AS v, generate_series(1, 25600)) AS t
$$) < 377 AS gf256_same_statistic_k_minus_1_independent;
-- (prime field: the low byte of 2*y1 - y2 is -s plus a wrap-around term)
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   (2 * get_byte(ssn_share_payload(s[1]), 0) - get_byte(ssn_share_payload(s[2]), 0)) & 255 AS cell
	FROM (SELECT v, ssn_split(v, 2, 3) AS s
		  FROM unnest(ARRAY[0, 1]::int8[]) AS v, generate_series(1, 25600)) AS t
$$) > 377 AS prime_k_shares_dependent;
SELECT chi2_homogeneity($$
	SELECT v AS secret,
		   (2 * get_byte(ssn_share_payload(s[1]), 0) - get_byte(ssn_share_payload(s[2]), 0)) & 255 AS cell
	FROM (SELECT v, ssn_split(v, 3, 5) AS s
		  FROM unnest(ARRAY[0, 1]::int8[]) AS v, generate_series(1, 25600)) AS t
$$) < 377 AS prime_same_statistic_k_minus_1_independent;
