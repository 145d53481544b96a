# Verifiable shares on five nodes (k = 3, n = 5), ssn 1.3: Pedersen commitments
# signed (Ed25519) and timestamped by the SSA.  Numbers are stored verifiable by
# default (not with verify => false or ssn.verify_shares = off; text never);
# ssn_verify shows the commitments and every share; a share corrupted on a
# shareholder (its value y, its blinding t; the CRC recomputed so that it is well
# formed) is found and left out of retrieval with a WARNING and an alarm, and
# three of them make retrieval fail naming them, never give a wrong value; shares
# of another secret or an older epoch are refused; forged commitments on the SSA
# (an altered point, a foreign signing key, another secret's record, a changed
# timestamp) are found; key rotation and renewal of the signatures; a shareholder
# refuses a tampered share on receipt; 1000 verifiable stores are delivered.
# Retrieval is made to ask node3 by putting node4 and node5 in standby (they rank
# last).  Computed results (ssn_sum) come from one shareholder more than needed
# and must agree: a corrupt share gives a right sum (its holder left out) or an error.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use MIME::Base64 qw(encode_base64 decode_base64);
use Math::BigInt;
use IPC::Run;
use SsnNet;

my $N = 5;
my $MANY = $ENV{SSN_TEST_VERIFY_MANY} // 1000;
my $net = SsnNet->new(n => $N);
my $t0 = time;
my $step_t = time;
sub step { diag sprintf('%s (%.1f s)', $_[0], time - $step_t); $step_t = time; }

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

