# Losing the storing node loses no secret (issue 17), on six nodes: node1 stores
# 1,000 secrets as alice (k = 3, n = 5 on node1..node5: int8 verifiable and not,
# numeric, text, stored products), grants a fifth of them to bob and revokes one
# grant; every holder keeps each secret's record (ssn.held_secret).  node1 is
# lost: stopped, its data directory copied away (an old backup) and removed.
# node5 is compromised: its records name another owner, and it tries to take
# node1's secrets over itself.  ssn.take_over('node1') on node2 is refused while
# node1 answers, by a role without the right, and while no other holder's
# operator allowed it; once node3, node4 and node5 allowed it, node2 takes every
# secret over from the records k holders agree on (node5's lie is outvoted):
# alice retrieves all 1,000 exactly on node2 with the same handles (roles
# created there in another order), bob exactly the granted ones and not the
# revoked one, ssn_verify finds the shares valid under node1's signing key, ssn_sum
# adds up.  ssn.reshare('node1', 'node6') on node2 rebuilds node1's shares on the
# spare node6 and the renewal it queues moves every secret to epoch 1; all
# values still retrieve, products compute again on 5 holders.  node1, restored
# from its old backup and started, can neither retrieve nor change those secrets:
# its grant is refused by the holders with an alarm, its renewal refused.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use File::Path qw(rmtree);
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $N = 6;
my $net = SsnNet->new(n => $N);
my $step_t = time;
sub step { diag sprintf('%s (%.1f s)', $_[0], time - $step_t); $step_t = time; }

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

sub qn { my ($i, $sql, %o) = @_; return $net->query($i, $sql, timeout => 300, %o) // ''; }

# ---- 0. node6 a spare (no share index anywhere); alice and bob on every node,
# created on node2 in another order and after another role (other OIDs)
for my $i (1 .. $N)
{
	qn($i, q{UPDATE ssn.shareholder SET share_index = NULL WHERE name = 'node6'});
	qn($i, $i == 2
		? q{CREATE ROLE filler; CREATE ROLE bob LOGIN; CREATE ROLE alice LOGIN}
		: q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
	qn($i, q{CREATE TABLE v (id int PRIMARY KEY, h ssn_secret, val text); GRANT ALL ON v TO alice, bob});
}
isnt(qn(1, q{SELECT oid FROM pg_roles WHERE rolname = 'alice'}), qn(2, q{SELECT oid FROM pg_roles WHERE rolname = 'alice'}),
	'alice has another OID on node2 than on node1');

# ---- 1. node1 stores 1,000 secrets as alice
my ($rc, $out, $err) = $net->psql(1, q{SET ssn.synchronous_store = 'all';
BEGIN;
SET ROLE alice;
INSERT INTO v SELECT g, ssn_store(g::int8 * 7919 - 3000000, 3, 5), (g::int8 * 7919 - 3000000)::text FROM generate_series(1, 400) g;
INSERT INTO v SELECT g, ssn_store(g::int8 * 31, 3, 5, false), (g::int8 * 31)::text FROM generate_series(401, 600) g;
INSERT INTO v SELECT g, ssn_store(g * 1.25, 3, 5), (g * 1.25)::text FROM generate_series(601, 800) g;
INSERT INTO v SELECT g, ssn_store('secret text ' || g || repeat('x', g % 50), 3, 5),
	'secret text ' || g || repeat('x', g % 50) FROM generate_series(801, 980) g;
COMMIT;
BEGIN;
SET ROLE alice;
INSERT INTO v SELECT 980 + g, ssn_store(a.h * b.h), (a.val::int8 * b.val::int8)::text
	FROM generate_series(1, 20) g JOIN v a ON a.id = g JOIN v b ON b.id = 400 + g;
SELECT count(ssn_grant(h, 'bob')) FROM v WHERE id % 5 = 0;
SELECT ssn_revoke(h, 'bob') FROM v WHERE id = 10;
COMMIT;
SELECT count(*) FROM v}, timeout => 600);
is($rc, 0, 'node1: alice stores 1,000 secrets (400 int8 verifiable, 200 int8 not, 200 numeric, 180 text, 20 stored products), grants 200 to bob, revokes one') or diag $err;
like($out, qr/1000$/, '...1,000 rows');
ok($net->wait_all_delivered(300), 'every outbox drained');
my %val;
my @rows = split /\n/, qn(1, q{SELECT id || '|' || h::text || '|' || val FROM v ORDER BY id});
for (@rows) { my ($id, $h, $v) = split /\|/, $_, 3; $val{$id} = [ $h, $v ]; }
is(scalar(keys %val), 1000, 'the handles and values of the 1,000 secrets, kept by the test');
sub secret_id { my ($id) = @_; my ($u) = $val{$id}[0] =~ /id=([0-9a-f-]{36})/; return $u; }
my $records = qn(1, q{SELECT count(commitment) || '|' || count(check_record) FROM ssn.secret});
my ($ncommit, $ncheck) = split /\|/, $records;
cmp_ok($ncommit + $ncheck, '==', 980, "node1: $ncommit secrets with commitments, $ncheck with check records (the 20 products have neither)");
for my $i (2 .. 5)
{
	is(qn($i, q{SELECT count(*) || '|' || count(*) FILTER (WHERE owner_name = 'alice' AND k = 3 AND n = 5 AND holders = '{1,2,3,4,5}')
		|| '|' || count(*) FILTER (WHERE grantees = '{bob}') || '|' || count(*) FILTER (WHERE check_record IS NOT NULL)
		FROM ssn.held_secret WHERE origin = 'node1'}),
		"1000|1000|199|$ncheck",
		"node$i keeps the record of each secret: owner alice, k, n, holders; 199 granted to bob; $ncheck check records (those without commitments)");
}
is(qn(3, "SELECT grantees FROM ssn.held_secret WHERE secret_id = '" . secret_id(10) . "'"), '{}',
	'...the revoked grant reached the holders (id 10: no grantee)');
is(qn(1, q{SET ROLE alice; SELECT count(*) FROM v WHERE ssn_retrieve(h) = val}), 1000, 'node1: every value retrieves as stored');
step('stored');

# ---- 2. refusals while node1 is there, and for a role without the right
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.take_over('node1')});
like($err, qr/ERROR:\s+55006: "node1" still answers: it is not lost/, 'node2: take-over of node1 refused while node1 answers (55006)');
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.take_over('node1', force => true)}, user => 'alice');
like($err, qr/ERROR:\s+42501/, 'node2: refused for alice (42501)');

