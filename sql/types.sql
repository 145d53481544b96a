-- ssn_share: text form, binary form, accessors
CREATE EXTENSION ssn;

-- a share written by hand in its documented text form round-trips exactly
SELECT 'ssn1 x=2 k=2 n=3 d=1 e=7 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=e6029c5f'::ssn_share;
-- the same with a wrong checksum
SELECT 'ssn1 x=2 k=2 n=3 d=1 e=7 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbG8= c=e6029c5e'::ssn_share;
-- the same with one payload bit flipped ("hellp")
SELECT 'ssn1 x=2 k=2 n=3 d=1 e=7 f=gf256 t=text s=0 id=00112233445566778899aabbccddeeff p=aGVsbHA= c=e6029c5f'::ssn_share;

CREATE TABLE shares AS
	SELECT ssn_split(42::int8, 3, 5) AS s8,
		   ssn_split('hello world'::text, 2, 3) AS st,
		   ssn_split(12.345::numeric, 2, 4) AS sn;

SELECT ssn_share_x(s), ssn_share_k(s), ssn_share_n(s), ssn_share_degree(s),
	   ssn_share_epoch(s), ssn_share_field(s), ssn_share_value_type(s),
	   ssn_share_scale(s), length(ssn_share_payload(s)) AS payload_bytes
FROM shares, unnest(s8) AS s;

SELECT ssn_share_x(s), ssn_share_field(s), ssn_share_value_type(s),
	   length(ssn_share_payload(s)) AS payload_bytes
FROM shares, unnest(st) AS s;

SELECT ssn_share_value_type(s), ssn_share_scale(s) FROM shares, unnest(sn) AS s;

-- all shares of one split carry the same secret id; different splits differ
SELECT count(DISTINCT ssn_share_secret_id(s)) FROM shares, unnest(s8) AS s;
SELECT (SELECT ssn_share_secret_id(s8[1]) FROM shares) <>
	   (SELECT ssn_share_secret_id(s[1]) FROM ssn_split(42::int8, 3, 5) AS s) AS fresh_id;

-- text form: out -> in gives the identical share
SELECT bool_and(s::text::ssn_share::text = s::text) FROM shares, unnest(s8 || st || sn) AS s;
SELECT (s8[1])::text ~ '^ssn1 x=1 k=3 n=5 d=2 e=0 f=prime t=int8 s=0 id=[0-9a-f]{32} p=[A-Za-z0-9+/]{43}= c=[0-9a-f]{8}$' AS text_form FROM shares;

-- binary form: send -> recv through COPY BINARY gives the identical shares
CREATE TEMP TABLE bin_out (s ssn_share);
INSERT INTO bin_out SELECT unnest(s8 || st || sn) FROM shares;
COPY bin_out TO '/tmp/ssn_regress_shares.bin' WITH (FORMAT binary);
CREATE TEMP TABLE bin_in (s ssn_share);
COPY bin_in FROM '/tmp/ssn_regress_shares.bin' WITH (FORMAT binary);
SELECT (SELECT array_agg(s::text ORDER BY s::text) FROM bin_in) =
	   (SELECT array_agg(s::text ORDER BY s::text) FROM bin_out) AS binary_round_trip;

-- binary input is checked like text input: a share truncated, or with one byte
-- changed, fails with 22P03 (bytea's binary form is its raw bytes, so a bytea
-- column written with COPY BINARY reads back as whatever share bytes it holds)
CREATE TEMP TABLE raw (b bytea);
INSERT INTO raw SELECT substr(ssn_share_send(s8[1]), 1, 60) FROM shares;
COPY raw TO '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
COPY bin_in FROM '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
TRUNCATE raw;
INSERT INTO raw SELECT set_byte(ssn_share_send(s8[1]), 50, get_byte(ssn_share_send(s8[1]), 50) # 1) FROM shares;
COPY raw TO '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
COPY bin_in FROM '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
TRUNCATE raw;
INSERT INTO raw VALUES ('\x0102');
COPY raw TO '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
COPY bin_in FROM '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
-- and the untouched bytes read back as the share they are
TRUNCATE raw;
INSERT INTO raw SELECT ssn_share_send(s8[1]) FROM shares;
COPY raw TO '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
TRUNCATE bin_in;
COPY bin_in FROM '/tmp/ssn_regress_raw.bin' WITH (FORMAT binary);
SELECT (SELECT s::text FROM bin_in) = (SELECT s8[1]::text FROM shares) AS raw_bytes_are_the_share;

-- shares are ordinary column values: store them, rebuild from the table
CREATE TABLE vault (id int, share ssn_share);
INSERT INTO vault SELECT 1, unnest(ssn_split('stored secret'::text, 3, 5));
SELECT ssn_combine(array_agg(share), NULL::text) FROM vault WHERE id = 1;
SELECT ssn_combine(array_agg(share ORDER BY ssn_share_x(share) DESC) FILTER (WHERE ssn_share_x(share) IN (2, 4, 5)), NULL::text) FROM vault;
DROP TABLE vault;
DROP TABLE shares;