# qn(I, SQL): node I's answer, 'ERROR' on failure (with a diag)
sub qn { my ($i, $sql, %o) = @_; return $net->query($i, $sql, timeout => 180, %o) // 'ERROR'; }
sub q1 { return qn(1, @_); }

# run(I, SQL): (rc, stderr, stdout), for errors and warnings expected
sub run
{
	my ($i, $sql, %o) = @_;
	my ($rc, $out, $err) = $net->psql($i, $sql, timeout => 180, %o);
	return ($rc, $err, $out);
}

# ---- byte helpers: CRC-32C (Castagnoli, reflected), the field F_l, Ed25519 (openssl)
my @crc_table = map {
	my $c = $_;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$c
} 0 .. 255;

sub crc32c
{
	my $c = 0xFFFFFFFF;
	$c = $crc_table[ ($c ^ $_) & 0xFF ] ^ ($c >> 8) for unpack('C*', $_[0]);
	return $c ^ 0xFFFFFFFF;
}

# l, the order of ristretto255: shares and blindings are canonical elements below it
my $L = Math::BigInt->new(2)->bpow(252)->badd(Math::BigInt->new('27742317777372353535851937790883648493'));
sub le_to_int { return Math::BigInt->from_hex(unpack('H*', scalar reverse $_[0])); }

sub int_to_le
{
	my $h = substr($_[0]->as_hex, 2);
	return scalar reverse pack('H*', ('0' x (64 - length $h)) . $h);
}

my $tmp = "$PostgreSQL::Test::Utils::tmp_check/024_ed25519";
mkdir $tmp;
my $ntmp = 0;
sub spew { my ($f, $d) = @_; open my $fh, '>:raw', $f or die "$f: $!"; print $fh $d; close $fh; }
sub slurp_raw { my ($f) = @_; open my $fh, '<:raw', $f or die "$f: $!"; local $/; my $d = <$fh>; close $fh; return $d; }

# an Ed25519 key from its 32-byte seed, as PKCS#8 DER for openssl
sub ed_key_file
{
	my ($seed) = @_;
	my $f = "$tmp/key" . $ntmp++ . '.der';
	spew($f, pack('H*', '302e020100300506032b657004220420') . $seed);
	return $f;
}

sub ed_public
{
	my ($seed) = @_;
	my $der = '';
	IPC::Run::run([ 'openssl', 'pkey', '-inform', 'DER', '-in', ed_key_file($seed), '-pubout', '-outform', 'DER' ], '>', \$der)
	  or die 'openssl pkey failed';
	return substr($der, -32);
}

sub ed_sign
{
	my ($seed, $msg) = @_;
	my $m = "$tmp/msg" . $ntmp++;
	spew($m, $msg);
	IPC::Run::run([ 'openssl', 'pkeyutl', '-sign', '-inkey', ed_key_file($seed), '-keyform', 'DER', '-rawin',
		'-in', $m, '-out', "$m.sig" ]) or die 'openssl pkeyutl -sign failed';
	return slurp_raw("$m.sig");
}

# a commitment record (commitment.h) re-signed with the key of SEED: signer and signature replaced
my $TAG = "ssn-commitment-v1\0";
sub resign
{
	my ($rec, $seed) = @_;
	my $k = ord(substr($rec, 1, 1));
	my $body = substr($rec, 0, 64 + 32 * $k);
	substr($body, 32, 32) = ed_public($seed);
	return $body . ed_sign($seed, $TAG . $body);
}

# ---- shares on a shareholder: read, forge (CRC recomputed), write back
my $uuid_re = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

# (binary share, text form) of node I's share of secret SID
sub share_of
{
	my ($i, $sid) = @_;
	my ($hex, $text) = split /\|/, qn($i, qq{SELECT encode(ssn_share_send(share), 'hex') || '|' || share::text
		FROM ssn.held_share WHERE secret_id = '$sid' AND origin = 'node1' ORDER BY epoch DESC LIMIT 1}), 2;
	return (pack('H*', $hex // ''), $text // '');
}

# the text form of binary share B (its CRC recomputed over header bytes 0..35 and the
# payload, unless KEEP_CRC); the header fields are taken over from TEXT
sub share_text
{
	my ($b, $text, $keep_crc) = @_;
	my $payload = substr($b, 40);
	my $crc = $keep_crc ? unpack('V', substr($b, 36, 4)) : crc32c(substr($b, 0, 36) . $payload);
	return $text =~ s/ p=\S+ c=[0-9a-f]{8}$/' p=' . encode_base64($payload, '') . sprintf(' c=%08x', $crc)/er;
}

# the share with its value y (WHAT = 'y', offset 0) or blinding t ('t', offset 32)
# changed: +1 mod l, or ('yflip') bit 5 of y flipped, always canonical; or ('point')
# a bit of the first commitment point in the record it carries flipped
sub forge
{
	my ($b, $what) = @_;
	if ($what eq 'point')
	{
		my $c = $b;
		substr($c, 40 + 64 + 64 + 9, 1) ^= "\x04";
		return $c;
	}
	if ($what eq 'dusk' || $what eq 'flip' || $what eq 'flip2')
	{
		# a byte string's share: for shares 1, 2, 3 node3's Lagrange coefficient is 1, so
		# XOR-ing its bytes 10..13 turns "attack at dawn" into "attack at dusk"
		my $c = $b;
		if ($what eq 'dusk') { substr($c, 40 + 10, 4) ^= ('dawn' ^ 'dusk'); }
		else { substr($c, 40 + ($what eq 'flip2' ? 1 : 0), 1) ^= "\x01"; }
		return $c;
	}
	my $off = 40 + ($what eq 't' ? 32 : 0);
	my $v = le_to_int(substr($b, $off, 32));
	my $nv;
	if ($what eq 'yflip')
	{
		$nv = le_to_int(substr($b, $off, 32) ^ ("\x20" . ("\0" x 31)));
		$nv = $v->copy->bsub(32) if $nv >= $L;    # (y in [l-32, l): never seen)
	}
	else
	{
		$nv = $v->copy->binc->bmod($L);
	}
	my $c = $b;
	substr($c, $off, 32) = int_to_le($nv);
	return $c;
}

# put share TEXT in place of node I's share of secret SID (the epoch column too, if given)
sub put_share
{
	my ($i, $sid, $text, $epoch) = @_;
	my $e = defined $epoch ? ", epoch = $epoch" : '';
	return qn($i, qq{UPDATE ssn.held_share SET share = '$text'$e WHERE secret_id = '$sid' AND origin = 'node1' RETURNING 1});
}

# corrupt node I's share of SID (WHAT as in forge); returns the original text
sub corrupt
{
	my ($i, $sid, $what) = @_;
	my ($b, $text) = share_of($i, $sid);
	my $new = share_text(forge($b, $what), $text);
	my $r = put_share($i, $sid, $new);
	diag "node$i: could not write the forged share of $sid: $r" unless $r eq '1';
	return $text;
}

# ---- the secrets and what ssn_verify says
my %sid;    # t.id => secret id

sub load_ids
{
	%sid = map { split /\|/ } split /\n/, q1(q{SELECT id || '|' || ssn_secret_id(h) FROM t WHERE h IS NOT NULL});
}

# ssn_verify of t.id ID: "shareholder=index=status word" joined by ","; the status word
# is the status up to its first colon; epochs must be EPOCH (default 0)
sub vsum
{
	my ($id, $epoch) = @_;
	$epoch //= 0;
	return q1(qq{SELECT string_agg(v.shareholder || '=' || coalesce(v.share_index::text, '-') || '='
		|| split_part(v.status, ':', 1) || CASE WHEN v.epoch <> $epoch THEN ' (epoch ' || v.epoch || ')' ELSE '' END, ',' ORDER BY v.o)
		FROM t, ssn_verify(t.h) WITH ORDINALITY AS v(shareholder, share_index, epoch, status, o) WHERE t.id = $id});
}

# the full status of one row of ssn_verify (shareholder name or '(commitments)')
sub vstatus
{
	my ($id, $who) = @_;
	return q1(qq{SELECT v.status FROM t, ssn_verify(t.h) AS v WHERE t.id = $id AND v.shareholder = '$who'});
}

sub vexpect
{
	my (%st) = @_;    # node => word; default valid
	return join(',', '(commitments)=-=' . ($st{c} // 'valid'), map { "node$_=$_=" . ($st{$_} // 'valid') } 1 .. 5);
}
my $ALL_VALID = vexpect();

# node4 and node5 in standby: retrieval asks node2 and node3 first (node4, node5 only
# if more are needed), so that node3's share is always among those gathered
sub standby
{
	my ($on) = @_;
	q1(q{UPDATE ssn.shareholder SET state = '} . ($on ? 'standby' : 'in service') . q{' WHERE name IN ('node4', 'node5')});
}

# the WARNING of a retrieval that left shares out: the shareholders and secrets it names
sub warned
{
	my ($err) = @_;
	return join('; ', $err =~ /WARNING:\s+(?:[0-9A-Z]{5}:\s+)?shares that fail verification were left out: ([^\n]*)/g);
}

# ---- 1. what is verifiable, what is not; values retrieve either way
q1(q{CREATE FUNCTION le_u64(b bytea, off int) RETURNS numeric LANGUAGE sql IMMUTABLE
	AS $$ SELECT sum(get_byte(b, off + i)::numeric * 256::numeric ^ i) FROM generate_series(0, 7) i $$;
CREATE TABLE t (id int PRIMARY KEY, kind text NOT NULL, verifiable boolean NOT NULL, val text NOT NULL, h ssn_secret)});
my ($rc, $err, $out) = run(1, q{
INSERT INTO t VALUES
	(1, 'int8', true, '123456789012', ssn_store(123456789012::int8, 3, 5)),
	(2, 'int8', true, '-42', ssn_store(-42::int8, 3, 5)),
	(3, 'int8', true, '9223372036854775807', ssn_store(9223372036854775807::int8, 3, 5)),
	(4, 'numeric', true, '12345.678', ssn_store(12345.678::numeric, 3, 5)),
	(5, 'numeric', true, '-0.5', ssn_store(-0.5::numeric, 3, 5)),
	(6, 'bool', true, 'true', ssn_store(true, 3, 5)),
	(7, 'bool', true, 'false', ssn_store(false, 3, 5)),
	(8, 'int4', true, '-2147483648', ssn_store('-2147483648'::int4, 3, 5)),
	(10, 'int8', false, '77', ssn_store(77::int8, 3, 5, false)),
	(11, 'numeric', false, '3.25', ssn_store(3.25::numeric, 3, 5, verify => false)),
	(14, 'text', false, 'hello, verifiable world', ssn_store('hello, verifiable world'::text, 3, 5)),
	(15, 'text', false, 'text with verify => true', ssn_store('text with verify => true'::text, 3, 5, verify => true));
SET ssn.verify_shares = off;
INSERT INTO t VALUES (12, 'int8', false, '88', ssn_store(88::int8, 3, 5)),
	(13, 'int8', true, '99', ssn_store(99::int8, 3, 5, verify => true));
RESET ssn.verify_shares;
INSERT INTO t SELECT i, 'int8', true, (i * 1000003)::text, ssn_store(i * 1000003::int8, 3, 5) FROM generate_series(20, 29) i;
SELECT current_setting('ssn.verify_shares'), count(*) FROM t});
is("$rc $out", '0 on|24', 'stored int8, numeric, bool, int4, text values, some with verify => false or ssn.verify_shares = off (default on)')
  or diag $err;
like($err, qr/^\s*$/, '...without a warning or notice') or diag $err;
load_ids();
ok($net->wait_delivered(1, 180), 'delivered');

my %ver = map { split /\|/ } split /\n/, q1(q{SELECT id || '|' || verifiable FROM t});
my @vids = sort { $a <=> $b } grep { $ver{$_} eq 'true' } keys %ver;
my @nids = sort { $a <=> $b } grep { $ver{$_} eq 'false' } keys %ver;
is(scalar(@vids) . ' verifiable, ' . scalar(@nids) . ' not, ' . scalar(keys %sid) . ' ids', '19 verifiable, 5 not, 24 ids', 'the secrets of t');
is(q1(q{SELECT coalesce(string_agg(t.id || ': ' || (s.commitment IS NOT NULL), ', ' ORDER BY t.id)
		FILTER (WHERE (s.commitment IS NOT NULL) <> t.verifiable), 'none') || ' of ' || count(*)
	FROM t JOIN ssn.secret s ON s.id = ssn_secret_id(t.h)}), 'none of 24',
	'ssn.secret.commitment: set for the numbers stored by default (and verify => true), NULL for verify => false, ssn.verify_shares = off and text');
is(q1(q{SELECT count(*) FROM t JOIN ssn.secret s ON s.id = ssn_secret_id(t.h), ssn.signing_key k
	WHERE t.verifiable AND k.retired_at IS NULL AND length(s.commitment) = 64 + 3 * 32 + 64
	AND get_byte(s.commitment, 0) = 1 AND get_byte(s.commitment, 1) = 3 AND substr(s.commitment, 3, 6) = '\x000000000000'::bytea
	AND substr(s.commitment, 9, 16) = decode(replace(s.id::text, '-', ''), 'hex') AND substr(s.commitment, 33, 32) = k.public_key
	AND to_timestamp(le_u64(s.commitment, 24) / 1e6) BETWEEN now() - interval '10 min' AND now()}),
	scalar(@vids), 'each record: version 1, k = 3, epoch 0, the secret id, signed just now by the current key, 3 points and a signature (224 bytes)');
is(q1(q{SELECT count(*) FROM ssn.signing_keys}), '1', 'one signing key, made on first use');

my $bad = '';
for my $id (@vids)
{
	my $s = vsum($id);
	$bad .= "\n  $id: $s" if $s ne $ALL_VALID;
}
is($bad, '', 'ssn_verify of each verifiable secret: commitments valid, 5 shares valid (node1..node5, indexes 1..5, epoch 0)');
like(vstatus(1, '(commitments)'), qr/^valid: signed by key [0-9a-f]{16} at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/,
	"...the commitments row says 'valid: signed by key <hex> at <time>'");
my $key_old = q1(q{SELECT public_key FROM ssn.signing_keys WHERE retired_at IS NULL});
is(vstatus(1, '(commitments)') =~ s/^valid: signed by key ([0-9a-f]+) .*/$1/r, substr($key_old, 0, 16),
	'...naming the current signing key');
$bad = '';
for my $id (@nids)
{
	my $s = vsum($id);
	$bad .= "\n  $id: $s" if $s ne $ALL_VALID;
}
is($bad, '', 'ssn_verify of verify => false and ssn.verify_shares = off numbers and of text: the check value valid, 5 shares valid');
like(vstatus(10, '(commitments)'), qr/^valid: check value signed by key [0-9a-f]{16} at /, "int8 with verify => false: '" . vstatus(10, '(commitments)') . "'");
like(vstatus(14, '(commitments)'), qr/^valid: check value signed by key [0-9a-f]{16} at /, "text: '" . vstatus(14, '(commitments)') . "'");
like(vstatus(15, '(commitments)'), qr/^valid: check value signed by key /, 'text stored with verify => true: the same check value');
my $vlist = join(',', map { "'$sid{$_}'" } @vids);
my $nlist = join(',', map { "'$sid{$_}'" } @nids);
for my $i (2, 4)
{
	is(qn($i, qq{SELECT count(*) FILTER (WHERE length(ssn_share_payload(share)) = 64 + 224 AND secret_id IN ($vlist))
		|| '|' || count(*) FILTER (WHERE length(ssn_share_payload(share)) <= 64 AND secret_id IN ($nlist)) FROM ssn.held_share}),
		scalar(@vids) . '|' . scalar(@nids), "node$i: verifiable shares carry y, t and the record (288 bytes); the others their value and salt");
}
my $rec1 = q1(qq{SELECT encode(commitment, 'hex') FROM ssn.secret WHERE id = '$sid{1}'});
is(qn(3, qq{SELECT encode(substr(ssn_share_payload(share), 65), 'hex') FROM ssn.held_share WHERE secret_id = '$sid{1}'}), $rec1,
	"node3's share carries the SSA's signed record");

is(q1(q{SELECT coalesce(string_agg(id || ': ' || coalesce(ssn_retrieve(h), 'NULL'), ', ') FILTER (WHERE ssn_retrieve(h) IS DISTINCT FROM val), 'all')
	|| ' of ' || count(*) FROM t}), 'all of 24', 'every value retrieves right, one at a time');
is(q1(q{SELECT ssn_retrieve(array_agg(h ORDER BY id)) = array_agg(val ORDER BY id) FROM t}), 't', '...and as one array');
is(q1(q{SELECT ssn_retrieve(h, NULL::int8) || ' ' || ssn_retrieve((SELECT h FROM t WHERE id = 4), NULL::numeric) || ' '
	|| ssn_retrieve((SELECT h FROM t WHERE id = 6), NULL::bool) FROM t WHERE id = 3}), '9223372036854775807 12345.678 true', 'typed retrieval');
is(q1(q{SELECT (SELECT ssn_sum(h) = sum(val::numeric) FROM t WHERE kind = 'int8' AND verifiable)
	|| ' ' || (SELECT ssn_sum(h) = sum(val::numeric) FROM t WHERE kind = 'numeric' AND verifiable)
	|| ' ' || (SELECT ssn_sum(h) || '=' || sum(val::numeric) FROM t WHERE kind = 'int8')
	|| ' ' || (SELECT ssn_avg(h) = avg(val::numeric) FROM t WHERE kind = 'int8' AND id >= 20)}),
	'true true ' . join('=', (q1(q{SELECT sum(val::numeric) FROM t WHERE kind = 'int8'})) x 2) . ' true',
	'ssn_sum, ssn_avg over verifiable secrets (and mixed with non-verifiable ones) equal sum, avg');
is(q1(q{SELECT ssn_retrieve(a.h * b.h, NULL::numeric) = -42 * 12345.678 AND ssn_retrieve(a.h + b.h - 1, NULL::numeric) = -42 + 12345.678 - 1
	FROM t a, t b WHERE a.id = 2 AND b.id = 4}), 't', 'a product and a sum of verifiable secrets retrieve right');
step('1. verifiable or not');

# ---- 2. corrupted shares on shareholders
my ($b20, $t20) = share_of(3, $sid{20});
is(sprintf('%08x', crc32c(substr($b20, 0, 36) . substr($b20, 40))), ($t20 =~ /c=([0-9a-f]{8})$/)[0],
	"CRC-32C computed here reproduces the checksum of node3's share");
is(share_text($b20, $t20), $t20, '...and its text form');
{
	my ($rc2, $err2) = run(3, "SELECT '" . share_text(forge($b20, 'y'), $t20, 1) . "'::ssn_share");
	ok($rc2 != 0 && $err2 =~ /checksum mismatch/, 'a share with y changed but the old CRC: refused by ssn_share_in') or diag $err2;
}
my %orig;    # "node|t.id" => original text
$orig{"3|20"} = corrupt(3, $sid{20}, 'y');
isnt((share_of(3, $sid{20}))[1], $orig{"3|20"}, "node3's share of secret 20: value y + 1, CRC recomputed (accepted as a well-formed share)");
is(vsum(20), vexpect(3 => 'invalid'), 'ssn_verify: node3 invalid, the commitments and the other 4 shares valid');
like(vstatus(20, 'node3'), qr/^invalid: the share does not match the signed commitments/, '...' . vstatus(20, 'node3'));

standby(1);
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 20});
is("$rc $out", '0 20000060', 'node4, node5 in standby (node1, node2, node3 asked first): secret 20 retrieves right');
is(warned($err), "node3 (share index 3) for secret $sid{20}", '...with a WARNING naming node3 and the secret') or diag $err;
is(q1(q{SELECT count(*) || '|' || max(severity) || '|' || max(detail) FROM ssn.active_alarms
	WHERE source = 'peer' AND object = 'shares' AND problem = 'share fails verification'}),
	"1|major|node3 (share index 3) for secret $sid{20}", "...and an alarm in ssn.alarm (peer, shares, 'share fails verification')");

$orig{"3|21"} = corrupt(3, $sid{21}, 't');
$orig{"3|22"} = corrupt(3, $sid{22}, 'yflip');
$orig{"3|28"} = corrupt(3, $sid{28}, 'point');
$orig{"1|29"} = corrupt(1, $sid{29}, 'y');
is(join(' ', map { vsum($_) } 21, 22, 28), join(' ', (vexpect(3 => 'invalid')) x 3),
	'on node3 the blinding t + 1 (secret 21), a bit of y flipped (22), a point of the record it carries altered (28): ssn_verify names node3 invalid');
is(vsum(29), vexpect(1 => 'invalid'), "node1's own share of secret 29 (y + 1): ssn_verify names node1 invalid");
($rc, $err, $out) = run(1, q{SELECT array_to_string(ssn_retrieve(array_agg(h ORDER BY id)), ',') FROM t WHERE id IN (1, 20, 21, 22, 23, 28, 29)});
is("$rc $out", '0 123456789012,20000060,21000063,22000066,23000069,28000084,29000087', 'an array with these five and two sound secrets: every value right');
is(join("\n", sort split /; /, warned($err)), join("\n", sort((map { "node3 (share index 3) for secret $sid{$_}" } 20, 21, 22, 28),
	"node1 (share index 1) for secret $sid{29}")), '...the WARNING names node3 for each of the four secrets, node1 for secret 29') or diag $err;
($rc, $err, $out) = run(1, q{SELECT ssn_sum(h) FROM t WHERE id IN (1, 20)});
ok($rc != 0 || $out eq '123476789072', "ssn_sum over secrets 1 and 20 (node3's share corrupt): right or refused, not wrong ($out)")
  or diag $err;
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h * 2 + 1, 0::int8) FROM t WHERE id = 20});
ok($rc != 0 || $out eq '40000121', "a computed secret over secret 20 (node3's share corrupt): right or refused, not wrong ($out)")
  or diag $err;
