# The audit trail (Y.3808 §10.4): every store, retrieval, computation, grant, revoke,
# verification, renewal and deletion is recorded (roles, client, ids or a count and a
# digest, outcome), a retrieval even when its transaction rolls back; never a value.
# The node worker chains the rows and signs the chain's head; ssn.audit_verify() finds
# a row edited, removed in the middle or at the end, a chain rewritten from an edited
# row on, a forged head; the retention cuts the chain behind a signed anchor.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 2,
	conf => "ssn.default_k = 2\nssn.default_n = 2\nssn.audit_sign_interval = '1s'\n");

$net->sql(1, q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE TABLE vault (id int PRIMARY KEY, h ssn_secret);
GRANT ALL ON vault TO alice, bob;});

my $as_alice = sub { my ($sql) = @_; return $net->sql(1, $sql, user => 'alice'); };
$as_alice->(q{INSERT INTO vault SELECT g, ssn_store(987654320 + g) FROM generate_series(1, 3) g});
$as_alice->(q{INSERT INTO vault VALUES (4, ssn_store('hush-hush-4'::text))});
ok($net->wait_all_delivered(120), 'stored and delivered');
# before any grant or deletion sends records: every delivery so far carried these stores
is($net->sql(1, q{SELECT (SELECT sum(key_bytes) FROM ssn.audit_log WHERE operation = 'store')
	= (SELECT sum(size_bits / 8) FROM ssn.key_ledger WHERE direction = 'send' AND purpose = 'deliver')}), 't',
	'the stores\' key bytes are those the key ledger shows for their deliveries');
is($as_alice->(q{SELECT ssn_retrieve(h) FROM vault WHERE id = 4}), 'hush-hush-4', 'alice retrieves one');
is($as_alice->(q{SELECT array_to_string(ssn_retrieve(array_agg(h ORDER BY id)), ',') FROM vault WHERE id <= 3}),
	'987654321,987654322,987654323', 'and three at once');
is($as_alice->(q{SELECT ssn_sum(h) FROM vault WHERE id <= 3}), '2962962966', 'and their sum');
$as_alice->(q{SELECT ssn_grant(h, 'bob') FROM vault WHERE id = 1});
$as_alice->(q{SELECT ssn_revoke(h, 'bob') FROM vault WHERE id = 1});
$as_alice->(q{SELECT count(*) FROM vault, ssn_verify(h) WHERE id = 2});
$as_alice->(q{BEGIN; SELECT ssn_retrieve(h) FROM vault WHERE id = 3; ROLLBACK});
my ($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h) FROM vault WHERE id = 2}, user => 'bob');
ok($rc != 0 && $err =~ /42501/, 'bob may not retrieve a secret of alice') or diag $err;
$as_alice->(q{SELECT ssn_delete(h) FROM vault WHERE id = 4});
$as_alice->(q{BEGIN; SAVEPOINT s; SELECT ssn_grant(h, 'bob') FROM vault WHERE id = 2; ROLLBACK TO s;
	SELECT ssn_grant(h, 'bob') FROM vault WHERE id = 3; COMMIT});

# every row chained, and a signed head over the last one
ok($net->poll(1, q{SELECT count(*) FILTER (WHERE chain_seq IS NULL) = 0 AND count(*) >= 13
	AND (SELECT max(chain_seq) FROM ssn.audit_head) = max(chain_seq) FROM ssn.audit_log}, 't'),
	'the node worker chained every row and signed the head');

is($net->sql(1, q{SELECT string_agg(format('%s %s %s %s %s %s', role, session_role, operation, secrets,
		CASE WHEN secret_id IS NOT NULL THEN 'id' WHEN digest IS NOT NULL THEN 'digest' ELSE '-' END, outcome),
		E'\n' ORDER BY role, operation, outcome, secrets) FROM ssn.audit_log WHERE role IN ('alice', 'bob')}),
	join("\n",
		'alice alice compute 3 digest committed',
		'alice alice delete 1 id committed',
		'alice alice grant 1 id committed',
		'alice alice grant 1 id committed',
		'alice alice grant 1 id rolled back',
		'alice alice retrieve 1 id committed',
		'alice alice retrieve 3 digest committed',
		'alice alice retrieve 1 id rolled back',
		'alice alice revoke 1 id committed',
		'alice alice store 1 id committed',
		'alice alice store 3 digest committed',
		'alice alice verify 1 id committed',
		'bob bob retrieve 1 id rolled back'),
	'each operation recorded with its roles, ids or digest and outcome (a rolled back retrieval, a refused one, a grant undone by a savepoint)');
is($net->sql(1, q{SELECT count(*) FROM ssn.audit_log a JOIN vault v ON a.secret_id = ssn_secret_id(v.h)
	WHERE a.operation = 'delete'}), '1', 'the deleted secret named by id');
is($net->sql(1, q{SELECT a.digest = (SELECT digest FROM ssn.audit_log WHERE operation = 'store' AND secrets = 3)
	FROM ssn.audit_log a WHERE operation = 'compute'}), 't', 'the digest names the same three secrets in the sum');
is($net->sql(1, q{SELECT string_agg(operation, ',' ORDER BY operation) FROM ssn.audit_log
	WHERE role = 'alice' AND outcome = 'committed' AND key_bytes > 0}), 'compute,retrieve,retrieve,store,store,verify',
	'the QKD key spent is counted on the rows of stores, retrievals, the sum and the verification');
