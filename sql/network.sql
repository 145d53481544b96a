-- The storage network on one node: handles, the outbox, access control and the
-- errors a DBA meets without peers.  (Delivery between real nodes: t/020, t/021.)
\set VERBOSITY terse
SET client_min_messages = warning;

-- errors that name a random secret id, with the id masked (and the detail shown)
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

-- handles: text form, typmod, accessors
SELECT 'ssn_secret:1 id=0b5c9a52-8d7c-4a36-9d3f-0e6f6a8c1a01 t=int8 k=3 n=5 e=0 h=1,2,3,4,5'::ssn_secret AS h \gset
SELECT :'h'::ssn_secret;
SELECT ssn_secret_id(:'h'), ssn_secret_k(:'h'), ssn_secret_n(:'h'),
	   ssn_secret_value_type(:'h'), ssn_secret_holders(:'h');
SELECT :'h'::ssn_secret(3,5) IS NOT NULL AS fits;
SELECT :'h'::ssn_secret(2,3);
CREATE TABLE typmod_check (s ssn_secret(4,3));
CREATE TABLE typmod_check (s ssn_secret(3));
SELECT 'ssn_secret:1 id=0b5c9a52-8d7c-4a36-9d3f-0e6f6a8c1a01 t=int8 k=3 n=5 e=0 h=1,2,3,4'::ssn_secret;
SELECT 'ssn_secret:1 id=0b5c9a52-8d7c-4a36-9d3f-0e6f6a8c1a01 t=int8 k=3 n=5 e=0 h=1,2,3,5,4'::ssn_secret;
SELECT 'ssn_secret:1 id=0b5c9a52-8d7c-4a36-9d3f-0e6f6a8c1a01 t=nope k=3 n=5 e=0 h=1,2,3,4,5'::ssn_secret;
SELECT 'ssn_secret:1 id=0b5c9a52-8d7c-4a36-9d3f-0e6f6a8c1a01 t=int8 k=6 n=5 e=0 h=1,2,3,4,5'::ssn_secret;
SELECT 'junk'::ssn_secret;
SELECT :'h'::ssn_secret = :'h'::ssn_secret AS same;

-- no catalog yet: this node is not even in its own catalog
SELECT ssn_store(42::int8, 2, 2);

-- this node (SAE_R) and two peers that cannot be reached
SET ssn.sae_id = 'SAE_R';
-- a KME for the links to the peers: stores seal their shares with its keys
\i sql/regress_kme.psql
SELECT ssn.node_name() IS NULL AS not_registered;
SELECT name FROM ssn.add_shareholder('here', 'SAE_R', NULL, 1, 'here');
SELECT name FROM ssn.add_shareholder('ghost1', 'SAE_G1', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 2, 'ghost1');
SELECT name FROM ssn.add_shareholder('ghost2', 'SAE_G2', 'host=127.0.0.1 port=1 dbname=x connect_timeout=1', 3, 'ghost2');
SELECT ssn.node_name(), * FROM ssn.node;

SELECT ssn_store(1::int8, 2, 4);
SELECT ssn_store(1::int8, 4, 3);
SELECT ssn_store(1::int8, 1, 3);

-- a store: this node's share is kept, the others wait in the outbox
CREATE TABLE accounts (name text, balance ssn_secret(2,3), note ssn_secret);
INSERT INTO accounts VALUES ('alice', ssn_store(1250.75::numeric, 2, 3), ssn_store('top secret'));
SELECT ssn_secret_k(balance), ssn_secret_n(balance), ssn_secret_value_type(balance),
	   ssn_secret_holders(balance), ssn_secret_value_type(note), ssn_secret_k(note)
FROM accounts;
SELECT count(*) AS held FROM ssn.held_share;
-- one sealed message per peer: the secrets' records (owner, type, holders: what
-- another node needs to take them over if this one is lost), then the shares
SELECT peer, shares, attempts FROM ssn.outbox ORDER BY peer, id;
SELECT count(*) AS catalogued, min(owner::regrole::text) AS owner FROM ssn.secret;
INSERT INTO accounts VALUES ('bob', ssn_store(1::int8, 3, 3), NULL);
SELECT ssn_store(NULL::int8) IS NULL AS null_stays_null;

