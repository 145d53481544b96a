# The sealed outbox (issue 13, property 3): no node writes another holder's share
# in clear to its disk.  node1 stores with node4 and node5 down; its whole data
# directory (heap, TOAST, WAL, xact, everything, after a CHECKPOINT) holds none of
# the share payloads the other holders received, and all of its own (calibration:
# the search finds what is there).  Resent sealed messages: one the receiver has
# already is answered as a duplicate, one whose receipt never finished is opened.
# A crash of the storing node before delivery loses nothing; a KME that gives no
# key fails the store with a clear error and nothing stored.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $N = 5;
my $net = SsnNet->new(n => $N);
my $t0 = time;

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}
sub q1 { return $net->query(1, $_[0]); }
sub qn { return $net->query($_[0], $_[1]); }

q1(q{CREATE TABLE sv (id int PRIMARY KEY, v bytea NOT NULL, h ssn_secret)});

# 32 random bytes per value (GF(2^8) shares: every payload is 32 random bytes too)
sub store_values
{
	my ($from, $to) = @_;
	return $net->psql(1, qq{INSERT INTO sv SELECT i, v, ssn_store(v, 3, 5)
FROM (SELECT i, decode(md5(random()::text) || md5(random()::text), 'hex') AS v
	  FROM generate_series($from, $to) i) s});
}

# "good|total": the values of sv WHERE retrieved right by node1
sub retrieved
{
	my ($where) = @_;
	return q1(qq{WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(h ORDER BY id)) AS r FROM sv WHERE $where)
SELECT count(*) FILTER (WHERE decode(substr(u.r, 3), 'hex') = s.v) || '|' || count(*)
FROM a, unnest(a.ids, a.r) AS u(id, r) JOIN sv s USING (id)});
}

# share payloads (raw bytes) node I holds for the values of sv
sub payloads
{
	my ($i) = @_;
	my $ids = q1(q{SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM sv});
	return map { pack('H*', $_) }
	  split /\n/, qn($i, qq{SELECT encode(ssn_share_payload(share), 'hex') FROM ssn.held_share WHERE secret_id IN ($ids)});
}

# how many of the payloads occur anywhere in the files under DIR
sub found_in_dir
{
	my ($dir, @pats) = @_;
	my %seen;
	my $re = join '|', map { quotemeta } @pats;
	$re = qr/($re)/;
	find({ no_chdir => 1, wanted => sub {
		return unless -f $_;
		open my $fh, '<:raw', $_ or return;
		local $/;
		my $c = <$fh>;
		close $fh;
		$seen{$1} = 1 while $c =~ /$re/g;
	} }, $dir);
	return scalar(keys %seen);
}

# ---- 1. store with two holders down: the outbox holds sealed messages only
$net->stop(4);
$net->stop(5);
my ($rc, $out, $err) = store_values(1, 300);
is($rc, 0, 'node4 and node5 down: 300 values stored on node1') or diag $err;
ok($net->wait_delivered(1, 180, 'node2') && $net->wait_delivered(1, 180, 'node3'), 'node2 and node3 got theirs');
is(q1(q{SELECT count(*) FILTER (WHERE substr(blob, 1, 4) = '\x53534e45'::bytea) || '|' || count(*) || '|' || sum(shares)
	FROM ssn.outbox WHERE peer IN ('node4', 'node5')}) =~ s/^(\d+)\|\1\|/all|/r, 'all|600',
	'the outbox keeps 600 shares for node4 and node5, every row a sealed envelope (magic SSNE)');
is(q1(q{SELECT count(*) FROM ssn.key_ledger WHERE direction = 'send' AND state = 'fetched'}), '0',
	"node1: every key the store fetched is settled ('used') in the key ledger");
q1('CHECKPOINT');
$net->start(4);
$net->start(5);
ok($net->wait_delivered(1, 240), 'node4 and node5 back: the outbox drains');
is(retrieved('true'), '300|300', 'every value retrieves right');

# the other holders' payloads, read where they are held
my @mine = payloads(1);
my @theirs = map { payloads($_) } 2 .. 5;
is(scalar(@mine) . ' ' . scalar(@theirs), '300 1200', 'payloads: 300 on node1, 1200 on node2..node5');
q1('CHECKPOINT');
$net->stop(1);
my $datadir = $net->node(1)->data_dir;
is(found_in_dir($datadir, @mine), 300, "calibration: node1's data directory holds each of its own 300 share payloads");
is(found_in_dir($datadir, @theirs), 0, "node1's data directory (base, pg_wal, pg_xact, all of it) holds none of the 1200 other holders' share payloads");
$net->start(1);

