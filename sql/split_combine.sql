-- ssn_split / ssn_combine: any k of n shares rebuild every supported type

-- every k-subset of the n shares, for a sharing, as arrays of shares
CREATE FUNCTION subsets(shares ssn_share[], k int) RETURNS SETOF ssn_share[]
LANGUAGE sql AS $$
	WITH RECURSIVE pick(chosen, last) AS (
		SELECT ARRAY[s], i FROM unnest(shares) WITH ORDINALITY AS u(s, i)
		UNION ALL
		SELECT chosen || s, i FROM pick, unnest(shares) WITH ORDINALITY AS u(s, i)
		WHERE i > last AND cardinality(chosen) < k)
	SELECT chosen FROM pick WHERE cardinality(chosen) = k
$$;

-- true if every k-subset of a fresh (k,n) split rebuilds v, as v's own type
CREATE FUNCTION all_subsets_rebuild(v anyelement, k int, n int) RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
	shares ssn_share[] := ssn_split(v, k, n);
	sub ssn_share[];
	ok bool := true;
	tried int := 0;
BEGIN
	FOR sub IN SELECT * FROM subsets(shares, k) LOOP
		ok := ok AND ssn_combine(sub, v) IS NOT DISTINCT FROM v
				 AND ssn_combine(sub) IS NOT DISTINCT FROM v::text;
		tried := tried + 1;
	END LOOP;
	-- all n shares too (the extra ones are checked for consistency)
	ok := ok AND ssn_combine(shares, v) IS NOT DISTINCT FROM v;
	RETURN ok AND tried > 0;
END $$;

-- integers, including the extremes
SELECT v, all_subsets_rebuild(v, 3, 5) FROM unnest(ARRAY[0, 1, -1, 32767, -32768]::int2[]) AS v;
SELECT v, all_subsets_rebuild(v, 2, 4) FROM unnest(ARRAY[0, 7, -7, 2147483647, -2147483648]::int4[]) AS v;
SELECT v, all_subsets_rebuild(v, 3, 5) FROM unnest(ARRAY[0, 1, -1, 9223372036854775807, -9223372036854775808, 1234567890123]::int8[]) AS v;
SELECT v, all_subsets_rebuild(v, 2, 3) FROM unnest(ARRAY[true, false]) AS v;

-- numeric, integral and with scale; trailing zeros and scale are kept
SELECT v, all_subsets_rebuild(v, 3, 5)
FROM unnest(ARRAY[0, 1.5, -1.5, 0.001, -0.000000001, 1.50, 123456789012345678901234567890,
				  -98765432109876543210.0123456789, 1e70, -1e-70]::numeric[]) AS v;
SELECT ssn_combine(ssn_split(1.50::numeric, 2, 2), NULL::numeric) AS keeps_scale;
-- the largest magnitude the prime field holds: (l-1)/2, about 3.6e75
SELECT all_subsets_rebuild(3618502788666131106986593281521497120428558179689953803000975469142727125494::numeric, 2, 3) AS max_int;
SELECT all_subsets_rebuild(-3618502788666131106986593281521497120428558179689953803000975469142727125494::numeric, 2, 3) AS min_int;

-- text types, including empty and long strings and multibyte characters
SELECT length(v), all_subsets_rebuild(v, 3, 5)
FROM unnest(ARRAY['', 'a', 'hello, world', 'Grüße, 世界 🔐', repeat('long text ', 100000)]) AS v;
SELECT all_subsets_rebuild('varchar value'::varchar, 2, 3) AS varchar_ok,
	   all_subsets_rebuild('padded'::char(10), 2, 3) AS bpchar_ok,
	   pg_typeof(ssn_combine(ssn_split('x'::varchar, 2, 2), NULL::varchar)) AS varchar_type;

