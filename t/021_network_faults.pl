# Faults of the storage network on five nodes (k = 3, n = 5): shareholders down
# (retrieval from any k; a clear error below k; late delivery after a restart),
# kill -9 of the storing node mid-delivery, forged / truncated / replayed envelopes,
# peer and KME alarms raised and cleared, an empty QKD key pool, a KME that keeps
# no key count, a KME too slow for the holders, a killed worker.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use SsnNet;

my $N = 5;
my $net = SsnNet->new(n => $N);
my $t0 = time;
my $step_t = time;
sub step { diag sprintf('%s (%.1f s)', $_[0], time - $step_t); $step_t = time; }

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}
$net->query(1, q{CREATE TABLE fv (id int PRIMARY KEY, batch text NOT NULL, val text NOT NULL, h ssn_secret)});

# store(BATCH, FROM, TO, SYNC): values 'BATCH i' as text (even i) or int8 (odd i)
sub store
{
	my ($batch, $from, $to, $sync) = @_;
	$sync //= 'off';
	return $net->psql(1, qq{SET ssn.synchronous_store = '$sync';
INSERT INTO fv SELECT i, '$batch', CASE WHEN i % 2 = 0 THEN '$batch ' || i ELSE (i::int8 * 1000003)::text END,
	CASE WHEN i % 2 = 0 THEN ssn_store('$batch ' || i) ELSE ssn_store(i::int8 * 1000003) END
FROM generate_series($from, $to) AS i});
}

# retrieve(WHERE): (rc, "good|total", stderr) of a bulk retrieval on node1
sub retrieve
{
	my ($where) = @_;
	return $net->psql(1, qq{
WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(h ORDER BY id)) AS vals FROM fv WHERE $where),
	 r AS (SELECT u.id, u.v FROM a, unnest(a.ids, a.vals) AS u(id, v))
SELECT count(*) FILTER (WHERE r.v = f.val) || '|' || count(*) FROM fv f LEFT JOIN r USING (id) WHERE $where}, timeout => 120);
}

# held(I, WHERE): "rows|distinct secrets" of node I's held_share for the secrets of fv WHERE
sub held
{
	my ($i, $where) = @_;
	my $ids = $net->query(1, "SELECT string_agg(quote_literal(ssn_secret_id(h)), ',') FROM fv WHERE $where");
	return 'no such values on node1' unless $ids;
	return $net->query($i, "SELECT count(*) || '|' || count(DISTINCT secret_id) FROM ssn.held_share WHERE secret_id IN ($ids)");
}

sub count_where { return $net->query(1, "SELECT count(*) FROM fv WHERE $_[0]"); }

# ---- baseline: 500 values on all five
my ($rc, $out, $err) = store('base', 1, 500);
is($rc, 0, "500 values stored $err");
ok($net->wait_delivered(1, 180), 'baseline delivered');
is(held($_, q{batch = 'base'}), '500|500', "node$_ holds the 500 baseline shares") for 1 .. $N;
step('baseline');

# ---- two shareholders down: any 3 of 5 still rebuild everything
# Alarms from here on are this part's: at start-up a node may have checked a peer
# that had not yet created the extension (a true alarm, raised and cleared then).
my $alarm_mark = $net->query(1, q{SELECT coalesce(max(id), 0) FROM ssn.alarm});
$net->stop(4);
$net->stop(5);
($rc, $out, $err) = retrieve(q{batch = 'base'});
is($out, '500|500', "node4 and node5 down: all 500 values retrieved from node1, node2, node3 $err");
is($net->query(1, q{SELECT ssn_retrieve(h) FROM fv WHERE id = 2}), 'base 2', 'single retrieval with 2 shareholders down');

# the health worker notices: peer alarms and peer_health
ok($net->poll(1, q{SELECT string_agg(object, ',' ORDER BY object) FROM ssn.active_alarms WHERE source = 'peer'}, 'node4,node5', 90),
	"node1 raises a 'peer' alarm for node4 and node5")
  or diag $net->channel_report(1);
