# The catalog kept in step (Y.3808 §10.2, SSN-Cx): with ssn.catalog_sync on, a change
# of the shareholder catalog made on one node (ssn.add_shareholder, an organization, a
# state) is signed and applied on every node, in order, once; the network view shows
# the catalogs alike.  A change relayed by another node, one whose signature fails,
# one that would give a node's own entry another SAE ID are refused and alarmed; a
# change sent again is answered as applied before.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 3, conf => "ssn.default_k = 2\nssn.default_n = 3\n");

# the catalogs agree once set up: keep them so from now on
for my $i (1 .. 3)
{
	$net->sql($i, q{ALTER SYSTEM SET ssn.catalog_sync = on; SELECT pg_reload_conf()});
	ok($net->poll($i, q{SHOW ssn.catalog_sync}, 'on'), "node$i: ssn.catalog_sync on");
}

my $row = q{SELECT coalesce((SELECT format('%s %s %s %s', sae_id, share_index, state, coalesce(organization, '-'))
	FROM ssn.shareholder WHERE name = 'node4'), 'none')};
$net->sql(1, q{SELECT ssn.add_shareholder('node4', 'SAE_4', NULL, 4)});
ok($net->poll($_, $row, 'SAE_4 4 in service -'), "node$_ learns node4 added on node1") for 2, 3;
$net->sql(1, q{SELECT ssn.set_organization('node4', 'Org D')});
$net->sql(2, q{UPDATE ssn.shareholder SET state = 'standby' WHERE name = 'node4'});
ok($net->poll($_, $row, 'SAE_4 4 standby Org D'), "node$_: node1's organization and node2's state, in order")
  for 1, 2, 3;
$net->sql(3, q{SELECT ssn.set_organization('node3', 'Org C')});
ok($net->poll(1, q{SELECT organization FROM ssn.shareholder WHERE name = 'node3'}, 'Org C'),
	'node3 labels its own entry: node1 follows');
ok($net->poll(2, q{SELECT bool_and(catalog_agrees) AND count(*) = 3 FROM ssn.network WHERE reachable}, 't'),
	'the network view: every reachable node\'s catalog is node2\'s');
is($net->sql(2, q{SELECT string_agg(origin || ':' || seq, ',' ORDER BY origin, seq) FROM ssn.catalog_change
	WHERE applied_at IS NOT NULL}), 'node1:1,node1:2,node3:1', 'node2 applied node1\'s two changes and node3\'s one');
is($net->sql(2, q{SELECT count(*) FROM ssn.catalog_signer}), '2', 'and pinned the keys of node1 and node3');
is($net->sql(2, q{SELECT count(*) FROM ssn.catalog_change WHERE origin = 'node2'}), '1', 'its own change is numbered too');

# ---- forgeries, sent by node3 with its own link keys
sub as_peer
{
	my ($from, $to, $sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $net->conninfo($from, $to), '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	chomp $out;
	return ($? >> 8, $out, $err);
}

# a change as it travels, rebuilt from a node's ssn.catalog_change row (the signed JSON is jsonb's own text)
sub message_of
{
	my ($node, $origin, $seq, $edit) = @_;
	my $r = $net->sql($node, "SELECT encode(convert_to(change::text, 'UTF8'), 'hex') || ' ' ||"
		  . " (extract(epoch FROM made_at) * 1000000)::bigint || ' ' || encode(signer, 'hex') || ' ' ||"
		  . " encode(signature, 'hex') FROM ssn.catalog_change WHERE origin = '$origin' AND seq = $seq");
	my ($change, $made, $signer, $sig) = split / /, $r;
	$change = pack('H*', $change);
	$change = $edit->($change) if $edit;
	return pack('C C a* Q< q< a32 a64 V a*', 1, length $origin, $origin, $seq, $made, pack('H*', $signer),
		pack('H*', $sig), length $change, $change);
}

sub send_from_node3
{
	my ($msg) = @_;
	my $env = $net->sql(3, "SELECT encode(ssn.channel_seal_test('node2', '\\x" . unpack('H*', $msg)
		  . "'::bytea, 'catalog'), 'hex')");
	my ($rc, $out, $err) = as_peer(3, 2, "SELECT ssn.channel_receive('\\x$env'::bytea)");
	return $rc == 0 ? $out : "error: $err";
}

my $before = $net->sql(2, q{SELECT ssn.catalog_version()});
like(send_from_node3(message_of(3, 'node1', 1)), qr/^rejected: .*made by "node1" sent by "node3"/,
	'node1\'s genuine change relayed by node3: refused');
like(send_from_node3(message_of(3, 'node3', 1, sub { my $c = shift; $c =~ s/Org C/Org X/; $c })),
	qr/^rejected: .*signature does not verify/, 'node3\'s change with its content altered: refused');
like(send_from_node3(message_of(3, 'node3', 1)), qr/applied before/, 'node3\'s own change sent again: applied before');
is($net->sql(2, q{SELECT ssn.catalog_version()}), $before, 'node2\'s catalog is unchanged');
ok($net->poll(2, q{SELECT count(*) > 0 FROM ssn.alarm WHERE source = 'message' AND object = 'node3'
	AND problem = 'a catalog change this node does not apply'}, 't'), 'the refusals are alarmed, naming node3');

# what a peer's change may not do to this node's own entry
my ($rc, $out, $err) = $net->psql(3, q{SELECT ssn.catalog_apply('{"op": "upsert", "name": "node3", "sae_id": "SAE_X",
	"share_index": 3, "state": "in service"}')});
ok($rc != 0 && $err =~ /42501.*another SAE ID/s, 'give node3\'s own entry another SAE ID: refused') or diag $err;
($rc, $out, $err) = $net->psql(3, q{SELECT ssn.catalog_apply('{"op": "delete", "name": "node3"}')});
ok($rc != 0 && $err =~ /42501.*own entry/s, 'remove it: refused') or diag $err;
is($net->sql(3, q{SELECT sae_id FROM ssn.shareholder WHERE name = 'node3'}), 'SAE_3', 'node3 is still SAE_3');

$net->teardown;
done_testing();
