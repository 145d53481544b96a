-- ssn 1.0: Shamir secret sharing of SQL values (ITU-T Y.3808 secure storage network)
\echo Use "CREATE EXTENSION ssn" to load this file. \quit

-- Internal objects (catalogs, workers' functions) live in schema ssn; the
-- user-facing type, functions and operators live in the extension's schema and
-- work unqualified.
CREATE SCHEMA ssn;

---------------------------------------------------------------------------
-- ssn_share: one share of one secret
---------------------------------------------------------------------------
CREATE TYPE ssn_share;

CREATE FUNCTION ssn_share_in(cstring) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_out(ssn_share) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_recv(internal) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_send(ssn_share) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ssn_share (
	INPUT = ssn_share_in,
	OUTPUT = ssn_share_out,
	RECEIVE = ssn_share_recv,
	SEND = ssn_share_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);
COMMENT ON TYPE ssn_share IS
	'One Shamir share of one secret: x-coordinate, threshold k, total n, degree, epoch, field, value type, secret id and payload';

-- metadata accessors
CREATE FUNCTION ssn_share_x(ssn_share) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_k(ssn_share) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_n(ssn_share) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_degree(ssn_share) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_epoch(ssn_share) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_field(ssn_share) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_value_type(ssn_share) RETURNS regtype
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_scale(ssn_share) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_secret_id(ssn_share) RETURNS uuid
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_payload(ssn_share) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

---------------------------------------------------------------------------
-- splitting and combining
---------------------------------------------------------------------------
-- VOLATILE: every split draws fresh random coefficients.
CREATE FUNCTION ssn_split(value anyelement, k int, n int) RETURNS ssn_share[]
	AS 'MODULE_PATHNAME', 'ssn_split' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
-- so that an untyped literal, ssn_split('abc', 2, 3), resolves to text
CREATE FUNCTION ssn_split(value text, k int, n int) RETURNS ssn_share[]
	AS 'MODULE_PATHNAME', 'ssn_split' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ssn_split(anyelement, int, int) IS
	'Split a value into n Shamir shares, any k of which rebuild it';

-- not STRICT: the second argument is usually a typed NULL that names the type
CREATE FUNCTION ssn_combine(shares ssn_share[], as_type anyelement) RETURNS anyelement
	AS 'MODULE_PATHNAME', 'ssn_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ssn_combine(shares ssn_share[]) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_combine_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ssn_combine(ssn_share[], anyelement) IS
	'Rebuild a value from enough of its shares (NULL elements count as missing); the second argument selects the result type, e.g. NULL::int8';
COMMENT ON FUNCTION ssn_combine(ssn_share[]) IS
	'Rebuild a value from enough of its shares, as text';

---------------------------------------------------------------------------
-- algebra on shares (executed on shares only; nothing is rebuilt)
---------------------------------------------------------------------------
CREATE FUNCTION ssn_share_add(ssn_share, ssn_share) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_sub(ssn_share, ssn_share) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_mul(ssn_share, ssn_share) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_neg(ssn_share) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_add_const(ssn_share, numeric) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_sub_const(ssn_share, numeric) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_const_sub_share(numeric, ssn_share) RETURNS ssn_share
	AS 'MODULE_PATHNAME', 'ssn_const_sub_share' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_share_mul_const(ssn_share, numeric) RETURNS ssn_share
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- constant on the left: the same operation with its arguments swapped
CREATE FUNCTION ssn_const_add_share(numeric, ssn_share) RETURNS ssn_share
	AS 'SELECT ssn_share_add_const($2, $1)' LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn_const_mul_share(numeric, ssn_share) RETURNS ssn_share
	AS 'SELECT ssn_share_mul_const($2, $1)' LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = ssn_share, RIGHTARG = ssn_share,
	FUNCTION = ssn_share_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = ssn_share, RIGHTARG = ssn_share,
	FUNCTION = ssn_share_sub);
CREATE OPERATOR * (LEFTARG = ssn_share, RIGHTARG = ssn_share,
	FUNCTION = ssn_share_mul, COMMUTATOR = *);
CREATE OPERATOR - (RIGHTARG = ssn_share, FUNCTION = ssn_share_neg);
CREATE OPERATOR + (LEFTARG = ssn_share, RIGHTARG = numeric,
	FUNCTION = ssn_share_add_const, COMMUTATOR = +);