standby(0);
is(q1(q{SELECT string_agg(ssn_retrieve(h), ',' ORDER BY id) FROM t WHERE id BETWEEN 20 AND 22}), '20000060,21000063,22000066',
	'all shareholders in service: the three retrieve right (whichever are asked)');

# three of five corrupted: only two valid shares remain for k = 3
$orig{"4|20"} = corrupt(4, $sid{20}, 'y');
$orig{"5|20"} = corrupt(5, $sid{20}, 't');
is(vsum(20), vexpect(3 => 'invalid', 4 => 'invalid', 5 => 'invalid'), 'node4 (y), node5 (t) corrupted too: ssn_verify names node3, node4, node5 invalid');
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 20});
ok($rc != 0 && $out eq '', 'secret 20 with 3 of 5 shares corrupt: retrieval fails, no value') or diag "out: $out";
like($err, qr/ERROR:\s+08006: cannot retrieve secret @{[ quotemeta $sid{20} ]}: 2 of the 3 shares needed could be collected/, '...08006, 2 of the 3 shares needed');
is(join(',', map { $err =~ /\Q$_ (share index\E/ ? $_ : () } map { "node$_" } 1 .. 5), 'node3,node4,node5',
	'...naming node3, node4, node5 (and not node1, node2) as failing verification') or diag $err;
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(array_agg(h ORDER BY id)) FROM t WHERE id IN (1, 20, 21)});
ok($rc != 0 && $out eq '' && $err =~ /cannot retrieve secret @{[ quotemeta $sid{20} ]}/, 'an array with secret 20: fails as a whole, no values') or diag $err;
for my $k (sort keys %orig)
{
	my ($i, $id) = split /\|/, $k;
	put_share($i, $sid{$id}, $orig{$k});
}
is(join(' ', map { vsum($_) } 20, 21, 22, 28, 29), join(' ', ($ALL_VALID) x 5), 'the original shares put back: all valid again');
is(q1(q{SELECT string_agg(ssn_retrieve(h), ',' ORDER BY id) FROM t WHERE id IN (20, 21, 22, 28, 29)}),
	'20000060,21000063,22000066,28000084,29000087', '...and retrieve');
