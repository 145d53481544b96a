-- ssn 1.1 -> 1.2: computing on shares across the network (Y.3808 §8.1)
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.2'" to load this file. \quit

---------------------------------------------------------------------------
-- operators on ssn_secret: the result is a computed secret (an expression
-- over stored secrets), evaluated by the shareholders when it is retrieved,
-- aggregated or stored; nothing is computed or sent when it is made
---------------------------------------------------------------------------
CREATE FUNCTION ssn.secret_add(ssn_secret, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_sub(ssn_secret, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_mul(ssn_secret, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_neg(ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_neg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_add_const(ssn_secret, numeric) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_add_const' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.const_add_secret(numeric, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_const_add_secret' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_sub_const(ssn_secret, numeric) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_sub_const' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.const_sub_secret(numeric, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_const_sub_secret' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.secret_mul_const(ssn_secret, numeric) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_secret_mul_const' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ssn.const_mul_secret(numeric, ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_const_mul_secret' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = ssn_secret, RIGHTARG = ssn_secret, FUNCTION = ssn.secret_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = ssn_secret, RIGHTARG = ssn_secret, FUNCTION = ssn.secret_sub);
CREATE OPERATOR * (LEFTARG = ssn_secret, RIGHTARG = ssn_secret, FUNCTION = ssn.secret_mul, COMMUTATOR = *);
CREATE OPERATOR - (RIGHTARG = ssn_secret, FUNCTION = ssn.secret_neg);
CREATE OPERATOR + (LEFTARG = ssn_secret, RIGHTARG = numeric, FUNCTION = ssn.secret_add_const);
CREATE OPERATOR + (LEFTARG = numeric, RIGHTARG = ssn_secret, FUNCTION = ssn.const_add_secret);
CREATE OPERATOR - (LEFTARG = ssn_secret, RIGHTARG = numeric, FUNCTION = ssn.secret_sub_const);
CREATE OPERATOR - (LEFTARG = numeric, RIGHTARG = ssn_secret, FUNCTION = ssn.const_sub_secret);
CREATE OPERATOR * (LEFTARG = ssn_secret, RIGHTARG = numeric, FUNCTION = ssn.secret_mul_const);
CREATE OPERATOR * (LEFTARG = numeric, RIGHTARG = ssn_secret, FUNCTION = ssn.const_mul_secret);

---------------------------------------------------------------------------
-- aggregates: the shareholders add up their shares of all rows of a group;
-- only the result is rebuilt, by this node (the SSA)
---------------------------------------------------------------------------
CREATE FUNCTION ssn.agg_add(internal, ssn_secret) RETURNS internal
	AS 'MODULE_PATHNAME', 'ssn_agg_add' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ssn.agg_sum_final(internal) RETURNS numeric
	AS 'MODULE_PATHNAME', 'ssn_agg_sum_final' LANGUAGE C VOLATILE;
CREATE FUNCTION ssn.agg_avg_final(internal) RETURNS numeric
	AS 'MODULE_PATHNAME', 'ssn_agg_avg_final' LANGUAGE C VOLATILE;

CREATE AGGREGATE ssn_sum(ssn_secret) (
	SFUNC = ssn.agg_add, STYPE = internal, FINALFUNC = ssn.agg_sum_final);
CREATE AGGREGATE ssn_avg(ssn_secret) (
	SFUNC = ssn.agg_add, STYPE = internal, FINALFUNC = ssn.agg_avg_final);
CREATE AGGREGATE ssn_count(ssn_secret) (
	SFUNC = pg_catalog.int8inc_any, STYPE = int8, INITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE ssn_sum(ssn_secret) IS
	'Sum of secrets (or of computed secrets such as a * b), computed by the shareholders on their shares; only the sum is rebuilt';
COMMENT ON AGGREGATE ssn_avg(ssn_secret) IS
	'Average of secrets: the shareholders'' sum, rebuilt, divided by the number of non-NULL rows';
COMMENT ON AGGREGATE ssn_count(ssn_secret) IS
	'Number of non-NULL secrets (needs no shareholder)';

-- a computed secret stored as a secret of its own (degree reduced at commit)
CREATE FUNCTION ssn_store(h ssn_secret) RETURNS ssn_secret
	AS 'MODULE_PATHNAME', 'ssn_store_computed' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ssn_store(ssn_secret) IS
	'Store a computed secret (a + b, a * b, ...) as a new secret: at commit the shareholders make its shares from theirs; a product is re-shared among them to degree k-1, so no node sees its value';

---------------------------------------------------------------------------
-- the shareholders' side
---------------------------------------------------------------------------
-- re-sharing parts waiting for the other contributors' parts
CREATE TABLE ssn.held_part (
	result_id uuid NOT NULL,
	contributor int NOT NULL,		-- share index of the contributor
	origin text NOT NULL,			-- the SSA that asked for the re-sharing
	contributors int NOT NULL,		-- how many parts make the share; 0: a complete share waiting for the SSA's confirmation
	share ssn_share NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (result_id, contributor)
);
COMMENT ON TABLE ssn.held_part IS
	'Parts of a degree reduction this node received, until every contributor''s part has arrived; then (contributors = 0) the new share, until the SSA confirms that every shareholder has its own';
REVOKE ALL ON ssn.held_part FROM PUBLIC;

CREATE FUNCTION ssn.channel_compute(requester text, program bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_compute' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_materialize(requester text, program bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_materialize' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ssn.channel_reshare(requester text, program bytea, contributors int[], receivers int[])
	RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_reshare' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_compute(text, bytea), ssn.channel_materialize(text, bytea),
	ssn.channel_reshare(text, bytea, int[], int[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_compute(text, bytea), ssn.channel_materialize(text, bytea),
	ssn.channel_reshare(text, bytea, int[], int[]) TO ssn_peer;
-- a computed secret's staged shares become held shares once every shareholder made its own
CREATE FUNCTION ssn.channel_confirm(requester text, secret_ids uuid[]) RETURNS text
	AS 'MODULE_PATHNAME', 'ssn_channel_confirm' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_confirm(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_confirm(text, uuid[]) TO ssn_peer;
