# The key ledger: every key ID recorded before use, never twice, and consistent
# after kill -9 of a backend or of the postmaster between fetching and using keys.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use SsnKme;
use SsnNet ();

my $pki = SsnKme::make_pki("$PostgreSQL::Test::Utils::tmp_check/pki", qw(SAE_A SAE_B));
my $port = SsnKme::start_sim($pki, q{
[kme]
id = KME_L
port = 0
cert = pki/kme/kme.crt
key = pki/kme/kme.key
ca = pki/ca.crt
[link SAE_A SAE_B]
max_key_count = 100000
}, 'kme');
my $url = "https://localhost:$port";

my %node;
for my $n (qw(a b))
{
	my $node = PostgreSQL::Test::Cluster->new($n);
	$node->init;
	$node->append_conf('postgresql.conf', SsnKme::sae_conf($pki, $url, 'SAE_' . uc $n));
	$node->append_conf('postgresql.conf', 'restart_after_crash = on');
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION ssn');
	$node{$n} = $node;
}
my ($a, $b) = @node{qw(a b)};
$a->safe_psql('postgres', q{SELECT ssn.add_shareholder('b', 'SAE_B')});
$b->safe_psql('postgres', q{SELECT ssn.add_shareholder('a', 'SAE_A')});

# A trigger that holds the ledger writer just before a row becomes 'used': the
# keys have been fetched, recorded and used, and the use is not yet recorded.
my $pause = q{
CREATE FUNCTION pause_before_used() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.state = 'used' THEN PERFORM pg_sleep(300); END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER pause BEFORE UPDATE ON ssn.key_ledger
	FOR EACH ROW EXECUTE FUNCTION pause_before_used();
};
my $unpause = 'DROP TRIGGER pause ON ssn.key_ledger; DROP FUNCTION pause_before_used()';
my $writer_paused = q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE backend_type = 'ssn key ledger writer' AND wait_event = 'PgSleep'};

# ---- concurrent fetching: no ID twice, no live holder's keys swept as lost
my $script = "$PostgreSQL::Test::Utils::tmp_check/enc.sql";
open my $fh, '>', $script or die;
print $fh "SELECT count(*) FROM ssn.kme_enc_keys('b', 4);\n";
close $fh;
$a->command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-t', '10', '-f', $script, '-d', $a->connstr('postgres') ],
	'4 sessions fetch keys concurrently');
is($a->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT key_id) || ' ' || string_agg(DISTINCT state, ',') FROM ssn.key_ledger}),
	'160 160 used', 'concurrent: 160 keys, 160 IDs, all used (none swept while held)');

# ---- kill -9 of the sending backend between fetching and recording the use
$a->safe_psql('postgres', $pause);
my $bg = $a->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, "\\echo started\nSELECT * FROM ssn.kme_enc_keys('b', 3, 256, 'crash test');\n");
ok($a->poll_query_until('postgres', $writer_paused), 'sender: keys fetched and recorded, writer held before "used"');
is($a->safe_psql('postgres', q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'crash test' AND state = 'fetched'}),
	'3', 'sender: the 3 key IDs are committed as fetched before use');
my $holder = $a->safe_psql('postgres', q{SELECT DISTINCT holder_pid FROM ssn.key_ledger WHERE purpose = 'crash test'});
my $log_offset = -s $a->logfile;
kill 'KILL', $holder;
$bg->{run}->finish;
# the postmaster must have noticed the crash and reset everything: until then a new
# session may still get in (and be thrown out by the reset a moment later)
$a->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($a->poll_query_until('postgres', 'SELECT 1', '1'), 'sender: server back after crash recovery');
is($a->safe_psql('postgres', q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'crash test' AND state = 'fetched'}),
	'3', 'sender: after the crash the rows are still fetched (durable)');
is($a->safe_psql('postgres', 'SELECT ssn.key_ledger_recover()'), '3', 'sender: recovery settles them');
is($a->safe_psql('postgres', q{SELECT string_agg(DISTINCT state, ',') FROM ssn.key_ledger WHERE purpose = 'crash test'}),
	'lost', 'sender: the keys are lost, never to be used');
$a->safe_psql('postgres', $unpause);
my $crash_ids = $a->safe_psql('postgres', q{SELECT string_agg(quote_literal(key_id), ',') FROM ssn.key_ledger WHERE purpose = 'crash test'});
is($a->safe_psql('postgres', qq{SELECT count(*) FROM ssn.kme_enc_keys('b', 3) WHERE key_id IN ($crash_ids)}),
	'0', 'sender: fresh keys afterwards, never the lost ones');

