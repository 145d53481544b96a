# Erasure on request (issue 17): ssn_delete on five nodes with one holder down.
# node1 stores 300 secrets as alice (k = 3, n = 5); node5 is stopped; alice
# deletes 150 of them with DELETE ... RETURNING ssn_delete(h) (bob may not,
# 42501; inside its transaction a deleted secret already retrieves as deleted).
# node1 keeps tombstones and neither catalog row nor share of them; node2..node4
# drop their shares at once, node5 when it is back (the deletion waited in
# node1's outbox, sealed); no holder keeps a share of a deleted secret, each keeps
# its record as a tombstone, and a share's bytes are out of node2's table files
# after VACUUM FULL.  The 150 others retrieve exactly; a deleted one says so.
# node2's worker collects orphans (an old part of a degree reduction, a share that
# came after its secret's deletion), counted in ssn.orphans.  pg_dump and
# pg_restore into a fresh cluster whose roles were created in another order keep
# every owner and grant.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use File::Find ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 5);
if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}
sub qn { my ($i, $sql, %o) = @_; return $net->query($i, $sql, timeout => 300, %o) // ''; }

for my $i (1 .. 5)
{
	qn($i, q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
}
qn(1, q{CREATE TABLE v (id int PRIMARY KEY, h ssn_secret, val text); GRANT ALL ON v TO alice, bob});
my ($rc, $out, $err) = $net->psql(1, q{SET ssn.synchronous_store = 'all'; SET ROLE alice;
INSERT INTO v SELECT g, ssn_store(g::int8 * 1000003, 3, 5), (g::int8 * 1000003)::text FROM generate_series(1, 200) g;
INSERT INTO v SELECT g, ssn_store('to be forgotten ' || g, 3, 5), 'to be forgotten ' || g FROM generate_series(201, 300) g;
SELECT count(ssn_grant(h, 'bob')) FROM v WHERE id % 10 = 0}, timeout => 300);
is("$rc|$out", '0|30', 'node1: alice stores 300 secrets and grants 30 to bob') or diag $err;
ok($net->wait_all_delivered(180), 'every outbox drained');
my @deleted_ids = split /\n/, qn(1, q{SELECT substring(h::text FROM 'id=([0-9a-f-]+)') FROM v WHERE id <= 150 OR id > 225 ORDER BY id});
my $in = join(',', map { "'$_'" } @deleted_ids);
is(scalar(@deleted_ids), 225, 'the ids of the 225 secrets to delete');
# a share of a deleted text secret, as node2 keeps it on disk
my $needle = qn(2, qq{SELECT encode(substring(ssn_share_payload(share) FROM 1 FOR 16), 'hex') FROM ssn.held_share
	WHERE secret_id = '$deleted_ids[-1]'});
is(length($needle), 32, "node2's share of a text secret to delete: 16 bytes to look for later");

$net->stop(5);
($rc, $out, $err) = $net->psql(1, q{SET ROLE bob; SELECT ssn_delete(h) FROM v WHERE id = 10});
like($err, qr/ERROR:\s+42501: permission denied to delete secret/, 'bob may not delete alice\'s secret, even one granted to him (42501)');
($rc, $out, $err) = $net->psql(1, q{SET ROLE alice; BEGIN; SELECT ssn_delete(h) FROM v WHERE id = 1; SELECT ssn_retrieve(h) FROM v WHERE id = 1});
like($err, qr/ERROR:\s+42704: secret [0-9a-f-]+ was deleted/, 'inside the deleting transaction the secret retrieves as deleted');
is(qn(1, q{SELECT count(*) FROM ssn.secret}), '300', '...and after its rollback it is still there');
($rc, $out, $err) = $net->psql(1, q{SET ROLE alice;
WITH d AS (DELETE FROM v WHERE id <= 150 RETURNING ssn_delete(h) AS ok) SELECT count(*) FILTER (WHERE ok) FROM d;
SELECT ssn_delete(array_agg(h)) FROM v WHERE id > 225;
SELECT ssn_delete(array_agg(h)) FROM v WHERE id > 225});
is("$rc|$out", "0|150\n75\n0", 'alice: DELETE ... RETURNING ssn_delete(h) deletes 150, ssn_delete(array) 75 more, then 0') or diag $err;
is(qn(1, qq{SELECT (SELECT count(*) FROM ssn.secret) || '|' || (SELECT count(*) FROM ssn.held_share)
	|| '|' || (SELECT count(*) FROM ssn.deleted_secret WHERE id IN ($in)) || '|' || (SELECT count(*) FROM ssn.secret_grant)}),
	'75|75|225|7', 'node1: 75 secrets, 75 own shares, 225 tombstones, the 7 grants left');
ok($net->wait_delivered(1, 180, 'node2') && $net->wait_delivered(1, 180, 'node3') && $net->wait_delivered(1, 180, 'node4'),
	'node1 delivered the deletions to node2..node4');
for my $i (2 .. 4)
{
	is(qn($i, qq{SELECT (SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($in)) || '|' || (SELECT count(*) FROM ssn.held_share)
		|| '|' || (SELECT count(*) FROM ssn.held_secret WHERE deleted AND secret_id IN ($in))}), '0|75|225',
		"node$i: no share of a deleted secret, the 75 others, 225 tombstones");
}
is(qn(1, q{SELECT count(*) > 0 FROM ssn.outbox WHERE peer = 'node5'}), 't', "node1's outbox keeps node5's deletions (node5 down)");

$net->start(5);
ok($net->wait_all_delivered(180), 'node5 back: node1 delivers');
is(qn(5, qq{SELECT (SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($in)) || '|' || (SELECT count(*) FROM ssn.held_share)
	|| '|' || (SELECT count(*) FROM ssn.held_secret WHERE deleted AND secret_id IN ($in))}), '0|75|225',
	'node5: no share of a deleted secret left, the 75 others, 225 tombstones');

is(qn(1, q{SET ROLE alice; SELECT count(*) FROM (SELECT * FROM v WHERE id <= 225 OFFSET 0) g WHERE ssn_retrieve(h) = val}), '75', 'the 75 secrets left retrieve exactly');
is(qn(1, q{SET ROLE bob; SELECT count(*) FROM (SELECT * FROM v WHERE id <= 225 AND id % 10 = 0 OFFSET 0) g WHERE ssn_retrieve(h) = val}), '7', '...and bob\'s 7 grants of them');
($rc, $out, $err) = $net->psql(1, q{SET ROLE alice; SELECT ssn_retrieve(h) FROM v WHERE id = 300});
like($err, qr/ERROR:\s+42704: secret [0-9a-f-]+ was deleted\nDETAIL:\s+Role alice deleted it/, 'a deleted one: "was deleted", by alice');

# the share's bytes out of node2's table files once its table is rewritten
qn(2, q{VACUUM FULL ssn.held_share; CHECKPOINT});
my $bytes = pack('H*', $needle);
my @found;
File::Find::find(sub { return unless -f $_; my $c = slurp_file($_); push @found, $File::Find::name if index($c, $bytes) >= 0; },
	$net->node(2)->data_dir . '/base');
is(join(',', @found), '', "node2: after VACUUM FULL the deleted share's bytes are in no table file");

# ---- orphans: what no SSA will come back for is collected by node2's worker
# (ssn.orphan_grace, here 60 s; a share that came after its secret's deletion at once)
qn(2, q{ALTER SYSTEM SET ssn.orphan_grace = '60s'; SELECT pg_reload_conf()});
qn(2, qq{INSERT INTO ssn.held_part_batch (origin, batch_id, contributor, contributors, parts, received_at)
	VALUES ('node1', gen_random_uuid(), 1, 5, '\\x00', now() - interval '1 hour');
	INSERT INTO ssn.held_share (secret_id, epoch, origin, share)
	SELECT '$deleted_ids[0]', 0, 'node1', share FROM ssn.held_share WHERE origin = 'node1' LIMIT 1});
is(qn(2, q{SELECT string_agg(kind || ':' || waiting, ',' ORDER BY kind) FROM ssn.orphans
	WHERE kind IN ('degree-reduction parts and unconfirmed results', 'shares of deleted secrets')}),
	'degree-reduction parts and unconfirmed results:1,shares of deleted secrets:1',
	'node2: an hour-old part of a degree reduction and a share of a deleted secret wait (ssn.orphans)');
ok($net->poll(2, q{SELECT string_agg(kind || ':' || waiting || ':' || collected, ',' ORDER BY kind) FROM ssn.orphans
	WHERE kind IN ('degree-reduction parts and unconfirmed results', 'shares of deleted secrets')},
	'degree-reduction parts and unconfirmed results:0:1,shares of deleted secrets:0:1', 150),
	"...node2's worker collects both and counts them");

# ---- dump and restore: owners and grantees by name, into a fresh cluster whose
# roles were created in another order (other OIDs)
my $dump = $net->dir . '/node1.dump';
my $pgdump = IPC::Run::run([ 'pg_dump', '-Fc', '-f', $dump, '-d', $net->node(1)->connstr('postgres') ], '2>', \my $dump_err);
ok($pgdump, 'pg_dump -Fc of node1') or diag $dump_err;
my $fresh = PostgreSQL::Test::Cluster->new('fresh');
$fresh->init;
$fresh->append_conf('postgresql.conf', "shared_preload_libraries = 'ssn'\n");
$fresh->start;
$fresh->safe_psql('postgres', q{CREATE ROLE filler1; CREATE ROLE filler2; CREATE ROLE bob LOGIN; CREATE ROLE alice LOGIN});
isnt($fresh->safe_psql('postgres', q{SELECT oid FROM pg_roles WHERE rolname = 'alice'}),
	qn(1, q{SELECT oid FROM pg_roles WHERE rolname = 'alice'}), 'the fresh cluster: alice has another OID');
my $restored = IPC::Run::run([ 'pg_restore', '-d', $fresh->connstr('postgres'), $dump ], '2>', \my $restore_err);
ok($restored, 'pg_restore into the fresh cluster') or diag $restore_err;
is($fresh->safe_psql('postgres', q{SELECT (SELECT count(*) FILTER (WHERE owner::text = 'alice') || '|' || count(*) FROM ssn.secret)
	|| '|' || (SELECT count(*) FILTER (WHERE grantee::text = 'bob' AND granted_by::text = 'alice') FROM ssn.secret_grant)
	|| '|' || (SELECT count(*) FROM ssn.held_share) || '|' || (SELECT count(*) FROM ssn.outbox)
	|| '|' || (SELECT count(*) FROM ssn.deleted_secret)}),
	'75|75|7|75|0|225',
	'restored: 75 secrets owned by alice (by name), 7 grants to bob, only node1\'s own 75 shares, no outbox, 225 tombstones');
$fresh->stop;

$net->teardown;
done_testing();