CREATE OPERATOR + (LEFTARG = numeric, RIGHTARG = ssn_share,
	FUNCTION = ssn_const_add_share, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = ssn_share, RIGHTARG = numeric,
	FUNCTION = ssn_share_sub_const);
CREATE OPERATOR - (LEFTARG = numeric, RIGHTARG = ssn_share,
	FUNCTION = ssn_const_sub_share);
CREATE OPERATOR * (LEFTARG = ssn_share, RIGHTARG = numeric,
	FUNCTION = ssn_share_mul_const, COMMUTATOR = *);
CREATE OPERATOR * (LEFTARG = numeric, RIGHTARG = ssn_share,
	FUNCTION = ssn_const_mul_share, COMMUTATOR = *);

-- The sum of the shares one shareholder holds (all at the same x): a share of the
-- sum of the secrets.  Any order of rows gives the same share.
CREATE AGGREGATE sum(ssn_share) (
	SFUNC = ssn_share_add,
	STYPE = ssn_share,
	COMBINEFUNC = ssn_share_add,
	PARALLEL = SAFE
);

-- Whole sharings: the same operations applied to the shares at each x.  Both
-- arrays must list the shares in the same x order (as ssn_split returns them).
CREATE FUNCTION ssn.shares_op(a ssn_share[], b ssn_share[], op text) RETURNS ssn_share[]
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	IF cardinality(a) <> cardinality(b) THEN
		RAISE EXCEPTION 'cannot combine sharings of % and % shares element-wise',
			cardinality(a), cardinality(b)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN (SELECT array_agg(CASE op WHEN '+' THEN x + y WHEN '-' THEN x - y ELSE x * y END
							 ORDER BY o)
			FROM unnest(a, b) WITH ORDINALITY AS t(x, y, o));
END $$;
CREATE FUNCTION ssn.shares_add(ssn_share[], ssn_share[]) RETURNS ssn_share[]
	AS 'SELECT ssn.shares_op($1, $2, ''+'')' LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.shares_sub(ssn_share[], ssn_share[]) RETURNS ssn_share[]
	AS 'SELECT ssn.shares_op($1, $2, ''-'')' LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.shares_mul(ssn_share[], ssn_share[]) RETURNS ssn_share[]
	AS 'SELECT ssn.shares_op($1, $2, ''*'')' LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.shares_add_const(ssn_share[], numeric) RETURNS ssn_share[]
	AS 'SELECT array_agg(x + $2 ORDER BY o) FROM unnest($1) WITH ORDINALITY AS t(x, o)'
	LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.shares_mul_const(ssn_share[], numeric) RETURNS ssn_share[]
	AS 'SELECT array_agg(x * $2 ORDER BY o) FROM unnest($1) WITH ORDINALITY AS t(x, o)'
	LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.shares_neg(ssn_share[]) RETURNS ssn_share[]
	AS 'SELECT array_agg(-x ORDER BY o) FROM unnest($1) WITH ORDINALITY AS t(x, o)'
	LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = ssn_share[], RIGHTARG = ssn_share[],
	FUNCTION = ssn.shares_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = ssn_share[], RIGHTARG = ssn_share[],
	FUNCTION = ssn.shares_sub);
CREATE OPERATOR * (LEFTARG = ssn_share[], RIGHTARG = ssn_share[],
	FUNCTION = ssn.shares_mul, COMMUTATOR = *);
CREATE OPERATOR + (LEFTARG = ssn_share[], RIGHTARG = numeric,
	FUNCTION = ssn.shares_add_const);
CREATE OPERATOR * (LEFTARG = ssn_share[], RIGHTARG = numeric,
	FUNCTION = ssn.shares_mul_const);
CREATE OPERATOR - (RIGHTARG = ssn_share[], FUNCTION = ssn.shares_neg);

---------------------------------------------------------------------------
-- shareholders (peers): the SSN nodes this node shares with
---------------------------------------------------------------------------
CREATE TABLE ssn.shareholder (
	name text PRIMARY KEY CHECK (name ~ '^[[:alnum:]_.-]{1,63}$'),
	sae_id text NOT NULL UNIQUE
		CHECK (octet_length(sae_id) BETWEEN 1 AND 255 AND sae_id !~ '[[:cntrl:]]'),
	conninfo text,
	share_index int UNIQUE CHECK (share_index BETWEEN 1 AND 255),
	trusted_node text,
	state text NOT NULL DEFAULT 'in service'
		CHECK (state IN ('in service', 'out of service', 'standby', 'reserved')),
	added_at timestamptz DEFAULT now()
);
COMMENT ON TABLE ssn.shareholder IS
	'Shareholders (peer SSN nodes): name, SAE ID at the QKD network, connection, x-coordinate of their shares';
