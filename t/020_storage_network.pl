# The storage network (Y.3808 §9-10) on five nodes: 10,000 values of mixed types
# stored from node1, one share on every shareholder, no plaintext anywhere but on the
# storing node, bulk and typed retrieval, transactional outbox, access control,
# synchronous_store, link accounting and the uniqueness of every QKD key ID used.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $N = 5;
my $COUNT = $ENV{SSN_TEST_COUNT} // 10000;
my $CHUNK = 1000;
my $net = SsnNet->new(n => $N);
my $t0 = time;

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}
my @sqls = map { $net->query($_, 'SELECT ssn.node_name()') // '' } 1 .. $N;
is_deeply(\@sqls, [ map { "node$_" } 1 .. $N ], 'every node knows its shareholder name (ssn.node_name)');

# ---- the values: mixed types, distinctive markers in the texts
my $setup = $net->query(1, qq{
CREATE TABLE orig (id int PRIMARY KEY, typ text NOT NULL, val text NOT NULL, expected text);
INSERT INTO orig (id, typ, val)
SELECT i, t, CASE t
	WHEN 'int8' THEN CASE i % 100 WHEN 10 THEN '9223372036854775807' WHEN 20 THEN '-9223372036854775808'
		ELSE ((CASE WHEN i % 4 = 0 THEN -1 ELSE 1 END) * i::int8 * 922337203685477)::text END
	WHEN 'int4' THEN (i * 3 - 15000)::text
	WHEN 'numeric' THEN CASE i % 100 WHEN 1 THEN '12.50' WHEN 11 THEN '-0.000001'
		WHEN 21 THEN '123456789012345678901234567890.123456789' ELSE ((i - 5000) * 1.125)::numeric(20, 4)::text END
	WHEN 'text' THEN CASE i % 100 WHEN 2 THEN '' WHEN 12 THEN repeat('PLAINMARK:long ' || i, 300)
		ELSE 'PLAINMARK:' || md5(i::text) || ' grüß 日本 ' || i END
	WHEN 'bytea' THEN CASE i % 100 WHEN 3 THEN '\\x' ELSE decode(md5(i::text) || 'deadbeef', 'hex')::text END
	WHEN 'bool' THEN (i % 3 = 0)::text
	WHEN 'date' THEN ('2000-01-01'::date + i)::text
	WHEN 'timestamptz' THEN ('2020-01-01 00:00:00.123456+00'::timestamptz + i * interval '1 hour 1.5 s')::text
	WHEN 'jsonb' THEN jsonb_build_object('id', i, 'name', 'JSONMARK-' || md5(i::text), 'arr', jsonb_build_array(i, 'ü', null, 1.5))::text
	END
FROM generate_series(1, $COUNT) AS i,
	LATERAL (SELECT (ARRAY['int8','numeric','text','bytea','bool','date','timestamptz','jsonb','int4','text'])[i % 10 + 1] AS t) AS x;
-- what the network must give back as text: the value's own notation, as ssn_combine gives it
UPDATE orig SET expected = CASE typ
	WHEN 'int8' THEN ssn_combine(ssn_split(val::int8, 2, 2))
	WHEN 'int4' THEN ssn_combine(ssn_split(val::int4, 2, 2))
	WHEN 'numeric' THEN ssn_combine(ssn_split(val::numeric, 2, 2))
	WHEN 'text' THEN ssn_combine(ssn_split(val::text, 2, 2))
	WHEN 'bytea' THEN ssn_combine(ssn_split(val::bytea, 2, 2))
	WHEN 'bool' THEN ssn_combine(ssn_split(val::bool, 2, 2))
	WHEN 'date' THEN ssn_combine(ssn_split(val::date, 2, 2))
	WHEN 'timestamptz' THEN ssn_combine(ssn_split(val::timestamptz, 2, 2))
	WHEN 'jsonb' THEN ssn_combine(ssn_split(val::jsonb, 2, 2)) END;
SELECT count(*) FROM orig WHERE expected IS NOT NULL});
is($setup, $COUNT, "$COUNT values of 9 types prepared on node1");
ok(defined $net->query(1, q{CREATE TABLE vault (id int PRIMARY KEY, h ssn_secret(3,5) NOT NULL)}), 'a table with an ssn_secret(3,5) column');

my $store_sql = q{INSERT INTO vault (id, h) SELECT id, CASE typ
	WHEN 'int8' THEN ssn_store(val::int8)
	WHEN 'int4' THEN ssn_store(val::int4)
	WHEN 'numeric' THEN ssn_store(val::numeric)
	WHEN 'text' THEN ssn_store(val::text)
	WHEN 'bytea' THEN ssn_store(val::bytea)
	WHEN 'bool' THEN ssn_store(val::bool)
	WHEN 'date' THEN ssn_store(val::date)
	WHEN 'timestamptz' THEN ssn_store(val::timestamptz)
	WHEN 'jsonb' THEN ssn_store(val::jsonb) END
FROM orig};

# ---- store: 5 transactions, default k = 3 and n = every shareholder in service (5)
my $ts = time;
my $stored = 0;
my $batch = int(($COUNT + 4) / 5);
for (my $lo = 0; $lo < $COUNT; $lo += $batch)
{
	my $hi = $lo + $batch;
	my $r = $net->query(1, "SET ssn.synchronous_store = off; $store_sql WHERE id > $lo AND id <= $hi");
	last unless defined $r;
	$stored += $hi > $COUNT ? $COUNT - $lo : $batch;
}
my $store_s = time - $ts;
is($stored, $COUNT, "$COUNT values stored from node1 in 5 transactions");
diag sprintf('store: %d values in %.1f s (%.0f values/s; commit with synchronous_store = off)',
	$COUNT, $store_s, $COUNT / ($store_s || 1));
is($net->query(1, q{SELECT count(*) FROM vault
	WHERE ssn_secret_k(h) <> 3 OR ssn_secret_n(h) <> 5
	   OR (SELECT array_agg(x ORDER BY x) FROM unnest(ssn_secret_holders(h)) AS x) <> '{1,2,3,4,5}'}),
	'0', 'every handle: k = 3, n = 5, held by shareholders 1..5');
is($net->query(1, q{SELECT count(*) FROM vault v JOIN ssn.secret s ON s.id = ssn_secret_id(v.h)
	WHERE s.owner = 'postgres'::regrole AND s.k = 3 AND s.n = 5}), $COUNT, "node1's SSA catalog lists the $COUNT secrets with their owner");
is($net->query(1, q{SELECT count(*) FROM vault WHERE h::text LIKE '%PLAINMARK%' OR h::text LIKE '%JSONMARK%'}),
	'0', 'handles carry no value');

$ts = time;
ok($net->wait_delivered(1, 600), "node1's outbox delivered");
diag sprintf('delivery: %d shares to 4 peers done %.1f s after the last commit', 4 * $COUNT, time - $ts);
# the background workers report their table changes: autovacuum (and so ANALYZE, and the
# re-planning of the workers' saved plans) hears of the key ledger and the outbox
ok($net->poll(1, q{SELECT n_tup_ins > 0 FROM pg_stat_user_tables WHERE relid = 'ssn.key_ledger'::regclass}, 't', 60),
	"node1: pg_stat_user_tables counts the key ledger writer's rows of ssn.key_ledger");
ok($net->poll(1, q{SELECT n_tup_del > 0 FROM pg_stat_user_tables WHERE relid = 'ssn.outbox'::regclass}, 't', 60),
	"node1: pg_stat_user_tables counts the outbox rows the node worker delivered and deleted");
ok($net->poll(2, q{SELECT n_tup_ins > 0 FROM pg_stat_user_tables WHERE relid = 'ssn.key_ledger'::regclass}, 't', 60),
	"node2: the same for the receiving side's key ledger");

# ---- every node holds exactly one share of every secret, at its own x
my $ids_md5 = $net->query(1, q{SELECT md5(string_agg(ssn_secret_id(h)::text, ',' ORDER BY ssn_secret_id(h))) FROM vault});
for my $i (1 .. $N)
{
	my $r = $net->query($i, q{SELECT count(*) || '|' || count(DISTINCT secret_id) || '|' || count(*) FILTER (WHERE origin <> 'node1')
		|| '|' || string_agg(DISTINCT ssn_share_x(share)::text, ',') || '|' || min(ssn_share_k(share)) || '|' || max(ssn_share_n(share))
		|| '|' || md5(string_agg(secret_id::text, ',' ORDER BY secret_id)) FROM ssn.held_share});
	is($r, "$COUNT|$COUNT|0|$i|3|5|$ids_md5",
		"node$i holds exactly one share (x = $i, k = 3, n = 5, origin node1) of each of the $COUNT secrets");
}

# ---- no plaintext in any share; none at all in the data directories of nodes 2..5
my $marks = q{ARRAY['PLAINMARK:', 'JSONMARK-', 'grüß 日本']};
for my $i (1 .. $N)
{
	is($net->query($i, qq{SELECT count(*) FROM ssn.held_share h, unnest($marks) AS m
		WHERE position(convert_to(m, 'UTF8') IN ssn_share_payload(h.share)) > 0
		   OR position(m IN h.share::text) > 0}), '0', "node$i: no share holds a marker of the plaintext");
}
# some bytea values (random-looking bytes) must not show up either
my $bytea_list = $net->query(1, q{SELECT string_agg(quote_literal(val) || '::bytea', ',') FROM (SELECT val FROM orig WHERE typ = 'bytea' AND val <> '\x' ORDER BY id LIMIT 50) s});
for my $i (2 .. $N)
{
	is($net->query($i, qq{SELECT count(*) FROM ssn.held_share h, unnest(ARRAY[$bytea_list]) AS b
		WHERE position(b IN ssn_share_payload(h.share)) > 0}), '0', "node$i: no bytea plaintext inside its shares");
}
for my $i (2 .. $N)
{
	$net->query($i, 'CHECKPOINT');
	my $dd = $net->node($i)->data_dir;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'grep', '-rlaF', '-e', 'PLAINMARK:', '-e', 'JSONMARK-', '-e', 'grüß 日本', $dd ], '>', \$out, '2>', \$err);
	is($out, '', "node$i: no plaintext marker anywhere in its data directory (tables, WAL)");
}

