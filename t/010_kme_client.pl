# The KME client against kme-sim over real mutual TLS: status, enc/dec round trip,
# one-time delivery, authorisation, certificates, pool exhaustion and a misbehaving
# KME.  Three nodes: a (SAE_A), b (SAE_B), c (SAE_C).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use SsnKme;

my @faults = qw(bad_json short_key bad_base64 html_error drop slow);
my $pki = SsnKme::make_pki("$PostgreSQL::Test::Utils::tmp_check/pki",
	qw(SAE_A SAE_B SAE_C SAE_R SAE_E), map { "FLT_$_" } @faults);

my $conf = q{
[kme]
id = KME_T
port = 0
cert = pki/kme/kme.crt
key = pki/kme/kme.key
ca = pki/ca.crt
crl = pki/crl.pem
[defaults]
max_key_per_request = 16
max_key_size = 1024
[link SAE_A SAE_B]
target_kme_id = KME_PEER
[link SAE_A SAE_C]
[link SAE_R SAE_B]
[link SAE_A SAE_E]
rate = 128
max_key_count = 4
};
for my $f (@faults)
{
	$conf .= "\n[link SAE_A FLT_$f]\nfault = $f\nfault_endpoints = enc_keys\n";
	$conf .= "slow_ms = 30000\n" if $f eq 'slow';
}
my $port = SsnKme::start_sim($pki, $conf, 'kme');
my $url = "https://localhost:$port";
(my $other_conf = $conf) =~ s{pki/kme/kme\.}{pki/kme/kme-other.}g;
$other_conf =~ s/^crl = .*$//m;
my $port2 = SsnKme::start_sim($pki, $other_conf, 'kme-other');

my %node;
for my $n (qw(a b c))
{
	my $node = PostgreSQL::Test::Cluster->new($n);
	$node->init;
	$node->append_conf('postgresql.conf', SsnKme::sae_conf($pki, $url, 'SAE_' . uc $n));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION ssn');
	$node{$n} = $node;
}
my ($a, $b, $c) = @node{qw(a b c)};
$a->safe_psql('postgres', q{
	SELECT ssn.add_shareholder('b', 'SAE_B'), ssn.add_shareholder('c', 'SAE_C'),
		   ssn.add_shareholder('e', 'SAE_E')});
$a->safe_psql('postgres', "SELECT ssn.add_shareholder('$_', 'FLT_$_')") for @faults;
$b->safe_psql('postgres', q{SELECT ssn.add_shareholder('a', 'SAE_A'), ssn.add_shareholder('r', 'SAE_R')});
$c->safe_psql('postgres', q{SELECT ssn.add_shareholder('a', 'SAE_A')});

# ---- status
is($a->safe_psql('postgres', q{
	SELECT concat_ws(',', shareholder, sae_id, reachable, source_kme_id, target_kme_id,
		master_sae_id, slave_sae_id, key_size, stored_key_count, max_key_count,
		max_key_per_request, max_key_size, min_key_size, max_sae_id_count)
	FROM ssn.kme_status('b')}),
	'b,SAE_B,t,KME_T,KME_PEER,SAE_A,SAE_B,256,1000,1000,16,1024,64,0',
	'status: every ETSI field, over mutual TLS');
is($a->safe_psql('postgres', q{
	SELECT string_agg(shareholder || '=' || reachable, ' ' ORDER BY shareholder)
	FROM ssn.kme_links WHERE shareholder IN ('b', 'c', 'e')}),
	'b=true c=true e=true', 'kme_links: one row per shareholder');

# ---- enc/dec round trip: 40 keys of 512 bits, split by max_key_per_request = 16
my $enc = $a->safe_psql('postgres', q{
	SELECT string_agg(key_id || ' ' || size_bits || ' ' || encode(fingerprint, 'hex'), E'\n' ORDER BY key_id)
	FROM ssn.kme_enc_keys('b', 40, 512)});
my @ids = map { (split / /)[0] } split /\n/, $enc;
is(scalar @ids, 40, 'enc_keys: 40 keys over three requests');
my %seen;
is(scalar(grep { !$seen{$_}++ } @ids), 40, 'enc_keys: 40 distinct key IDs');
my $idarr = "ARRAY['" . join("','", @ids) . "']";
my $dec = $b->safe_psql('postgres', qq{
	SELECT string_agg(key_id || ' ' || size_bits || ' ' || encode(fingerprint, 'hex'), E'\n' ORDER BY key_id)
	FROM ssn.kme_dec_keys('a', $idarr, 512)});
