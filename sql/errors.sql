-- every error a user can cause: SQLSTATE, message, detail and hint
\pset null '(null)'

-- run a statement, return what it raised (or 'ok'); random secret ids are masked
CREATE FUNCTION err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hin text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
	RETURN regexp_replace(st || ' ' || msg
		|| coalesce(nullif(E'\n  DETAIL: ' || det, E'\n  DETAIL: '), '')
		|| coalesce(nullif(E'\n  HINT: ' || hin, E'\n  HINT: '), ''),
		'[0-9a-f]{32}', '<id>', 'g');
END $$;

-- CRC-32C and a forger's tool: rewrite a share's epoch or payload with a valid
-- checksum, to reach the checks that a checksum alone cannot make
CREATE FUNCTION crc32c(b bytea) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	crc bigint := 4294967295;
BEGIN
	FOR i IN 0 .. length(b) - 1 LOOP
		crc := crc # get_byte(b, i);
		FOR j IN 1 .. 8 LOOP
			crc := (crc >> 1) # (CASE WHEN crc & 1 = 1 THEN 2197175160 ELSE 0 END);
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END $$;
CREATE FUNCTION forge(s ssn_share, epoch bigint, payload bytea DEFAULT NULL,
					  int4_type bool DEFAULT false) RETURNS ssn_share
LANGUAGE plpgsql AS $$
DECLARE
	b bytea := ssn_share_send(s);
	p bytea := coalesce(payload, substr(b, 41));
	h bytea := substr(b, 1, 36);
	t text := s::text;
BEGIN
	IF int4_type THEN		-- value type code 3 (int4) instead of 4 (int8)
		h := set_byte(h, 2, 3);
		t := replace(t, ' t=int8 ', ' t=int4 ');
	END IF;
	FOR i IN 0 .. 3 LOOP
		h := set_byte(h, 12 + i, ((epoch >> (8 * i)) & 255)::int);
		h := set_byte(h, 32 + i, ((length(p) >> (8 * i)) & 255)::int);
	END LOOP;
	RETURN regexp_replace(regexp_replace(regexp_replace(t,
			' e=\d+ ', ' e=' || epoch || ' '),
			' p=\S+ ', ' p=' || replace(encode(p, 'base64'), E'\n', '') || ' '),
			' c=\S+$', ' c=' || lpad(to_hex(crc32c(h || p)), 8, '0'))::ssn_share;
END $$;
-- the forger's tool itself is right: an unchanged share comes back identical
SELECT forge(s, 0)::text = s::text AS forge_identity FROM unnest(ssn_split(5::int8, 2, 3)) AS s LIMIT 1;

-- k and n
SELECT err($$SELECT ssn_split(1, 1, 3)$$);
SELECT err($$SELECT ssn_split(1, 0, 3)$$);
SELECT err($$SELECT ssn_split(1, 4, 3)$$);
SELECT err($$SELECT ssn_split(1, 2, 256)$$);
SELECT err($$SELECT ssn_split(1, -2, -1)$$);

-- unsupported value types
SELECT err($$SELECT ssn_split(point(1, 2), 2, 3)$$);
SELECT err($$SELECT ssn_split(ARRAY[1, 2], 2, 3)$$);
SELECT err($$SELECT ssn_split('1 day'::interval, 2, 3)$$);
-- numbers the prime field cannot hold: NaN, infinity, |v| * 10^scale > (l-1)/2
SELECT err($$SELECT ssn_split('NaN'::numeric, 2, 3)$$);
SELECT err($$SELECT ssn_split('Infinity'::numeric, 2, 3)$$);
SELECT err($$SELECT ssn_split(3618502788666131106986593281521497120428558179689953803000975469142727125495::numeric, 2, 3)$$);
SELECT err($$SELECT ssn_split(-3618502788666131106986593281521497120428558179689953803000975469142727125495::numeric, 2, 3)$$);
SELECT err($$SELECT ssn_split(361850278866613110698659328152149712042855817968995380300097546914272712549.5, 2, 3)$$);
SELECT err($$SELECT ssn_split(1e80, 2, 3)$$);

CREATE TABLE s AS SELECT ssn_split(1000::int8, 3, 5) AS a, ssn_split(2000::int8, 3, 5) AS b,
						  ssn_split('text'::text, 3, 5) AS t, ssn_split('longer text'::text, 3, 5) AS t2;