# ---- 3. node1 lost: stopped, an old backup of its data directory kept aside, the directory removed
my $dd1 = $net->node(1)->data_dir;
$net->stop(1);
PostgreSQL::Test::RecursiveCopy::copypath($dd1, "$dd1.old");
rmtree($dd1);
ok(!-e $dd1, "node1's data directory is gone (a copy kept as an old backup)");

# ---- 4. node5 compromised: its records name mallory, and it asks node3 to hand node1's secrets to it
qn(5, q{CREATE ROLE mallory; UPDATE ssn.held_secret SET owner_name = 'mallory', grantees = '{mallory}' WHERE origin = 'node1'});
($rc, $out, $err) = $net->psql(3, q{SET SESSION AUTHORIZATION ssn_peer_node5; SELECT ssn.channel_take_over('node1', NULL, 10)});
like($err, qr/ERROR:\s+42501: take-over of "node1" by "node5" is not allowed on this node/,
	'node3: node5 asking to take over node1 is refused (42501)');
ok($net->poll(3, q{SELECT count(*) FROM ssn.active_alarms WHERE object = 'node5' AND problem = 'take-over refused'}, '1', 60),
	'...and alarmed, naming node5');
is(qn(3, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node1'}), '1000', '...node3 still holds its shares for node1');

# ---- 5. no holder allowed it yet
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.take_over('node1')});
like($err, qr/ERROR:\s+55000: cannot take over 1000 secrets of "node1": their holders do not agree/,
	'node2: take-over refused while no other holder allowed it (55000)');
like($err, qr/node3 \(take-over of "node1" by "node2" is not allowed on this node\)/, '...naming node3, which did not allow it');
like($err, qr/HINT:.*ssn\.allow_take_over\('node1', 'node2'\)/, '...HINT: ssn.allow_take_over on the holders');
is(qn(2, q{SELECT count(*) FROM ssn.secret}), '0', '...node2 took nothing over');