($rc, $err) = run(1, q{SELECT * FROM t, ssn_verify(h + h) WHERE id = 1});
ok($rc != 0 && $err =~ /0A000: ssn_verify\(\) checks stored secrets, not computed ones/, 'ssn_verify of a computed secret: refused (0A000)') or diag $err;
step('2. corrupted shares');

# ---- 2b. byte strings: a share that does not fit the signed check value
q1(q{CREATE TABLE tb (id int PRIMARY KEY, val text NOT NULL, h ssn_secret);
INSERT INTO tb VALUES (1, 'attack at dawn', ssn_store('attack at dawn'::text, 3, 5)),
	(2, '\xdeadbeef00', ssn_store('\xdeadbeef00'::bytea, 3, 5)),
	(3, '77', ssn_store(77::int8, 3, 5, verify => false))});
ok($net->wait_delivered(1, 180), 'a text, a bytea and an int8 with verify => false stored and delivered');
my %bid = map { split /\|/ } split /\n/, q1(q{SELECT id || '|' || ssn_secret_id(h) FROM tb});
sub bsum { my ($id) = @_; return q1(qq{SELECT string_agg(v.shareholder || '=' || coalesce(v.share_index::text, '-') || '='
	|| split_part(v.status, ':', 1), ',' ORDER BY v.o) FROM tb, ssn_verify(tb.h) WITH ORDINALITY AS v(shareholder, share_index, epoch, status, o)
	WHERE tb.id = $id}); }
is(bsum(1) . ' ' . bsum(2), vexpect() . ' ' . vexpect(), 'ssn_verify of the text and the bytea: check values valid, 5 shares valid');
my $t30 = corrupt(3, $bid{1}, 'dusk');
isnt((share_of(3, $bid{1}))[1], $t30, "node3's share of the text: 4 bytes changed, CRC recomputed (a well-formed share)");
is(bsum(1), vexpect(3 => 'invalid'), 'ssn_verify: node3 invalid (its share does not lie on the sharing that opens the check value), the others valid');
standby(1);
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM tb WHERE id = 1});
is("$rc $out", '0 attack at dawn', 'node4, node5 in standby (node1..node3 asked first): "attack at dawn", not "attack at dusk"') or diag $err;
is(warned($err), "node3 (share index 3) for secret $bid{1}", '...a WARNING names node3 and the secret') or diag $err;
my $t31 = corrupt(3, $bid{2}, 'flip');
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h, NULL::bytea) FROM tb WHERE id = 2});
is("$rc $out", '0 \xdeadbeef00', 'a bytea with node3\'s share altered: the right bytes') or diag $err;
is(warned($err), "node3 (share index 3) for secret $bid{2}", '...node3 named') or diag $err;
my $t32 = corrupt(3, $bid{3}, 'y');
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h, NULL::int8) FROM tb WHERE id = 3});
is("$rc $out", '0 77', 'an int8 stored with verify => false, node3\'s share y + 1: the right value') or diag $err;
is(warned($err), "node3 (share index 3) for secret $bid{3}", '...node3 named') or diag $err;
is(bsum(3), vexpect(3 => 'invalid'), '...and ssn_verify names it invalid');
put_share(3, $bid{3}, $t32);
standby(0);
my $t40 = corrupt(4, $bid{1}, 'flip');
# node2 and node5 in standby: node1's own share and node3's and node4's are gathered first
q1(q{UPDATE ssn.shareholder SET state = 'standby' WHERE name IN ('node2', 'node5')});
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM tb WHERE id = 1});
is("$rc $out", '0 attack at dawn', 'node3 and node4 both altered their shares of the text (n - k = 2) and are asked first: still the right value') or diag $err;
is(join(',', sort split /; /, warned($err)), "node3 (share index 3) for secret $bid{1},node4 (share index 4) for secret $bid{1}",
	'...both named (node2 and node5 asked in turn)') or diag $err;
