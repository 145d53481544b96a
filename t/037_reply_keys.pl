# Reply keys fetched ahead (net/reply_key_copies, net/key_reserve): each holder
# sets keys aside for its replies to node1 and announces their IDs (message kind
# 'reply keys'); node1 records them (held by the server), fetches its copies and
# keeps them in shared memory, so that a single retrieval neither asks the KME
# nor waits for a ledger commit.  Then the copies are lost the ways they can be:
# node1 crashes (kill -9 of the postmaster; kill -9 of one of its processes, which
# resets shared memory under the same postmaster), a holder restarts (its reserve
# is gone, node1's copies are of keys nobody will use: dropped when it announces
# its new reserve).  Every retrieval returns the right value, no
# holder is blamed, and the key ledgers stay exact: every copy on the record is
# held, the copies of a crashed server are settled 'lost', those pushed out by
# newer ones 'discarded'.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use SsnNet;

my $net = SsnNet->new(n => 3);
if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

sub q1 { return $net->query(1, $_[0], timeout => 120) // ''; }

# k = 3 of 3: every retrieval asks both holders
$net->sql(1, q{
CREATE TABLE v (id int PRIMARY KEY, val int8, h ssn_secret);
INSERT INTO v SELECT i, i * 7919, ssn_store(i * 7919::int8, 3, 3) FROM generate_series(1, 60) i;});
ok($net->wait_delivered(1, 180), 'node1 stored 60 secrets (k = 3 of node1..node3), delivered');

# single retrievals of ids lo..hi, one statement each: "right|all"
sub singles
{
	my ($lo, $hi) = @_;
	my $right = 0;
	for my $id ($lo .. $hi)
	{
		$right++ if q1(qq{SELECT ssn_retrieve(h)::int8 = val FROM v WHERE id = $id}) eq 't';
	}
	return "$right|" . ($hi - $lo + 1);
}
my $slow = q{SELECT count(*) FROM ssn.key_ledger WHERE direction = 'receive' AND purpose = 'retrieve'};
my $ahead_used = q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'reply keys ahead' AND state = 'used'};
my $blamed = q{SELECT count(*) FROM ssn.alarm WHERE object IN ('node2', 'node3') AND source = 'message'};

# retrieve until node1 holds copies of both holders' reply keys and two retrievals
# in a row used them (a holder sets keys aside once it is asked, and uses them
# once node1 answered their announcement)
sub until_copies
{
	my ($what) = @_;
	my $deadline = time + 120;
	my $held = '';
	while (time < $deadline)
	{
		my $before = q1(q{SELECT count(*) FROM ssn.key_ledger WHERE direction = 'receive' AND purpose = 'retrieve'});
		is(singles(1, 2), '2|2', "two single retrievals ($what)");
		my $after = q1(q{SELECT count(*) FROM ssn.key_ledger WHERE direction = 'receive' AND purpose = 'retrieve'});
		$held = q1(q{SELECT string_agg(peer || ':' || (held > 0), ',' ORDER BY peer) FROM ssn.reply_key_copies()});
		return 1 if $held eq 'node2:true,node3:true' && $after eq $before;
		usleep(200_000);
	}
	diag "copies held: $held";
	return 0;
}
ok(until_copies('warming up'), 'node1 holds copies of the reply keys of node2 and node3');

# ---- steady state: replies under the copies, no KME, no ledger wait
my $slow_before = q1($slow);
my $used_before = q1($ahead_used);
is(singles(1, 40), '40|40', '40 single retrievals, every value right');
is(q1($slow), $slow_before, 'no reply needed a key from the KME at retrieval (no new receive row of purpose retrieve)');
cmp_ok(q1($ahead_used) - $used_before, '>=', 80, '80 replies opened with copies fetched ahead (' . (q1($ahead_used) - $used_before) . ' keys)');
is(q1($blamed), '0', 'no holder blamed');
$net->check_key_ledger('copies in use');

# ---- node1 crashes: its copies are gone, their rows 'fetched' by a server that no longer runs
my $held_before = q1(q{SELECT sum(held) FROM ssn.reply_key_copies()});
cmp_ok($held_before, '>', 0, "node1 holds $held_before copies before the crash");
my $serve = q{SELECT count(*) FROM ssn.key_ledger WHERE direction = 'send' AND peer = 'node1' AND purpose = 'serve'};
my %serve_before = map { $_ => $net->query($_, $serve) } 2, 3;
my $crash_at = q1(q{SELECT clock_timestamp()});
ok($net->kill9(1), 'kill -9 of node1');
$net->start(1);
is(singles(41, 50), '10|10', 'right after the crash: 10 single retrievals, every value right');
is(q1($blamed), '0', 'no holder blamed: replies under lost copies are asked again under fresh keys');
ok($net->poll(1, qq{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'reply keys ahead' AND state = 'fetched'
	AND fetched_at < '$crash_at'}, '0', 120),
	"the copies of the crashed server are settled (none left 'fetched' by it)");
