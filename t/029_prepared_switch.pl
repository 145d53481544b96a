# A renewal switch prepared on the holders whose coordinator never returns
# (faults stay local, issue 13): node1 coordinates a renewal and stops for good
# right after node2..node4 PREPAREd their switch (test hook
# ssn.test_pause_after_prepare = 'prepared', then an immediate stop).  The
# prepared transactions keep their row locks, yet the holders go on: health
# checks, deliveries and retrievals of other secrets within bounded time.  Each
# holder alarms the switch in doubt, naming node1; no holder knows the outcome,
# so it waits for an operator: ssn.resolve_prepared(gid, false) on node3 rolls it
# back there, and node2 and node4 follow by themselves (node3 answers
# 'aborted').  When node1 comes back, its recovery finds the switch rolled back
# everywhere (no "outcome differs" alarm) and its renewal then completes.  Then
# node1 stops for good after committing on node2 only (hook 'first_commit'):
# node3 and node4 commit by themselves, as node2 did; node1, back, finds them so.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $net = SsnNet->new(n => 4, conf => qq{
ssn.prepared_timeout = '3s'
ssn.lock_timeout = '2s'
});
if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

sub qn { my ($i, $sql, %o) = @_; return $net->query($i, $sql, timeout => 120, %o) // ''; }

$net->sql(1, q{CREATE TABLE v (id int PRIMARY KEY, val int8, h ssn_secret);
INSERT INTO v SELECT i, i * 7919, ssn_store(i * 7919::int8, 2, 4) FROM generate_series(1, 30) i;});
$net->sql(2, q{CREATE TABLE w (id int PRIMARY KEY, val int8, h ssn_secret);
INSERT INTO w SELECT i, -i * 104729, ssn_store(-i * 104729::int8, 2, 4) FROM generate_series(1, 10) i;});
ok($net->wait_delivered(1, 180) && $net->wait_delivered(2, 180), 'node1 stored 30 secrets, node2 10 (k = 2, n = 4), delivered');

# ---- node1 coordinates a renewal and stops for good once the holders prepared
$net->node(1)->append_conf('postgresql.conf', "ssn.test_pause_after_prepare = 'prepared'\n");
$net->node(1)->reload;
ok(qn(1, q{SELECT ssn_renew(1000)}) =~ /^\d+$/, 'node1: renewal queued');
for my $i (2 .. 4)
{
	ok($net->poll($i, q{SELECT count(*) FROM ssn.prepared_switches}, '1', 120), "node$i: the switch is prepared");
}
my $gid = qn(2, q{SELECT gid FROM ssn.prepared_switches});
like($gid, qr/^ssn_renew_/, "the prepared switch: $gid");
$net->stop(1, 'immediate');
my $killed = time;
note 'node1 stopped (immediate) with the switch prepared on node2..node4';

# ---- the holders go on (before the fix the key-ledger sweep waited for the
# prepared transaction's row locks for ever: the worker, then every retrieval)
my $t = time;
ok($net->poll(2, q{SELECT count(*) FROM ssn.peer_health WHERE peer = 'node3'
	AND checked_at > now() - interval '5 s' AND now() > } . "to_timestamp($killed) + interval '8 s'", '1', 60),
	'node2: health checks go on 8 s after node1 stopped');
my ($rc, $out, $err) = $net->psql(2, q{SELECT count(*) FROM w WHERE ssn_retrieve(h, NULL::int8) = val}, timeout => 60);
is("$rc|$out", '0|10', 'node2: its own 10 secrets retrieve right (node3, node4 answer)');
($rc, $out, $err) = $net->psql(2, q{INSERT INTO w VALUES (11, 11, ssn_store(11::int8, 2, 4))}, timeout => 60);
is($rc, 0, 'node2: stores a new secret');
ok($net->wait_delivered(2, 60, 'node3') && $net->wait_delivered(2, 60, 'node4'), 'node2: delivered to node3 and node4');
($rc, $out, $err) = $net->psql(3, q{SELECT ssn.key_ledger_recover()}, timeout => 60);
is($rc, 0, 'node3: ssn.key_ledger_recover() (a sweep) returns');
note sprintf('holders answered within %.1f s', time - $t);

# ---- in doubt: alarmed, nobody knows the outcome, nothing decided alone
for my $i (2 .. 4)
{
	ok($net->poll($i, qq{SELECT count(*) FROM ssn.active_alarms WHERE source = 'channel' AND object = '$gid'
		AND problem = 'renewal switch in doubt' AND detail LIKE '%coordinator "node1"%ssn.resolve_prepared%'}, '1', 60),
		"node$i: alarm 'renewal switch in doubt' names node1 and the operator's function");
}
for my $i (2 .. 4)
{
	is(qn($i, q{SELECT count(*) FROM ssn.prepared_switches}), '1', "node$i: still prepared (no holder knows the outcome)");
}
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.resolve_prepared('ssn_renew_nosuch', true)});
like($err, qr/no renewal switch "ssn_renew_nosuch" is prepared on this node/, 'resolve_prepared: an unknown gid is refused');