SELECT pg_catalog.pg_extension_config_dump('ssn.shareholder', '');

CREATE FUNCTION ssn.add_shareholder(name text, sae_id text, conninfo text DEFAULT NULL,
		share_index int DEFAULT NULL, trusted_node text DEFAULT NULL,
		state text DEFAULT 'in service')
	RETURNS ssn.shareholder LANGUAGE plpgsql AS $$
DECLARE
	r ssn.shareholder;
BEGIN
	INSERT INTO ssn.shareholder AS s (name, sae_id, conninfo, share_index, trusted_node, state)
		VALUES (add_shareholder.name, add_shareholder.sae_id, add_shareholder.conninfo,
				add_shareholder.share_index, add_shareholder.trusted_node, add_shareholder.state)
		RETURNING s.* INTO r;
	RETURN r;
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'shareholder "%" or SAE ID "%" or share index % is already registered',
		add_shareholder.name, add_shareholder.sae_id, add_shareholder.share_index
		USING ERRCODE = 'unique_violation',
			  HINT = 'Remove the old entry with ssn.remove_shareholder(name) first.';
END $$;
COMMENT ON FUNCTION ssn.add_shareholder(text, text, text, int, text, text) IS
	'Register a shareholder (peer node) with its SAE ID';

CREATE FUNCTION ssn.remove_shareholder(name text) RETURNS boolean
	LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM ssn.shareholder s WHERE s.name = remove_shareholder.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'shareholder "%" does not exist', remove_shareholder.name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN true;
END $$;
COMMENT ON FUNCTION ssn.remove_shareholder(text) IS
	'Remove a shareholder; its key ledger history stays';

---------------------------------------------------------------------------
-- the key ledger: every QKD key ID this node obtained, recorded before use
---------------------------------------------------------------------------
CREATE TABLE ssn.key_ledger (
	key_id text PRIMARY KEY,
	direction text NOT NULL CHECK (direction IN ('send', 'receive')),
	peer text NOT NULL,				-- shareholder name (no foreign key: history outlives peers)
	peer_sae_id text NOT NULL,
	purpose text NOT NULL,
	size_bits int NOT NULL CHECK (size_bits > 0 AND size_bits % 8 = 0),
	state text NOT NULL DEFAULT 'fetched'
		CHECK (state IN ('fetched', 'used', 'discarded', 'lost')),
	fetched_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	settled_at timestamptz,			-- when it left 'fetched'
	message_id uuid,				-- the message its key protected, if any
	holder_pid int,					-- the process holding the material while 'fetched'
	holder_start timestamptz,
	CHECK ((state = 'fetched') = (settled_at IS NULL))
);
CREATE INDEX key_ledger_fetched ON ssn.key_ledger (holder_pid) WHERE state = 'fetched';
CREATE INDEX key_ledger_peer ON ssn.key_ledger (peer, fetched_at);
COMMENT ON TABLE ssn.key_ledger IS
	'Every QKD key ID obtained from the KME, recorded before its key is used; an ID is never used twice';
SELECT pg_catalog.pg_extension_config_dump('ssn.key_ledger', '');

-- Settle 'fetched' rows whose holder process is gone as 'lost'.
CREATE FUNCTION ssn.key_ledger_recover() RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_key_ledger_recover' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn.key_ledger_recover() IS
	'Mark as lost every fetched key whose holding process is gone (after a crash); returns how many';

---------------------------------------------------------------------------
-- KME client (ETSI GS QKD 014): status, explicit key fetching for testing
---------------------------------------------------------------------------
CREATE FUNCTION ssn._kme_status(sae_id text,
		OUT source_kme_id text, OUT target_kme_id text,
		OUT master_sae_id text, OUT slave_sae_id text,
		OUT key_size bigint, OUT stored_key_count bigint, OUT max_key_count bigint,
		OUT max_key_per_request bigint, OUT max_key_size bigint, OUT min_key_size bigint,
		OUT max_sae_id_count bigint)
	AS 'MODULE_PATHNAME', 'ssn_kme_status_raw' LANGUAGE C VOLATILE STRICT;