cmp_ok(q1(q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'reply keys ahead' AND state = 'lost'}), '>=', $held_before,
	'... as lost');
for my $i (2, 3)
{
	cmp_ok($net->query($i, $serve), '>', $serve_before{$i}, "node$i answered node1 under fresh keys");
}
ok(until_copies('after the crash'), 'node1 holds copies again (the holders set new keys aside and announced them)');
$slow_before = q1($slow);
is(singles(1, 20), '20|20', '20 more single retrievals, every value right');
is(q1($slow), $slow_before, '... all under copies again');
$net->check_key_ledger('after the crash');

# ---- a process of node1 crashes (kill -9 of its node worker): the postmaster lives
# on and sets shared memory up again; the copies are gone, their rows held by a
# server (postmaster and shared-memory start) that no longer holds anything
$net->sql(1, q{ALTER SYSTEM SET restart_after_crash = on});
$net->sql(1, q{SELECT pg_reload_conf()});
ok($net->poll(1, q{SHOW restart_after_crash}, 'on', 60), 'node1 restarts after a crash');
my $started = q1(q{SELECT pg_postmaster_start_time()});
$held_before = q1(q{SELECT sum(held) FROM ssn.reply_key_copies()});
my $reset_at = q1(q{SELECT clock_timestamp()});
my $w = $net->ssn_workers(1);
my ($victim) = grep { $w->{$_} =~ /node worker/ } keys %$w;
ok($victim && kill('KILL', $victim), "kill -9 of node1's node worker (" . ($victim // 'none') . "), $held_before copies held");
ok($net->poll(1, q{SELECT coalesce(sum(held), 0) FROM ssn.reply_key_copies()}, '0', 120),
	'node1 set shared memory up again: no copies');
is(q1(q{SELECT pg_postmaster_start_time()}), $started, '... the same postmaster (a crash restart, not a new server)');
is(singles(51, 60), '10|10', 'right after the crash restart: 10 single retrievals, every value right');
is(q1($blamed), '0', 'no holder blamed');
ok($net->poll(1, qq{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'reply keys ahead' AND state = 'fetched'
	AND fetched_at < '$reset_at'}, '0', 120),
	"the copies held before the crash restart are settled (none left 'fetched')");
ok(until_copies('after the crash restart'), 'node1 holds copies again');
$net->check_key_ledger('after the crash restart');

# ---- node2 restarts: its reserve is gone; node1's copies of it are of keys nobody uses
$net->stop(2);
$net->start(2);
ok($net->poll(1, q{SELECT count(*) FROM ssn.peer_health WHERE peer = 'node2' AND reachable}, '1', 120), 'node2 restarted');
is(singles(1, 10), '10|10', 'right after node2 restarted: 10 single retrievals, every value right');
is(q1($blamed), '0', 'no holder blamed');
ok($net->poll(1, q{SELECT count(*) > 0 FROM ssn.key_ledger WHERE purpose = 'reply keys ahead' AND peer = 'node2'
	AND state = 'discarded'}, 't', 120),
	"node1's stale copies of node2's keys are dropped when node2 announces its new reserve, settled 'discarded'");
ok(until_copies('after node2 restarted'), 'node1 holds copies of node2\'s new keys');
cmp_ok(q1(q{SELECT held FROM ssn.reply_key_copies() WHERE peer = 'node2'}), '<=', 512,
	'... only those of its new reserve (512 keys at most)');
$slow_before = q1($slow);
is(singles(21, 40), '20|20', '20 single retrievals, every value right');
is(q1($slow), $slow_before, '... all under copies');
$net->check_key_ledger('after node2 restarted');

# ---- the copies are node1's alone: a peer cannot read or take them
is($net->query(2, q{SELECT count(*) FROM ssn.reply_key_copies() WHERE peer = 'node1'}), '0',
	'node2 holds no copies for node1 (node1 never replies to node2 here)');
my ($rc, $out, $err) = $net->psql(1, q{SET ROLE ssn_peer; SELECT * FROM ssn.reply_key_copies()});
ok($rc != 0 && $err =~ /permission denied/, 'ssn.reply_key_copies() is not for peers (permission denied)');

$net->teardown;
done_testing();
