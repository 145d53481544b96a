# Store policy (Y.3808 §10.2, the controller's policy control): per role and for every
# role, the least k, the n allowed, verification required, the value types allowed and
# a quota of secrets; organizations on the shareholders, so that no store places k
# shares of one secret in one organization.  Refusals are 42501 (54000 for the
# quota), alarmed whatever the caller does with its transaction, and leave nothing.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 3, conf => "ssn.default_k = 2\nssn.default_n = 3\n");

$net->sql(1, q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE staff;
CREATE ROLE policy_admin LOGIN;
GRANT staff TO alice;
CREATE TABLE vault (id bigserial PRIMARY KEY, who text, h ssn_secret);
GRANT ALL ON vault, vault_id_seq TO PUBLIC;});

# refused with SQLSTATE (verbose psql output), nothing stored
sub refused
{
	my ($user, $sql, $state, $pattern, $name) = @_;
	my $before = $net->sql(1, 'SELECT count(*) FROM ssn.secret');
	my ($rc, $out, $err) = $net->psql(1, $sql, user => $user);
	my $after = $net->sql(1, 'SELECT count(*) FROM ssn.secret');
	ok($rc != 0 && $err =~ /ERROR:\s+$state:/ && $err =~ $pattern && $before eq $after, $name)
	  or diag "rc $rc, before $before, after $after: $err";
}

sub stores
{
	my ($user, $sql, $name) = @_;
	my ($rc, $out, $err) = $net->psql(1, $sql, user => $user);
	ok($rc == 0, $name) or diag $err;
}

# ---- who may set policy
my ($rc, $out, $err) = $net->psql(1, q{SELECT ssn.set_store_policy('alice', min_k => 1)}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, 'a role cannot set its own store policy') or diag $err;
($rc, $out, $err) = $net->psql(1, q{UPDATE ssn.store_policy SET min_k = 1}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, 'nor write ssn.store_policy') or diag $err;
$net->sql(1, q{GRANT USAGE ON SCHEMA ssn TO policy_admin; GRANT EXECUTE ON FUNCTION ssn.set_store_policy(regrole, int, int, int, boolean, regtype[], bigint, bigint, bigint)
	TO policy_admin});
stores('policy_admin', q{SELECT ssn.set_store_policy('staff', min_k => 3)},
	'a role granted ssn.set_store_policy sets policy (staff: k >= 3)');
$net->sql(1, q{SELECT ssn.set_store_policy(NULL, verify_required => true)});
$net->sql(1, q{SELECT ssn.set_store_policy('bob', allowed_types => '{int8,numeric}', max_secrets => 3)});

# ---- least k, through a group role
refused('alice', q{INSERT INTO vault (who, h) VALUES ('alice', ssn_store(42::int8, 2, 3))},
	'42501', qr/store with k = 2 refused by policy.*DETAIL:.*role "staff" requires k of at least 3/s,
	'k = 2 refused for a member of staff (k >= 3), the row that refused it named');
refused('alice', q{INSERT INTO vault (who, h) VALUES ('alice', ssn_store(42::int8))},
	'42501', qr/k = 2 refused/, 'the default k (2) too');
stores('alice', q{INSERT INTO vault (who, h) VALUES ('alice', ssn_store(42::int8, 3, 3))}, 'k = 3 stored');
stores('postgres', q{INSERT INTO vault (who, h) VALUES ('postgres', ssn_store(7::int8, 2, 3))},
	'a superuser not in staff stores with k = 2');
is($net->sql(1, q{SET ROLE alice; SELECT min_k, verify_required, array_to_string(from_roles, ',')
	FROM ssn_store_policy()}), '3|t|public,staff', 'ssn_store_policy() shows what holds for alice and why');

# ---- verification required (every role)
refused('bob', q{INSERT INTO vault (who, h) VALUES ('bob', ssn_store(5::int8, verify => false))},
	'42501', qr/without verifiable shares refused by policy.*every role/s, 'verify => false refused for every role');
refused('bob', q{SET ssn.verify_shares = off; INSERT INTO vault (who, h) VALUES ('bob', ssn_store(5::int8))},
	'42501', qr/without verifiable shares/, 'ssn.verify_shares = off refused too');

# ---- types and quota (bob: int8 and numeric, 3 secrets)
refused('bob', q{INSERT INTO vault (who, h) VALUES ('bob', ssn_store('hush-hush'::text))},
	'42501', qr/value of type text refused by policy.*role "bob" does not allow that type/s, 'text refused for bob');
stores('bob', q{INSERT INTO vault (who, h) SELECT 'bob', ssn_store(g::int8) FROM generate_series(1, 2) g},
	'bob stores 2 int8');
stores('bob', q{BEGIN; INSERT INTO vault (who, h) VALUES ('bob', ssn_store(3.5::numeric)); ROLLBACK},
	'a store rolled back does not count');
refused('bob', q{INSERT INTO vault (who, h) SELECT 'bob', ssn_store(g::int8) FROM generate_series(3, 4) g},
	'54000', qr/quota of secrets reached.*allows 3 secrets per role; this role owns 3/s,
	'the 4th secret is over the quota (54000), the statement stores none');
stores('bob', q{INSERT INTO vault (who, h) VALUES ('bob', ssn_store(3::int8))}, 'the 3rd fits');
refused('bob', q{INSERT INTO vault (who, h) VALUES ('bob', ssn_store(4::int8))},
	'54000', qr/quota of secrets reached/, 'then bob is at his quota');
