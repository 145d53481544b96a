# A compromised node against the others, on five nodes (k = 3, n = 5), ssn 1.4:
# node5's attacker has its superuser, its peer login and client certificate.  It
# must not act in node1's name at node2 (every channel function refused, no QKD
# key spent, an alarm naming node5 that survives the attacker's rollback), not be
# let in with a login bound to no shareholder, not plant shares in node1's slot
# (at node1's epoch or the next one), not overwrite a share already held, and not
# replay a message; node1's secrets still retrieve and renew.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $net = SsnNet->new(n => 5);
my $t0 = time;
if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

# (rc, stdout, stderr) of SQL run at node TO over the login node FROM uses there
# (its own certificate and role), as FROM's peer connections do
sub as_peer
{
	my ($from, $to, $sql, $conninfo) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
			'-d', $conninfo // $net->conninfo($from, $to), '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	chomp $out;
	return ($? >> 8, $out, $err);
}

# ---- node1 stores text and int8 values; all five hold their shares
$net->sql(1, q{CREATE TABLE cv (id int PRIMARY KEY, val text NOT NULL, h ssn_secret)});
$net->sql(1, q{INSERT INTO cv SELECT i, CASE WHEN i % 2 = 0 THEN 'attack at dawn ' || i ELSE (i * 7919)::text END,
	CASE WHEN i % 2 = 0 THEN ssn_store('attack at dawn ' || i) ELSE ssn_store(i::int8 * 7919) END
	FROM generate_series(1, 10) i});
ok($net->wait_all_delivered(180), 'node1 delivered the shares of 10 values');
my $good = q{SELECT count(*) FROM cv WHERE ssn_retrieve(h) = val};
is($net->query(1, $good), '10', 'node1 retrieves its 10 values');
my @ids = split /\n/, $net->sql(1, q{SELECT ssn_secret_id(h) FROM cv ORDER BY id});
my $idarr = "ARRAY['" . join("','", @ids) . "']::uuid[]";
my $held_node1 = q{SELECT md5(string_agg(secret_id::text || epoch || share::text, ',' ORDER BY secret_id, epoch))
	FROM ssn.held_share WHERE origin = 'node1'};
my $before = $net->sql(2, $held_node1);

# ---- node5's login at node2 in node1's name: every channel function refused
my $mark = $net->sql(2, q{SELECT coalesce(max(id), 0) FROM ssn.alarm});
my $ledger = q{SELECT count(*) FROM ssn.key_ledger};
my $ledger_before = $net->sql(2, $ledger);
my $env1 = $net->sql(1, q{SELECT encode(ssn.channel_seal_test('node2', '\x6869'::bytea), 'hex')});
my %calls = (
	'ssn.channel_serve' => "SELECT ssn.channel_serve('node1', $idarr)",
	'ssn.channel_fetch' => "SELECT ssn.channel_fetch('node1', $idarr)",
	'ssn.channel_compute' => q{SELECT ssn.channel_compute('node1', '\x00'::bytea)},
	'ssn.channel_materialize' => q{SELECT ssn.channel_materialize('node1', '\x00'::bytea)},
	'ssn.channel_reshare' => q{SELECT ssn.channel_reshare('node1', '\x00'::bytea, '{1,2,3}', '{1,2,3}')},
	'ssn.channel_confirm' => "SELECT ssn.channel_confirm('node1', $idarr)",
	'ssn.channel_reshare_help' => q{SELECT ssn.channel_reshare_help('node1')},
	'ssn.channel_reshare_finish' => "SELECT ssn.channel_reshare_finish('node1', $idarr)",
	'ssn.channel_announce' => q{SELECT ssn.channel_announce('node1', ARRAY['00000000-0000-0000-0000-000000000001'], 256)},
	'ssn.channel_receive' => "SELECT ssn.channel_receive('\\x$env1'::bytea)",
);
for my $f (sort keys %calls)
{
	my ($rc, $out, $err) = as_peer(5, 2, $calls{$f});
	ok($rc != 0 && $err =~ /42501/ && $err =~ /peer "node5" may not call \Q$f\E in the name of "node1"/,
		"node5's login calls $f in node1's name: refused (42501, naming node5)")
	  or diag "rc $rc out $out err $err";
}
# asking for node1's shares under fresh keys (which would drop the keys node2 set
# aside for node1's replies): refused the same
{
	my ($rc, $out, $err) = as_peer(5, 2, "SELECT ssn.channel_fetch('node1', $idarr, true)");
	ok($rc != 0 && $err =~ /42501/ && $err =~ /peer "node5" may not call ssn\.channel_fetch in the name of "node1"/,
		"node5's login asks for node1's shares under fresh keys: refused (42501, naming node5)")
	  or diag "rc $rc out $out err $err";
}
# the same inside a transaction the attacker rolls back: the alarm is still recorded
{
	my ($rc, $out, $err) = as_peer(5, 2, "BEGIN; SELECT ssn.channel_serve('node1', $idarr); ROLLBACK;");
	ok($rc != 0 && $err =~ /42501/, 'refused inside a transaction block too');
}
is($net->sql(2, $ledger), $ledger_before, 'node2 spent no QKD key on any of these calls (key ledger unchanged)');
ok($net->poll(2, qq{SELECT coalesce(sum(count), 0) >= 12 FROM ssn.alarm WHERE id > $mark
	AND source = 'peer' AND object = 'node5' AND problem = 'peer spoke in another node''s name' AND severity = 'critical'}, 't', 120),
	'node2 records a critical alarm naming node5 for every attempt (by its worker: the callers rolled back)');