q1(q{UPDATE ssn.shareholder SET state = 'in service' WHERE name IN ('node2', 'node5')});
my $t50 = corrupt(5, $bid{1}, 'flip2');
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM tb WHERE id = 1});
ok($rc != 0 && $out eq '', 'three of five shares altered: no value at all') or diag "out: $out";
like($err, qr/XX001: cannot retrieve secret @{[ quotemeta $bid{1} ]}: no 3 of its shares gathered rebuild the value its signed check value names/,
	'...XX001, no 3 of the shares open the check value') or diag $err;
ok($net->poll(1, qq{SELECT count(*) > 0 FROM ssn.alarm WHERE source = 'secret' AND object = '$bid{1}'
	AND problem = 'shares do not open the check value' AND severity = 'critical'}, 't', 60),
	'...and a critical alarm that survives the failed statement');
put_share(3, $bid{1}, $t30);
put_share(5, $bid{1}, $t50);
corrupt(5, $bid{1}, 'flip');
# node4 and node5 altered byte 0 alike: for shares 1, 4, 5 the errors cancel at 0
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM tb WHERE id = 1});
is("$rc $out", '0 attack at dawn', 'node4 and node5 altered their shares so that two sharings open the check value: the value is right');
is(bsum(1), vexpect(map { $_ => 'not checked' } 1 .. 5),
	'...and ssn_verify, with as many shares fitting each sharing, checks none (it cannot tell which holders lie)');
put_share(4, $bid{1}, $t40);
put_share(5, $bid{1}, $t50);
put_share(3, $bid{2}, $t31);
is(bsum(1) . ' ' . bsum(2), vexpect() . ' ' . vexpect(), 'the right shares put back: all valid');
my $ck = q1(qq{SELECT encode(check_record, 'hex') FROM ssn.secret WHERE id = '$bid{1}'});
q1(qq{UPDATE ssn.secret SET check_record = overlay(check_record placing '\\x00'::bytea from 70 for 1) WHERE id = '$bid{1}'});
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM tb WHERE id = 1});
ok($rc != 0 && $err =~ /XX001: cannot retrieve secret @{[ quotemeta $bid{1} ]}: its signed check value is not valid/,
	'the SSA\'s own check value altered: refused (XX001)') or diag "$out $err";
q1(qq{UPDATE ssn.secret SET check_record = '\\x$ck' WHERE id = '$bid{1}'});
is(q1(q{SELECT string_agg(ssn_retrieve(h), ',' ORDER BY id) FROM tb}), 'attack at dawn,\xdeadbeef00,77', 'and all three retrieve again');
step('2b. byte strings');

# ---- 3. a share of another secret, or of an older epoch, in place of the right one
my %o23 = map { $_ => (share_of($_, $sid{23}))[1] } 3 .. 5;
my %o24 = map { $_ => (share_of($_, $sid{24}))[1] } 3 .. 5;
put_share(3, $sid{23}, $o24{3});
is(qn(3, qq{SELECT ssn_share_secret_id(share) FROM ssn.held_share WHERE secret_id = '$sid{23}'}), $sid{24},
	"node3 holds its (valid) share of secret 24 in the row of secret 23");
my $s23 = vsum(23);
ok($s23 =~ /^\Q(commitments)=-=valid,node1=1=valid,node2=2=valid,node3=3=\E(\w+),node4=4=valid,node5=5=valid$/ && $1 ne 'valid',
	"ssn_verify(secret 23): node3 not valid ($s23)");
standby(1);
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 23});
is("$rc $out", '0 23000069', 'node4, node5 in standby: secret 23 retrieves right (node3 refused, node4 asked)') or diag $err;
diag "stderr: $err" if $err =~ /\S/;
standby(0);
put_share($_, $sid{23}, $o24{$_}) for 4, 5;
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 23});
ok($rc != 0 && $out eq '' && $err =~ /cannot retrieve secret @{[ quotemeta $sid{23} ]}/,
	'node3, node4, node5 all hold shares of secret 24 for it: retrieval of secret 23 fails, never combines them') or diag "$out $err";
is(join(',', map { $err =~ /\b$_\b/ ? $_ : () } map { "node$_" } 1 .. 5), 'node3,node4,node5', '...naming node3, node4, node5') or diag $err;
diag "the error:\n$err";
put_share($_, $sid{23}, $o23{$_}) for 3 .. 5;
is(vsum(23), $ALL_VALID, 'the right shares put back: valid');
step('3a. another secret');


# an older epoch: after a renewal (epoch 0 -> 1), shareholders put back their epoch-0 shares
my %o25 = map { $_ => (share_of($_, $sid{25}))[1] } 3 .. 5;
my $rec26_e0 = q1(qq{SELECT encode(commitment, 'hex') FROM ssn.secret WHERE id = '$sid{26}'});
my $at25_e0 = q1(qq{SELECT le_u64(commitment, 24) || '|' || encode(substr(commitment, 65, 96), 'hex') FROM ssn.secret WHERE id = '$sid{25}'});
my $run = q1(q{SELECT ssn_renew()});
is(q1(qq{SELECT ssn.wait_renewal($run, '10 min')}, timeout => 700), 'done', "a renewal of node1's secrets (run $run): done")
  or diag q1(qq{SELECT error FROM ssn.renewal_run WHERE id = $run});
is(q1(qq{SELECT epoch || '|' || get_byte(commitment, 4) || '|' || (le_u64(commitment, 24) > split_part('$at25_e0', '|', 1)::numeric)
		|| '|' || (encode(substr(commitment, 65, 96), 'hex') <> split_part('$at25_e0', '|', 2)) FROM ssn.secret WHERE id = '$sid{25}'}),
	'1|1|true|true', 'secret 25 at epoch 1: its record says epoch 1, signed later, with new points');
$bad = '';
for my $id (@vids)
{
	my $s = vsum($id, 1);
	$bad .= "\n  $id: $s" if $s ne $ALL_VALID;
}
is($bad, '', 'after the renewal ssn_verify says every verifiable secret is valid, at epoch 1 (commitments and 5 shares)');
is(q1(q{SELECT ssn_retrieve(array_agg(h ORDER BY id)) = array_agg(val ORDER BY id) FROM t}), 't', '...and every value retrieves right');
my %n25 = map { $_ => (share_of($_, $sid{25}))[1] } 3 .. 5;
is(join(',', map { $n25{$_} =~ / e=(\d+) / ? $1 : '?' } 3 .. 5) . ' ' . join(',', map { $o25{$_} =~ / e=(\d+) / ? $1 : '?' } 3 .. 5),
	'1,1,1 0,0,0', 'node3..node5 hold epoch-1 shares of secret 25 (their epoch-0 shares kept here)');