# ---- kill -9 of the receiving postmaster after dec_keys, before the use is recorded
my $ids = $a->safe_psql('postgres', q{SELECT string_agg(quote_literal(key_id), ',') FROM ssn.kme_enc_keys('b', 2)});
$b->safe_psql('postgres', $pause);
$bg = $b->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, "\\echo started\nSELECT * FROM ssn.kme_dec_keys('a', ARRAY[$ids], 256, 'crash test');\n");
ok($b->poll_query_until('postgres', $writer_paused), 'receiver: keys fetched, writer held before "used"');
my $pmpid = $b->{_pid};
my @children = SsnNet::children_of($pmpid);
$b->kill9;
$bg->{run}->finish;
# the killed postmaster and its children (they exit once they see it gone) must all
# be gone before a restart: they hold the old shared memory
my $deadline = time + 180;
while (grep { kill 0, $_ } ($pmpid, @children))
{
	last if time > $deadline;
	usleep(100_000);
}
ok(!kill(0, $pmpid), 'receiver: postmaster killed with SIGKILL');
is(join(',', grep { kill 0, $_ } @children), '', "receiver: all the postmaster's children exited (" . scalar(@children) . ')');
$b->start;
is($b->safe_psql('postgres', q{SELECT count(*) FROM ssn.key_ledger WHERE purpose = 'crash test' AND state = 'fetched'}),
	'2', 'receiver: after kill -9 of the postmaster the IDs are recorded');
is($b->safe_psql('postgres', 'SELECT ssn.key_ledger_recover()'), '2', 'receiver: recovery settles them as lost');
$b->safe_psql('postgres', $unpause);
my ($out, $err) = SsnKme::sql($b, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY[$ids], 256)");
like($err, qr/23505: key ID .* is already in the key ledger.*lost.*HINT:  The sender must resend under fresh keys/s,
	'receiver: a retry is refused locally: the sender must resend under fresh keys');
$b->safe_psql('postgres', 'CREATE DATABASE other');
$b->safe_psql('other', q{CREATE EXTENSION ssn; SELECT ssn.add_shareholder('a', 'SAE_A')});
($out, $err) = SsnKme::sql($b, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY[$ids], 256)", 'other');
like($err, qr/not found on KME/, '...and rightly so: the KME had already delivered them');

# ---- a lost answer (the receiver dies during dec_keys): the IDs are burnt, not stuck
$ids = $a->safe_psql('postgres', q{SELECT string_agg(quote_literal(key_id), ',') FROM ssn.kme_enc_keys('b', 1)});
($out, $err) = SsnKme::sql($b, "SET ssn.kme_url = 'https://localhost:1'; SELECT * FROM ssn.kme_dec_keys('a', ARRAY[$ids], 256)");
like($err, qr/08006/, 'receiver: dec_keys fails in transport');
($out, $err) = SsnKme::sql($b, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY[$ids], 256)");
like($err, qr/23505: .*already in the key ledger.*(fetched|lost).*resend under fresh keys/s,
	'receiver: its IDs are burnt; the answer is final (resend), not a retry loop');
$b->safe_psql('postgres', 'SELECT ssn.key_ledger_recover()');
is($b->safe_psql('postgres', qq{SELECT state FROM ssn.key_ledger WHERE key_id IN ($ids)}), 'lost',
	'receiver: ...and recorded as lost');

# ---- invariants
for my $n ($a, $b)
{
	is($n->safe_psql('postgres', q{SELECT count(*) FROM ssn.key_ledger WHERE state = 'fetched'}), '0',
		$n->name . ': nothing left fetched');
	is($n->safe_psql('postgres', q{SELECT count(*) = count(DISTINCT key_id) FROM ssn.key_ledger}), 't',
		$n->name . ': no key ID twice');
}
# the ledger survives dump and restore
my $dump = $a->basedir . '/dump.sql';
$a->command_ok([ 'pg_dump', '-d', $a->connstr('postgres'), '-f', $dump ], 'pg_dump');
$a->safe_psql('postgres', 'CREATE DATABASE restored');
$a->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $a->connstr('restored'), '-f', $dump ], 'restore');
is($a->safe_psql('restored', 'SELECT count(*) FROM ssn.key_ledger'),
	$a->safe_psql('postgres', 'SELECT count(*) FROM ssn.key_ledger'), 'the ledger is dumped and restored');

done_testing();
