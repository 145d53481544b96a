# SSN-U (Y.3808 §11.1): a data owner stores and retrieves values through ssn-client,
# which seals them under a one-time pad with keys of the owner's own KME link.  The
# plaintext must appear nowhere but in the client: not in pg_stat_activity while the
# statements run, not in the server log with log_statement = 'all' and every bind
# parameter logged, not in a capture of the libpq connection (TLS off, so the capture
# sees what libpq sends).  Tampered and replayed envelopes and a role that does not
# act for the owner are refused, with alarms.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IO::Select;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 3, owners => [ 'OWNER_A', 'OWNER_B' ],
	conf => "ssn.default_k = 2\nssn.default_n = 3\n");
my $client = "$ENV{SSN_TOOLS}/ssn-client";

# node1 logs every statement with its bind parameters in full
$net->sql(1, q{
ALTER SYSTEM SET log_statement = 'all';
ALTER SYSTEM SET log_parameter_max_length = -1;
ALTER SYSTEM SET log_parameter_max_length_on_error = -1;
SELECT pg_reload_conf();});
$net->sql(1, q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE mallory LOGIN;
SELECT ssn.add_data_owner('OWNER_A', 'alice');
SELECT ssn.add_data_owner('OWNER_B', 'bob');
CREATE TABLE vault (id bigserial PRIMARY KEY, h ssn_secret);
CREATE TABLE pairs (id bigserial PRIMARY KEY, name ssn_secret, amount ssn_secret);
GRANT ALL ON vault, pairs TO alice;
GRANT ALL ON SEQUENCE vault_id_seq, pairs_id_seq TO alice;
-- what pg_stat_activity shows of the inserting statement, read while it runs
CREATE TABLE seen_query (q text);
CREATE FUNCTION note_query() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	INSERT INTO seen_query SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid();
	RETURN NULL;
END $$;
CREATE TRIGGER vault_seen AFTER INSERT ON vault FOR EACH STATEMENT EXECUTE FUNCTION note_query();
CREATE TRIGGER pairs_seen AFTER INSERT ON pairs FOR EACH STATEMENT EXECUTE FUNCTION note_query();});
my $log_start = -s $net->node(1)->logfile;

# ---- a recording TCP proxy in front of node1: the libpq connection's bytes
my $capture = $net->dir . '/libpq.capture';
my ($proxy_pid, $proxy_port) = start_proxy($net->port(1), $capture);
my $via_proxy = "host=127.0.0.1 port=$proxy_port dbname=postgres sslmode=disable";

# run ssn-client as a data owner: (exit status, stdout, stderr)
sub client
{
	my ($owner, $conninfo, $stdin, @args) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, $net->owner_env($owner));
	# a client that stops early (an error) closes its input: not the test's failure
	local $SIG{PIPE} = 'IGNORE';
	my $ok = eval { IPC::Run::run([ $client, '-d', $conninfo, @args ], '<', \$stdin, '>', \$out, '2>', \$err); 1 };
	$err .= "\n(IPC::Run: " . (split /\n/, $@)[0] . ")" unless $ok;
	return ($ok ? $? >> 8 : 255, $out, $err);
}

# ---- 10,000 values through the client, with a token found nowhere else
my $token = join '', map { sprintf '%02x', int rand 256 } 1 .. 8;
my @values = map { "secret-$token-" . sprintf('%05d', $_) . ($_ % 7 == 0 ? " with\ttab" : '') } 1 .. 10_000;
my $input = join '', map { my $v = $_; $v =~ s/\t/\\t/g; "$v\n" } @values;
my ($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", $input,
	'store', '--table', 'vault', '--column', 'h', '--batch', '2000', '--stats');
is($rc, 0, 'ssn-client stored 10,000 values into vault.h') or diag $err;
like($err, qr/stored 10000 values in 5 envelopes, (\d+) bytes of QKD key/, 'five envelopes, key bytes reported');
my ($client_key_bytes) = $err =~ /, (\d+) bytes of QKD key/;
is($net->sql(1, 'SELECT count(*), count(h) FROM vault'), '10000|10000', 'vault has 10,000 handles');
is($net->sql(1, q{SELECT count(*) FROM ssn.key_ledger WHERE peer = 'OWNER_A' AND purpose = 'owner store' AND state = 'used'} . q{ AND direction = 'receive'}) > 0 ? 1 : 0, 1,
	'the envelopes\' key IDs are on the ledger, used');
is($net->sql(1, q{SELECT sum(size_bits / 8) FROM ssn.key_ledger WHERE peer = 'OWNER_A' AND purpose = 'owner store'}),
	$client_key_bytes, 'the ledger accounts for every key byte the client spent');

# the values read back: through the client, and with ssn_retrieve as alice
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", '',
	'retrieve', '--query', 'SELECT h FROM vault ORDER BY id', '--batch', '3000', '--stats');