is($net->sql(2, qq{SELECT count(*) FROM ssn.alarm WHERE id > $mark AND object = 'node1'}), '0', 'no alarm blames node1');
is($net->sql(2, $held_node1), $before, "node1's shares at node2 unchanged");

# in its own name node5 is served, but only what it stored itself: nothing of node1's
{
	my ($rc, $out, $err) = as_peer(5, 2, "SELECT ssn.channel_serve('node5', $idarr)");
	is($out, 'ready: 0 shares', "node5 asking in its own name for node1's secret ids gets none of their shares $err");
	($rc, $out, $err) = as_peer(5, 2, q{SELECT ssn.channel_ping()});
	is($out, 'node2', "node5's login still works for what it may do $err");
}

# ---- a login bound to no shareholder (a certificate for a role the attacker made up)
{
	my $pki = $net->pki;
	PostgreSQL::Test::Utils::system_or_bail(SsnNet::tool('ssn-pki'), 'issue', $pki, '--kind', 'client', 'rogue',
		'--cn', 'ssn_peer_rogue');
	$net->sql(2, q{CREATE ROLE ssn_peer_rogue LOGIN IN ROLE ssn_peer});
	my $ci = $net->conninfo(5, 2) =~ s/user=\S+/user=ssn_peer_rogue/r =~ s/node5_peer\.(crt|key)/rogue.$1/gr;
	my ($rc, $out, $err) = as_peer(5, 2, "SELECT ssn.channel_serve('node1', $idarr)", $ci);
	ok($rc != 0 && $err =~ /42501/ && $err =~ /login role "ssn_peer_rogue" is not bound to a shareholder/,
		'a peer login bound to no shareholder is refused') or diag "rc $rc out $out err $err";
	ok($net->poll(2, qq{SELECT count(*) FROM ssn.alarm WHERE id > $mark AND object = 'login ssn_peer_rogue'
		AND problem = 'unbound peer login'}, '1', 120), '...and alarmed, naming the login');
}

# ---- planting: node5 sends node2 shares under node1's secret ids, at node1's epoch and the next
sub crc32c
{
	my $crc = 0xFFFFFFFF;
	for my $b (unpack 'C*', $_[0])
	{
		$crc ^= $b;
		$crc = ($crc >> 1) ^ (0x82F63B78 & -($crc & 1)) for 1 .. 8;
	}
	return ($crc ^ 0xFFFFFFFF) & 0xFFFFFFFF;
}

# a share for x = 2 of secret ID at EPOCH, its payload that of a fresh split of VALUE
sub forged_share
{
	my ($id, $epoch, $value) = @_;
	my $bin = pack 'H*', $net->sql(5, "SELECT encode(ssn_share_send((ssn_split(${value}::int8, 3, 5))[2]), 'hex')");
	(my $hex = $id) =~ s/-//g;
	substr($bin, 12, 4) = pack 'V', $epoch;
	substr($bin, 16, 16) = pack 'H*', $hex;
	substr($bin, 36, 4) = pack 'V', crc32c(substr($bin, 0, 36) . substr($bin, 40));
	return $bin;
}