-- bytea, including zero bytes, empty and 1 MB of random-looking bytes
SELECT all_subsets_rebuild('\x'::bytea, 2, 3) AS empty_bytea,
	   all_subsets_rebuild('\x00ff00ff'::bytea, 3, 4) AS small_bytea,
	   all_subsets_rebuild((SELECT string_agg(sha256(i::text::bytea), '') FROM generate_series(1, 32768) AS i), 3, 5) AS mb_bytea;

-- dates and times, uuid, json, jsonb, floats
SELECT all_subsets_rebuild('2026-11-25'::date, 3, 5) AS date_ok,
	   all_subsets_rebuild('-infinity'::date, 2, 3) AS date_inf_ok,
	   all_subsets_rebuild('2026-11-25 12:34:56.789+00'::timestamptz, 3, 5) AS timestamptz_ok,
	   all_subsets_rebuild('1999-12-31 23:59:59.999999'::timestamp, 2, 3) AS timestamp_ok,
	   all_subsets_rebuild('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 3, 5) AS uuid_ok,
	   all_subsets_rebuild('{"b": [1, 2, {"c": null}], "a": "ü"}'::jsonb, 3, 5) AS jsonb_ok,
	   all_subsets_rebuild('{"keep":  "spacing" }'::json::text, 2, 3) AS json_text_ok,
	   all_subsets_rebuild(-0.1::float8, 2, 3) AS float8_ok,
	   all_subsets_rebuild('NaN'::float4, 2, 3) AS float4_ok;
SELECT ssn_combine(ssn_split('{"keep":  "spacing" }'::json, 2, 3), NULL::json)::text AS json_as_is;

-- untyped literals resolve to text
SELECT ssn_share_value_type((ssn_split('abc', 2, 3))[1]), ssn_combine(ssn_split('abc', 2, 3));

-- NULL in, NULL out; NULL elements are missing shares
SELECT ssn_split(NULL::int8, 2, 3) IS NULL AS split_null;
SELECT ssn_combine(NULL::ssn_share[], NULL::int8) IS NULL AS combine_null,
	   ssn_combine(NULL::ssn_share[]) IS NULL AS combine_text_null,
	   ssn_combine(ARRAY[NULL, NULL]::ssn_share[], NULL::int8) IS NULL AS all_missing;
SELECT ssn_combine(ARRAY[NULL, s[2], NULL, s[4], s[5]], NULL::int8) AS with_gaps
FROM ssn_split(-77::int8, 3, 5) AS s;

-- results in other types of the same family
SELECT ssn_combine(s, NULL::numeric) AS as_numeric, ssn_combine(s, NULL::int2) AS as_int2
FROM ssn_split(1234::int8, 2, 3) AS s;
SELECT ssn_combine(s, NULL::int8) AS numeric_as_int8 FROM ssn_split(12.000::numeric, 2, 3) AS s;
SELECT ssn_combine(s, NULL::bytea) AS text_as_bytea FROM ssn_split('AB'::text, 2, 3) AS s;
SELECT ssn_combine(s, NULL::text) AS bytea_as_text FROM ssn_split('\x4142'::bytea, 2, 3) AS s;
SELECT ssn_combine(s, NULL::bool) AS int_as_bool FROM ssn_split(1, 2, 3) AS s;

-- larger sharings
SELECT all_subsets_rebuild(31415926535::int8, 2, 2) AS k2_n2,
	   all_subsets_rebuild('k=n=7'::text, 7, 7) AS k7_n7;
SELECT ssn_combine((ssn_split(99::int8, 200, 255))[56:255], NULL::int8) AS k200_n255,
	   ssn_combine((ssn_split('wide'::text, 255, 255)), NULL::text) AS k255_n255;

-- a domain over a supported type
CREATE DOMAIN positive_int AS int8 CHECK (VALUE > 0);
SELECT ssn_combine(ssn_split(5::positive_int, 2, 3), NULL::positive_int) AS domain_ok;
SELECT ssn_combine(ssn_split(-5::int8, 2, 3), NULL::positive_int);