is($rc, 0, 'ssn-client retrieved them') or diag $err;
my @got = map { my $v = $_; $v =~ s/\\t/\t/g; $v } split /\n/, $out;
is(scalar @got, 10_000, '10,000 values back');
is_deeply(\@got, \@values, 'every value exact, in order');
like($err, qr/retrieved 10000 rows in 4 envelopes/, 'four sealed replies of at most 3,000');
is($net->sql(1, 'SELECT ssn_retrieve(h) FROM vault WHERE id = 7', user => 'alice'), $values[6],
	'ssn_retrieve gives alice the same value');

# two columns of different types, CSV both ways
my @pairs = map { [ "name, $token \"$_\"", $_ * 1000 - 3 ] } 1 .. 500;
my $csv = join '', map { my ($n, $a) = @$_; $n =~ s/"/""/g; "\"$n\",$a\n" } @pairs;
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", $csv,
	'store', '--csv', '--type', 'text,int8', '--table', 'pairs', '--column', 'name,amount');
is($rc, 0, 'CSV of text and int8 stored into two columns') or diag $err;
is($net->sql(1, 'SELECT sum(ssn_retrieve(amount, 0::int8)) FROM pairs', user => 'alice'),
	500 * 501 / 2 * 1000 - 3 * 500, 'the int8 column sums right');
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", '',
	'retrieve', '--csv', '--query', 'SELECT name, amount FROM pairs ORDER BY id');
is($out, $csv, 'the CSV comes back byte for byte');

# NULLs, empty strings and backslashes survive; handles printed without --table
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", "\\N\n\nback\\\\slash\n", 'store');
is($rc, 0, 'store printing handles') or diag $err;
my @h = split /\n/, $out;
is(scalar @h, 3, 'three lines');
is($h[0], '\N', 'a NULL value has a NULL handle');
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", join('', map { "$_\n" } @h), 'retrieve');
is($out, "\\N\n\nback\\\\slash\n", 'NULL, empty string and backslash come back');

# ---- where the plaintext must not be
is($net->sql(1, 'SELECT count(*) FROM seen_query'), '6', 'pg_stat_activity was read during each of the 6 inserts');
is($net->sql(1, "SELECT count(*) FROM seen_query WHERE q LIKE '%ssn_store_sealed(\$1%'"), '6',
	'... and showed the sealed statement');
# read back whole (a query naming the token would itself be logged)
unlike($net->sql(1, "SELECT string_agg(q, E'\\n') FROM seen_query"), qr/$token/,
	'no value in pg_stat_activity');