# ---- bulk retrieval of everything, compared as text and as the original type
my $typed_eq = q{CASE o.typ
	WHEN 'int8' THEN r.v::int8 = o.val::int8
	WHEN 'int4' THEN r.v::int4 = o.val::int4
	WHEN 'numeric' THEN r.v::numeric = o.val::numeric AND scale(r.v::numeric) = scale(o.val::numeric)
	WHEN 'text' THEN r.v = o.val
	WHEN 'bytea' THEN r.v::bytea = o.val::bytea
	WHEN 'bool' THEN r.v::bool = o.val::bool
	WHEN 'date' THEN r.v::date = o.val::date
	WHEN 'timestamptz' THEN r.v::timestamptz = o.val::timestamptz
	WHEN 'jsonb' THEN r.v::jsonb = o.val::jsonb END};
$ts = time;
my ($good, $bad, @bad) = (0, 0);
for (my $lo = 0; $lo < $COUNT; $lo += $CHUNK)
{
	my $hi = $lo + $CHUNK;
	my $r = $net->query(1, qq{
WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(h ORDER BY id)) AS vals
		   FROM vault WHERE id > $lo AND id <= $hi),
	 r AS (SELECT u.id, u.v FROM a, unnest(a.ids, a.vals) AS u(id, v))
SELECT count(*) FILTER (WHERE r.v IS NOT DISTINCT FROM o.expected AND $typed_eq) || '|' ||
	   count(*) || '|' || coalesce(string_agg(o.id || ' ' || o.typ || ': got ' || coalesce(left(r.v, 60), 'NULL')
	   || ' want ' || left(o.expected, 60), '; ') FILTER (WHERE r.v IS DISTINCT FROM o.expected OR NOT coalesce($typed_eq, false)), '')
FROM orig o LEFT JOIN r USING (id) WHERE o.id > $lo AND o.id <= $hi}, timeout => 300);
	if (!defined $r) { $bad += $CHUNK; next; }
	my ($g, $n, $detail) = split /\|/, $r, 3;
	$good += $g;
	$bad += $n - $g;
	push @bad, substr($detail, 0, 500) if $n != $g;
}
my $ret_s = time - $ts;
is($good, $COUNT, "bulk ssn_retrieve(ssn_secret[]) in chunks of $CHUNK: all $COUNT values equal the originals (text and typed)");
diag "mismatches: @bad" if @bad;
diag sprintf('bulk retrieval: %d values in %.1f s (%.0f values/s)', $COUNT, $ret_s, $COUNT / ($ret_s || 1));