put_share(3, $sid{25}, $o25{3}, 0);
my $s25 = vsum(25, 1);
ok($s25 =~ /^\Q(commitments)=-=valid,node1=1=valid,node2=2=valid,node3=3=\E(\w+)[^,]*,node4=4=valid,node5=5=valid$/ && $1 ne 'valid',
	"node3 back at its epoch-0 share: ssn_verify says node3 is not valid ($s25)");
standby(1);
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 25});
is("$rc $out", '0 25000075', 'node4, node5 in standby: secret 25 retrieves right (the old share not used)') or diag $err;
diag "stderr: $err" if $err =~ /\S/;
standby(0);
put_share($_, $sid{25}, $o25{$_}, 0) for 4, 5;
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 25});
ok($rc != 0 && $out eq '' && $err =~ /cannot retrieve secret @{[ quotemeta $sid{25} ]}: 2 of the 3/,
	'node3, node4, node5 at epoch 0 (consistent among themselves): retrieval fails, old and new shares never mixed') or diag "$out $err";
is(join(',', map { $err =~ /\b$_\b/ ? $_ : () } map { "node$_" } 1 .. 5), 'node3,node4,node5', '...naming node3, node4, node5') or diag $err;
diag "the error:\n$err";
put_share($_, $sid{25}, $n25{$_}, 1) for 3 .. 5;
is(vsum(25, 1), $ALL_VALID, 'the epoch-1 shares put back: valid');
step('3b. an older epoch');

# ---- 4. forged commitments on the SSA (node1)
sub rec_of { return pack('H*', q1(qq{SELECT encode(commitment, 'hex') FROM ssn.secret WHERE id = '$sid{$_[0]}'})); }
sub set_rec
{
	my ($id, $r) = @_;
	return q1(qq{UPDATE ssn.secret SET commitment = '\\x} . unpack('H*', $r) . qq{' WHERE id = '$sid{$id}' RETURNING 1});
}
# every shareholder named as failing verification in an error
sub named_bad { my ($e) = @_; return join(',', map { $e =~ /\Q$_ (share index\E/ ? $_ : () } map { "node$_" } 1 .. 5); }
my $ALL_BAD = 'node1,node2,node3,node4,node5';
my $NOT_CHECKED = vexpect(c => 'invalid', map { $_ => 'not checked' } 1 .. 5);

my $rec26 = rec_of(26);
my ($seed_hex, $pk_hex) = split /\|/, q1(q{SELECT encode(substr(secret_key, 1, 32), 'hex') || '|' || encode(public_key, 'hex')
	FROM ssn.signing_key WHERE retired_at IS NULL});
my $seed = pack('H*', $seed_hex // '');
is(unpack('H*', ed_public($seed)), $pk_hex, "openssl derives node1's public key from the seed in ssn.signing_key");
is(unpack('H*', resign($rec26, $seed)), unpack('H*', $rec26),
	"re-signing secret 26's record here with node1's key gives its very bytes (Ed25519 is deterministic)");

# (a) a point altered, the signature left
my $r = $rec26;
substr($r, 64 + 5, 1) ^= "\x01";
set_rec(26, $r);
is(vsum(26, 1), $NOT_CHECKED, "a byte of C_0 in node1's record of secret 26 changed: commitments invalid, shares not checked");
like(vstatus(26, '(commitments)'), qr/^invalid: .*signature does not verify/, '...' . vstatus(26, '(commitments)'));
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '', 'retrieval of secret 26: fails, no value') or diag "out: $out";
is(named_bad($err), $ALL_BAD, '...every share named as failing verification (their points differ from the record)') or diag $err;
($rc, $err) = run(1, q{SELECT ssn.renew_signatures()});
ok($rc != 0 && $err =~ /the commitment of secret @{[ quotemeta $sid{26} ]} fails its signature check; not re-signed/,
	'ssn.renew_signatures() refuses to re-sign it') or diag $err;
# (a') the altered record re-signed with node1's own key: the shares still do not match
set_rec(26, resign($r, $seed));
is(vsum(26, 1), vexpect(map { $_ => 'invalid' } 1 .. 5), "...re-signed with node1's own key: commitments valid, but all 5 shares invalid");
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '' && named_bad($err) eq $ALL_BAD, '...retrieval fails naming all 5') or diag "$out $err";

# (b) signed with a key that is not node1's
my $fseed = pack('C*', map { int(rand(256)) } 1 .. 32);
$r = $rec26;
substr($r, 24, 8) = pack('q<', unpack('q<', substr($r, 24, 8)) + 1_000_000);
set_rec(26, resign($r, $fseed));
is(vsum(26, 1), $NOT_CHECKED, "node1's record of secret 26 re-signed (signed_at + 1 s) with a foreign key: commitments invalid");
like(vstatus(26, '(commitments)'), qr/^invalid: it is signed by a key that is not one of this node's signing keys/,
	'...' . vstatus(26, '(commitments)'));
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 ? $out eq '' : $out eq '26000078', 'retrieval: the right value or an error, never another value');
diag 'retrieval with the foreign-signed record (same points): ' . ($rc ? "error: $err" : "value $out" . ($err =~ /\S/ ? " ($err)" : ''));
($rc, $err) = run(1, q{SELECT ssn.renew_signatures()});
ok($rc != 0 && $err =~ /@{[ quotemeta $sid{26} ]} fails its signature check/, 'ssn.renew_signatures() refuses to re-sign it') or diag $err;
$r = $rec26;
substr($r, 64 + 32 + 7, 1) ^= "\x80";
set_rec(26, resign($r, $fseed));
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '' && named_bad($err) eq $ALL_BAD && vsum(26, 1) eq $NOT_CHECKED,
	'a point of C_1 altered and signed with the foreign key: invalid, retrieval fails naming all 5') or diag "$out $err";
# (c) signed_at moved, not re-signed
$r = $rec26;
substr($r, 24, 8) = pack('q<', unpack('q<', substr($r, 24, 8)) + 86_400_000_000);
set_rec(26, $r);
like(vstatus(26, '(commitments)'), qr/^invalid: .*signature does not verify/, 'signed_at a day later, not re-signed: invalid, the signature does not verify');
# (d) another secret's record; (e) the secret's own record of the previous epoch; (f) a truncated one
set_rec(26, rec_of(27));
like(vstatus(26, '(commitments)'), qr/^invalid: it is for another secret or epoch/, "secret 27's (validly signed) record in place of 26's: invalid, another secret");
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '' && named_bad($err) eq $ALL_BAD, '...retrieval of secret 26 fails naming all 5 (never 27000081)') or diag "$out $err";
set_rec(26, pack('H*', $rec26_e0));
like(vstatus(26, '(commitments)'), qr/^invalid: it is for another secret or epoch \(epoch 0, expected 1\)/,
	"secret 26's own epoch-0 record (validly signed) replayed after the renewal: invalid, epoch 0 not 1");
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '' && named_bad($err) eq $ALL_BAD, '...retrieval fails naming all 5') or diag "$out $err";
set_rec(26, substr($rec26, 0, 200));
like(vstatus(26, '(commitments)'), qr/^invalid: malformed/, 'a truncated record: invalid, malformed');
($rc, $err, $out) = run(1, q{SELECT ssn_retrieve(h) FROM t WHERE id = 26});
ok($rc != 0 && $out eq '', '...retrieval fails') or diag "$out $err";
set_rec(26, $rec26);
is(vsum(26, 1) . ' ' . q1(q{SELECT ssn_retrieve(h) FROM t WHERE id = 26}), "$ALL_VALID 26000078", 'the record put back: valid, retrieves');
step('4ab. forged commitments');