my $log = slurp_file($net->node(1)->logfile, $log_start);
like($log, qr/ssn_store_sealed\(\$1\)[^\n]*\n[^\n]*parameters: \$1 = '\\x/, 'the log has the statements and their parameters');
unlike($log, qr/$token/, 'no value in the server log');
my $bytes = slurp_file($capture);
ok(length($bytes) > 500_000, 'the capture recorded the connection (' . length($bytes) . ' bytes)');
like($bytes, qr/ssn_store_sealed/, '... in clear (no TLS)');
unlike($bytes, qr/$token/, 'no value in the capture of the libpq connection');
my $n_secret = () = $bytes =~ /secret-/g;
is($n_secret, 0, 'not even the common prefix of the values');

# ---- refusals
# an envelope sealed but not sent (ssn-client seal), then sent by hand
sub seal_one
{
	my ($value) = @_;
	my ($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", "$value\n", 'seal');
	die "seal failed: $err" if $rc;
	chomp $out;
	return $out;
}
sub owner_alarms
{
	my ($problem) = @_;
	return $net->sql(1, "SELECT coalesce(sum(count), 0) FROM ssn.alarm WHERE source = 'owner' AND problem = '$problem'");
}

my $env = seal_one("tamper-$token");
my $tampered = $env;
my $pos = length($tampered) - 2 * 20;	# a ciphertext byte, before the 16-byte tag
substr($tampered, $pos, 2) = sprintf '%02x', hex(substr($tampered, $pos, 2)) ^ 1;
my ($prc, $pout, $perr) = $net->psql(1, "SELECT ssn_store_sealed('$tampered')", user => 'alice');
like($perr, qr/28000: sealed envelope from data owner "OWNER_A" refused: envelope failed authentication/,
	'a tampered envelope is refused (28000)');
ok($net->poll(1, q{SELECT count(*) > 0 FROM ssn.alarm WHERE source = 'owner' AND problem = 'envelope failed authentication'}, 't'),
	'... with an alarm');
unlike(slurp_file($net->node(1)->logfile, $log_start), qr/tamper-$token/, '... whose value is in no log line');

$env = seal_one("replay-$token");
is($net->sql(1, "SELECT cardinality(ssn_store_sealed('$env'))", user => 'alice'), '1', 'a sealed envelope stores once');
($prc, $pout, $perr) = $net->psql(1, "SELECT ssn_store_sealed('$env')", user => 'alice');
like($perr, qr/28000: .*refused: replayed envelope/, 'the same envelope again is a replay (28000)');
ok($net->poll(1, q{SELECT count(*) > 0 FROM ssn.alarm WHERE source = 'owner' AND problem = 'replayed envelope'}, 't'),
	'... with an alarm');

$env = seal_one("mallory-$token");
my $ledger = $net->sql(1, q{SELECT count(*) FROM ssn.key_ledger WHERE peer = 'OWNER_A'});
($prc, $pout, $perr) = $net->psql(1, "SELECT ssn_store_sealed('$env')", user => 'mallory');
like($perr, qr/42501: .*refused: role not mapped to the data owner/, 'a role that does not act for the owner is refused (42501)');
ok($net->poll(1, q{SELECT count(*) > 0 FROM ssn.alarm WHERE source = 'owner' AND problem = 'role not mapped to the data owner'}, 't'),
	'... with an alarm');
is($net->sql(1, q{SELECT count(*) FROM ssn.key_ledger WHERE peer = 'OWNER_A'}), $ledger,
	'... before any key was asked for');
is($net->sql(1, "SELECT cardinality(ssn_store_sealed('$env'))", user => 'alice'), '1',
	'so the owner\'s own role can still store that envelope');
($prc, $pout, $perr) = $net->psql(1, "SELECT ssn_store_sealed('$env')", user => 'bob');
like($perr, qr/42501: .*refused: role not mapped to the data owner/, 'bob, who acts for another owner, is refused too');

($rc, $out, $err) = client('OWNER_A', "$via_proxy user=mallory", "x\n", 'store');
is($rc, 1, 'ssn-client as mallory with owner A\'s SAE fails');
like($err, qr/ERROR:  42501: role "mallory" does not act for data owner "OWNER_A"/, '... with 42501 before anything is sealed');
($rc, $out, $err) = client('OWNER_B', "$via_proxy user=alice", "x\n", 'store');
like($err, qr/42501/, 'alice with owner B\'s SAE fails too');
my $two = $net->sql(1, 'SELECT array_agg(h)::text FROM vault WHERE id < 3');
($prc, $pout, $perr) = $net->psql(1, qq{SELECT ssn_retrieve_sealed('$two', '\\x00112233445566778899aabbccddeeff')}, user => 'mallory');
like($perr, qr/42501: role "mallory" is not mapped to a data owner/, 'mallory cannot have values sealed for her');
($prc, $pout, $perr) = $net->psql(1, qq{SELECT ssn_retrieve_sealed('$two', '\\x00112233445566778899aabbccddeeff')}, user => 'bob');
like($perr, qr/42501: (?!permission denied for table)/, 'bob, an owner of his own, cannot have alice\'s values');
($prc, $pout, $perr) = $net->psql(1, q{SELECT ssn_retrieve_sealed(array_agg(h), '\x0011') FROM vault WHERE id < 3}, user => 'alice');
like($perr, qr/22023: request_id must be 16 bytes/, 'a request id of the wrong size is refused');
($prc, $pout, $perr) = $net->psql(1, q{SELECT ssn_store_sealed('\x5353')}, user => 'alice');
like($perr, qr/22P03: .*malformed envelope/, 'a malformed envelope is refused (22P03)');

# a value its type does not accept: named by position, never shown
($rc, $out, $err) = client('OWNER_A', "$via_proxy user=alice", "12\nnot-a-number-$token\n", 'store', '--type', 'int8');
like($err, qr/ERROR:  22P02: value 2 of the sealed envelope is not a valid int8/, 'a bad int8 is refused by position (22P02)');
unlike($err . slurp_file($net->node(1)->logfile, $log_start), qr/not-a-number-$token/, '... and its text is nowhere');

kill 'TERM', $proxy_pid;
waitpid $proxy_pid, 0;
done_testing();

# start_proxy(TARGET_PORT, FILE): a child that forwards 127.0.0.1:(its port) to the
# target and appends every byte, both ways, to FILE; (pid, port)
sub start_proxy
{
	my ($target, $file) = @_;
	my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
	  or die "proxy: $!";
	my $port = $listen->sockport;
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		open my $cap, '>>:raw', $file or die "$file: $!";
		my $sel = IO::Select->new($listen);
		my %other;
		while (1)
		{
			for my $s ($sel->can_read)
			{
				if ($s == $listen)
				{
					my $c = $listen->accept or next;
					my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target);
					if (!$u) { close $c; next; }
					$other{$c} = $u;
					$other{$u} = $c;
					$sel->add($c, $u);
					next;
				}
				# its other end closed earlier in this round
				my $o = $other{$s} or next;
				my $n = sysread($s, my $buf, 65536);
				if (!$n)
				{
					$sel->remove($s, $o);
					delete @other{ $s, $o };
					close $s;
					close $o;
					next;
				}
				syswrite $cap, $buf;
				for (my $off = 0; $off < $n;)
				{
					my $w = syswrite($o, $buf, $n - $off, $off);
					last unless defined $w;
					$off += $w;
				}
			}
		}
	}
	close $listen;
	return ($pid, $port);
}