# ---- single-value retrieval, typed and as text
is($net->query(1, q{SELECT count(*) FILTER (WHERE ok) || '|' || count(*) FROM (
	SELECT CASE o.typ
		WHEN 'int8' THEN ssn_retrieve(v.h, NULL::int8) = o.val::int8
		WHEN 'int4' THEN ssn_retrieve(v.h, NULL::int4) = o.val::int4
		WHEN 'numeric' THEN ssn_retrieve(v.h, NULL::numeric)::text = o.val::numeric::text
		WHEN 'text' THEN ssn_retrieve(v.h, NULL::text) = o.val
		WHEN 'bytea' THEN ssn_retrieve(v.h, NULL::bytea) = o.val::bytea
		WHEN 'bool' THEN ssn_retrieve(v.h, NULL::bool) = o.val::bool
		WHEN 'date' THEN ssn_retrieve(v.h, NULL::date) = o.val::date
		WHEN 'timestamptz' THEN ssn_retrieve(v.h, NULL::timestamptz) = o.val::timestamptz
		WHEN 'jsonb' THEN ssn_retrieve(v.h, NULL::jsonb) = o.val::jsonb END AS ok
	FROM vault v JOIN orig o USING (id) WHERE o.id % 97 = 0 OR o.id IN (1, 2, 3, 10, 11, 12, 20, 21)) s}),
	join('|', ($net->query(1, q{SELECT count(*) FROM orig WHERE id % 97 = 0 OR id IN (1, 2, 3, 10, 11, 12, 20, 21)}) // 'x') x 2),
	'single-value ssn_retrieve(h, NULL::type) gives the original typed values');
is($net->query(1, q{SELECT pg_typeof(ssn_retrieve(h, NULL::int8)) || ' ' || ssn_retrieve(h, NULL::int8) || ' ' || ssn_retrieve(h)
	FROM vault WHERE id = 10}), 'bigint 9223372036854775807 9223372036854775807', 'ssn_retrieve(h, NULL::int8) is int8; ssn_retrieve(h) text');
is($net->query(1, q{SELECT ssn_retrieve(h) FROM vault WHERE id = 1}), '12.50', 'numeric keeps its scale (12.50)');
is($net->query(1, q{SELECT '[' || ssn_retrieve(h) || '] ' || (ssn_retrieve(h, NULL::text) IS NOT NULL) FROM vault WHERE id = 2}), '[] true', 'the empty text comes back empty, not NULL');
is($net->query(1, q{SELECT ssn_retrieve(h, NULL::bytea) = '\x'::bytea FROM vault WHERE id = 3}), 't', 'the empty bytea comes back');
is($net->query(1, q{SELECT ssn_retrieve(h, NULL::int8) FROM vault WHERE id = 20}), '-9223372036854775808', 'the smallest int8 comes back');

# ---- NULL, typmod, n smaller than the number of shareholders
my $nullh = $net->query(1, q{SELECT coalesce(ssn_store(NULL::int8)::text, 'NULL')});
ok(defined $nullh && ($nullh eq 'NULL'
	  || ($net->query(1, "SELECT ssn_retrieve('$nullh'::ssn_secret, NULL::int8) IS NULL") // '') eq 't'),
	'ssn_store(NULL): a NULL handle, or one that retrieves NULL');
is($net->query(1, q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'vault'::regclass AND attname = 'h'}),
	'ssn_secret(3,5)', 'typmod ssn_secret(3,5) shown');
my ($rc, $out, $err) = $net->psql(1, q{INSERT INTO vault VALUES (-1, ssn_store(1::int8, 2, 5))});
ok($rc != 0, "ssn_secret(3,5) column refuses a (2,5) handle: $err");
($rc, $out, $err) = $net->psql(1, q{INSERT INTO vault VALUES (-2, ssn_store(7::int8, 3, 5))});
is($rc, 0, "ssn_secret(3,5) column takes ssn_store(v, 3, 5) $err");
$net->query(1, q{CREATE TABLE v23 (id int, h ssn_secret);
	INSERT INTO v23 SELECT g, ssn_store('two of three ' || g, 2, 3) FROM generate_series(1, 20) g});
ok($net->wait_delivered(1, 180), '(2,3) secrets delivered');
is($net->query(1, q{SELECT ssn_retrieve(h) FROM vault WHERE id = -2}), '7', 'the (3,5) value in the typmod column retrieves');
is($net->query(1, q{SELECT count(*) FROM v23 WHERE cardinality(ssn_secret_holders(h)) = 3 AND 1 = ANY(ssn_secret_holders(h))}),
	'20', 'n = 3 of 5 shareholders: 3 holders, the storing node among them');
my $ids23 = $net->query(1, q{SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM v23});
my $held23 = 0;
$held23 += ($net->query($_, "SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($ids23)") // 0) for 1 .. $N;
is($held23, 60, '(2,3): exactly 3 shares of each of the 20 secrets exist in the network');
is($net->query(1, q{SELECT count(*) FROM v23 WHERE ssn_retrieve(h) = 'two of three ' || id}), '20', '(2,3) secrets retrieved');

# ---- a rolled-back store leaves nothing anywhere
my $rb = $net->query(1, q{BEGIN;
SELECT string_agg(quote_literal(ssn_secret_id(ssn_store('ROLLBACKMARK ' || g))), ',') FROM generate_series(1, 50) g;
SELECT count(*) > 0 FROM ssn.outbox;
ROLLBACK;});
my ($rb_ids, $rb_queued) = split /\n/, $rb // '';
diag 'outbox rows visible inside the storing transaction before COMMIT: ' . ($rb_queued // '?');
# a transaction that fails at COMMIT (a deferred constraint) leaves nothing either
$net->query(1, q{CREATE TABLE dfk (id int PRIMARY KEY, ref int REFERENCES dfk DEFERRABLE INITIALLY DEFERRED, h ssn_secret)});
($rc, $out, $err) = $net->psql(1, q{BEGIN;
INSERT INTO dfk SELECT g, 999, ssn_store('DEFERMARK ' || g) FROM generate_series(1, 20) g;
SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM dfk;
COMMIT;});
ok($rc != 0 && $err =~ /23503/, 'a store whose transaction fails at COMMIT (deferred foreign key): the commit fails');
$rb_ids .= ",$out" if $out;
is($net->query(1, 'SELECT count(*) FROM ssn.outbox'), '0', 'after ROLLBACK the outbox is empty');
# a later committed store delivered means the worker had its chance at everything before it
$net->query(1, q{CREATE TABLE after_rb AS SELECT ssn_store('after rollback ' || g) AS h FROM generate_series(1, 10) g});
ok($net->wait_delivered(1, 180), 'a later store is delivered');
for my $i (1 .. $N)
{
	is($net->query($i, "SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($rb_ids)"), '0',
		"node$i holds no share of the rolled-back values");
}
is($net->query(1, "SELECT count(*) FROM ssn.secret WHERE id IN ($rb_ids)"), '0', "node1's catalog has no rolled-back secret");
is($net->query(1, q{SELECT count(*) FROM after_rb WHERE ssn_retrieve(h) LIKE 'after rollback %'}), '10', '...and the later values retrieve');

# ---- access control: only the owner (or its members, or a grantee) retrieves
$net->query(1, q{
CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE carol LOGIN IN ROLE alice;
CREATE TABLE avault (id int PRIMARY KEY, h ssn_secret);
GRANT ALL ON avault TO alice, bob, carol});
($rc, $out, $err) = $net->psql(1, q{INSERT INTO avault VALUES (1, ssn_store('ALICEMARK secret'::text)), (2, ssn_store(4242::int8));
	SELECT ssn_retrieve(h) FROM avault ORDER BY id}, user => 'alice');
is($out, "ALICEMARK secret\n4242", "a plain role stores and retrieves its values $err");
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM avault WHERE id = 1}, user => 'bob');
like($err, qr/42501/, 'another role cannot retrieve (42501)');
unlike($out, qr/ALICEMARK/, '...and gets nothing');
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(array_agg(h)) FROM avault}, user => 'bob');
like($err, qr/42501/, '...not in bulk either');
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM avault WHERE id = 1}, user => 'carol');
is($out, 'ALICEMARK secret', "a member of the owner retrieves $err");
for my $t (qw(ssn.held_share ssn.secret ssn.outbox ssn.key_ledger))
{
	($rc, $out, $err) = $net->psql(1, "SELECT count(*) FROM $t", user => 'bob');
	like($err, qr/42501/, "bob cannot read $t");
}
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_grant(h, 'bob') FROM avault WHERE id = 1}, user => 'bob');
like($err, qr/42501/, 'bob cannot grant himself the secret');
($rc, $out, $err) = $net->psql(1, q{SELECT ssn.channel_receive('\x00'::bytea)}, user => 'bob');
like($err, qr/42501/, 'bob cannot call the channel protocol');
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_grant(h, 'bob') FROM avault WHERE id = 1}, user => 'alice');
is($rc, 0, "the owner grants one secret to bob $err");
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM avault WHERE id = 1}, user => 'bob');
is($out, 'ALICEMARK secret', "the grantee retrieves it $err");
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM avault WHERE id = 2}, user => 'bob');
like($err, qr/42501/, '...and only it');
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_revoke(h, 'bob') FROM avault WHERE id = 1; }, user => 'alice');
is($out, 't', "ssn_revoke $err");
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM avault WHERE id = 1}, user => 'bob');
like($err, qr/42501/, 'after ssn_revoke bob cannot retrieve');
# a peer (certificate login as ssn_peer) cannot read the shares it reached
{
	my ($o2, $e2) = ('', '');
	IPC::Run::run([ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $net->conninfo(1, 2), '-c', 'SELECT count(*) FROM ssn.held_share' ],
		'>', \$o2, '2>', \$e2);
	like($e2, qr/42501/, 'ssn_peer cannot SELECT ssn.held_share on a shareholder');
	my $nocert = $net->conninfo(1, 2) =~ s/ sslcert=\S+ sslkey=\S+//r;
	IPC::Run::run([ 'psql', '-XAtq', '-d', "$nocert sslcert=/nonexistent sslkey=/nonexistent", '-c', 'SELECT 1' ], '>', \$o2, '2>', \$e2);
	like($e2, qr/certificate/, 'ssn_peer without a client certificate is refused');
}

