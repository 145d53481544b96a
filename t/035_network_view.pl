# The SSN manager's network view and the alarms raised before trouble (Y.3808 §10.4):
# any node shows every node (an unreachable one with the reason), their catalogs
# compared, their key pools and rates; a QKD link whose pool holds less than
# ssn.alarm_key_pool of traffic (kme-sim rate-limited, a small pool), an outbox that
# waits, a shareholder silent for long are alarmed and cleared when it ends; a login
# that is no peer cannot read a node's status; the postgres_exporter queries run.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 3, conf => "ssn.default_k = 2\nssn.default_n = 3\n"
	  . "ssn.alarm_check_interval = '1s'\nssn.alarm_outbox_age = '2s'\nssn.alarm_unreachable_after = '2s'\n"
	  . "ssn.alarm_key_pool = '60s'\n");

# ---- every node, seen from node2
ok($net->poll(2, q{SELECT string_agg(node || ':' || reachable || ':' || catalog_agrees, ',' ORDER BY node)
	FROM ssn.network}, 'node1:true:true,node2:true:true,node3:true:true'), 'node2 sees the three nodes, catalogs alike');
is($net->sql(2, q{SELECT count(*) FROM ssn.network_links WHERE node = 'node1'}), '2', 'and node1\'s two links');
ok($net->poll(2, q{SELECT count(*) FROM ssn.network WHERE audit_head IS NOT NULL AND secrets IS NOT NULL}, '3'),
	'each node\'s signed audit head and its secrets');

# a login that is not a peer may not ask for a node's status
$net->sql(1, q{CREATE ROLE eve LOGIN; GRANT USAGE ON SCHEMA ssn TO eve});
my ($rc, $out, $err) = $net->psql(1, q{SELECT ssn.channel_status()}, user => 'eve');
ok($rc != 0 && $err =~ /42501/, 'ssn.channel_status() refuses a login that is no peer') or diag $err;
($rc, $out, $err) = $net->psql(1, q{SELECT * FROM ssn.network}, user => 'eve');
ok($rc != 0 && $err =~ /42501/, 'ssn.network is for the operator only') or diag $err;

# ---- a catalog changed on one node only
$net->sql(1, q{SELECT ssn.set_organization('node2', 'Operator B')});
is($net->sql(2, q{SELECT string_agg(node || ':' || catalog_agrees, ',' ORDER BY node) FROM ssn.network}),
	'node1:false,node2:true,node3:true', 'node2 sees that node1\'s catalog differs from its own');
$net->sql($_, q{SELECT ssn.set_organization('node2', 'Operator B')}) for 2, 3;
is($net->sql(2, q{SELECT bool_and(catalog_agrees) FROM ssn.network}), 't', 'the same change on every node: alike again');

# ---- a small, rate-limited key pool: alarmed on node1, shown in the view
$net->kme_restart(rate => '100k', max_key_count => 1000);
$net->sql(1, q{CREATE TABLE t (id serial, h ssn_secret)});
my ($alarmed, $seen) = (0, 0);
for my $round (1 .. 600)
{
	$net->sql(1, q{INSERT INTO t (h) SELECT ssn_store(g::int8) FROM generate_series(1, 10) g});
	next if $round % 5;
	$alarmed ||= $net->sql(1, q{SELECT count(*) > 0 FROM ssn.active_alarms
		WHERE source = 'kme' AND problem = 'key pool low'}) eq 't';
	# while the traffic goes on: node2's view of node1's links
	$seen ||= $net->sql(2, q{SELECT bool_and(pool_bytes <= 1000 * 32 AND key_bytes_per_s > 0 AND seconds_left < 60)
		FROM ssn.network_links WHERE node = 'node1'}) eq 't';
	last if $alarmed && $seen;
}
ok($alarmed, 'node1: the pools of its links hold less than a minute of its traffic: "key pool low"');
ok($seen, 'node2 sees node1\'s pools, rates and seconds left');
$net->kme_restart();
ok($net->poll(1, q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'kme' AND problem = 'key pool low'}, '0'),
	'a full pool and no traffic: the alarm is cleared');
ok($net->poll(1, q{SELECT bool_and(capacity_bytes = 100000 * 32) FROM ssn.link_rate}, 't'),
	'ssn.link_rate shows what each link\'s KME can hold');
is($net->sql(1, q{SELECT count(DISTINCT peer) FROM ssn.link_accounting WHERE purpose = 'deliver' AND key_bytes > 0}),
	'2', 'ssn.link_accounting: the key each link spent today');

# ---- a shareholder down: node2 and node3 both see it, its messages wait, alarms follow
$net->stop(3);
$net->sql(1, q{INSERT INTO t (h) SELECT ssn_store(g::int8) FROM generate_series(1, 10) g});
my $row = $net->sql(2, q{SELECT reachable || ':' || (error IS NOT NULL) FROM ssn.network WHERE node = 'node3'});
is($row, 'false:true', 'node2 shows node3 unreachable, with the reason');
ok($net->poll(1, q{SELECT string_agg(problem, ',' ORDER BY problem) FROM ssn.active_alarms
	WHERE object = 'node3' AND problem IN ('outbox not delivered', 'unreachable for long')},
	'outbox not delivered,unreachable for long'), 'node1 alarms the waiting messages and the silent shareholder');
ok($net->poll(2, q{SELECT outbox_messages > 0 AND major_alarms > 0 FROM ssn.network WHERE node = 'node1'}, 't'),
	'node2 sees node1\'s outbox and alarms');
$net->start(3);
ok($net->wait_delivered(1, 120), 'node3 back: delivered');
ok($net->poll(1, q{SELECT count(*) FROM ssn.active_alarms WHERE object = 'node3'
	AND problem IN ('outbox not delivered', 'unreachable for long')}, '0'), 'and both alarms cleared');

# ---- the postgres_exporter queries run
my $yaml = slurp_file("$ENV{SSN_TOOLS}/ssn_queries.yaml");
my @queries = $yaml =~ /^  query: >-\n((?:    .*\n)+)/mg;
ok(@queries >= 5, scalar(@queries) . ' exporter queries');
for my $q (@queries)
{
	my ($name) = $q =~ /FROM (ssn\.\w+)/;
	($rc, $out, $err) = $net->psql(1, $q);
	ok($rc == 0, "exporter query on $name runs") or diag $err;
}

$net->teardown;
done_testing();