# ---- 2. resending a sealed message: received already -> duplicate; receipt never finished -> opened
$net->stop(4);
($rc, $out, $err) = store_values(301, 310);
is($rc, 0, 'node4 down: 10 more values stored') or diag $err;
my ($oid, $env) = split /\|/, q1(q{SELECT id || '|' || encode(blob, 'hex') FROM ssn.outbox WHERE peer = 'node4' ORDER BY id LIMIT 1});
ok(defined $env && length $env > 100, 'a sealed message for node4 copied from the outbox');

# key IDs and a key size of an envelope (envelope.h layout)
sub envelope_keys
{
	my ($bytes) = @_;
	my ($nkeys, $len) = (unpack('v', substr($bytes, 6, 2)), unpack('V', substr($bytes, 32, 4)));
	# version 2 (a clear part): its length at 36, the names after it
	my $off = ord(substr($bytes, 4, 1)) == 2 ? 40 : 36;
	$off += 1 + ord(substr($bytes, $off, 1)) for 1 .. 2;    # sender, receiver
	my @ids;
	for (1 .. $nkeys)
	{
		my $l = ord(substr($bytes, $off, 1));
		push @ids, substr($bytes, $off + 1, $l);
		$off += 1 + $l;
	}
	# the key size the header states, else the smallest share of 32 + L bytes
	my $bits = unpack('V', substr($bytes, 24, 4)) || int((32 + $len + $nkeys - 1) / $nkeys) * 8;
	return ('{' . join(',', map { qq{"$_"} } @ids) . '}', $bits);
}
my ($ids, $bits) = envelope_keys(pack('H*', $env));
$net->start(4);
ok($net->wait_delivered(1, 180), 'node4 back: delivered');
like(qn(4, qq{SELECT ssn.channel_announce('node1', '$ids', $bits)}), qr/^announced \d+ keys, already received$/,
	'node4: the same message announced again: already received');
like(qn(4, qq{SELECT ssn.channel_receive('\\x$env')}), qr/^duplicate message, \d+ shares already held$/,
	'...and sent again: answered as a duplicate (the sender takes it as delivered)');

$net->stop(5);
($rc, $out, $err) = store_values(311, 320);
is($rc, 0, 'node5 down: 10 more values stored') or diag $err;
($oid, $env) = split /\|/, q1(q{SELECT id || '|' || encode(blob, 'hex') FROM ssn.outbox WHERE peer = 'node5' ORDER BY id LIMIT 1});
is(q1(qq{SELECT count(*) FROM ssn.outbox WHERE peer = 'node5'}), '1', 'one sealed message (records and shares) waits for node5');
q1(qq{DELETE FROM ssn.outbox WHERE id = $oid});    # delivered by hand below
($ids, $bits) = envelope_keys(pack('H*', $env));
$net->start(5);
like(qn(5, qq{SELECT ssn.channel_announce('node1', '$ids', $bits)}), qr/^announced \d+ keys$/,
	'node5: the message announced, then the session ends before it arrives');
# (until the ended session's backend is gone, its keys count as held: "busy")
ok($net->poll(5, qq{SELECT ssn.channel_announce('node1', '$ids', $bits); SELECT ssn.channel_receive('\\x$env')},
	qr/^announced \d+ keys, again\nstored 10 shares \(10 new\)$/, 60),
	'node5, a new session: announced again (its key IDs taken back from the ended session), the resent message opened and stored');
is(retrieved('id > 300'), '20|20', 'the 20 values retrieve right');

# ---- 3. kill -9 of node1 after commit, before delivery: nothing lost
$net->stop(4);
$net->stop(5);
($rc, $out, $err) = store_values(321, 500);
is($rc, 0, 'node4 and node5 down: 180 values stored') or diag $err;
is(q1(q{SELECT coalesce(sum(shares), 0) FROM ssn.outbox WHERE peer IN ('node4', 'node5')}), '360', '360 shares wait, sealed');
ok($net->kill9(1), 'kill -9 of node1 before they are delivered');
$net->start(1);
$net->start(4);
$net->start(5);
ok($net->wait_delivered(1, 240), 'node1, node4, node5 restarted: the outbox drains');
is(qn(4, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node1'}) . ' ' . qn(5, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node1'}),
	'500 500', 'node4 and node5 hold a share of all 500 values');