-- The status of the link to a shareholder; a KME that cannot be asked gives
-- reachable = false and the error, not an error.
CREATE FUNCTION ssn.kme_status(peer text,
		OUT shareholder text, OUT sae_id text, OUT reachable boolean, OUT error text,
		OUT source_kme_id text, OUT target_kme_id text,
		OUT master_sae_id text, OUT slave_sae_id text,
		OUT key_size bigint, OUT stored_key_count bigint, OUT max_key_count bigint,
		OUT max_key_per_request bigint, OUT max_key_size bigint, OUT min_key_size bigint,
		OUT max_sae_id_count bigint)
	LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
	s ssn.shareholder;
	st record;
BEGIN
	SELECT * INTO s FROM ssn.shareholder h WHERE h.name = kme_status.peer;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'shareholder "%" does not exist', kme_status.peer
			USING ERRCODE = 'undefined_object',
				  HINT = 'Add it with ssn.add_shareholder(name, sae_id).';
	END IF;
	shareholder := s.name;
	sae_id := s.sae_id;
	BEGIN
		SELECT * INTO st FROM ssn._kme_status(s.sae_id);
		reachable := true;
		source_kme_id := st.source_kme_id; target_kme_id := st.target_kme_id;
		master_sae_id := st.master_sae_id; slave_sae_id := st.slave_sae_id;
		key_size := st.key_size; stored_key_count := st.stored_key_count;
		max_key_count := st.max_key_count; max_key_per_request := st.max_key_per_request;
		max_key_size := st.max_key_size; min_key_size := st.min_key_size;
		max_sae_id_count := st.max_sae_id_count;
	EXCEPTION WHEN OTHERS THEN
		reachable := false;
		GET STACKED DIAGNOSTICS error = MESSAGE_TEXT;
	END;
END $$;
COMMENT ON FUNCTION ssn.kme_status(text) IS
	'Status of the QKD link to a shareholder, as its KME reports it (ETSI GS QKD 014 Get status)';

-- every QKD link of this node: each shareholder but itself (a node keeps its own
-- share without a link)
CREATE VIEW ssn.kme_links AS
	SELECT st.* FROM ssn.shareholder s, LATERAL ssn.kme_status(s.name) st
	WHERE s.sae_id IS DISTINCT FROM current_setting('ssn.sae_id', true);
COMMENT ON VIEW ssn.kme_links IS
	'Status of the QKD link to every shareholder (asks the KME once per shareholder)';

CREATE FUNCTION ssn.kme_enc_keys(peer text, number int, size_bits int DEFAULT NULL,
		purpose text DEFAULT 'test')
	RETURNS TABLE (key_id text, size_bits int, fingerprint bytea)
	AS 'MODULE_PATHNAME', 'ssn_kme_enc_keys' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ssn.kme_enc_keys(text, int, int, text) IS
	'Fetch keys for sending to a shareholder (enc_keys), record them in the key ledger and consume them; returns IDs and BLAKE2b fingerprints, never keys';

CREATE FUNCTION ssn.kme_dec_keys(peer text, key_ids text[], size_bits int DEFAULT NULL,
		purpose text DEFAULT 'test')
	RETURNS TABLE (key_id text, size_bits int, fingerprint bytea)
	AS 'MODULE_PATHNAME', 'ssn_kme_dec_keys' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ssn.kme_dec_keys(text, text[], int, text) IS
	'Record key IDs a shareholder obtained for this node, fetch the keys (dec_keys) and consume them; returns IDs and BLAKE2b fingerprints, never keys';

CREATE FUNCTION ssn.kme_bench(peer text, number int, size_bits int, requests int,
		OUT keys bigint, OUT key_bytes bigint, OUT requests int,
		OUT client_seconds float8, OUT ledger_seconds float8, OUT client_cpu_seconds float8)
	AS 'MODULE_PATHNAME', 'ssn_kme_bench' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn.kme_bench(text, int, int, int) IS
	'Benchmark: fetch requests x number keys for a shareholder, wipe them unused, record them as discarded';

-- Operators' functions: superusers only unless granted.
REVOKE ALL ON FUNCTION ssn.add_shareholder(text, text, text, int, text, text),
	ssn.remove_shareholder(text), ssn.key_ledger_recover(), ssn._kme_status(text),
	ssn.kme_status(text), ssn.kme_enc_keys(text, int, int, text),
	ssn.kme_dec_keys(text, text[], int, text), ssn.kme_bench(text, int, int, int)
	FROM PUBLIC;