-- no share of this node or the outbox is a plaintext
SELECT count(*) AS plaintext_copies FROM ssn.held_share
WHERE position(convert_to('top secret', 'UTF8') IN ssn_share_payload(share)) > 0;
-- the outbox holds messages sealed for their peers (envelopes, magic "SSNE"),
-- never shares in clear; their keys are settled 'used' in the key ledger
SELECT count(*) AS rows, count(*) FILTER (WHERE substr(blob, 1, 4) <> '\x53534e45'::bytea) AS clear_rows
FROM ssn.outbox;
SELECT direction, peer, state FROM ssn.key_ledger GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- a rolled back store leaves nothing behind, in a subtransaction too
BEGIN;
INSERT INTO accounts VALUES ('carol', ssn_store(5::int8, 2, 3), NULL);
ROLLBACK;
BEGIN;
SAVEPOINT a;
INSERT INTO accounts VALUES ('dave', ssn_store(6::int8, 2, 3), NULL);
ROLLBACK TO a;
INSERT INTO accounts VALUES ('erin', ssn_store(7::int8, 2, 3), NULL);
COMMIT;
-- stores before, inside and after savepoints: each kept or dropped with its level
BEGIN;
INSERT INTO accounts VALUES ('fay', ssn_store(8::int8, 2, 3), NULL);
SAVEPOINT b;
INSERT INTO accounts VALUES ('gus', ssn_store(9::int8, 2, 3), NULL);
SAVEPOINT c;
INSERT INTO accounts VALUES ('hal', ssn_store(10::int8, 2, 3), NULL);
RELEASE c;
ROLLBACK TO b;
SAVEPOINT d;
INSERT INTO accounts VALUES ('ivy', ssn_store(11::int8, 2, 3), NULL);
RELEASE d;
COMMIT;
-- a retrieval inside a savepoint does not take the transaction's buffered stores
-- with it when the savepoint is rolled back
BEGIN;
INSERT INTO accounts VALUES ('jan', ssn_store(12::int8, 2, 3), NULL);
SAVEPOINT e;
SELECT try($$SELECT ssn_retrieve(balance) FROM accounts WHERE name = 'jan'$$) AS read_back_from_the_store;
ROLLBACK TO e;
COMMIT;
SELECT name FROM accounts ORDER BY name;
SELECT count(*) AS held, (SELECT count(*) FROM ssn.secret) AS catalogued,
	   (SELECT sum(shares) FROM ssn.outbox) AS queued FROM ssn.held_share;

-- retrieval needs k shares: this node has one, the peers are down; the error
-- names every shareholder that failed
SET ssn.peer_timeout = 2000;
SELECT try($$SELECT ssn_retrieve(balance) FROM accounts WHERE name = 'alice'$$);
SELECT try($$SELECT ssn_retrieve(ARRAY[balance, note]) FROM accounts WHERE name = 'alice'$$);

-- a handle this node never stored
SELECT ssn_retrieve(:'h'::ssn_secret);

-- only the owner (or a role it granted) may retrieve
CREATE ROLE ssn_reader;
GRANT SELECT ON accounts TO ssn_reader;
SET ROLE ssn_reader;
SELECT try($$SELECT ssn_retrieve(balance) FROM accounts WHERE name = 'alice'$$);
SELECT count(*) FROM ssn.held_share;
SELECT count(*) FROM ssn.outbox;
SELECT try($$SELECT ssn_grant(balance, 'ssn_reader') FROM accounts WHERE name = 'alice'$$);
RESET ROLE;
SELECT ssn_grant(balance, 'ssn_reader') FROM accounts WHERE name = 'alice';
SET ROLE ssn_reader;
-- now past the access check; it fails for want of shareholders instead
SELECT try($$SELECT ssn_retrieve(balance) FROM accounts WHERE name = 'alice'$$);
RESET ROLE;
SELECT ssn_revoke(balance, 'ssn_reader') FROM accounts WHERE name = 'alice';