# ---- 6. the operators of node3, node4 (and the compromised node5) allow it: node2 takes over
qn($_, q{SELECT ssn.allow_take_over('node1', 'node2')}) for 3, 4, 5;
is(qn(3, q{SELECT state FROM ssn.shareholder WHERE name = 'node1'}), 'out of service', 'node3: allowing it puts node1 out of service');
my $t0 = time;
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.take_over('node1')}, timeout => 600);
my $ttime = time - $t0;
is("$rc|$out", '0|1000', 'node2: ssn.take_over(\'node1\') takes over 1,000 secrets') or diag $err;
diag sprintf('take-over of 1,000 secrets: %.2f s', $ttime);
like($err, qr/NOTICE:\s+00000: took over 1000 secrets of "node1"/, '...NOTICE: took over 1000 secrets');
like($err, qr/DETAIL:.*Holders that handed them over: node2, node3, node4, node5\./, '...DETAIL: handed over by node2..node5');
is(qn(2, q{SELECT count(*) || '|' || count(*) FILTER (WHERE owner::regrole::text = 'alice') || '|' || count(DISTINCT epoch)
	|| '|' || count(commitment) || '|' || count(check_record) FROM ssn.secret}), "1000|1000|1|$ncommit|$ncheck",
	'node2: 1,000 secrets owned by its alice, epoch 0, the commitment and check records node1 had (node5\'s lie outvoted)');
is(qn(2, q{SELECT count(*) FILTER (WHERE grantee::regrole::text = 'bob') || '|' || count(*) FROM ssn.secret_grant}), '199|199',
	'node2: 199 grants to bob, none to anyone else');
is(qn(2, q{SELECT count(*) || '|' || min(node) FROM ssn.trusted_signer}), '1|node1', "node2 trusts node1's signing key");
is(qn(2, q{SELECT failed || '|' || successor || '|' || secrets FROM ssn.take_over}), 'node1|node2|1000', 'ssn.take_over on node2');
is(qn(4, q{SELECT handed_over || '|' || (SELECT count(*) FROM ssn.held_share WHERE origin = 'node2')
	|| '|' || (SELECT count(*) FROM ssn.held_share WHERE origin = 'node1') FROM ssn.take_over}), '1000|1000|0',
	'node4 handed over 1,000 secrets: its shares are node2\'s now');
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.take_over('node1')});
is("$rc|$out", '0|0', '...run again: nothing more to take over');

# ---- 7. the same handles work on node2
my $ins = join(",\n", map { my $h = $val{$_}[0]; my $v = $val{$_}[1]; $v =~ s/'/''/g; "($_, '$h', '$v')" } sort { $a <=> $b } keys %val);
qn(2, "INSERT INTO v VALUES $ins");
is(qn(2, q{SET ROLE alice;
WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(h ORDER BY id)) AS vals FROM v)
SELECT count(*) FROM a, unnest(a.ids, a.vals) AS u(id, val) JOIN v USING (id) WHERE u.val = v.val}), '1000',
	'node2: alice retrieves all 1,000 values exactly, with node1\'s handles');
is(qn(2, q{SET ROLE bob; SELECT count(*) FROM (SELECT * FROM v WHERE id % 5 = 0 AND id <> 10 OFFSET 0) g WHERE ssn_retrieve(h) = val}), '199',
	'node2: bob retrieves the 199 secrets granted to him exactly');
($rc, $out, $err) = $net->psql(2, q{SET ROLE bob; SELECT ssn_retrieve(h) FROM v WHERE id = 10});
like($err, qr/ERROR:\s+42501: permission denied to retrieve secret/, '...not the one whose grant was revoked');
($rc, $out, $err) = $net->psql(2, q{SET ROLE bob; SELECT ssn_retrieve(h) FROM v WHERE id = 1});
like($err, qr/ERROR:\s+42501: permission denied to retrieve secret/, '...nor one never granted');
is(qn(2, q{SET ROLE alice; SELECT string_agg(shareholder || ':' || split_part(status, ':', 1), ',' ORDER BY shareholder)
	FROM ssn_verify((SELECT h FROM v WHERE id = 7))}),
	'(commitments):valid,node1:missing,node2:valid,node3:valid,node4:valid,node5:valid',
	'node2: ssn_verify: node1\'s signed commitments and the four live holders\' shares valid');