# (c) key rotation and renewal of the signatures
q1(q{CREATE ROLE alice LOGIN});
($rc, $err) = run(1, q{SELECT ssn.rotate_signing_key()}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, 'another role: ssn.rotate_signing_key() refused (42501)') or diag $err;
($rc, $err) = run(1, q{SELECT ssn.renew_signatures()}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, '...ssn.renew_signatures() refused') or diag $err;
($rc, $err) = run(1, q{SELECT count(*) FROM ssn.signing_key}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, '...ssn.signing_key not readable') or diag $err;
q1(q{GRANT SELECT ON t TO alice});
($rc, $err) = run(1, q{SELECT * FROM t, ssn_verify(h) WHERE id = 1}, user => 'alice');
ok($rc != 0 && $err =~ /42501/, "...ssn_verify of the owner's secret refused (42501)") or diag $err;
my $key_new = q1(q{SELECT ssn.rotate_signing_key()});
ok($key_new =~ /^[0-9a-f]{64}$/ && $key_new ne $key_old, 'ssn.rotate_signing_key(): a new key');
is(q1(qq{SELECT count(*) || '|' || count(*) FILTER (WHERE retired_at IS NULL AND public_key = '$key_new')
	|| '|' || count(*) FILTER (WHERE retired_at IS NOT NULL AND public_key = '$key_old') FROM ssn.signing_keys}), '2|1|1',
	'ssn.signing_keys: the new one current, the old one retired');
q1(q{INSERT INTO t VALUES (40, 'int8', true, '-40', ssn_store(-40::int8, 3, 5))});
load_ids();
ok($net->wait_delivered(1, 180), 'a new secret (40) stored and delivered');
is(vsum(40), $ALL_VALID, 'the new secret: valid');
is(q1(qq{SELECT encode(substr(commitment, 33, 32), 'hex') FROM ssn.secret WHERE id = '$sid{40}'}), $key_new, '...its record names the new key as signer');
is(vstatus(40, '(commitments)') =~ s/^valid: signed by key (\w+) .*/$1/r, substr($key_new, 0, 16), '...signed by the new key');
is(vsum(1, 1) . ' ' . (vstatus(1, '(commitments)') =~ s/^valid: signed by key (\w+) .*/$1/r), "$ALL_VALID " . substr($key_old, 0, 16),
	'an old secret: still valid, signed by the retired key (still trusted)');
is(q1(q{SELECT string_agg(ssn_retrieve(h), ',' ORDER BY id) FROM t WHERE id IN (1, 40)}), '123456789012,-40', 'both retrieve');

q1(q{CREATE TABLE sig_before AS SELECT id, le_u64(commitment, 24) AS at, substr(commitment, 1, 24) AS head,
	substr(commitment, 65, 96) AS points FROM ssn.secret WHERE commitment IS NOT NULL});
my $ncommit = q1(q{SELECT count(*) FROM sig_before});
is($ncommit, scalar(@vids) + 1, "node1's catalog: " . (scalar(@vids) + 1) . ' secrets with commitments');
my $nchecked = q1(q{SELECT count(*) FROM ssn.secret WHERE check_record IS NOT NULL});
is(q1(q{SELECT ssn.renew_signatures()}), $ncommit + $nchecked, "ssn.renew_signatures() re-signs all $ncommit commitments and $nchecked check values");
is(q1(qq{SELECT count(*) FILTER (WHERE le_u64(s.commitment, 24) > b.at AND substr(s.commitment, 33, 32) = decode('$key_new', 'hex')
		AND substr(s.commitment, 1, 24) = b.head AND substr(s.commitment, 65, 96) = b.points AND length(s.commitment) = 224)
	FROM sig_before b JOIN ssn.secret s USING (id)}), $ncommit,
	'...each: signed_at later, signed by the new key; version, k, epoch, id and points as they were');
q1(q{DELETE FROM ssn.signing_key WHERE retired_at IS NOT NULL});
$bad = '';
for my $id (@vids, 40)
{
	my $s = vsum($id, $id == 40 ? 0 : 1);
	$bad .= "\n  $id: $s" if $s ne $ALL_VALID;
}
is($bad, '', 'the retired key deleted: every secret still valid (all re-signed with the new key)');
is(vstatus(1, '(commitments)') =~ s/^valid: signed by key (\w+) .*/$1/r, substr($key_new, 0, 16), '...secret 1 now signed by the new key');
is(q1(q{SELECT ssn_retrieve(array_agg(h ORDER BY id)) = array_agg(val ORDER BY id) FROM t}), 't', '...and every value retrieves right');
step('4c. rotation, renewal of signatures');

# ---- 5. shareholders check what they receive
my %rej = map { $_ => qn($_, q{SELECT coalesce(sum(rejected), 0) FROM ssn.link_stats WHERE direction = 'receive'}) } 2 .. 5;
my $ts = time;
is(q1(qq{CREATE TABLE many AS SELECT g AS id, ssn_store(g * 1000003::int8, 3, 5) AS h FROM generate_series(1, $MANY) g;
	SELECT count(*) FROM many m JOIN ssn.secret s ON s.id = ssn_secret_id(m.h) WHERE length(s.commitment) = 224}), $MANY,
	"$MANY verifiable secrets stored");
ok($net->wait_delivered(1, 300), '...and delivered');
diag sprintf("storing and delivering $MANY verifiable secrets: %.1f s", time - $ts);
my $want = q1(q{SELECT count(*) || '|' || count(commitment) FROM ssn.secret});
for my $i (2 .. 5)
{
	is(qn($i, q{SELECT count(*) || '|' || count(*) FILTER (WHERE length(ssn_share_payload(share)) = 288) FROM ssn.held_share WHERE origin = 'node1'})
		  . ' ' . qn($i, q{SELECT coalesce(sum(rejected), 0) FROM ssn.link_stats WHERE direction = 'receive'})
		  . ' ' . qn($i, q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'message'}),
		"$want 0 0", "node$i holds a share of every secret ($want: all, verifiable), no message rejected, no message alarm");
}
$ts = time;
is(q1(q{SELECT ssn_retrieve(array_agg(h ORDER BY id)) = array_agg((id * 1000003)::text ORDER BY id) AND ssn_sum(h) = sum(id * 1000003::int8) FROM many}),
	't', "all $MANY retrieve right (one array), ssn_sum right");
diag sprintf("retrieving $MANY verifiable secrets: %.1f s", time - $ts);
is(q1(q{SELECT string_agg(DISTINCT v.status, ',') FROM many, ssn_verify(many.h) v WHERE many.id IN (1, 500, 1000) AND v.shareholder <> '(commitments)'}),
	'valid', 'ssn_verify of three of them: every share valid');
step('5a. many');