is(retrieved('true'), '500|500', 'all 500 values retrieve right');
# (node5's 10 of the resend test went by hand; a message resent after the kill counts twice)
cmp_ok(q1(q{SELECT coalesce(sum(shares), 0) FROM ssn.link_stats WHERE direction = 'send'}), '>=', 1990,
	'ssn.link_stats: every share the worker delivered counted');
# (the pad covers the shares' secret values; their headers travel in clear, authenticated)
is(q1(q{SELECT count(*) FROM ssn.link_stats WHERE direction = 'send' AND (payload_bytes <= 0 OR share_bytes <= payload_bytes
	OR envelope_bytes <= payload_bytes OR key_bytes < payload_bytes + 32 * messages)}), '0',
	'ssn.link_stats per link: share bytes and envelope > encrypted payload > 0, key bytes cover pad and MAC keys')
  or diag q1(q{SELECT string_agg(peer || ' m' || messages || ' s' || shares || ' sb' || share_bytes || ' pb' || payload_bytes
	|| ' eb' || envelope_bytes || ' kb' || key_bytes, '; ') FROM ssn.link_stats WHERE direction = 'send'});

# ---- 4. no key at store time: a clear error, nothing stored
my $before = q1(q{SELECT (SELECT count(*) FROM sv) || '|' || (SELECT count(*) FROM ssn.secret) || '|' || (SELECT count(*) FROM ssn.held_share) || '|' || (SELECT count(*) FROM ssn.outbox)});
$net->kme_stop;
($rc, $out, $err) = $net->psql(1, q{\set VERBOSITY verbose
INSERT INTO sv SELECT 1000, '\x00', ssn_store('\x0102'::bytea, 3, 5)});
isnt($rc, 0, 'KME down: the store fails');
like($err, qr/could not seal the shares for shareholder "node\d"/, '...with a clear message') or diag $err;
like($err, qr/HINT:\s+Check the KME and the link/, '...and a hint');
like($err, qr/nothing of this transaction was stored/, '...saying that nothing was stored');
is(q1(q{SELECT (SELECT count(*) FROM sv) || '|' || (SELECT count(*) FROM ssn.secret) || '|' || (SELECT count(*) FROM ssn.held_share) || '|' || (SELECT count(*) FROM ssn.outbox)}),
	$before, 'nothing stored: sv, ssn.secret, ssn.held_share, ssn.outbox unchanged');
$net->kme_start;
($rc, $out, $err) = store_values(501, 510);
is($rc, 0, 'KME back: the store works again') or diag $err;
ok($net->wait_delivered(1, 180), '...and is delivered');

# ---- 5. a message nobody announced, its receipt rolled back: its keys are on the record
# (dec_keys hands a key out once; the ledger row must commit before, not with the receipt)
$net->stop(5);
($rc, $out, $err) = store_values(511, 520);
is($rc, 0, 'node5 down: 10 more values stored') or diag $err;
$env = q1(q{SELECT encode(blob, 'hex') FROM ssn.outbox WHERE peer = 'node5' ORDER BY id LIMIT 1});
q1(q{DELETE FROM ssn.outbox WHERE peer = 'node5'});    # delivered by hand below
($ids, $bits) = envelope_keys(pack('H*', $env));
my $nkeys = () = $ids =~ /,/g;
$nkeys++;
$net->start(5);
like(qn(5, qq{BEGIN; SELECT ssn.channel_receive('\\x$env'); ROLLBACK}), qr/stored 10 shares \(10 new\)/,
	'node5: a message received without an announcement, in a transaction that rolls back');
is(qn(5, qq{SELECT count(*) FROM ssn.key_ledger WHERE key_id = ANY('$ids') AND direction = 'receive'}), $nkeys,
	"node5: its $nkeys key IDs are in the key ledger all the same (recorded and committed before dec_keys)");
$net->check_key_ledger('end of 027');

$net->teardown;
diag sprintf('027: %.0f s', time - $t0);
done_testing();