is($net->sql(1, q{SELECT operations || ' ' || secrets || ' ' || (key_bytes > 0) || ' ' || (messages > 0) || ' '
	|| (value_bytes > 0) FROM ssn.accounting WHERE role = 'alice' AND operation = 'store'}), '2 4 true true true',
	'ssn.accounting sums them per day, role and operation: operations, secrets, key bytes, messages, bytes stored');
is($net->sql(1, q{SELECT DISTINCT client FROM ssn.audit_log WHERE role = 'alice'}), '[local]',
	'the client (a Unix socket)');
unlike($net->sql(1, q{SELECT string_agg(t::text, ' ') FROM ssn.audit_log t}), qr/98765432|hush/,
	'no value in the audit trail');
is($net->sql(1, q{SELECT count(*) FROM ssn.audit_verify()}), '0', 'ssn.audit_verify() finds nothing wrong');

($rc, $out, $err) = $net->psql(1, q{SELECT count(*) FROM ssn.audit_log}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, 'a role cannot read the audit trail') or diag $err;
($rc, $out, $err) = $net->psql(1, q{DELETE FROM ssn.audit_log}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, 'nor delete from it') or diag $err;

# ---- tampering by whoever can write the table (a superuser), each rolled back after
sub verify_after
{
	my ($tamper) = @_;
	return $net->sql(1, "BEGIN; $tamper; SELECT string_agg(problem || ' ' || coalesce(chain_seq::text, '-'), ', '"
		  . " ORDER BY chain_seq, problem)"
		  . " FROM ssn.audit_verify(); ROLLBACK");
}
# what ssn.audit_verify() says when row $seq is removed: a head the worker happened to
# sign while $seq was the newest row (a timing the test cannot choose) names it too
sub removed
{
	my ($seq) = @_;
	my $head = $net->sql(1, "SELECT count(*) FROM ssn.audit_head WHERE NOT pruned AND chain_seq = $seq");
	return ($head ? "chain rewritten $seq, " : '') . "rows missing $seq";
}
my $last = $net->sql(1, q{SELECT max(chain_seq) FROM ssn.audit_log});
is(verify_after(q{UPDATE ssn.audit_log SET role = 'mallory' WHERE chain_seq = 2}), 'row altered 2',
	'a row edited: found');
is(verify_after(q{UPDATE ssn.audit_log SET at = at + interval '1 s' WHERE chain_seq = 3}), 'row altered 3',
	'a row whose time was moved: found');
is(verify_after(q{DELETE FROM ssn.audit_log WHERE chain_seq = 3}), removed(3), 'a row removed: found');
is(verify_after(qq{DELETE FROM ssn.audit_log WHERE chain_seq = $last}), "rows removed at the end $last",
	'the last row removed: found by the signed head');
like(verify_after(q{UPDATE ssn.audit_log SET role = 'mallory' WHERE chain_seq = 2;
	DO $$ DECLARE r ssn.audit_log; h bytea; BEGIN
		SELECT hash INTO h FROM ssn.audit_log WHERE chain_seq = 1;
		FOR r IN SELECT * FROM ssn.audit_log WHERE chain_seq >= 2 ORDER BY chain_seq LOOP
			h := sha256(h || convert_to(r.chain_seq || '|' || ssn.audit_row_text(r), 'UTF8'));
			UPDATE ssn.audit_log SET hash = h WHERE id = r.id;
		END LOOP; END $$}), qr/^(chain rewritten \d+, )*chain rewritten $last$/,
	'a row edited and every hash after it recomputed: the signed head no longer matches');
is(verify_after(q{DELETE FROM ssn.audit_head; DELETE FROM ssn.audit_log}), 'no signed head -',
	'the whole trail removed, heads and rows: found');
is(verify_after(q{UPDATE ssn.audit_head SET signed_at = signed_at - interval '1 day'}),
	join(', ', map { "head signature invalid $_" } split /\n/, $net->sql(1, q{SELECT chain_seq FROM ssn.audit_head
		WHERE NOT pruned ORDER BY chain_seq})) . ', heads not signed of late -',
	'heads made to look old: their signatures fail, and no head is recent');
is(verify_after(qq{UPDATE ssn.audit_head SET chain_seq = chain_seq + 1 WHERE chain_seq = $last}),
	'head signature invalid ' . ($last + 1), 'a head moved: its signature fails');

# ---- retention: rows older than it go, the chain starts at a signed anchor
$net->sql(1, q{UPDATE ssn.audit_log SET at = at - interval '2 days' WHERE chain_seq <= 3;
	ALTER SYSTEM SET ssn.audit_retention = '1d'; SELECT pg_reload_conf()});
ok($net->poll(1, q{SELECT min(chain_seq) > 3 AND EXISTS (SELECT FROM ssn.audit_head WHERE pruned AND chain_seq = 3)
	FROM ssn.audit_log}, 't'), 'the retention removed the three old rows behind an anchor');
is($net->sql(1, q{SELECT count(*) FROM ssn.audit_verify()}), '0', 'and the chain still verifies');
is(verify_after(q{DELETE FROM ssn.audit_log WHERE chain_seq = 4}), removed(4),
	'a row removed after the anchor: found');

# ---- rows appended later join the chain
$as_alice->(q{SELECT ssn_retrieve(h) FROM vault WHERE id = 1});
ok($net->poll(1, q{SELECT count(*) = 0 FROM ssn.audit_log WHERE chain_seq IS NULL OR chain_seq >
	(SELECT max(chain_seq) FROM ssn.audit_head)}, 't'), 'a later retrieval is chained and signed');
is($net->sql(1, q{SELECT count(*) FROM ssn.audit_verify()}), '0', 'the chain verifies');

$net->teardown;
done_testing();
