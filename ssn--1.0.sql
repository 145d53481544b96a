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