# node1's outbox holds node3's share sealed (ssn 1.4): it cannot be read or changed
# into another valid share there; a tampered message is refused by its MAC on receipt
my $rej3 = qn(3, q{SELECT coalesce(sum(rejected), 0) FROM ssn.link_stats WHERE peer = 'node1' AND direction = 'receive'});
$net->stop(3);
q1(q{INSERT INTO t VALUES (50, 'int8', true, '5050', ssn_store(5050::int8, 3, 5))});
load_ids();
is(q1(q{SELECT count(*) FROM ssn.outbox WHERE peer = 'node3'}), '1', "node3 down, a secret (50) stored: one message (its record and its share) for node3 in node1's outbox");
my ($oid, $blobhex) = split /\|/, q1(q{SELECT id || '|' || encode(blob, 'hex') FROM ssn.outbox WHERE peer = 'node3' ORDER BY id LIMIT 1});
my $blob = pack('H*', $blobhex // '');
# (its y and t under the one-time pad; the share header, with the secret id, and the
# signed commitments in the clear part, under the same MAC: t/027 searches for y)
my $at = index($blob, pack('H*', $sid{50} =~ s/-//gr));
ok(substr($blob, 0, 4) eq 'SSNE' && ord(substr($blob, 4, 1)) == 2 && $at > 0,
	"...a sealed envelope with a clear part, which holds the share header (its secret id)");
my $tampered = $blob;
substr($tampered, $at, 1) ^= "\x01";    # a byte of the secret id in the clear part
is(q1(qq{UPDATE ssn.outbox SET blob = '\\x} . unpack('H*', $tampered) . qq{' WHERE id = $oid RETURNING shares}), '1',
	"...one byte of the secret id in its clear part changed there");
$net->start(3);
ok($net->poll(3, q{SELECT coalesce(sum(rejected), 0) > } . $rej3 . q{ FROM ssn.link_stats WHERE peer = 'node1' AND direction = 'receive'}, 't', 120),
	'node3 started: it rejects the message from node1 (ssn.link_stats)');
is(qn(3, q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'message' AND object = 'node1' AND problem = 'message failed authentication'}),
	'1', "...with an alarm: 'message failed authentication'");
is(qn(3, qq{SELECT count(*) FROM ssn.held_share WHERE secret_id = '$sid{50}'}), '0', '...and does not keep the share');
# (a retry of it meets keys node3 has spent already: "message keys unavailable")
ok($net->poll(1, qq{SELECT last_error ~ 'failed authentication|message keys unavailable' FROM ssn.outbox WHERE id = $oid}, 't', 120),
	"node1's outbox keeps the message, with the rejection as its last error");
# the keys of that message were handed out to node3 when it opened it: the original
# bytes can no longer be opened there, which node1 says with a critical alarm
q1(qq{UPDATE ssn.outbox SET blob = '\\x$blobhex' WHERE id = $oid});
ok($net->poll(1, q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'channel' AND object = 'node3' AND severity = 'critical'}, '1', 120),
	'the original put back: node3 cannot open it any more (its keys were spent), node1 raises a critical alarm');
q1(qq{DELETE FROM ssn.outbox WHERE id = $oid});
is(q1(q{SELECT ssn_retrieve(h) FROM t WHERE id = 50}), '5050', 'secret 50 retrieves from the other holders');
step('5b. refused on receipt');

# ---- 6. the commit pool's helper thread: one per session storing verifiable values
# (ssn.commit_threads = 1), none with 0; a store cancelled, or its session
# terminated, while the thread works leaves the server running (no crash restart)
my $node1 = $net->node(1);
my $pm_start = q1(q{SELECT pg_postmaster_start_time()});
my $log_at = -s $node1->logfile;
sub threads_of { my ($pid) = @_; opendir(my $d, "/proc/$pid/task") or return -1; my $n = grep { /^\d+$/ } readdir $d; return $n; }
my $bg = $node1->background_psql('postgres', on_error_stop => 0);
my $bgpid = $bg->query_safe('SELECT pg_backend_pid()');
is(threads_of($bgpid), 1, 'a new session runs one thread');
$bg->query_safe(q{CREATE TABLE pool_t AS SELECT g, ssn_store(g::int8) AS h FROM generate_series(1, 50) g});
is(threads_of($bgpid), 2, '...two once it stored verifiable values (the commit pool started)');
my $active = qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $bgpid AND state = 'active' AND query LIKE 'INSERT INTO pool_t%'};
$bg->query_until(qr/started/, "\\echo started\nINSERT INTO pool_t SELECT g, ssn_store(g::int8) FROM generate_series(1, 5000000) g;\n");
ok($net->poll(1, $active, '1', 60), '...a long verifiable store runs in it');
is(q1(qq{SELECT pg_cancel_backend($bgpid)}), 't', '...cancelled');
ok($net->poll(1, qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $bgpid AND state = 'active'}, '0', 60), '...it stops');
# (query, not query_safe: the cancellation's error is still in the session's stderr)
is($bg->query('SELECT count(*) FROM pool_t'), '50', '...the session goes on, the store rolled back');
is(threads_of($bgpid), 2, '...with its helper thread');
$bg->query_until(qr/again/, "\\echo again\nINSERT INTO pool_t SELECT g, ssn_store(g::int8) FROM generate_series(1, 5000000) g;\n");
ok($net->poll(1, $active, '1', 60), 'another long store');
is(q1(qq{SELECT pg_terminate_backend($bgpid)}), 't', '...its session terminated');
ok($net->poll(1, qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $bgpid}, '0', 60), '...it exits');
eval { $bg->quit; };
is(q1(q{SELECT pg_postmaster_start_time()}), $pm_start, '...and the server was not restarted');
my $log = substr(slurp_file($node1->logfile), $log_at);
unlike($log, qr/terminated by signal|all server processes terminated/, '...no crash in its log');
my $one = $node1->background_psql('postgres', on_error_stop => 0);
my $onepid = $one->query_safe('SELECT pg_backend_pid()');
$one->query_safe(q{SET ssn.commit_threads = 0});
$one->query_safe(q{CREATE TEMP TABLE nopool AS SELECT g, ssn_store(g::int8) AS h FROM generate_series(1, 20) g});
is(threads_of($onepid), 1, 'ssn.commit_threads = 0: a session stores verifiable values with no helper thread');
$one->query_safe(q{RESET ssn.commit_threads});
$one->query_safe(q{INSERT INTO nopool SELECT g, ssn_store(g::int8) FROM generate_series(21, 40) g});
is(threads_of($onepid), 2, '...reset to 1: the next store starts it');
$one->query_safe(q{SET ssn.commit_threads = 0});
$one->query_safe(q{INSERT INTO nopool SELECT g, ssn_store(g::int8) FROM generate_series(41, 60) g});
is(threads_of($onepid), 1, '...set to 0 again: the next store stops it');
$one->quit;
ok($net->wait_delivered(1, 180), 'the stores are delivered');
is(q1(q{SELECT count(*) FROM pool_t WHERE ssn_retrieve(h)::int8 = g}), '50', 'the values stored with the pool retrieve right');
is(q1(q{SELECT count(*) FILTER (WHERE v.status NOT LIKE 'valid%') || ' of ' || count(*) FROM pool_t p, ssn_verify(p.h) v}),
	'0 of ' . q1(q{SELECT sum(ssn_secret_n(h) + 1) FROM pool_t}),
	'...and verify: every commitment record and every share of each');
step('6. commit pool');

$net->teardown;
diag sprintf('024: %.0f s', time - $t0);
done_testing();