-- the privileged parts of ssn_store and ssn_retrieve ignore the caller's
-- search_path: a user's unnest() or pg_has_role() cannot run as superuser
CREATE SCHEMA trap AUTHORIZATION ssn_reader;
SET ROLE ssn_reader;
CREATE FUNCTION trap.unnest(uuid[]) RETURNS SETOF uuid LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'hijacked by %', current_user; END $$;
CREATE FUNCTION trap.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'hijacked by %', current_user; END $$;
SET search_path = trap, public;
SELECT ssn_secret_k(ssn_store(13::int8, 2, 3)) AS stored_despite_trap;
SELECT try($$SELECT ssn_retrieve(balance) FROM accounts WHERE name = 'alice'$$) LIKE '42501%' AS still_denied;
RESET search_path;
RESET ROLE;
DROP SCHEMA trap CASCADE;

-- a value whose share no message can carry (ssn.channel_batch_size, 1 MB) is
-- refused, not queued forever
SELECT ssn_store(repeat('x', 1100000), 2, 3);

-- a shareholder with shares waiting for it is not removed by accident
SELECT ssn.remove_shareholder('ghost1');

-- read your own writes: a secret stored in this transaction is granted in it
BEGIN;
CREATE TEMP TABLE fresh AS SELECT ssn_store(99::int8, 2, 3) AS h;
SELECT ssn_grant(h, 'ssn_reader') FROM fresh;
GRANT SELECT ON fresh TO ssn_reader;
SELECT count(*) AS granted FROM ssn.secret_grant WHERE grantee = 'ssn_reader'::regrole;
-- ...and retrieved in it (its shareholders get their shares only at COMMIT: the
-- SSA keeps the value until the transaction ends), alone and in an array
SELECT ssn_retrieve(h) AS own_write, ssn_retrieve(h, NULL::int8) + 1 AS typed FROM fresh;
SELECT ssn_retrieve(array_agg(h)) AS own_writes FROM fresh;
-- ...and computed on: the SSA evaluates on the values it keeps (not with secrets
-- stored before, whose values it does not have: 55000)
SELECT ssn_retrieve(h + h * 2) AS computed, ssn_retrieve(h * h - 1) AS product FROM fresh;
SELECT ssn_sum(h) AS summed, ssn_avg(h) AS averaged FROM fresh;
SELECT try($$SELECT ssn_retrieve(f.h + a.balance) FROM fresh f, accounts a WHERE a.name = 'alice'$$);
-- ...and verified: this node's share now, the others' pending until COMMIT
SELECT shareholder, regexp_replace(status, 'key [0-9a-f]{16} at .*', 'key <key> at <time>') AS status
FROM ssn_verify((SELECT h FROM fresh));
-- ...also as the grantee
SET LOCAL ROLE ssn_reader;
SELECT ssn_retrieve(h) AS granted_own_write FROM fresh;
RESET ROLE;
-- a savepoint rolled back takes its values with it
SAVEPOINT s;
SELECT ssn_store(7::int8, 2, 3) AS gone \gset
SELECT ssn_retrieve(:'gone'::ssn_secret) AS before_rollback;
ROLLBACK TO s;
SELECT try($$SELECT ssn_retrieve('$$ || :'gone' || $$'::ssn_secret)$$) AS after_rollback;
ROLLBACK;

-- take-over of a lost storing node: the bad requests
SELECT ssn.take_over('here');
SELECT ssn.take_over('nobody');
SELECT ssn.allow_take_over('ghost1', 'ghost1');
SELECT ssn.allow_take_over('ghost1', 'nobody');
SET ROLE ssn_reader;
SELECT ssn.take_over('ghost1');
SELECT ssn.allow_take_over('ghost1', 'here');
SELECT ssn.publish_records();
RESET ROLE;
-- by hand, not from the successor: refused
SELECT ssn.channel_take_over('ghost1', NULL, 10);
-- allowed here: ghost1 out of service; a second successor is refused once handed over
SELECT ssn.allow_take_over('ghost1', 'ghost2');
SELECT name, state FROM ssn.shareholder ORDER BY name;
SELECT failed, successor, allowed_by IS NOT NULL AS allowed, handed_over FROM ssn.take_over;
UPDATE ssn.take_over SET handed_over = 0;
SELECT ssn.allow_take_over('ghost1', 'here');
DELETE FROM ssn.take_over;
UPDATE ssn.shareholder SET state = 'in service' WHERE name = 'ghost1';

