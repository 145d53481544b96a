# A bad reply fails its shareholder only (faults stay local, issue 13): node2 is
# owned by an attacker, who replaces ssn.channel_fetch and ssn.channel_take there with
# functions that hand back the first reply each ever sealed for node1 - a replay whose QKD key IDs
# node1's key ledger already has.  Retrievals (one secret, arrays, a computed
# handle) still return the right values from node1 and node3, the reply of node2
# is refused and named, and an alarm (source 'message') names node2.
#
# node3 is put on standby in node1's catalog so that node2 is always asked first
# (peers in service come first); a standby peer is still asked when one fails.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use SsnNet;

my $net = SsnNet->new(n => 3);
if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

sub q1 { return $net->query(1, $_[0], timeout => 120) // ''; }

$net->sql(1, q{
CREATE TABLE v (id int PRIMARY KEY, val int8, h ssn_secret);
INSERT INTO v SELECT i, i * 1000003, ssn_store(i * 1000003::int8, 2, 3) FROM generate_series(1, 20) i;});
ok($net->wait_delivered(1, 180), 'node1 stored 20 secrets (k = 2 of node1..node3), delivered');
$net->sql(1, q{UPDATE ssn.shareholder SET state = 'standby' WHERE name = 'node3'});
is(q1(q{SELECT state FROM ssn.shareholder WHERE name = 'node3'}), 'standby', 'node3 on standby: node2 is asked first');

# ---- the attacker on node2: channel_fetch (a retrieval's reply) and channel_take (a
# computation's) each capture their first reply, then replay it
$net->sql(2, q{
CREATE TABLE public.captured (fn text PRIMARY KEY, env bytea);
CREATE TABLE public.replayed (fn text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION public.replay(fn text, e bytea) RETURNS bytea LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
	old bytea;
BEGIN
	SELECT env INTO old FROM public.captured c WHERE c.fn = replay.fn;
	IF old IS NULL THEN
		INSERT INTO public.captured VALUES (fn, e);
		RETURN e;
	END IF;
	INSERT INTO public.replayed VALUES (fn);
	RETURN old;
END $$;
CREATE FUNCTION ssn.channel_fetch_real(text, uuid[]) RETURNS bytea
	AS '$libdir/ssn', 'ssn_channel_fetch' LANGUAGE C VOLATILE STRICT SECURITY DEFINER;
CREATE OR REPLACE FUNCTION ssn.channel_fetch(requester text, secret_ids uuid[]) RETURNS bytea
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT public.replay('fetch', ssn.channel_fetch_real(requester, secret_ids)) $$;
CREATE FUNCTION ssn.channel_take_real() RETURNS bytea
	AS '$libdir/ssn', 'ssn_channel_take' LANGUAGE C VOLATILE STRICT SECURITY DEFINER;
CREATE OR REPLACE FUNCTION ssn.channel_take() RETURNS bytea
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT public.replay('take', ssn.channel_take_real()) $$;});

is(q1(q{SELECT ssn_retrieve(h, NULL::int8) = val FROM v WHERE id = 1}), 't', 'first retrieval: node2 answers honestly (and its reply is captured)');
is($net->sql(2, q{SELECT string_agg(fn, ',') FROM public.captured}), 'fetch', 'node2 captured its reply to node1');

# ---- the replays
my ($rc, $out, $err) = $net->psql(1, q{SELECT ssn_retrieve(h, NULL::int8) = val FROM v WHERE id = 2});
is("$rc|$out", '0|t', 'node2 replays its reply: the secret is still rebuilt right (node3 asked instead)');
like($err, qr/the reply of shareholder "node2" was refused: its reply reuses QKD key IDs/, 'the warning names node2 and the replay');
is($net->sql(2, q{SELECT count(*) > 0 FROM public.replayed}), 't', 'node2 did replay');
is(q1(q{SELECT count(*) FROM ssn.active_alarms WHERE source = 'message' AND object = 'node2'
	AND problem = 'bad reply to a retrieval' AND detail LIKE '%reuses QKD key IDs%'}), '1',
	'an alarm (source message) names node2 and the reused key IDs');

is(q1(q{SELECT count(*) FROM (SELECT unnest(ssn_retrieve(array_agg(h ORDER BY id))) AS r,
	unnest(array_agg(val ORDER BY id)) AS val FROM v) x WHERE r::int8 = val}), '20',
	'an array of 20 secrets: every value right while node2 replays');

is(q1(q{SELECT ssn_retrieve(a.h + b.h, NULL::int8) = a.val + b.val FROM v a, v b WHERE a.id = 3 AND b.id = 4}), 't',
	'a computed handle (a + b): the right sum while node2 replays');
is(q1(q{SELECT ssn_retrieve(a.h + b.h, NULL::int8) = a.val + b.val FROM v a, v b WHERE a.id = 5 AND b.id = 6}), 't',
	'another computed handle: the right sum while node2 replays its first computation\'s reply');

is(q1(q{SELECT count(*) FROM ssn.key_ledger WHERE state = 'fetched' AND purpose <> 'reply keys ahead'}), '0',
	'node1: no key left fetched (but the copies of reply keys the server holds)');
is($net->sql(2, q{SELECT count(*) FILTER (WHERE fn = 'fetch') > 1 AND count(*) FILTER (WHERE fn = 'take') > 0 FROM public.replayed}), 't',
	'node2 replayed every time it was asked (retrievals and the computation)');

$net->teardown;
done_testing();