ok($net->poll(1, q{SELECT string_agg(peer || '=' || reachable, ',' ORDER BY peer) FROM ssn.peer_health WHERE peer <> 'node1'},
	'node2=true,node3=true,node4=false,node5=false', 90), 'ssn.peer_health: node4, node5 unreachable; node2, node3 reachable');
ok($net->poll(1, q{SELECT string_agg(peer, ',' ORDER BY peer) FROM ssn.channels WHERE NOT reachable}, 'node4,node5', 90),
	'ssn.channels: node4, node5 not reachable');
step('two down');

# ---- three down: fewer than k; a clear error naming each failed shareholder
$net->stop(3);
($rc, $out, $err) = retrieve(q{batch = 'base'});
isnt($rc, 0, 'node3, node4, node5 down: bulk retrieval fails');
like($err, qr/node3/, '...the error names node3');
like($err, qr/node4/, '...and node4');
like($err, qr/node5/, '...and node5');
like($err, qr/ERROR:\s+(08\w\w\w|57P\w\w|53\w\w\w|58\w\w\w|XX\w\w\w|55\w\w\w)/, '...with a connection-class SQLSTATE');
diag "the error with 3 of 5 down:\n$err";
($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM fv WHERE id = 2});
ok($rc != 0 && $err =~ /node3/ && $err =~ /node4/ && $err =~ /node5/, 'single retrieval: the error names node3, node4, node5')
  or diag $err;
unlike($err, qr/base 2/, '...and reveals nothing');
step('three down');

# ---- shareholders down during a bulk store: they get everything after the restart
$net->start(3);
ok($net->poll(1, q{SELECT reachable FROM ssn.peer_health WHERE peer = 'node3'}, 't', 90), 'node3 back: reachable again');
($rc, $out, $err) = store('late', 1001, 2000);
is($rc, 0, "1000 values stored while node4 and node5 are down: the commit does not wait for them $err");
ok($net->wait_delivered(1, 180, 'node3') && $net->wait_delivered(1, 180, 'node2'), 'node2 and node3 served');
ok($net->poll(1, q{SELECT string_agg(peer || '=' || pending_shares, ',' ORDER BY peer) FROM ssn.channels WHERE pending_shares > 0},
	'node4=1000,node5=1000', 60), 'the outbox keeps 1000 shares for each of node4 and node5');
($rc, $out, $err) = retrieve(q{batch = 'late'});
is($out, '1000|1000', "the new values already retrieve from node1..node3 $err");
$net->start(4);
$net->start(5);
ok($net->wait_delivered(1, 240), 'after node4 and node5 restart the outbox drains')
  or diag $net->channel_report(1);
is(held($_, q{batch = 'late'}), '1000|1000', "node$_ holds each of the 1000 late secrets exactly once") for 1 .. $N;
is(held($_, q{batch = 'base'}), '500|500', "node$_ still holds the 500 baseline shares") for 4, 5;
# the peer alarms clear
ok($net->poll(1, q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'peer'}, '0', 90), 'the peer alarms clear once the peers are back');
# node3 was down only briefly: a health check may or may not have seen it; node2
# never was, so no alarm for it
like($net->query(1, qq{SELECT string_agg(DISTINCT object, ',' ORDER BY object) FROM ssn.alarm
	WHERE source = 'peer' AND cleared_at IS NOT NULL AND id > $alarm_mark}),
	qr/^(node3,)?node4,node5$/, 'ssn.alarm keeps the cleared peer alarms (cleared_at set) of node4, node5, and none of node2')
  or diag $net->query(1, qq{SELECT string_agg(id || ' ' || object || ' ' || raised_at || ' ' || coalesce(cleared_at::text, '-')
	|| ': ' || coalesce(detail, ''), E'\n' ORDER BY id) FROM ssn.alarm WHERE source = 'peer'});