is($net->sql(1, q{SELECT count(*) FROM ssn.secret WHERE owner = 'bob'::regrole}), '3', 'bob owns 3 secrets');

# ---- QKD key a day (dave: 1 byte, spent by his first store)
$net->sql(1, q{CREATE ROLE dave LOGIN; SELECT ssn.set_store_policy('dave', max_key_bytes_per_day => 1)});
stores('dave', q{INSERT INTO vault (who, h) VALUES ('dave', ssn_store(8::int8))}, 'dave\'s first store');
refused('dave', q{INSERT INTO vault (who, h) VALUES ('dave', ssn_store(9::int8))},
	'54000', qr/quota of QKD key reached for today.*allows 1 bytes of QKD key a day per role/s,
	'then his key a day is spent: refused (54000)');

# ---- bytes stored a day (erin: 200 bytes of share payload)
$net->sql(1, q{CREATE ROLE erin LOGIN; SELECT ssn.set_store_policy('erin', max_bytes_per_day => 200)});
stores('erin', q{INSERT INTO vault (who, h) VALUES ('erin', ssn_store('short'::text))}, 'erin stores a short text');
refused('erin', q{INSERT INTO vault (who, h) VALUES ('erin', ssn_store(repeat('x', 300)))},
	'54000', qr/quota of bytes stored reached for today/, 'a text of 300 bytes is over her 200 bytes a day: refused');

# ---- refusals are alarmed, whatever the caller's transaction did
ok($net->poll(1, q{SELECT coalesce(sum(count), 0) >= 7 FROM ssn.alarm WHERE source = 'policy' AND problem = 'store refused by policy'},
	't'), 'every refusal raised an alarm (source policy), rolled back or not');
is($net->sql(1, q{SELECT string_agg(DISTINCT object, ',' ORDER BY object) FROM ssn.alarm WHERE source = 'policy'}),
	'alice,bob,dave,erin', 'the alarms name the roles refused');
unlike($net->sql(1, q{SELECT string_agg(detail, ' ') FROM ssn.alarm WHERE source = 'policy'}), qr/hush|\b42\b/,
	'no value in the alarms');
ok($net->poll(1, q{SELECT string_agg(DISTINCT role, ',' ORDER BY role) FROM ssn.audit_log
	WHERE operation = 'store' AND outcome = 'refused'}, 'alice,bob,dave,erin'), 'and every refusal is on the audit trail');

# ---- placement: organizations A (node1, node2) and B (node3)
$net->sql(1, q{SELECT ssn.drop_store_policy(NULL); SELECT ssn.set_organization('node1', 'A');
	SELECT ssn.set_organization('node2', 'A'); SELECT ssn.set_organization('node3', 'B')});
($rc, $out, $err) = $net->psql(1, q{SELECT ssn.set_organization('node9', 'B')});
ok($rc != 0 && $err =~ /42704|does not exist/, 'an unknown shareholder cannot be labelled') or diag $err;
refused('postgres', q{INSERT INTO vault (who, h) VALUES ('p', ssn_store(11::int8, 2, 3))},
	'42501', qr/no placement of 3 shares gives every organization fewer than k = 2.*A: 2, B: 1/s,
	'k = 2, n = 3 would give organization A two shares: refused, organizations named');
stores('postgres', q{INSERT INTO vault (who, h) VALUES ('k2n2', ssn_store(12::int8, 2, 2))},
	'k = 2, n = 2 is placed');
is($net->sql(1, q{SELECT array_to_string(s.holders, ',') FROM ssn.secret s JOIN vault v ON ssn_secret_id(v.h) = s.id
	WHERE v.who = 'k2n2'}), '1,3', '... on node1 (A) and node3 (B)');
stores('postgres', q{INSERT INTO vault (who, h) VALUES ('k3n3', ssn_store(13::int8, 3, 3))},
	'k = 3, n = 3 is placed (A has 2 < 3)');
stores('postgres', q{INSERT INTO vault (who, h) VALUES ('k2all', ssn_store(14::int8, 2, 0))},
	'k = 2 with n = 0 (every shareholder) takes as many as placement allows');
is($net->sql(1, q{SELECT s.n FROM ssn.secret s JOIN vault v ON ssn_secret_id(v.h) = s.id WHERE v.who = 'k2all'}),
	'2', '... two of them');
refused('postgres', q{INSERT INTO vault (who, h) SELECT 'p', ssn_store(h * h) FROM vault WHERE who = 'postgres'},
	'42501', qr/would give organization "A" k = 2 shares/,
	'a product of a secret stored on node1..node3 before the labels: its holders would give A two shares, refused');
ok($net->wait_all_delivered(120), 'the stored shares are delivered');
is($net->sql(1, q{SELECT string_agg(who || '=' || ssn_retrieve(h), ',' ORDER BY id) FROM vault
	WHERE who IN ('k2n2', 'k3n3', 'k2all')}), 'k2n2=12,k3n3=13,k2all=14', 'placed secrets come back');
$net->stop(2);
is($net->sql(1, q{SELECT ssn_retrieve(h) FROM vault WHERE who = 'k2n2'}), '12',
	'node2 (A) down: the k = 2, n = 2 secret on node1 and node3 comes back');
$net->start(2);

$net->teardown;
done_testing();