# a message of shares from node5 to node2, sealed by node5 and delivered over its login
sub plant
{
	my @shares = @_;
	my $pt = join '', map { chr(length $_) . $_ } @shares;	# each share < 128 bytes: one length byte
	my $env = $net->sql(5, "SELECT encode(ssn.channel_seal_test('node2', '\\x" . unpack('H*', $pt) . "'::bytea, 'shares'), 'hex')");
	return ($env, as_peer(5, 2, "SELECT ssn.channel_receive('\\x$env'::bytea)"));
}

my $epoch = $net->sql(1, "SELECT max(epoch) FROM ssn.secret WHERE id = '$ids[0]'");
my ($env, $rc, $out, $err) = plant(forged_share($ids[0], $epoch, 111), forged_share($ids[0], $epoch + 1, 222));
is($out, 'stored 2 shares (2 new)', "node2 keeps node5's two shares under node1's ids, in node5's slot $err");
is($net->sql(2, "SELECT string_agg(origin || ':' || epoch, ',' ORDER BY origin, epoch) FROM ssn.held_share WHERE secret_id = '$ids[0]'"),
	"node1:$epoch,node5:$epoch,node5:" . ($epoch + 1), 'node2 holds them per origin: node1\'s share untouched beside them');
is($net->sql(2, $held_node1), $before, "node1's shares at node2 unchanged by the planting");
my @again = plant(forged_share($ids[0], $epoch, 333));
like($again[2], qr/^rejected: .*a different share of secret \Q$ids[0]\E \(epoch $epoch\) is already held from this SSA/,
	"a different share where one is kept is refused: $again[2]");
($rc, $out, $err) = as_peer(5, 2, "SELECT ssn.channel_receive('\\x$env'::bytea)");
# (senders resend the bytes they sealed: a message seen already is answered as a duplicate)
like($out, qr/^duplicate message, 2 shares already held$/, "the same message again is not opened again, a duplicate: $out");
ok($net->poll(2, qq{SELECT count(*) > 0 FROM ssn.alarm WHERE id > $mark AND object = 'node5' AND source = 'message'}, 't', 60),
	'node2 alarms the refused messages, naming node5');
# the sender hides a refusal in a transaction it rolls back: the alarm is recorded all the same
{
	my $seen = q{SELECT coalesce(sum(count), 0) FROM ssn.alarm WHERE object = 'node5' AND source = 'message'
		AND detail LIKE '%a different share of secret%'};
	my $n = $net->sql(2, $seen);
	my $bin = forged_share($ids[0], $epoch, 444);
	my $e = $net->sql(5, "SELECT encode(ssn.channel_seal_test('node2', '\\x" . unpack('H*', chr(length $bin) . $bin)
		  . "'::bytea, 'shares'), 'hex')");
	($rc, $out, $err) = as_peer(5, 2, "BEGIN; SELECT ssn.channel_receive('\\x$e'::bytea); ROLLBACK;");
	like($out, qr/^rejected: .*a different share/, "another different share, in a transaction block: refused ($out)");
	ok($net->poll(2, "SELECT ($seen) > $n", 't', 60), '...and its alarm survives the rollback');
}

# ---- node1's secrets: retrieved and renewed as if nothing happened
is($net->query(1, $good), '10', 'node1 still retrieves its 10 values');
my $run = $net->sql(1, q{SELECT ssn_renew(1000)});
is($net->query(1, "SELECT ssn.wait_renewal($run, '600 s')", timeout => 700), 'done',
	'a renewal of node1\'s secrets completes (the planted epoch-e+1 share is not in its way)');
is($net->query(1, $good), '10', 'node1 retrieves its 10 values after the renewal');
is($net->sql(2, "SELECT string_agg(origin || ':' || epoch, ',' ORDER BY origin, epoch) FROM ssn.held_share WHERE secret_id = '$ids[0]'"),
	'node1:' . ($epoch + 1) . ",node5:$epoch,node5:" . ($epoch + 1), "node2 renewed node1's share; node5's stay node5's");

SsnNet::check_key_ledger($net, 'end of the compromised-node test');
diag sprintf('026: %.0f s', time - $t0);
$net->teardown;
done_testing();