# ---- the operator rolls it back on node3; node2 and node4 follow
like(qn(3, qq{SELECT ssn.resolve_prepared('$gid', false)}), qr/^rollback queued/, 'node3: the operator rolls the switch back');
for my $i (3, 2, 4)
{
	ok($net->poll($i, q{SELECT count(*) FROM ssn.prepared_switches}, '0', 60), "node$i: the switch is finished");
}
for my $i (2 .. 4)
{
	is(qn($i, q{SELECT string_agg(epoch || ':' || n, ',') FROM (SELECT epoch, count(*) AS n FROM ssn.held_share
		WHERE origin = 'node1' GROUP BY epoch ORDER BY epoch) e}), '0:30', "node$i: node1's 30 shares at epoch 0 (rolled back)");
	is(qn($i, qq{SELECT outcome FROM ssn.renewal_switch WHERE gid = '$gid'}), 'aborted', "node$i: the switch is recorded aborted");
	is(qn($i, qq{SELECT count(*) FROM ssn.alarm WHERE object = '$gid' AND problem = 'renewal switch in doubt' AND cleared_at IS NULL}),
		'0', "node$i: the in-doubt alarm is cleared");
	ok($net->poll($i, q{SELECT count(*) FROM ssn.key_ledger WHERE state = 'fetched' AND purpose <> 'reply keys ahead' AND fetched_at < now() - interval '5 s'}, '0', 60),
		"node$i: no key left fetched (the sweep settles those of the rolled-back switch)");
}
is(qn(3, qq{SELECT count(*) FROM ssn.active_alarms WHERE object = '$gid' AND problem = 'renewal switch resolved by an operator'
	AND detail LIKE 'rollback by role %'}), '1', "node3: the operator's decision is alarmed (audit)");
is(qn(2, qq{SELECT ssn.renewal_switch_status('$gid', 'node1', NULL)}), 'aborted', "node2 answers 'aborted' for the switch");

# ---- node1 comes back: its recovery finds the switch rolled back everywhere
$net->node(1)->append_conf('postgresql.conf', "ssn.test_pause_after_prepare = ''\n");
$net->start(1);
ok($net->poll(1, q{SELECT state FROM ssn.renewal_run ORDER BY id DESC LIMIT 1}, 'done', 180), 'node1: the renewal run completes');
is(qn(1, qq{SELECT state FROM ssn.renewal_batch WHERE gid = '$gid'}), 'aborted', "node1: the stopped batch is aborted");
is(qn(1, q{SELECT count(*) FROM ssn.active_alarms WHERE problem = 'renewal switch outcome differs on a shareholder'}), '0',
	'node1: no holder ended the switch otherwise');
for my $i (2 .. 4)
{
	is(qn($i, q{SELECT string_agg(epoch || ':' || n, ',') FROM (SELECT epoch, count(*) AS n FROM ssn.held_share
		WHERE origin = 'node1' GROUP BY epoch ORDER BY epoch) e}), '1:30', "node$i: node1's 30 shares renewed to epoch 1");
}
is(qn(1, q{SELECT count(*) FROM v WHERE ssn_retrieve(h, NULL::int8) = val}), '30', 'node1: every value retrieves right');

# ---- again, node1 stops for good after its decision and one COMMIT PREPARED (on
# node2): node3 and node4 learn from node2 that it committed, and commit alone
$net->node(1)->append_conf('postgresql.conf', "ssn.test_pause_after_prepare = 'first_commit'\n");
$net->node(1)->reload;
my $committed = qn(2, q{SELECT count(*) FROM ssn.renewal_switch WHERE outcome = 'committed'});
ok(qn(1, q{SELECT ssn_renew(1000)}) =~ /^\d+$/, 'node1: a second renewal queued');
ok($net->poll(2, q{SELECT count(*) FROM ssn.renewal_switch WHERE outcome = 'committed'}, $committed + 1, 120),
	'node2: its switch committed (the first COMMIT PREPARED)');
for my $i (3, 4)
{
	ok($net->poll($i, q{SELECT count(*) FROM ssn.prepared_switches}, '1', 120), "node$i: the switch is prepared");
}
my $gid2 = qn(3, q{SELECT gid FROM ssn.prepared_switches});
$net->stop(1, 'immediate');
note "node1 stopped (immediate) after committing $gid2 on node2 only";
for my $i (3, 4)
{
	ok($net->poll($i, q{SELECT count(*) FROM ssn.prepared_switches}, '0', 120), "node$i: the switch is finished without node1");
	is(qn($i, qq{SELECT count(*) FROM ssn.alarm WHERE object = '$gid2' AND problem = 'renewal switch in doubt'
		AND detail LIKE '%committing here: committed on %node2%' AND cleared_at IS NOT NULL}), '1',
		"node$i: alarmed in doubt, committed because node2 had (or node1 said so), alarm cleared");
}
for my $i (2 .. 4)
{
	is(qn($i, q{SELECT string_agg(epoch || ':' || n, ',') FROM (SELECT epoch, count(*) AS n FROM ssn.held_share
		WHERE origin = 'node1' GROUP BY epoch ORDER BY epoch) e}), '2:30', "node$i: node1's 30 shares at epoch 2");
}
$net->node(1)->append_conf('postgresql.conf', "ssn.test_pause_after_prepare = ''\n");
$net->start(1);
ok($net->poll(1, q{SELECT count(*) FROM ssn.renewal_run WHERE state <> 'done'}, '0', 180), 'node1 back: its runs complete');
is(qn(1, qq{SELECT state || ' ' || cardinality(pending) FROM ssn.renewal_batch WHERE gid = '$gid2'}), 'done 0',
	'node1: the batch is done, nothing pending (the holders that committed without it are found committed)');
is(qn(1, q{SELECT count(*) FROM ssn.active_alarms WHERE problem = 'renewal switch outcome differs on a shareholder'}), '0',
	'node1: no holder ended the switch otherwise');
is(qn(1, q{SELECT count(*) FROM v WHERE ssn_retrieve(h, NULL::int8) = val}), '30', 'node1: every value retrieves right at epoch 2');

$net->teardown;
done_testing();
