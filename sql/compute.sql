-- Computing on secrets on one node: computed secrets (expressions over stored
-- secrets) are built without any network; evaluating them needs the shareholders,
-- so here only the errors a DBA meets without peers are shown.  (Results across
-- real nodes: t/022.)
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(E'\n  ' || nullif(d, ''), ''),
						  '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END $$;

-- handles of stored secrets, as a table would keep them
CREATE TABLE h (name text, s ssn_secret);
INSERT INTO h VALUES
 ('a', 'ssn_secret:1 id=00000000-0000-0000-0000-0000000000aa t=int8 k=3 n=5 e=0 h=1,2,3,4,5'),
 ('b', 'ssn_secret:1 id=00000000-0000-0000-0000-0000000000bb t=numeric k=3 n=5 e=0 h=1,2,3,4,5'),
 ('c', 'ssn_secret:1 id=00000000-0000-0000-0000-0000000000cc t=int4 k=3 n=4 e=0 h=1,2,3,5'),
 ('t', 'ssn_secret:1 id=00000000-0000-0000-0000-0000000000dd t=text k=3 n=5 e=0 h=1,2,3,4,5'),
 ('k2', 'ssn_secret:1 id=00000000-0000-0000-0000-0000000000ee t=int8 k=2 n=5 e=0 h=1,2,3,4,5');
SELECT s AS a FROM h WHERE name = 'a' \gset
SELECT s AS b FROM h WHERE name = 'b' \gset
SELECT s AS c FROM h WHERE name = 'c' \gset
SELECT s AS t FROM h WHERE name = 't' \gset
SELECT s AS k2 FROM h WHERE name = 'k2' \gset

-- operators build computed secrets: terms merge, constants fold, types follow
SELECT :'a'::ssn_secret + :'b'::ssn_secret AS sum;
SELECT :'a'::ssn_secret - :'a'::ssn_secret AS cancels;
SELECT (:'a'::ssn_secret - :'a'::ssn_secret)::text::ssn_secret = :'a'::ssn_secret - :'a'::ssn_secret AS zero_round_trip;
SELECT 2 * :'a'::ssn_secret + :'a'::ssn_secret * 3 - 1.5 AS folded;
SELECT -(:'a'::ssn_secret * :'b'::ssn_secret) AS negated_product;
SELECT 10 - :'a'::ssn_secret AS ten_minus, :'a'::ssn_secret + 0.25 AS numeric_result;
SELECT (:'a'::ssn_secret + :'c'::ssn_secret) AS on_common_holders;
SELECT ssn_secret_k(x), ssn_secret_n(x), ssn_secret_holders(x), ssn_secret_value_type(x),
	   ssn_secret_id(x) IS NULL AS no_id_of_its_own
FROM (SELECT :'a'::ssn_secret * :'b'::ssn_secret AS x) AS q;
-- a * b and b * a are the same expression
SELECT :'a'::ssn_secret * :'b'::ssn_secret = :'b'::ssn_secret * :'a'::ssn_secret AS commutes;

-- text form round-trips, binary too; malformed ones are refused
SELECT x::text::ssn_secret = x AS text_round_trip
FROM (SELECT 3 * :'a'::ssn_secret * :'b'::ssn_secret - :'a'::ssn_secret + 7.5 AS x) AS q;
SELECT 'ssn_secret:2 t=int8 k=3 n=5 d=1 h=1,2,3,4,5 x=2*00000000-0000-0000-0000-0000000000aa'::ssn_secret;
SELECT try($$SELECT 'ssn_secret:2 t=int8 k=3 n=5 d=2 h=1,2,3,4,5 x=2*00000000-0000-0000-0000-0000000000aa'::ssn_secret$$);
SELECT try($$SELECT 'ssn_secret:2 t=int8 k=3 n=5 d=1 h=1,2,3,4,5 x=2*00000000-0000-0000-0000-0000000000aa*00000000-0000-0000-0000-0000000000bb*00000000-0000-0000-0000-0000000000cc'::ssn_secret$$);
SELECT try($$SELECT 'ssn_secret:2 t=text k=3 n=5 d=1 h=1,2,3,4,5 x=1*00000000-0000-0000-0000-0000000000aa'::ssn_secret$$);
SELECT try($$SELECT 'ssn_secret:2 t=int8 k=3 n=5 d=1 h=1,2,3,4,5 x=abc*00000000-0000-0000-0000-0000000000aa'::ssn_secret$$);