# ---- another node as the storing node (SSA); concurrent storing sessions
$net->query(3, q{CREATE TABLE v3 (id int PRIMARY KEY, h ssn_secret)});
($rc, $out, $err) = $net->psql(3, q{INSERT INTO v3 SELECT g, ssn_store('from node3 ' || g) FROM generate_series(1, 100) g});
is($rc, 0, "node3 stores 100 values $err");
ok($net->wait_delivered(3, 180), "node3's outbox delivered");
is($net->query($_, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node3'}), '100', "node$_ holds the 100 shares stored from node3")
  for 1 .. $N;
is($net->query(3, q{SELECT count(*) FROM v3 WHERE ssn_retrieve(h) = 'from node3 ' || id}), '100', 'node3 retrieves its values');
my $h3 = $net->query(3, q{SELECT h FROM v3 WHERE id = 1});
($rc, $out, $err) = $net->psql(1, "SELECT ssn_retrieve('$h3'::ssn_secret)");
ok($rc != 0 && $out !~ /from node3/, "node1 cannot rebuild a secret node3 stored (its SSA catalog does not know it): $err");
$net->query(1, q{CREATE TABLE vconc (h ssn_secret)});
my $script = $net->dir . '/store.sql';
open my $sfh, '>', $script or die $!;
print $sfh q{INSERT INTO vconc SELECT ssn_store('concurrent ' || g || ' ' || random()) FROM generate_series(1, 10) g;} . "\n";
close $sfh;
$net->node(1)->command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-t', '50', '-f', $script, '-d', $net->node(1)->connstr('postgres') ],
	'4 sessions store concurrently (200 transactions of 10 values)');
ok($net->wait_delivered(1, 180), 'concurrent stores delivered');
my $conc_ids = $net->query(1, q{SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM vconc});
is($net->query($_, "SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($conc_ids)"), '2000', "node$_ holds the 2000 concurrently stored shares")
  for 1 .. $N;
is($net->query(1, q{SELECT count(*) FROM (SELECT unnest(ssn_retrieve(array_agg(h))) AS v FROM vconc) s WHERE v LIKE 'concurrent %'}),
	'2000', 'the 2000 concurrently stored values retrieve');

# ---- synchronous_store: 'all' => every shareholder holds the share at COMMIT (the
# commit may wait long on a loaded machine: synchronous_store_timeout is raised, so
# that the wait ends when the shares are held, not when time runs out)
$net->query(1, q{CREATE TABLE vsync (id int, mode text, h ssn_secret)});
($rc, $out, $err) = $net->psql(1, q{SET ssn.synchronous_store = 'all'; SET ssn.synchronous_store_timeout = '600s';
	INSERT INTO vsync SELECT g, 'all', ssn_store('sync ' || g) FROM generate_series(1, 100) g});
is($rc, 0, "synchronous_store = all: commit returns $err");
my $sync_ids = $net->query(1, q{SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM vsync WHERE mode = 'all'});
my @held = map { $net->query($_, "SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($sync_ids)") // -1 } 1 .. $N;
is_deeply(\@held, [ (100) x $N ], 'synchronous_store = all: right after COMMIT every node holds its 100 shares');
($rc, $out, $err) = $net->psql(1, q{SET ssn.synchronous_store = 'k'; SET ssn.synchronous_store_timeout = '600s';
	INSERT INTO vsync SELECT g, 'k', ssn_store('sync k ' || g) FROM generate_series(1, 100) g});
is($rc, 0, "synchronous_store = k: commit returns $err");
$sync_ids = $net->query(1, q{SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM vsync WHERE mode = 'k'});
my %holders;
for my $i (1 .. $N)
{
	$holders{$_}++ for split /\n/, $net->query($i, "SELECT secret_id FROM ssn.held_share WHERE secret_id IN ($sync_ids)") // '';
}
is(scalar(grep { $holders{$_} >= 3 } keys %holders), 100, 'synchronous_store = k: right after COMMIT at least k = 3 nodes hold each share');
ok($net->wait_delivered(1, 180), 'all delivered');

# ---- the network is healthy: channels, alarms (reachable is what the last health
# check found: on a loaded machine a check may have been slow, the next one settles it)
ok($net->poll(1, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE reachable AND pending_shares = 0 AND delivered_shares >= } . $COUNT . q{) FROM ssn.channels},
	'4 4', 120), 'ssn.channels on node1: 4 peers, reachable, nothing pending, all delivered')
  or diag $net->channel_report(1);