is($dec, $enc, 'dec_keys: the same 40 keys (fingerprints) at the other end');
is($a->safe_psql('postgres', q{SELECT count(*) || ' ' || string_agg(DISTINCT state || '/' || direction, ',') FROM ssn.key_ledger}),
	'40 used/send', 'sender ledger: 40 keys used');
is($b->safe_psql('postgres', q{SELECT count(*) || ' ' || string_agg(DISTINCT state || '/' || direction, ',') FROM ssn.key_ledger}),
	'40 used/receive', 'receiver ledger: 40 keys used');

# dec_keys keeps the order asked for, and the default size is the link's key_size
my $two = $a->safe_psql('postgres', q{SELECT string_agg(key_id || ' ' || encode(fingerprint, 'hex'), ',' ORDER BY key_id) FROM ssn.kme_enc_keys('b', 2)});
my @two = map { [ split / / ] } split /,/, $two;
is($b->safe_psql('postgres', qq{
	SELECT string_agg(key_id || ' ' || encode(fingerprint, 'hex'), ',')
	FROM ssn.kme_dec_keys('a', ARRAY['$two[1][0]', '$two[0][0]'])}),
	"$two[1][0] $two[1][1],$two[0][0] $two[0][1]", 'dec_keys: answer in the order of the IDs asked for');

# ---- a key is delivered once
my ($out, $err) = SsnKme::sql($b, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY['$ids[0]'], 512)");
like($err, qr/23505: key ID "\Q$ids[0]\E" from SAE "SAE_A" is already in the key ledger.*HINT:  The sender must resend under fresh keys/s,
	'second dec_keys of an ID: refused locally by the ledger');
$b->safe_psql('postgres', 'CREATE DATABASE other');
$b->safe_psql('other', q{CREATE EXTENSION ssn; SELECT ssn.add_shareholder('a', 'SAE_A')});
($out, $err) = SsnKme::sql($b, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY['$ids[1]'], 512)", 'other');
like($err, qr/22023: KME "\Q$url\E" rejected the dec_keys request of SAE "SAE_B" for SAE "SAE_A": one or more keys specified are not found on KME.*resend under fresh keys/s,
	'second dec_keys of an ID (without the ledger): the KME refuses, clearly');

# ---- a third SAE cannot fetch another pair's key
my $k = $a->safe_psql('postgres', q{SELECT key_id || ' ' || encode(fingerprint, 'hex') FROM ssn.kme_enc_keys('b', 1)});
my ($kid, $kfp) = split / /, $k;
($out, $err) = SsnKme::sql($c, "SELECT * FROM ssn.kme_dec_keys('a', ARRAY['$kid'], 256)");
like($err, qr/28000: KME "\Q$url\E" refused the dec_keys request of SAE "SAE_C" for SAE "SAE_A".*HTTP 401/s,
	'third SAE: 401, as an authorisation error naming KME and SAEs');
is($b->safe_psql('postgres', "SELECT encode(fingerprint, 'hex') FROM ssn.kme_dec_keys('a', ARRAY['$kid'])"),
	$kfp, '...and the right slave still gets the key');

# ---- certificates
my $foreign = "$pki-foreign/sae/SAE_A";
($out, $err) = SsnKme::sql($a, qq{SET ssn.sae_cert = '$foreign.crt'; SET ssn.sae_key = '$foreign.key';
	SELECT * FROM ssn.kme_enc_keys('b', 1)});
like($err, qr/08006: could not complete the status request of SAE "SAE_A" for SAE "SAE_B" to KME "\Q$url\E".*HINT:  Check ssn.sae_cert/s,
	'client certificate from another CA: refused (connection failure)');
is($a->safe_psql('postgres', qq{SET ssn.sae_cert = '$foreign.crt'; SET ssn.sae_key = '$foreign.key';
	SELECT reachable FROM ssn.kme_status('b')}), 'f', '...and kme_status says unreachable');

my $as_r = qq{SET ssn.sae_id = 'SAE_R'; SET ssn.sae_cert = '$pki/sae/SAE_R.crt'; SET ssn.sae_key = '$pki/sae/SAE_R.key';};
$b->safe_psql('postgres', q{SELECT ssn.add_shareholder('b', 'SAE_B')});
is($b->safe_psql('postgres', "$as_r SELECT reachable FROM ssn.kme_status('b')"), 't',
	'SAE_R works before revocation');
{
	my ($o, $e);
	IPC::Run::run([ SsnKme::tool('ssn-pki'), 'revoke', $pki, 'SAE_R' ], '>', \$o, '2>', \$e)
	  or die "revoke: $e";
}
($out, $err) = SsnKme::sql($b, "$as_r SELECT * FROM ssn.kme_enc_keys('b', 1)");
like($err, qr/08006: could not complete the status request of SAE "SAE_R"/, 'revoked client certificate refused');