my $sum = 0;
$sum += $val{$_}[1] for 1 .. 400;
is(qn(2, q{SET ROLE alice; SELECT ssn_sum(h) FROM v WHERE id <= 400}), $sum, 'node2: ssn_sum of the 400 verifiable int8 adds up');
step('taken over');

# ---- 8. node1's shares rebuilt on the spare node6; the renewal it queues moves every secret to epoch 1
($rc, $out, $err) = $net->psql(2, q{SELECT ssn.reshare('node1', 'node6')}, timeout => 600);
is("$rc|$out", '0|1000', "node2: ssn.reshare('node1', 'node6') rebuilds the 1,000 shares node1 held") or diag $err;
for my $i (3 .. 6)
{
	qn($i, q{UPDATE ssn.shareholder SET share_index = NULL, state = 'out of service' WHERE name = 'node1';
		UPDATE ssn.shareholder SET share_index = 1, state = 'in service' WHERE name = 'node6'});
}
ok($net->poll(6, q{SELECT count(*) FILTER (WHERE origin = 'node2' AND owner_name = 'alice') FROM ssn.held_secret}, '1000', 120),
	'node6, the replacement, got the records of its 1,000 new shares from node2');
ok($net->poll(2, q{SELECT count(*) FILTER (WHERE state = 'done') || '|' || count(*) FROM ssn.renewal_run}, '1|1', 300),
	'node2: the renewal run queued by the re-sharing is done');
is(qn(2, q{SELECT count(*) FILTER (WHERE epoch = 1) FROM ssn.secret}), '1000', '...every secret is at epoch 1');
is(qn(2, q{SET ROLE alice; SELECT count(*) FROM v WHERE ssn_retrieve(h) = val}), '1000', 'node2: all 1,000 values still retrieve');
is(qn(2, q{SET ROLE alice; SELECT ssn_retrieve(a.h * b.h) = (a.val::int8 * b.val::int8)::text FROM v a, v b WHERE a.id = 3 AND b.id = 403}), 't',
	'node2: a product computes on the five holders, node6 among them');
step('re-shared and renewed');

# ---- 9. node1 from its old backup: it can neither serve nor change the secrets taken over
rename("$dd1.old", $dd1) or die "restore $dd1: $!";
chmod 0700, $dd1;
$net->start(1);
step('node1 restored');
($rc, $out, $err) = $net->psql(1, q{SET ROLE alice; SELECT ssn_retrieve(h) FROM v WHERE id = 1});
isnt($rc, 0, 'node1 restored: retrieving a secret taken over fails');
step('node1 retrieval refused');
($rc, $out, $err) = $net->psql(1, q{SET ROLE alice; SELECT ssn_grant(h, 'bob') FROM v WHERE id = 1});
is($rc, 0, '...its grant is only in its own catalog');
ok($net->poll(3, q{SELECT count(*) > 0 FROM ssn.active_alarms WHERE object = 'node1' AND problem = 'a record this node cannot keep'}, 't', 120),
	'...the holders refuse node1\'s record of it, with an alarm naming node1');
($rc, $out, $err) = $net->psql(2, q{SET ROLE bob; SELECT ssn_retrieve(h) FROM v WHERE id = 1});
like($err, qr/ERROR:\s+42501/, '...bob still cannot retrieve it on node2');
is(qn(3, "SELECT origin || '|' || grantees::text FROM ssn.held_secret WHERE secret_id = '" . secret_id(1) . "'"), 'node2|{}',
	'...node3 keeps node2 as its SSA, no grantee');
qn(1, q{SELECT ssn_renew(1000)});
ok($net->poll(3, q{SELECT count(*) > 0 FROM ssn.active_alarms WHERE object = 'node1' AND problem = 'renewal parts refused'}, 't', 120),
	'...a renewal from node1 is refused by the holders, with an alarm naming node1');
is(qn(3, q{SELECT count(*) FROM ssn.held_share WHERE origin = 'node2' AND epoch = 1}), '1000', '...node3 keeps its shares of epoch 1 for node2');

step('node1 refused');
$net->teardown;
done_testing();