-- the channel functions are for the peer role only
SET ROLE ssn_reader;
SELECT ssn.channel_ping();
SELECT ssn.channel_receive('\x00');
RESET ROLE;

-- erasure: only the owner deletes; its share here and its catalog row go, its
-- record goes to the holders marked deleted; a retrieval says it was deleted
CREATE TABLE doomed AS SELECT ssn_store(g::int8, 2, 3) AS h FROM generate_series(1, 3) g;
GRANT SELECT ON doomed TO ssn_reader;
SELECT count(*) AS records_before FROM ssn.outbox WHERE shares = 0 \gset
SET ROLE ssn_reader;
SELECT try('SELECT ssn_delete(h) FROM doomed LIMIT 1');
RESET ROLE;
SELECT try('SELECT ssn_delete(h + h) FROM doomed LIMIT 1');
SELECT ssn_delete(array_agg(h)) AS deleted FROM doomed;
SELECT ssn_delete(array_agg(h)) AS deleted_again FROM doomed;
SELECT bool_or(ssn_delete(h)) AS any_deleted FROM doomed;
SELECT count(*) - :records_before AS record_messages FROM ssn.outbox WHERE shares = 0;
SELECT count(*) AS catalogued FROM ssn.secret s JOIN doomed d ON s.id::text = substring(d.h::text FROM 'id=([0-9a-f-]+)');
SELECT count(*) AS tombstones, min(deleted_by) AS deleted_by FROM ssn.deleted_secret;
SELECT try('SELECT ssn_retrieve(h) FROM doomed LIMIT 1');
SELECT try('SELECT ssn_grant(h, ''ssn_reader'') FROM doomed LIMIT 1');
DROP TABLE doomed;

-- orphans: nothing waits for an SSA that will not come back; the grace period
SELECT kind, waiting, collected FROM ssn.orphans ORDER BY kind;
SHOW ssn.orphan_grace;

-- a malformed message is refused with an alarm, not stored
SELECT ssn.channel_receive('\x53534e45');
SELECT source, object, problem FROM ssn.active_alarms;
SELECT ssn.acknowledge_alarm(id) FROM ssn.active_alarms;
SELECT count(*) AS active FROM ssn.active_alarms;

-- data owners (SSN-U): registered by a superuser, never a shareholder's SAE;
-- envelopes that cannot be theirs are refused before a key is asked for (the
-- whole path with ssn-client: t/032)
SELECT try($$SELECT ssn.add_data_owner('SAE_G1', 'ssn_reader')$$);
SELECT ssn.add_data_owner('OWNER_R', 'ssn_reader');
SELECT sae_id, role FROM ssn.data_owner;
SET ROLE ssn_reader;
SELECT node, node_sae_id, owner_sae_id, owner_role FROM ssn_owner_link();
SELECT try($$SELECT ssn.add_data_owner('OWNER_S', 'ssn_reader')$$);
SELECT try($$SELECT ssn_store_sealed('\x5353')$$);
SELECT try($$SELECT ssn_retrieve_sealed('{}', '\x00')$$);
SELECT try($$SELECT ssn_retrieve_sealed('{}', '\x00112233445566778899aabbccddeeff', 'NOBODY')$$);
RESET ROLE;
-- a well-formed envelope from this node itself: not a data owner
SELECT try(format('SELECT ssn_store_sealed(%L)', ssn.channel_seal_test('ghost1', '\x01', 'owner store')));
SELECT ssn.drop_data_owner('OWNER_R'), ssn.drop_data_owner('OWNER_R');
SET ROLE ssn_reader;
SELECT try($$SELECT ssn_retrieve_sealed('{}', '\x00112233445566778899aabbccddeeff')$$);
RESET ROLE;

DROP TABLE accounts;
DROP ROLE ssn_reader;
DELETE FROM ssn.outbox;
DELETE FROM ssn.held_share;
DELETE FROM ssn.secret;
SELECT ssn.remove_shareholder(name) FROM ssn.shareholder ORDER BY name;
DROP FUNCTION try(text);
\! "$SSN_TOOLS/regress-kme" stop kme_regress