($out, $err) = SsnKme::sql($a, "SET ssn.kme_url = 'https://127.0.0.1:$port2'; SELECT * FROM ssn.kme_enc_keys('b', 1)");
like($err, qr/08006: could not complete.*KME "https:\/\/127.0.0.1:$port2".*DETAIL:  .*(certificate|host name|subject name)/s,
	'KME certificate for another host name refused');
($out, $err) = SsnKme::sql($a, "SET ssn.kme_url = 'https://127.0.0.1:$port'; SELECT count(*) FROM ssn.kme_enc_keys('b', 1)");
is($out, '1', '...while the real KME certificate names 127.0.0.1 and works');

# ---- pool exhaustion: 4 keys, refilled at 128 bit/s (a 256-bit key every 2 s, 8 s
# from empty: the second request, a new psql a moment later, comes well before that
# even on a loaded machine)
is($a->safe_psql('postgres', q{SELECT count(*) FROM ssn.kme_enc_keys('e', 4)}), '4', 'exhaustion: the whole pool');
($out, $err) = SsnKme::sql($a, q{SELECT count(*) FROM ssn.kme_enc_keys('e', 4)});
like($err, qr/53000: KME "\Q$url\E" cannot serve the enc_keys request of SAE "SAE_A" for SAE "SAE_E": not enough key material.*HINT:  The link's key pool is exhausted/s,
	'exhaustion: a clear insufficient-resources error with the KME\'s message');
my $ok = 0;
my $deadline = time + 120;
while (time < $deadline)
{
	usleep(200_000);
	($out, $err) = SsnKme::sql($a, q{SELECT count(*) FROM ssn.kme_enc_keys('e', 4)});
	if ($out eq '4') { $ok = 1; last; }
}
ok($ok, 'exhaustion: recovers once the pool has refilled');

# ---- a misbehaving KME (faults on enc_keys only; status is fine).  kme_timeout 10 s:
# ample for an answer on a loaded machine, well short of the slow link's 30 s
my %want = (
	bad_json => qr/08P01: KME .* sent an invalid answer to the enc_keys request of SAE "SAE_A" for SAE "FLT_bad_json".*DETAIL:  The answer is not valid JSON/s,
	short_key => qr/08P01: .*DETAIL:  Key 1 has 248 bits, but 256 were asked for/s,
	bad_base64 => qr/08P01: .*DETAIL:  "key" of key 1 is not valid base64/s,
	html_error => qr/08006: KME .* answered the enc_keys request .* with HTTP 500.*text\/html/s,
	drop => qr/08006: could not complete the enc_keys request of SAE "SAE_A" for SAE "FLT_drop"/s,
	slow => qr/08006: could not complete the enc_keys request.*timed out/s);
for my $f (@faults)
{
	($out, $err) = SsnKme::sql($a, "SET ssn.kme_timeout = 10000; SELECT * FROM ssn.kme_enc_keys('$f', 1)");
	like($err, $want{$f}, "fault $f: rejected cleanly");
}
is($a->safe_psql('postgres', q{SELECT count(*) FROM ssn.key_ledger WHERE peer_sae_id LIKE 'FLT%'}), '0',
	'no key of a rejected answer is in the ledger (none was used)');

# a long wait is interruptible: canceled long before the KME answers (after 30 s; the
# bound leaves room for starting psql on a loaded machine)
my $t0 = time;
($out, $err) = SsnKme::sql($a, "SET statement_timeout = 300; SELECT * FROM ssn.kme_enc_keys('slow', 1)");
my $dt = time - $t0;
like($err, qr/57014: canceling statement due to statement timeout/, 'a KME request is canceled by statement_timeout');
cmp_ok($dt, '<', 15, "...promptly (${\ sprintf '%.2f', $dt} s, KME answers after 30 s)");

# errors never carry key material: no key fingerprint or base64 blob in the logs
my $log = slurp_file($a->logfile) . slurp_file($b->logfile);
unlike($log, qr/[A-Za-z0-9+\/]{43}=/, 'server logs contain no base64 key');

done_testing();