-- too few shares, with the threshold named
SELECT err($$SELECT ssn_combine(a[1:2], NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(ARRAY[a[1]], NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(ARRAY[a[1], NULL, a[2]], NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(t[4:5]) FROM s$$);
-- duplicate x
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[1], a[2]], NULL::int8) FROM s$$);
-- shares of different secrets
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[2], b[3]], NULL::int8) FROM s$$);
-- shares of different types (and secrets)
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[2], t[3]], NULL::int8) FROM s$$);
-- shares of the same secret that claim different value types
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[2], forge(a[3], 0, NULL, true)], NULL::int8) FROM s$$);
SELECT err($$SELECT a[1] + forge(a[1], 0, NULL, true) FROM s$$) AS algebra_mixes_int_types;
-- shares of the same secret in different epochs
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[2], forge(a[3], 1)], NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(ARRAY[forge(a[1], 7), forge(a[2], 7), forge(a[3], 7)], NULL::int8) FROM s$$) AS one_epoch_is_fine;
-- a well-formed share with another share's payload: the extra share exposes it
SELECT err($$SELECT ssn_combine(ARRAY[a[1], a[2], a[3], forge(a[4], 0, ssn_share_payload(b[4]))], NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(ARRAY[t[1], t[2], t[3], forge(t[4], 0, '\x00000000')], NULL::text) FROM s$$);
-- a payload that is not a field element
SELECT err($$SELECT forge(a[1], 0, '\xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff') FROM s$$);
-- a truncated payload
SELECT err($$SELECT forge(t[1], 0, '\x0102') + t2[1] FROM s$$);
SELECT err($$SELECT forge(a[1], 0, '\x0102') FROM s$$);

-- result types that do not fit
SELECT err($$SELECT ssn_combine(a, NULL::text) FROM s$$);
SELECT err($$SELECT ssn_combine(t, NULL::int8) FROM s$$);
SELECT err($$SELECT ssn_combine(t, NULL::date) FROM s$$);
SELECT err($$SELECT ssn_combine(a, NULL::int2) FROM s$$) AS fits_int2;
SELECT err($$SELECT ssn_combine(ssn_split(40000, 2, 3), NULL::int2)$$);
SELECT err($$SELECT ssn_combine(a, NULL::bool) FROM s$$);
SELECT err($$SELECT ssn_combine(ssn_split(1.5, 2, 3), NULL::int8)$$);
-- (errors about a rebuilt value never quote its bytes: logs would keep them)
SELECT err($$SELECT ssn_combine(ssn_split('\xff00'::bytea, 2, 3), NULL::text)$$);
SELECT err($$SELECT ssn_combine(ssn_split('\x410042'::bytea, 2, 3), NULL::text)$$);
SELECT err($$SELECT ssn_combine(ssn_split('{"a":1'::text, 2, 3), NULL::json)$$);
SELECT err($$SELECT ssn_combine(ssn_split(1, 2, 3), NULL::point)$$);
SELECT err($$SELECT ssn_combine(ssn_split(1, 2, 3), NULL)$$);
SELECT err($$SELECT ssn_combine('{}'::ssn_share[], NULL::int8)$$) AS empty_array;
SELECT err($$SELECT ssn_combine(ARRAY[[a[1], a[2]], [a[3], a[4]]], NULL::int8) FROM s$$);

-- algebra on mismatched shares
SELECT err($$SELECT a[1] + a[2] FROM s$$);
SELECT err($$SELECT a[1] + b[1] + t[1] FROM s$$);
SELECT err($$SELECT t[1] * t[1] FROM s$$);
SELECT err($$SELECT t[1] + t2[1] FROM s$$);
SELECT err($$SELECT t[1] + 1 FROM s$$);
SELECT err($$SELECT t[1] * 2 FROM s$$);
SELECT err($$SELECT -t[1] FROM s$$);
SELECT err($$SELECT a[1] + (ssn_split(1::int8, 2, 5))[1] FROM s$$);
SELECT err($$SELECT a[1] + forge(b[1], 3) FROM s$$);
SELECT err($$SELECT a[1] + 'NaN'::numeric FROM s$$);
SELECT err($$SELECT a[1] * 1e-999 * 1e-999 FROM s$$);
-- a product whose degree would leave fewer than degree+1 shares
SELECT err($$SELECT ssn_split(1::int8, 3, 4) * ssn_split(2::int8, 3, 4)$$);
SELECT err($$SELECT (a * b) * a FROM s$$);
SELECT err($$SELECT ssn.shares_add(a, a[1:2]) FROM s$$);

-- malformed text: 22P02 and what is wrong
SELECT err($$SELECT ''::ssn_share$$);
SELECT err($$SELECT 'hello'::ssn_share$$);
SELECT err($$SELECT 'ssn2 x=1'::ssn_share$$);
SELECT q, err(format('SELECT %L::ssn_share', q)) FROM (VALUES
	('ssn1 x=0 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=1 n=3 d=0 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=4 n=3 d=3 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=4 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=2 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=3 n=3 d=1 e=0 f=prime t=int8 s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=prime t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf257 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=point s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=2 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=0011223344 p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=0011223344556677889XaabbccddeefX p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8 c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=a*VsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=date s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=0000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8='),
	('ssn1 x=01 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=-1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000 '),
	('ssn1  x=1 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 k=2 x=1 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=1 k=2 n=3 d=1 e=4294967296 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000'),
	('ssn1 x=256 k=2 n=3 d=1 e=0 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=00000000')
) AS v(q);

-- an altered share: every single-character change of a real share's text is caught
SELECT count(*) AS mutations,
	   count(*) FILTER (WHERE err(format('SELECT %L::ssn_share', m)) LIKE '22P02 %') AS rejected
FROM (SELECT overlay(s PLACING CASE WHEN substr(s, pos, 1) = 'A' THEN 'B' ELSE 'A' END
					 FROM pos FOR 1) AS m
	  FROM (SELECT (ssn_split('short'::text, 2, 3))[1]::text AS s) AS t,
		   generate_series(1, 120) AS pos
	  WHERE pos <= length(s)) AS mutated;
-- truncated text: the end is missing, or part of the payload
SELECT err($$SELECT left(a[1]::text, -10)::ssn_share FROM s$$);
SELECT err($$SELECT regexp_replace(t[1]::text, 'p=\S{4}', 'p=')::ssn_share FROM s$$);
-- altered payload: the checksum catches it
SELECT err($$SELECT overlay(x PLACING CASE WHEN substr(x, strpos(x, 'p=') + 2, 1) = 'Z' THEN 'Y' ELSE 'Z' END
				  FROM strpos(x, 'p=') + 2 FOR 1)::ssn_share FROM (SELECT t[1]::text AS x FROM s) AS u$$);
-- altered metadata: the checksum catches it
SELECT err($$SELECT replace(a[1]::text, ' e=0 ', ' e=1 ')::ssn_share FROM s$$);

DROP TABLE s;