-- what cannot be computed is refused, with the reason
SELECT try($$SELECT '$$ || :'t' || $$'::ssn_secret + 1$$);
SELECT try($$SELECT '$$ || :'a' || $$'::ssn_secret + '$$ || :'k2' || $$'::ssn_secret$$);
SELECT try($$SELECT '$$ || :'a' || $$'::ssn_secret * '$$ || :'c' || $$'::ssn_secret$$);
SELECT try($$SELECT ('$$ || :'a' || $$'::ssn_secret * '$$ || :'b' || $$'::ssn_secret) * '$$ || :'a' || $$'::ssn_secret$$);
SELECT try($$SELECT ssn_sum(s) FROM h WHERE name IN ('a', 't')$$);
SELECT try($$SELECT ssn_sum(s) FROM h WHERE name IN ('a', 'k2')$$);
SELECT try($$SELECT ssn_store(s) FROM h WHERE name = 't'$$);

-- aggregates: no rows, only NULLs, counting needs no shareholder
SELECT ssn_sum(s) AS none_sum, ssn_avg(s) AS none_avg, ssn_count(s) AS none_count FROM h WHERE false;
SELECT ssn_sum(NULL::ssn_secret) AS null_sum, ssn_count(NULL::ssn_secret) AS null_count;
SELECT ssn_count(s) AS all_count FROM h;

-- without reachable shareholders an aggregate says who failed
SET ssn.sae_id = 'SAE_R';
-- a KME for the links to the peers: stores seal their shares with its keys
\i sql/regress_kme.psql
SELECT name FROM ssn.add_shareholder('here', 'SAE_R', NULL, 1, 'here');
SELECT name FROM ssn.add_shareholder('ghost1', 'SAE_G1', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 2, 'ghost1');
SELECT name FROM ssn.add_shareholder('ghost2', 'SAE_G2', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 3, 'ghost2');
CREATE TABLE acct (id int, v ssn_secret);
INSERT INTO acct SELECT i, ssn_store(i::int8, 2, 3) FROM generate_series(1, 5) i;
SELECT try('SELECT ssn_sum(v) FROM acct');
SELECT try('SELECT ssn_retrieve(v + 1) FROM acct WHERE id = 1');
-- a product of secrets with k=2 needs 3 shareholders
SELECT try('SELECT ssn_sum(a.v * b.v) FROM acct a JOIN acct b USING (id)');
-- aggregating handles this node never stored
SELECT try($$SELECT ssn_sum(s) FROM h WHERE name = 'a'$$);

-- ssn_store(expression): refused at commit when the shareholders cannot be reached,
-- and nothing is left behind
BEGIN;
SELECT ssn_secret_k(ssn_store(v + 1)) AS k, ssn_secret_n(ssn_store(v + 1)) AS n FROM acct WHERE id = 1;
COMMIT;
SELECT count(*) AS secrets_left FROM ssn.secret;
-- a savepoint rolled back takes its computed stores with it
BEGIN;
SAVEPOINT s1;
SELECT ssn_store(v * 2) IS NOT NULL AS queued FROM acct WHERE id = 1;
ROLLBACK TO s1;
COMMIT;
SELECT count(*) AS secrets_after_savepoint FROM ssn.secret;

DROP TABLE acct, h;
DELETE FROM ssn.outbox;
DELETE FROM ssn.held_share;
DELETE FROM ssn.secret;
SELECT ssn.remove_shareholder(name) FROM ssn.shareholder ORDER BY name;
DROP FUNCTION try(text);
\! "$SSN_TOOLS/regress-kme" stop kme_regress

-- upgrading: a 1.1 installation updates to 1.2 in place
DROP EXTENSION ssn CASCADE;
CREATE EXTENSION ssn VERSION '1.1';
ALTER EXTENSION ssn UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'ssn';
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssn'
WHERE p.proname IN ('ssn_sum', 'ssn_avg', 'ssn_count', 'ssn_store', 'channel_compute', 'channel_confirm')
ORDER BY 1, 2;
SELECT has_function_privilege('public', 'ssn.channel_compute(text, bytea)', 'EXECUTE') AS public_may_compute,
	   has_function_privilege('ssn_peer', 'ssn.channel_compute(text, bytea)', 'EXECUTE') AS peers_may_compute;