is($net->query(1, qq{SELECT count(*) FROM ssn.alarm WHERE source = 'peer' AND id > $alarm_mark AND cleared_at IS NULL}), '0',
	'...and every peer alarm raised in these steps is cleared');
diag 'QKD keys node1 fetched for sending and then discarded, by peer: '
  . ($net->query(1, q{SELECT coalesce(string_agg(peer || ' ' || n, ', ' ORDER BY peer), 'none') FROM (SELECT peer, count(*) AS n FROM ssn.key_ledger
	WHERE direction = 'send' AND state = 'discarded' GROUP BY peer) s}) // '?');
step('late delivery');

# ---- kill -9 of the storing node (the SSA) in the middle of delivery
($rc, $out, $err) = $net->psql(1, q{SET ssn.synchronous_store = off;
INSERT INTO fv SELECT i, 'crash', 'crash ' || i, ssn_store('crash ' || i) FROM generate_series(3001, 6000) AS i;
SELECT coalesce(sum(shares), 0) FROM ssn.outbox});
is($rc, 0, "3000 values committed on node1 $err");
my $pending = $out;
ok($net->kill9(1), "kill -9 of node1's postmaster with $pending shares in its outbox: all its processes gone");
diag "outbox at the kill: $pending shares (0 would mean delivery was already done: a weak test)";
$net->start(1);
ok($net->wait_delivered(1, 240), 'node1 restarted: the outbox drains')
  or diag $net->channel_report(1);
is(count_where(q{batch = 'crash'}), '3000', 'the 3000 committed values survived the crash');
is(held($_, q{batch = 'crash'}), '3000|3000', "node$_ holds each of the 3000 secrets stored before the crash exactly once") for 1 .. $N;
($rc, $out, $err) = retrieve(q{batch = 'crash'});
is($out, '3000|3000', "they all retrieve $err");
step('kill -9 of node1');

# ---- forged, truncated, replayed envelopes
sub env_hex
{
	my ($o) = $net->query(1, q{SELECT encode(ssn.channel_seal_test('node2', '\x68656c6c6f20746573742031'::bytea), 'hex')});
	return $o // '';
}
sub receive2
{
	my ($bytes, $node) = @_;
	my ($r, $o, $e) = $net->psql($node // 2, q{SELECT ssn.channel_receive('\x} . unpack('H*', $bytes) . q{'::bytea)});
	return $r == 0 ? $o : "ERROR: $e";
}
my $env = pack('H*', env_hex());
ok(length($env) > 36 + 16, 'channel_seal_test seals a test message from node1 to node2 (' . length($env) . ' bytes)');
like(receive2($env), qr/^accepted/, 'node2 accepts the intact envelope');
# (senders resend the bytes they sealed: a message seen already is a duplicate, not opened again)
like(receive2($env), qr/^duplicate test message$/, 'the same envelope again (replay): answered as a duplicate, not opened again');
my $L = length($env) >= 36 ? unpack('V', substr($env, 32, 4)) : 0;
my $ct = length($env) - 16 - $L;
my %forged;
{
	my $e = pack('H*', env_hex());
	substr($e, $ct + int($L / 2), 1) ^= "\x01";
	$forged{'one bit of the ciphertext flipped'} = $e;
	$e = pack('H*', env_hex());
	substr($e, -1, 1) ^= "\x80";
	$forged{'one bit of the tag flipped'} = $e;
	$e = pack('H*', env_hex());
	substr($e, 24, 1) ^= "\x08";
	$forged{'the key size changed by 8 bits (header)'} = $e;
	$e = pack('H*', env_hex());
	substr($e, 24, 1) ^= "\x01";
	$forged{'a key size that is no whole number of bytes (header)'} = $e;
	$e = pack('H*', env_hex());
	$forged{'truncated by 5 bytes'} = substr($e, 0, length($e) - 5);
	$forged{'cut in the header'} = substr($e, 0, 30);
}
for my $what (sort keys %forged)
{
	like(receive2($forged{$what}), qr/^rejected: /, "envelope with $what: rejected");
}
like(receive2(pack('H*', env_hex()), 3), qr/^(rejected: |ERROR)/, 'an envelope for node2 given to node3: rejected');
# names in a header come before the MAC: unprintable ones are refused without being echoed
{
	my $e = pack('H*', env_hex());
	is(unpack('C', substr($e, 36, 1)) . substr($e, 37, 5), '5node1', 'the header names its sender node1 at offset 36');
	my $odd = $e;
	substr($odd, 37, 5) = "n\nd\xff1";
	like(receive2($odd), qr/^rejected: malformed message: a node name or key ID of its header is not printable text$/,
		'a sender name with a newline and an invalid byte: refused as malformed, the name not echoed');
	my $unknown = $e;
	substr($unknown, 37, 5) = 'nodeX';
	like(receive2($unknown), qr/^rejected: message from an unknown sender: sender "nodeX" is not a peer of this node$/,
		'a printable unknown sender: refused and named');
	is($net->query(2, q{SELECT count(*) FROM ssn.alarm WHERE source = 'message' AND object = 'unknown'
		AND (detail ~ '[\x01-\x1f\x7f]' OR problem ~ '[\x01-\x1f\x7f]')}), '0',
		"node2's alarms about unknown senders hold no control character");
}
ok($net->poll(2, q{SELECT count(*) > 0 FROM ssn.active_alarms WHERE source = 'message'}, 't', 60),
	"node2 raises a 'message' alarm");
diag 'node2 message alarms: ' . ($net->query(2, q{SELECT string_agg(object || ': ' || problem || ' x' || count, '; ') FROM ssn.active_alarms WHERE source = 'message'}) // '');
cmp_ok($net->query(2, q{SELECT coalesce(sum(rejected), 0) FROM ssn.link_stats WHERE direction = 'receive' AND peer = 'node1'}) // 0,
	'>=', 3, 'node2 link_stats counts the rejected messages from node1');
# a good message still goes through afterwards
like(receive2(pack('H*', env_hex())), qr/^accepted/, 'a fresh intact envelope is accepted after the forgeries');
step('forgeries');

# ---- the KME has no key: a store, which seals its peers' shares before it writes
# anything, waits for key up to ssn.kme_timeout, then fails with nothing stored;
# keys return: it stores and delivers
ok($net->wait_all_delivered(60), 'all outboxes empty before the KME loses its keys');
$net->kme_restart(initial_keys => 0, rate => 1);
($rc, $out, $err) = $net->psql(1, q{SET ssn.kme_timeout = '2s';
INSERT INTO fv SELECT i, 'nokey', (i::int8 * 1000003)::text, ssn_store(i::int8 * 1000003) FROM generate_series(7001, 7100) AS i});
isnt($rc, 0, 'with an empty QKD key pool a store of 100 values fails');
like($err, qr/could not seal the shares for shareholder "node\d": KME .* cannot serve the enc_keys request/,
	'...naming the shareholder and the KME refusal');
is($net->query(1, q{SELECT count(*) FROM fv WHERE batch = 'nokey'}) . '|' . $net->query(1, q{SELECT count(*) FROM ssn.outbox}), '0|0',
	'...and nothing stored, nothing in the outbox');
$net->kme_restart();
($rc, $out, $err) = store('nokey', 7001, 7100);
is($rc, 0, "keys back: the 100 values store $err");
ok($net->wait_delivered(1, 180), '...and are delivered')
  or diag $net->channel_report(1);
is(held($_, q{batch = 'nokey'}), '100|100', "node$_ holds the 100 shares") for 2 .. $N;
step('empty key pool');

# ---- a KME whose status says it holds no key while it delivers keys (an ETSI GS
# QKD 014 KME may keep no count): stores and retrievals ask for keys, never for
# the count; an outbox row in clear (written before ssn 1.4, sealed by the
# worker) is still delivered: the worker asks for its keys at the probe pace
$net->kme_restart(fault => 'zero_count', fault_endpoints => 'status');
is($net->query(1, q{SELECT stored_key_count FROM ssn.kme_status('node2')}), '0', 'the KME says it holds no key for node1-node2');
my $held_before = $net->query(2, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node1'});
$net->query(1, q{INSERT INTO ssn.outbox (peer, shares, blob)
	SELECT 'node2', 1, set_byte('\x00'::bytea, 0, length(b)) || b FROM (SELECT ssn_share_send((ssn_split(4242::int8, 3, 5))[2]) AS b) s});
ok($net->poll(1, q{SELECT count(*) FROM ssn.outbox}, '0', 120), 'an outbox row in clear is delivered although the KME says it holds no key')
  or diag $net->channel_report(1);
is($net->query(2, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node1'}), $held_before + 1, '...node2 holds its share');
($rc, $out, $err) = store('zerocount', 7101, 7200);
is($rc, 0, "100 values store $err");
ok($net->wait_delivered(1, 180), '...and are delivered');
($rc, $out, $err) = retrieve(q{batch = 'zerocount'});
is($out, '100|100', "...and retrieve $err");
$net->kme_restart();
step('KME without a key count');

# ---- the holders' KME answers too late: the retrieval fails naming the cause
# each holder met (its KME request timed out), not a consequence of it
$net->query($_, q{ALTER SYSTEM SET ssn.kme_timeout = '1s'}) for 2 .. $N;
$net->query($_, q{SELECT pg_reload_conf()}) for 2 .. $N;
$net->kme_restart(fault => 'slow', fault_endpoints => 'enc_keys', slow_ms => 4000);
# (200 values: a reply too large for the holders' reply key reserves)
($rc, $out, $err) = retrieve(q{batch IN ('nokey', 'zerocount')});
isnt($rc, 0, 'with every holder\'s KME too slow a retrieval fails');
like($err, qr/node2[^\n]*KME[^\n]*(?:timed out|time-?out|within)/i, '...naming node2\'s KME timeout as the cause');
unlike($err, qr/no reply is waiting|no answer within/, '...not a consequence of it');
$net->query($_, q{ALTER SYSTEM RESET ssn.kme_timeout}) for 2 .. $N;
$net->query($_, q{SELECT pg_reload_conf()}) for 2 .. $N;
$net->kme_restart();
($rc, $out, $err) = retrieve(q{batch = 'zerocount'});
is($out, '100|100', "the KME answers in time again: it retrieves $err");
step('slow KME at the holders');

# ---- the reply key reserve: single retrievals are answered with keys the holders'
# workers set aside for node1's link, recorded as spent (never 'fetched') before
# any use; a holder restarted has lost its reserve (spent on the record) and
# answers all the same
my $singles = q{SELECT count(*) FILTER (WHERE ssn_retrieve(h) = val) || '|' || count(*) FROM fv
	WHERE batch = 'zerocount' AND id BETWEEN 7101 AND 7130};
sub reserve_ids
{
	my %ids;
	for my $i (2 .. $N)
	{
		$ids{$_} = $i for split /\n/, ($net->query($i, q{SELECT key_id FROM ssn.key_ledger
			WHERE purpose = 'reply reserve' AND peer = 'node1' AND direction = 'send' AND state = 'used'}) // '');
	}
	return \%ids;
}
my ($from_reserve, %holders) = (0);
my $reserve_deadline = time + 120;
while (time < $reserve_deadline)
{
	is($net->query(1, $singles, timeout => 120), '30|30', '30 single retrievals, every value right');
	my $res = reserve_ids();
	for (split /\n/, ($net->query(1, q{SELECT key_id FROM ssn.key_ledger WHERE direction = 'receive'
		AND purpose IN ('retrieve', 'reply keys ahead') AND state = 'used'}) // ''))
	{
		next unless $res->{$_};
		$from_reserve++;
		$holders{ $res->{$_} } = 1;
	}
	last if $from_reserve > 0;
	usleep(200_000);
}
ok($from_reserve > 0, "node1 opened replies sealed with reserved keys ($from_reserve keys, from node"
	. join(', node', sort keys %holders) . ')');
is(join(',', map { $net->query($_, q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'reply reserve' AND state <> 'used'}) } 2 .. $N),
	join(',', ('0') x ($N - 1)), 'reserved keys are on the record as spent, never fetched');
my ($reserver) = sort keys %holders;
$reserver //= 2;
$net->stop($reserver);
$net->start($reserver);
ok($net->poll(1, q{SELECT count(*) FROM ssn.peer_health WHERE peer = 'node} . $reserver . q{' AND reachable}, '1', 120),
	"node$reserver restarted (its reserve lost)");
is($net->query(1, $singles, timeout => 120), '30|30', "single retrievals right after node$reserver lost its reserve");
step('reply key reserve');

# ---- the worker is killed: the postmaster restarts it, delivery goes on
my $before = $net->ssn_workers(1);
my @victims = grep { $before->{$_} !~ /ledger/ } keys %$before;
ok(@victims > 0, 'node1 runs ssn background workers: ' . join(', ', map { "$_ $before->{$_}" } sort keys %$before));
($rc, $out, $err) = store('worker', 8001, 9000);
is($rc, 0, "1000 values stored $err");
my $killed = @victims ? $net->query(1, 'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest(ARRAY[' . join(',', @victims) . ']) AS pid') : 0;
diag 'outbox right after the worker was terminated: ' . ($net->query(1, 'SELECT coalesce(sum(shares), 0) FROM ssn.outbox') // '?') . ' shares';
is($killed, scalar(@victims), "pg_terminate_backend of the worker(s) @victims[0..$#victims]");
my %old = map { $_ => 1 } @victims;
my $back = 0;
my $deadline = time + 120;
while (time < $deadline)
{
	my $now = $net->ssn_workers(1);
	my @types = grep { !/ledger/ } values %$now;
	my @new = grep { !$old{$_} && $now->{$_} !~ /ledger/ } keys %$now;
	if (@new >= @victims) { $back = 1; last; }
	usleep(200_000);
}
ok($back, 'the postmaster starts the worker(s) again');
ok($net->wait_delivered(1, 180), 'delivery continues with the new worker')
  or diag $net->channel_report(1);
is(held($_, q{batch = 'worker'}), '1000|1000', "node$_ holds the 1000 shares") for 2 .. $N;
step('worker killed');

# ---- the long-lived key ledger writer is killed: writes go on (a writer of their
# own meanwhile), and the postmaster starts it again
my %ledger = map { $_ => 1 } grep { $before->{$_} eq 'ssn key ledger writer' } keys %$before;
is(scalar(keys %ledger), 1, 'node1 runs one long-lived key ledger writer');
is($net->query(1, 'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest(ARRAY[' . join(',', keys %ledger) . ']) AS pid'),
	'1', '...terminated');
($rc, $out, $err) = store('ledger', 9001, 9100);
is($rc, 0, "100 values stored meanwhile $err");
ok($net->poll(1, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'ssn key ledger writer' AND pid NOT IN (}
	. join(',', keys %ledger) . ')', '1', 120), '...and a new long-lived writer runs');
($rc, $out, $err) = store('ledger2', 9101, 9200);
is($rc, 0, "100 more values stored through it $err");
ok($net->wait_delivered(1, 180), '...all delivered');
step('ledger writer killed');

# ---- in the end: everything retrieves, no key used twice
($rc, $out, $err) = retrieve('true');
my $total = count_where('true');
is($out, "$total|$total", "all $total values retrieve at the end $err");
$net->check_key_ledger('after the faults');

$net->teardown;
diag sprintf('021: %.0f s', time - $t0);
done_testing();