for my $i (1 .. $N)
{
	ok($net->poll($i, q{SELECT count(*) FROM ssn.active_alarms}, '0', 120), "node$i: no active alarm on a healthy network");
}

# ---- link accounting: QKD key bytes per share byte
my $ls = $net->query(1, q{SELECT sum(messages) || '|' || sum(shares) || '|' || sum(share_bytes) || '|' || sum(payload_bytes)
	|| '|' || sum(envelope_bytes) || '|' || sum(key_bytes) || '|' || sum(rejected) FROM ssn.link_stats WHERE direction = 'send'}) // '';
my ($msgs, $shs, $shb, $plb, $evb, $kyb, $rej) = split /\|/, $ls;
$_ = ($_ // '') eq '' ? 0 : $_ for ($msgs, $shs, $shb, $plb, $evb, $kyb, $rej);
cmp_ok($shs, '>=', 4 * $COUNT, "node1 link_stats: at least 4 x $COUNT shares sent ($shs in $msgs messages)");
# the one-time pad covers the shares' secret values only (headers and commitments
# travel in clear under the MAC): payload (encrypted) < share bytes < envelope
ok($plb > 0 && $shb > $plb && $evb > $plb, "link_stats: envelope ($evb) and share bytes ($shb) > encrypted payload ($plb) > 0");
cmp_ok($kyb, '>=', $plb + 32 * $msgs, 'link_stats: key bytes cover the one-time pad and one MAC key per message');
diag sprintf('QKD key: %d bytes for %d share bytes = %.3f key bytes per share byte (%.3f per payload byte, %.1f shares/message, %d messages)',
	$kyb, $shb, $kyb / ($shb || 1), $kyb / ($plb || 1), $shs / ($msgs || 1), $msgs);
for my $i (2 .. $N)
{
	cmp_ok($net->query($i, q{SELECT coalesce(sum(shares), 0) FROM ssn.link_stats WHERE direction = 'receive' AND peer = 'node1'}) // 0,
		'>=', $COUNT, "node$i link_stats: received at least $COUNT shares from node1");
}

# ---- no QKD key ID ever served twice
$net->check_key_ledger('end of the run');

$net->teardown;
diag sprintf('020: %.0f s', time - $t0);
done_testing();
