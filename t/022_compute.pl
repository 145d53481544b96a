# Computing on shares across five nodes (k = 3, n = 5), ssn 1.2: every operator on
# ssn_secret, retrieved, against the same expression on the plaintext; ssn_sum,
# ssn_avg, ssn_count (GROUP BY, WHERE, FILTER, no rows, NULLs) against sum, avg,
# count; ssn_store(expression) with degree reduction by re-sharing; two shareholders
# down; no plaintext on the shareholders; QKD key use per aggregate, not per row;
# the errors.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SsnNet;

my $N = 5;
my $ROWS = $ENV{SSN_TEST_COMPUTE_ROWS} // 400;
my $net = SsnNet->new(n => $N);
my $t0 = time;
my $step_t = time;
sub step { diag sprintf('%s (%.1f s)', $_[0], time - $step_t); $step_t = time; }

if (!$net->has_version('1.4'))
{
	done_testing();
	exit 1;
}

# q1(SQL): node1's answer, or 'ERROR' (with a diag) when the query failed
sub q1
{
	my ($sql, %o) = @_;
	return $net->query(1, $sql, timeout => 180, %o) // 'ERROR';
}

# an error expected on node1: (rc, stderr)
sub fails
{
	my ($sql, %o) = @_;
	my ($rc, $out, $err) = $net->psql(1, $sql, timeout => 180, %o);
	return ($rc, $err, $out);
}

# ---- the data: plain columns and their secrets, side by side
# x: int8 with negatives, zeros, the int8 extremes, +-9e15; y: numeric(20,2) with
# negatives; w: numeric of scales 0 to 5; NULLs in all; group 5 (of 37) all NULL in x and y
my $setup = q1(qq{
SELECT setseed(0.022);
CREATE TABLE t (id int PRIMARY KEY, g int NOT NULL, x int8, y numeric(20, 2), w numeric,
	sx ssn_secret(3,5), sy ssn_secret(3,5), sw ssn_secret(3,5), p ssn_secret, l ssn_secret, q ssn_secret);
INSERT INTO t (id, g, x, y, w)
SELECT i, i % 37,
	CASE WHEN i % 37 = 5 OR i % 11 = 0 THEN NULL
		 WHEN i = 1 THEN 9223372036854775807 WHEN i = 2 THEN -9223372036854775808
		 WHEN i % 40 = 3 THEN 9000000000000000 WHEN i % 40 = 4 THEN -9000000000000000
		 WHEN i % 40 = 6 THEN 0
		 ELSE (random() * 2e9 - 1e9)::int8 END,
	CASE WHEN i % 37 = 5 OR i % 13 = 0 THEN NULL
		 WHEN i % 40 = 7 THEN 0 WHEN i % 40 = 8 THEN -0.01 WHEN i = 9 THEN 999999999999.99
		 ELSE round((random() * 2e6 - 1e6)::numeric, 2) END,
	CASE WHEN i % 17 = 0 THEN NULL ELSE round((random() * 2000 - 1000)::numeric, i % 6) END
FROM generate_series(1, $ROWS) AS i;
UPDATE t SET sx = ssn_store(x, 3, 5), sy = ssn_store(y, 3, 5), sw = ssn_store(w, 3, 5);
SELECT count(*) FILTER (WHERE (sx IS NULL) = (x IS NULL) AND (sy IS NULL) = (y IS NULL) AND (sw IS NULL) = (w IS NULL)) FROM t});
is($setup =~ s/^.*\n//sr, $ROWS, "$ROWS rows stored from node1: a secret for every non-NULL x and y, none for a NULL");
my ($nx, $ny, $nxneg, $nyneg) = split /\|/, q1(q{SELECT count(x) || '|' || count(y) || '|' || count(*) FILTER (WHERE x < 0)
	|| '|' || count(*) FILTER (WHERE y < 0) FROM t});
ok($nxneg > 20 && $nyneg > 20, "the data has negative x ($nxneg) and y ($nyneg)");
is(q1(q{SELECT count(*) FROM t WHERE g = 5 AND (x IS NOT NULL OR y IS NOT NULL)}), '0', 'group 5 is all NULL');
ok($net->wait_delivered(1, 300), 'the shares are delivered');
is(q1(q{WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(sx ORDER BY id)) AS vx,
		ssn_retrieve(array_agg(sy ORDER BY id)) AS vy FROM t),
	r AS (SELECT u.* FROM a, unnest(a.ids, a.vx, a.vy) AS u(id, vx, vy))
SELECT count(*) FILTER (WHERE r.vx IS NOT DISTINCT FROM t.x::text AND r.vy IS NOT DISTINCT FROM t.y::text) FROM t JOIN r USING (id)}),
	$ROWS, 'the stored values retrieve as they were (baseline)');
step('data');

# ---- 1. every operator, retrieved in bulk, against the plaintext expression
# [secret expression, plaintext expression, result type]
my @ops = (
	[ 'sx + sy', 'x::numeric + y', 'numeric' ],
	[ 'sx - sy', 'x::numeric - y', 'numeric' ],
	[ 'sy - sx', 'y - x::numeric', 'numeric' ],
	[ 'sx * sy', 'x::numeric * y', 'numeric' ],
	[ 'sx * sx', 'x::numeric * x', 'bigint' ],
	[ 'sy * sy', 'y * y', 'numeric' ],
	[ 'sx + 7', 'x::numeric + 7', 'bigint' ],
	[ '7 + sx', '7 + x::numeric', 'bigint' ],
	[ '2.5 + sy', '2.5 + y', 'numeric' ],
	[ 'sx + 0.125', 'x::numeric + 0.125', 'numeric' ],
	[ 'sx - 1000', 'x::numeric - 1000', 'bigint' ],
	[ 'sy - 1000.25', 'y - 1000.25', 'numeric' ],
	[ '12 - sy', '12 - y', 'numeric' ],
	[ '-7 - sx', '-7 - x::numeric', 'bigint' ],
	[ 'sx * -3', 'x::numeric * -3', 'bigint' ],
	[ '-3 * sx', '-3 * x::numeric', 'bigint' ],
	[ '0.5 * sy', '0.5 * y', 'numeric' ],
	[ 'sy * 1.75', 'y * 1.75', 'numeric' ],
	[ '-sx', '-(x::numeric)', 'bigint' ],
	[ '-sy', '-y', 'numeric' ],
	[ '2 * sx - sy + 1', '2 * x::numeric - y + 1', 'numeric' ],
	[ 'sx + sx', 'x::numeric + x', 'bigint' ],
	[ '(sx + 1) * (sy - 2)', '(x::numeric + 1) * (y - 2)', 'numeric' ],
	[ 'sx * sy - 3 * sx + sy', 'x::numeric * y - 3 * x::numeric + y', 'numeric' ],
	[ '-(sx * sy) * 2', '-(x::numeric * y) * 2', 'numeric' ],
	# scales 0..5 in one column: sums align them, products add them
	[ 'sw + sy', 'w + y', 'numeric' ],
	[ 'sw - 0.001', 'w - 0.001', 'numeric' ],
	[ 'sw * sw', 'w * w', 'numeric' ],
	[ 'sx * sw - sy', 'x::numeric * w - y', 'numeric' ],
	# the secret cancels out: a constant (degree 0) for every non-NULL x
	[ 'sx - sx + 5', 'x::numeric - x + 5', 'bigint' ],
	[ 'sx * 0', 'x::numeric * 0', 'bigint' ],
);
for my $op (@ops)
{
	my ($e, $p, $type, $todo) = @$op;
	local $TODO = $todo;
	# numeric equality, and the text form (the scale) too
	my $r = q1(qq{
WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg($e ORDER BY id)) AS vals FROM t),
	 r AS (SELECT u.id, u.v FROM a, unnest(a.ids, a.vals) AS u(id, v))
SELECT count(*) FILTER (WHERE r.v::numeric IS DISTINCT FROM ($p)) || '|'
	|| count(*) FILTER (WHERE r.v IS DISTINCT FROM ($p)::text) || '|' || count(r.v) || '|'
	|| count(*) FILTER (WHERE ($p) IS NOT NULL) || '|' || coalesce(min(ssn_secret_value_type($e)::text), '?')
	|| coalesce(' e.g. id ' || min(id) FILTER (WHERE r.v IS DISTINCT FROM ($p)::text) || ': got '
	|| (array_agg(r.v ORDER BY id) FILTER (WHERE r.v IS DISTINCT FROM ($p)::text))[1] || ' want '
	|| (array_agg(($p)::text ORDER BY id) FILTER (WHERE r.v IS DISTINCT FROM ($p)::text))[1], '')
FROM t JOIN r USING (id)});
	my ($bad, $badtext, $got, $want, $rtype) = split /\|/, $r;
	$rtype //= '';
	my $example = $rtype =~ s/ (e\.g\. .*)$// ? $1 : '';
	ok(defined $want && $bad eq '0' && $got eq $want,
		"ssn_retrieve(array of $e): all $ROWS equal $p as numbers (" . ($want // '?') . ' non-NULL)')
	  or diag "answer: $r";
	is("$badtext $rtype", "0 $type", "...and as text (same scale), value type $type") or diag $example;
}
# one row at a time, typed and as text
is(q1(q{SELECT count(*) FILTER (WHERE ssn_retrieve(sx * sy, NULL::numeric) = x::numeric * y
		AND ssn_retrieve(2 * sx - sy + 1) = (2 * x::numeric - y + 1)::text
		AND ssn_retrieve(sx + 5, NULL::int8) = x + 5 AND ssn_retrieve(-sy, NULL::numeric) = -y) || '|' || count(*)
	FROM t WHERE id BETWEEN 10 AND 40 AND x IS NOT NULL AND y IS NOT NULL}),
	join('|', (q1(q{SELECT count(*) FROM t WHERE id BETWEEN 10 AND 40 AND x IS NOT NULL AND y IS NOT NULL})) x 2),
	'single ssn_retrieve(expression[, NULL::type]) of products, sums and negations, typed and as text');
# stored and computed secrets and NULLs in one array
is(q1(q{SELECT count(*) FILTER (WHERE ssn_retrieve(ARRAY[sx, sx * sy, NULL, sy + 1, sx * sy, sy])
		= ARRAY[x::text, (x::numeric * y)::text, NULL, (y + 1)::text, (x::numeric * y)::text, y::text]) || '|' || count(*)
	FROM t WHERE id BETWEEN 3 AND 30 AND x IS NOT NULL AND y IS NOT NULL}),
	join('|', (q1(q{SELECT count(*) FROM t WHERE id BETWEEN 3 AND 30 AND x IS NOT NULL AND y IS NOT NULL})) x 2),
	'ssn_retrieve(ARRAY[stored, product, NULL, sum, product again, stored]): each element in its place');
is(q1(q{SELECT ssn_retrieve(sx + sx, NULL::numeric) || ' ' || ssn_retrieve(-sx) || ' ' || ssn_retrieve(sx * sx) FROM t WHERE id = 2}),
	'-18446744073709551616 9223372036854775808 85070591730234615865843651857942052864',
	'int8 results beyond the int8 range (from -9223372036854775808) come back exactly as numeric or text');
step('operators');

# ---- 2. aggregates against sum, avg, count
# agg_check(LABEL, SSN SELECT LIST, PLAIN SELECT LIST, FROM ...): the same text
sub agg_check
{
	my ($label, $ssn, $plain, $from) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $want = q1("SELECT concat_ws(' | ', $plain) $from");
	my $got = q1("SELECT concat_ws(' | ', $ssn) $from");
	is($got, $want, $label);
}
agg_check('all rows: ssn_sum, ssn_avg, ssn_count of sx and sy = sum, avg, count of x and y',
	q{ssn_sum(sx), ssn_sum(sy), ssn_avg(sx), ssn_avg(sy), ssn_count(sx), ssn_count(sy)},
	q{sum(x), sum(y), avg(x), avg(y), count(x), count(y)}, 'FROM t');
agg_check('all rows: ssn_sum(sx * sy) (a dot product) = sum(x * y), ssn_sum(sx * sx), ssn_sum(sy * sy)',
	q{ssn_sum(sx * sy), ssn_sum(sx * sx), ssn_sum(sy * sy), ssn_avg(sx * sy)},
	q{sum(x::numeric * y), sum(x::numeric * x), sum(y * y), avg(x::numeric * y)}, 'FROM t');
agg_check('all rows: ssn_sum(2 * sx - sy + 1), ssn_sum(sx + sy), ssn_sum(-sy), ssn_sum((sx * sy) * 2 - sx), ssn_sum(0.5 * sx)',
	q{ssn_sum(2 * sx - sy + 1), ssn_sum(sx + sy), ssn_sum(-sy), ssn_sum((sx * sy) * 2 - sx), ssn_sum(0.5 * sx), ssn_count(sx + sy)},
	q{sum(2 * x::numeric - y + 1), sum(x::numeric + y), sum(-y), sum((x::numeric * y) * 2 - x), sum(0.5 * x), count(x::numeric + y)}, 'FROM t');
agg_check('numeric of scales 0 to 5: ssn_sum(sw), ssn_avg(sw), ssn_sum(sw * sy), ssn_sum(sw * sw) = sum, avg',
	q{ssn_sum(sw), ssn_avg(sw), ssn_sum(sw * sy), ssn_sum(sw * sw), ssn_avg(sw + sx)},
	q{sum(w), avg(w), sum(w * y), sum(w * w), avg(w + x)}, 'FROM t');
agg_check('WHERE x > 0 AND y < 0: sums, averages, counts, products',
	q{ssn_sum(sx), ssn_avg(sy), ssn_count(sy), ssn_sum(sx * sy)},
	q{sum(x), avg(y), count(y), sum(x::numeric * y)}, 'FROM t WHERE x > 0 AND y < 0');
agg_check('WHERE id BETWEEN 100 AND 110, FILTER (WHERE g % 2 = 0)',
	q{ssn_sum(sx) FILTER (WHERE g % 2 = 0), ssn_avg(sx - sy), ssn_sum(sx * sy) FILTER (WHERE g % 2 = 1)},
	q{sum(x) FILTER (WHERE g % 2 = 0), avg(x::numeric - y), sum(x::numeric * y) FILTER (WHERE g % 2 = 1)},
	'FROM t WHERE id BETWEEN 100 AND 110');
agg_check('a product of secrets of different rows: ssn_sum(a.sx * b.sy) over a self-join = sum(a.x * b.y)',
	q{ssn_sum(a.sx * b.sy), ssn_sum(a.sx - b.sx)}, q{sum(a.x::numeric * b.y), sum(a.x::numeric - b.x)},
	'FROM t a JOIN t b ON b.id = a.id + 1');
is(q1(q{SELECT concat_ws('|', coalesce(ssn_sum(sx)::text, 'NULL'), coalesce(ssn_avg(sy)::text, 'NULL'), ssn_count(sx),
	coalesce(ssn_sum(sx * sy)::text, 'NULL')) FROM t WHERE false}), 'NULL|NULL|0|NULL', 'no rows: ssn_sum, ssn_avg NULL, ssn_count 0');
is(q1(q{SELECT concat_ws('|', coalesce(ssn_sum(sx)::text, 'NULL'), coalesce(ssn_avg(sy)::text, 'NULL'), ssn_count(sx),
	coalesce(ssn_sum(sx * sy)::text, 'NULL')) FROM t WHERE g = 5}), 'NULL|NULL|0|NULL', 'only NULL secrets (group 5): NULL, NULL, 0');
{
	agg_check('the secret cancels out: ssn_sum(sx - sx), ssn_sum(sx * 0 + 1) = sum(x - x), sum(x * 0 + 1)',
		q{ssn_sum(sx - sx), ssn_sum(sx * 0 + 1)}, q{sum(x - x), sum(x * 0 + 1)}, 'FROM t');
}
my $gq = q{SELECT count(*) || '|' || count(*) FILTER (WHERE ok) || '|' || coalesce(string_agg(g || ': ' || detail, '; ') FILTER (WHERE NOT ok), '')
FROM (SELECT g, (s::text IS NOT DISTINCT FROM ps::text AND a::text IS NOT DISTINCT FROM pa::text AND c = pc
		AND d::text IS NOT DISTINCT FROM pd::text AND e::text IS NOT DISTINCT FROM pe::text) AS ok,
	concat_ws(' ', s, ps, a, pa, c, pc, d, pd, e, pe) AS detail
	FROM (SELECT g, ssn_sum(sx) AS s, sum(x) AS ps, ssn_avg(sy) AS a, avg(y) AS pa, ssn_count(sx) AS c, count(x) AS pc,
		ssn_sum(sx * sy) AS d, sum(x::numeric * y) AS pd, ssn_sum(2 * sx - sy + 1) AS e, sum(2 * x::numeric - y + 1) AS pe
		FROM t GROUP BY g) AS q) AS r};
my $ts = time;
is(q1($gq), '37|37|', 'GROUP BY g (37 groups, one all NULL): ssn_sum, ssn_avg, ssn_count, ssn_sum of a product and of 2x-y+1 equal the plaintext per group');
diag sprintf('GROUP BY with 4 computed aggregates over 37 groups: %.1f s', time - $ts);
is(q1(q{SELECT count(*) FROM (SELECT g, ssn_sum(sx) AS s FROM t GROUP BY g HAVING ssn_count(sx) > 5) q
	JOIN (SELECT g, sum(x) AS s FROM t GROUP BY g HAVING count(x) > 5) p USING (g) WHERE q.s = p.s}),
	q1(q{SELECT count(*) FROM (SELECT g FROM t GROUP BY g HAVING count(x) > 5) p}), 'GROUP BY ... HAVING ssn_count(sx) > 5');
step('aggregates');

# ---- 6a. QKD key material of an aggregate: per group, not per row
# keys node1 received (ledger: every key ID it fetched to open replies) and its link_stats
my $kq = q{SELECT coalesce((SELECT sum(size_bits) / 8 FROM ssn.key_ledger WHERE direction = 'receive' AND purpose IN ('compute', 'retrieve')), 0)
	|| '|' || coalesce((SELECT sum(key_bytes) FROM ssn.link_stats WHERE direction = 'receive'), 0)
	|| '|' || coalesce((SELECT sum(messages) FROM ssn.link_stats WHERE direction = 'receive'), 0)};
my $sq = q{SELECT coalesce(sum(key_bytes), 0) || '|' || coalesce(sum(messages), 0) FROM ssn.link_stats WHERE direction = 'send' AND peer = 'node1'};
sub keys_now
{
	my ($ledger, $ls, $lsmsg) = split /\|/, q1($kq);
	my ($sent, $sentmsg) = (0, 0);
	for my $i (2 .. $N)
	{
		my ($k, $m) = split /\|/, ($net->query($i, $sq) // '0|0');
		$sent += $k;
		$sentmsg += $m;
	}
	return { ledger => $ledger, ls => $ls, lsmsg => $lsmsg, sent => $sent, sentmsg => $sentmsg };
}
# The node worker adds the replies a session received to ssn.link_stats after its
# health check (ssn.peer_health.checked_at is that check's time): once a check has
# started after a statement, and the one after it has been recorded, the first one's
# flush of the replies is committed.
sub health_passes
{
	my ($passes) = @_;
	my $since = q1(q{SELECT clock_timestamp()});
	for (1 .. $passes)
	{
		$net->poll(1, qq{SELECT max(checked_at) > '$since' FROM ssn.peer_health}, 't', 120)
		  or diag "node1: no health check recorded after $since";
		$since = q1(q{SELECT max(checked_at) FROM ssn.peer_health});
	}
}
sub keys_used
{
	my ($sql) = @_;
	# replies of earlier statements reach ssn.link_stats after the worker's next health check
	health_passes(2);
	my $b = keys_now();
	my $r = q1($sql);
	health_passes(2);
	my $a = keys_now();
	# (and should one flush come late after all: wait for it, within bounds)
	my $deadline = time + 60;
	while ($a->{ls} - $b->{ls} < $a->{ledger} - $b->{ledger} && time < $deadline)
	{
		select(undef, undef, undef, 0.2);
		$a = keys_now();
	}
	return ($r, { map { $_ => $a->{$_} - $b->{$_} } keys %$a });
}
my ($r_all, $k_all) = keys_used(q{SELECT ssn_sum(sx) = sum(x) FROM t});
my ($r_10, $k_10) = keys_used(q{SELECT ssn_sum(sx) = sum(x) FROM t WHERE id <= 10});
my ($r_ret, $k_ret) = keys_used(q{SELECT count(*) FROM unnest((SELECT ssn_retrieve(array_agg(sx)) FROM t))});
is("$r_all $r_10", 't t', 'ssn_sum over all rows and over 10 rows are right');
diag sprintf('QKD key bytes node1 received (ledger) / link_stats receive / bytes the shareholders sent to node1: '
	  . 'ssn_sum of %d rows %d / %d / %d; of 10 rows %d / %d / %d; ssn_retrieve of %d values %d / %d / %d',
	$nx, $k_all->{ledger}, $k_all->{ls}, $k_all->{sent}, $k_10->{ledger}, $k_10->{ls}, $k_10->{sent},
	$nx, $k_ret->{ledger}, $k_ret->{ls}, $k_ret->{sent});
cmp_ok($k_all->{ledger}, '>', 0, "node1's key ledger: the aggregate's replies came under fresh QKD keys ($k_all->{ledger} bytes)");
ok($k_all->{ledger} <= 2 * $k_10->{ledger} && $k_10->{ledger} <= 2 * $k_all->{ledger},
	"key bytes for ssn_sum over $nx rows ($k_all->{ledger}) within 2x of those over 10 rows ($k_10->{ledger})");
cmp_ok($k_ret->{ledger}, '>', 4 * $k_all->{ledger},
	"retrieving the $nx values themselves costs more key material ($k_ret->{ledger} bytes) than summing them");
cmp_ok($k_all->{sent}, '>', 0, "the shareholders' link_stats count key bytes sent to node1 for the aggregate ($k_all->{sent})");
ok($k_all->{sent} <= 2 * $k_10->{sent} && $k_10->{sent} <= 2 * $k_all->{sent},
	"...about as many for $nx rows ($k_all->{sent}) as for 10 ($k_10->{sent})");
{
	cmp_ok($k_all->{ls}, '>', 0, "node1's ssn.link_stats: key bytes of 'receive' grew during the aggregate ($k_all->{ls})");
	is($k_all->{ls}, $k_all->{ledger}, "...as many as the key ledger says node1 received ($k_all->{ledger})");
}
step('key use');

# ---- 6b. a grouped query is one round: every group of a hashed aggregate (and every
# aggregate of a group) in one program, one reply from each shareholder asked
my $plan = join "\n", $net->query(1, "EXPLAIN (COSTS OFF) $gq");
like($plan, qr/HashAggregate/, 'the 37-group query is planned as a hashed aggregate');
my ($r_hash, $k_hash) = keys_used($gq);
is($r_hash, '37|37|', 'hashed: 37 groups, 4 computed aggregates each, equal the plaintext');
cmp_ok($k_hash->{lsmsg}, '>', 0, "hashed: node1 received replies ($k_hash->{lsmsg})");
cmp_ok($k_hash->{lsmsg}, '<=', $N - 1,
	"hashed: one round for the whole query, at most one reply per shareholder ($k_hash->{lsmsg} replies for 37 groups x 3 aggregates)");
my ($r_sort, $k_sort) = keys_used("SET enable_hashagg = off; $gq");
is($r_sort, '37|37|', 'sorted: the same results');
cmp_ok($k_sort->{lsmsg}, '>=', 36,
	"sorted: one round per group, the group's aggregates together ($k_sort->{lsmsg} replies)");
cmp_ok($k_sort->{lsmsg}, '<=', 37 * ($N - 1), '...and not one round per aggregate');
# a hashed aggregate whose groups keep coming while their rows outgrow work_mem: the
# rows are spooled to a temporary file and the states stay small, so the hash table
# does not spill into batches, each a round of its own: still one round.  (Each row 50
# times, grouped by copy and g: 1,850 groups of 20,000 rows, created one after the
# other; kept in the states, their rows took about 5 MB and spilled here.  The plain
# aggregates to compare with are hashed apart, with a work_mem of their own.)
my $gq50 = q{SELECT count(*) || '|' || count(*) FILTER (WHERE s = ps AND a = pa AND d = pd)
FROM (SELECT r, g, ssn_sum(sx) AS s, ssn_avg(sy) AS a, ssn_sum(sx * sy) AS d
	  FROM t, generate_series(1, 50) AS r WHERE g <> 5 GROUP BY r, g) AS q
JOIN (SELECT r, g, sum(x) AS ps, avg(y) AS pa, sum(x::numeric * y) AS pd
	  FROM t, generate_series(1, 50) AS r WHERE g <> 5 GROUP BY r, g) AS p USING (r, g)};
my $small = q{SET work_mem = '4MB'; SET hash_mem_multiplier = 1; SET enable_sort = off; };
my $plan50 = join("\n", $net->query(1, "${small}EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $gq50"));
ok($plan50 =~ /HashAggregate.*Batches: 1\s.*HashAggregate.*Batches: 1\s/s && $plan50 !~ /Batches: (?!1\s)/,
	'work_mem 4 MB, 1,800 groups of 19,500 rows: hashed aggregates of one batch each') or diag $plan50;
my ($r_spool, $k_spool) = keys_used("$small$gq50");
is($r_spool, '1800|1800', '...right results');
cmp_ok($k_spool->{lsmsg}, '<=', $N - 1, "...in one round ($k_spool->{lsmsg} replies): the rows were spooled, not kept in the states");
step('one round per query');

# ---- 3. ssn_store(expression): products re-shared to degree k-1, linear ones evaluated in place
# Known bug: while the contributors re-share concurrently, a receiver sometimes
# refuses a message of parts as "replayed key IDs" (the keys it had just announced
# were swept as 'lost' by another process's ledger write), and the commit fails.
# commit_computed retries then (the ids of a failed attempt are printed by the
# transaction before its COMMIT) and counts it for a TODO test at the end.
my $replays = 0;
my %failed_ids;
my $uuid_re = qr/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/;
sub commit_computed
{
	my ($body, $label) = @_;
	my ($rc, $out, $err);
	for my $attempt (1 .. 4)
	{
		($rc, $out, $err) = $net->psql(1, "BEGIN;\n$body;\nCOMMIT", timeout => 180);
		# the SSA's error names the contributor and the receiver; the receivers' logs say why
		last if $rc == 0 || $err !~ /could not deliver re-sharing parts/;
		$replays++;
		$failed_ids{$_} = 1 for $out =~ /$uuid_re/g;
		diag "$label: attempt $attempt failed at COMMIT (retried): $err" . join('', map { "$_\n" } grep { /refused/ }
			map { my $i = $_; map { "node$i: $_" } split /\n/, slurp_file($net->node($i)->logfile) } 1 .. $N);
	}
	return ($rc, $err, $out);
}
# what failed attempts left (parts, shares of secrets never committed): cleared
sub clear_failed
{
	return unless %failed_ids;
	my $ids = join(',', map { "'$_'" } sort keys %failed_ids);
	$net->query($_, "DELETE FROM ssn.held_part WHERE result_id IN ($ids); DELETE FROM ssn.held_part_batch WHERE batch_id IN ($ids);"
		  . " DELETE FROM ssn.held_share WHERE secret_id IN ($ids)")
	  for 1 .. $N;
}
my $before_secrets = q1(q{SELECT count(*) FROM ssn.secret});
# QKD key the contributors spend on parts: every node's key ledger, purpose 'reshare'
my $reshare_q = q{SELECT coalesce(sum(size_bits) / 8, 0) || '|' || count(*) FROM ssn.key_ledger WHERE direction = 'send' AND purpose = 'reshare'};
sub reshare_keys
{
	my ($bytes, $keys) = (0, 0);
	for my $i (1 .. $N)
	{
		my ($b, $k) = split /\|/, ($net->query($i, $reshare_q) // '0|0');
		($bytes, $keys) = ($bytes + $b, $keys + $k);
	}
	return ($bytes, $keys);
}
my ($rk_bytes0, $rk_keys0) = reshare_keys();
my $replays0 = $replays;
my ($rc, $err, $out) = commit_computed(q{UPDATE t SET p = ssn_store(sx * sy), l = ssn_store(sx + 5) RETURNING ssn_secret_id(p), ssn_secret_id(l)},
	'p = ssn_store(sx * sy)');
is($rc, 0, "UPDATE t SET p = ssn_store(sx * sy), l = ssn_store(sx + 5) commits $err");
clear_failed();
my $np = q1(q{SELECT count(*) FROM t WHERE x IS NOT NULL AND y IS NOT NULL});
{
	# each of the 2k-1 = 5 contributors sends a part of every product to the 4 other
	# holders: the part's value (32 bytes) spends pad, its header goes in clear (MAC only)
	my ($rk_bytes, $rk_keys) = reshare_keys();
	my ($kb, $nk) = ($rk_bytes - $rk_bytes0, $rk_keys - $rk_keys0);
	my $floor = 20 * 32 * $np;
	diag sprintf('degree reduction of %d products: %d bytes of QKD key in %d keys, %.1f per product (the values alone: 640)',
		$np, $kb, $nk, $kb / ($np || 1));
	cmp_ok($kb, '>=', $floor, "the parts' values are under one-time pad ($kb >= $floor key bytes)");
  SKIP:
	{
		skip 'a failed attempt was retried: its keys count too', 1 if $replays != $replays0;
		# plus per message a MAC key and a key's rounding: 20 links, a few messages each
		my $bound = int(1.2 * $floor) + 20 * 4 * 64;
		cmp_ok($kb, '<=', $bound,
			"the parts' headers spend no pad ($kb <= $bound key bytes; with them under the pad: over " . (20 * 72 * $np) . ')');
	}
}
is(q1(q{SELECT count(p) || '|' || count(l) || '|' || count(*) FILTER (WHERE ssn_secret_k(p) = 3 AND ssn_secret_n(p) = 5
		AND ssn_secret_holders(p) = '{1,2,3,4,5}' AND ssn_secret_id(p) IS NOT NULL AND ssn_secret_value_type(p) = 'numeric'::regtype)
	|| '|' || count(*) FILTER (WHERE ssn_secret_k(l) = 3 AND ssn_secret_n(l) = 5 AND ssn_secret_value_type(l) = 'bigint'::regtype)
	|| '|' || count(DISTINCT ssn_secret_id(p)) + count(DISTINCT ssn_secret_id(l)) FROM t}),
	"$np|$nx|$np|$nx|" . ($np + $nx), 'the stored results are secrets of their own: k = 3, n = 5, holders 1..5, an id each, typed');
is(q1(q{SELECT count(*) - } . $before_secrets . q{ FROM ssn.secret}), $np + $nx, "node1's catalog lists the " . ($np + $nx) . ' new secrets');
my $newids = q1(q{SELECT string_agg(quote_literal(i), ',') FROM (SELECT ssn_secret_id(p) AS i FROM t WHERE p IS NOT NULL
	UNION ALL SELECT ssn_secret_id(l) FROM t WHERE l IS NOT NULL) s});
my $nnew = $np + $nx;
for my $i (1 .. $N)
{
	is($net->query($i, qq{SELECT count(*) || '|' || count(DISTINCT secret_id) || '|' || count(*) FILTER (WHERE origin = 'node1'
			AND ssn_share_x(share) = $i AND ssn_share_k(share) = 3 AND ssn_share_n(share) = 5 AND ssn_share_degree(share) = 2)
		FROM ssn.held_share WHERE secret_id IN ($newids)}),
		"$nnew|$nnew|$nnew", "node$i holds exactly one share (x = $i, degree k-1 = 2) of each new secret");
	is($net->query($i, q{SELECT (SELECT count(*) FROM ssn.held_part) + (SELECT count(*) FROM ssn.held_part_batch)}), '0',
		"node$i: ssn.held_part and ssn.held_part_batch are empty afterwards");
}
is(q1(q{WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(p ORDER BY id)) AS vp,
		ssn_retrieve(array_agg(l ORDER BY id)) AS vl FROM t),
	r AS (SELECT u.* FROM a, unnest(a.ids, a.vp, a.vl) AS u(id, vp, vl))
SELECT count(*) FILTER (WHERE r.vp::numeric IS NOT DISTINCT FROM x::numeric * y AND r.vp IS NOT DISTINCT FROM (x::numeric * y)::text
	AND r.vl IS NOT DISTINCT FROM (x::numeric + 5)::text) FROM t JOIN r USING (id)}),
	$ROWS, 'the stored product retrieves as x * y, the stored sum as x + 5, for every row (bulk, from any 3)');
is(q1(q{SELECT count(*) FILTER (WHERE ssn_retrieve(p, NULL::numeric) = x::numeric * y) || '|' || count(*) FROM t WHERE id <= 40 AND p IS NOT NULL}),
	join('|', (q1(q{SELECT count(*) FROM t WHERE id <= 40 AND p IS NOT NULL})) x 2), 'ssn_retrieve(p, NULL::numeric) = x * y row by row');
agg_check('the stored product multiplies again: ssn_sum(p * sx) = sum(x*y*x), ssn_sum(p * p), ssn_sum(p), ssn_sum(l * sy)',
	q{ssn_sum(p * sx), ssn_sum(p * p), ssn_sum(p), ssn_sum(l * sy), ssn_avg(p - l)},
	q{sum(x::numeric * y * x), sum((x::numeric * y) * (x::numeric * y)), sum(x::numeric * y), sum((x::numeric + 5) * y),
		avg(x::numeric * y - (x::numeric + 5))}, 'FROM t');
is(q1(q{WITH a AS (SELECT array_agg(id ORDER BY id) AS ids, ssn_retrieve(array_agg(p * sx ORDER BY id)) AS v FROM t),
	r AS (SELECT u.* FROM a, unnest(a.ids, a.v) AS u(id, v))
SELECT count(*) FILTER (WHERE r.v::numeric IS NOT DISTINCT FROM x::numeric * y * x) FROM t JOIN r USING (id)}),
	$ROWS, 'ssn_retrieve(p * sx) = x * y * x for every row');
# a product of a stored product, stored again (degree reduced twice), in a transaction with other work
($rc, $err) = commit_computed(q{UPDATE t SET q = ssn_store(p * sx) WHERE id <= 60 RETURNING ssn_secret_id(q); SAVEPOINT s;
	UPDATE t SET q = ssn_store(sx * 1000) WHERE id > 60; ROLLBACK TO s}, 'q = ssn_store(p * sx)');
is($rc, 0, "UPDATE t SET q = ssn_store(p * sx) (a savepoint's stores rolled back) commits $err");
clear_failed();
is(q1(q{SELECT count(*) FILTER (WHERE ssn_retrieve(q, NULL::numeric) = x::numeric * y * x) || '|' || count(q) || '|'
	|| count(*) FILTER (WHERE id <= 60 AND x IS NOT NULL AND y IS NOT NULL) FROM t}),
	join('|', (q1(q{SELECT count(*) FROM t WHERE id <= 60 AND x IS NOT NULL AND y IS NOT NULL})) x 3),
	'ssn_store(p * sx) retrieves as x*y*x; the rolled-back savepoint stored nothing');
is(join(',', map { $net->query($_, q{SELECT (SELECT count(*) FROM ssn.held_part) + (SELECT count(*) FROM ssn.held_part_batch)}) // '?' } 1 .. $N),
	'0,0,0,0,0', 'ssn.held_part and ssn.held_part_batch empty on all nodes');
{
	is(q1(q{CREATE TABLE z AS SELECT id, ssn_store(sx - sx + 5) AS z FROM t WHERE id <= 3;
		SELECT string_agg(ssn_retrieve(z), ',' ORDER BY id) FROM z}), '5,5,5', 'ssn_store(sx - sx + 5) retrieves as 5');
}
step('ssn_store(expression)');

# ---- 5. no plaintext on the shareholders: a distinctive value, its sums and products
my $V = '987654321987';
is(q1(qq{CREATE TABLE m (id int, v int8, sv ssn_secret);
INSERT INTO m SELECT i, CASE i WHEN 1 THEN $V ELSE i END, ssn_store(CASE i WHEN 1 THEN $V ELSE i END) FROM generate_series(1, 5) i;
SELECT count(*) FROM m}), '5', "a distinctive value ($V) stored among 4 small ones");
ok($net->wait_delivered(1, 180), 'delivered');
my ($msum, $msq, $mavg) = split /\|/, q1(q{SELECT sum(v) || '|' || sum(v::numeric * v) || '|' || avg(v) FROM m});
is(q1(q{SELECT ssn_sum(sv) || '|' || ssn_sum(sv * sv) || '|' || ssn_avg(sv) FROM m}), "$msum|$msq|$mavg",
	"ssn_sum ($msum), ssn_sum(sv * sv) ($msq), ssn_avg: right");
my ($vsq, $vp1) = split /\|/, q1(q{SELECT (v::numeric * v) || '|' || (v + 1) FROM m WHERE id = 1});
($rc, $err) = commit_computed(q{CREATE TABLE m2 AS SELECT ssn_store(sv * sv) AS s2, ssn_store(sv + 1) AS s1 FROM m WHERE id = 1;
	SELECT ssn_secret_id(s2), ssn_secret_id(s1) FROM m2}, 'ssn_store(sv * sv)');
is($rc, 0, "ssn_store(sv * sv), ssn_store(sv + 1) commit $err");
clear_failed();
is(q1(q{SELECT ssn_retrieve(s2) || '|' || ssn_retrieve(s1) FROM m2}), "$vsq|$vp1",
	"its square ($vsq) and its successor stored by the shareholders retrieve right");
my @needles = ($V, $msum, $vsq, $vp1, $msq);
my $vbytes = unpack('H*', pack('Q<', 987654321987) . ("\0" x 24));
for my $i (2 .. $N)
{
	my $cond = join(' OR ', map { "share::text LIKE '%$_%'" } @needles);
	is($net->query($i, qq{SELECT (SELECT count(*) FROM ssn.held_share WHERE $cond OR position('\\x$vbytes'::bytea IN ssn_share_payload(share)) > 0)
		+ (SELECT count(*) FROM ssn.held_part WHERE $cond)}), '0',
		"node$i: no share or part holds the value, its sum or square (decimal or as a field element)");
	$net->query($i, 'CHECKPOINT');
	my ($gout, $gerr) = ('', '');
	IPC::Run::run([ 'grep', '-rlaF', (map { ('-e', $_) } @needles), $net->node($i)->data_dir, $net->node($i)->logfile ],
		'>', \$gout, '2>', \$gerr);
	is($gout, '', "node$i: none of them in its server log or data directory");
}
step('no plaintext');

# ---- 7. errors
# text secrets, k = 2 secrets, and (3,4) secrets (held by shareholders 1..4)
$net->query(1, q{CREATE TABLE tx AS SELECT i, ssn_store('text ' || i) AS s, ssn_store(i::int8, 2, 5) AS k2,
	ssn_store(i::int8 * 7, 3, 4) AS s4 FROM generate_series(1, 3) i});
ok($net->wait_delivered(1, 180), 'text, k = 2 and (3,4) secrets delivered');
# one transaction: products of two sharings (k = 2 and k = 3: two re-sharings), and a
# sum of a (3,4) and a (3,5) secret (shared among the 4 shareholders holding both)
{
	my ($rc2, $out2, $err2) = $net->psql(1, q{BEGIN;
CREATE TABLE two AS SELECT tx.i, ssn_store(tx.k2 * tx.k2) AS p2, ssn_store(u.sx * u.sy) AS p3,
	ssn_store(tx.s4 + u.sx) AS l4, tx.i::numeric * tx.i AS e2, u.x::numeric * u.y AS e3, tx.i::numeric * 7 + u.x AS e4
FROM tx JOIN (SELECT row_number() OVER (ORDER BY id) AS rn, * FROM t WHERE x IS NOT NULL AND y IS NOT NULL) u ON u.rn = tx.i;
COMMIT}, timeout => 180);
	is($rc2, 0, 'two re-sharings (k = 2, k = 3) and a sum over different shareholders commit in one transaction') or diag $err2;
	is(q1(q{SELECT count(*) FILTER (WHERE ssn_retrieve(p2, NULL::numeric) = e2 AND ssn_retrieve(p3, NULL::numeric) = e3
		AND ssn_retrieve(l4, NULL::numeric) = e4) || '|' || count(*) || '|' || min(ssn_secret_n(l4)) FROM two}),
		'3|3|4', '...and each retrieves right; the sum is held by the 4 shareholders of both');
}
($rc, $err) = fails(q{SELECT ssn_sum(s) FROM tx});
ok($rc != 0 && $err =~ /ERROR:\s+42804/ && $err =~ /secrets? of type text/, 'ssn_sum of a text secret: 42804, type text')
  or diag $err;
($rc, $err) = fails(q{SELECT ssn_avg(s) FROM tx});
ok($rc != 0 && $err =~ /ERROR:\s+42804/, 'ssn_avg of a text secret: 42804') or diag $err;
($rc, $err) = fails(q{SELECT ssn_retrieve(s + 1) FROM tx});
ok($rc != 0 && $err =~ /ERROR:\s+42804/ && $err =~ /cannot add a secret of type text/, 'text secret + 1: 42804 "cannot add a secret of type text"')
  or diag $err;
($rc, $err) = fails(q{SELECT t.sx * tx.s FROM t, tx WHERE t.id = 10 LIMIT 1});
ok($rc != 0 && $err =~ /ERROR:\s+42804/ && $err =~ /cannot multiply a secret of type text/, 'sx * text secret: 42804') or diag $err;
($rc, $err) = fails(q{SELECT ssn_store(s) FROM tx});
ok($rc != 0 && $err =~ /ERROR:\s+42804/, 'ssn_store(text secret): 42804') or diag $err;
is(q1(q{SELECT ssn_count(s) FROM tx}), '3', 'ssn_count counts text secrets');
($rc, $err) = fails(q{SELECT (sx * sy) * sx FROM t WHERE id = 10});
ok($rc != 0 && $err =~ /ERROR:\s+0A000/ && $err =~ /HINT:.*ssn_store/, '(sx * sy) * sx: 0A000 with a hint to ssn_store the product')
  or diag $err;
($rc, $err) = fails(q{SELECT ssn_sum(sx * sy * sx) FROM t});
ok($rc != 0 && $err =~ /HINT:.*ssn_store/, 'ssn_sum(sx * sy * sx): refused the same way') or diag $err;
($rc, $err) = fails(q{SELECT t.sx + tx.k2 FROM t, tx WHERE t.id = 10 LIMIT 1});
ok($rc != 0 && $err =~ /different thresholds/, 'a k=3 secret + a k=2 secret: refused (different thresholds)') or diag $err;
($rc, $err) = fails(q{SELECT ssn_sum(s) FROM (SELECT sx AS s FROM t WHERE id = 10 UNION ALL SELECT k2 FROM tx) u});
ok($rc != 0 && $err =~ /different thresholds/, 'ssn_sum over k=3 and k=2 secrets: refused') or diag $err;
is(q1(q{SELECT string_agg(ssn_retrieve(t.sx + tx.s4) || ' ' || (t.x + 7 * tx.i) || ' ' || ssn_secret_holders(t.sx + tx.s4)::text, ',' ORDER BY tx.i)
	FROM t, tx WHERE t.id = 10}) =~ s/(-?\d+) \1 \{1,2,3,4\}/ok/gr, 'ok,ok,ok',
	'a (3,5) secret + a (3,4) secret: computed by the shareholders of both (1..4), right');
agg_check('ssn_sum over rows of (3,5) and (3,4) secrets (shareholders 1..4 hold them all)',
	q{ssn_sum(s), ssn_avg(s)}, q{sum(v), avg(v)},
	'FROM (SELECT sx AS s, x AS v FROM t WHERE id <= 20 UNION ALL SELECT s4, i * 7 FROM tx) u');
($rc, $err) = fails(q{SELECT t.sx * tx.s4 FROM t, tx WHERE t.id = 10 LIMIT 1});
ok($rc != 0 && $err =~ /ERROR:\s+22023/ && $err =~ /needs 5 shareholders that hold every input, but 4 do/,
	'a (3,5) secret * a (3,4) secret: refused, a product needs 5 shareholders of both (22023)') or diag $err;
is(q1(q{SELECT (SELECT ssn_sum(k2 * k2) FROM tx) || '|' || (SELECT ssn_retrieve(k2 * k2 - k2) FROM tx WHERE i = 3)}), '14|6', 'k = 2: products of secrets work (need 3)');
my $h = q1(q{SELECT (sx + sy)::text FROM t WHERE id = 10});
($rc, $out, $err) = $net->psql(2, "SELECT ssn_retrieve('$h'::ssn_secret)");
ok($rc != 0 && $err =~ /not known on this node/, 'a computed secret of node1 retrieved on node2: refused, not known there') or diag $err;
# another role may not compute on the owner's secrets
$net->query(1, q{CREATE ROLE mallory LOGIN; GRANT SELECT, UPDATE ON t TO mallory});
($rc, $err) = fails(q{SELECT ssn_sum(sx) FROM t}, user => 'mallory');
ok($rc != 0 && $err =~ /ERROR:\s+42501/, 'another role: ssn_sum of the owner\'s secrets refused (42501)') or diag $err;
($rc, $err) = fails(q{SELECT ssn_retrieve(sx + 0) FROM t WHERE id = 10}, user => 'mallory');
ok($rc != 0 && $err =~ /ERROR:\s+42501/, 'another role: ssn_retrieve(sx + 0) refused (42501)') or diag $err;
($rc, $err) = fails(q{UPDATE t SET q = ssn_store(sx + 0) WHERE id = 10}, user => 'mallory');
ok($rc != 0 && $err =~ /ERROR:\s+42501/, 'another role: ssn_store(sx + 0) refused at commit (42501)') or diag $err;
step('errors');

# ---- 4. two shareholders down: n - k tolerated for sums, not for products
$net->stop(4);
$net->stop(5);
ok($net->poll(1, q{SELECT string_agg(peer, ',' ORDER BY peer) FROM ssn.peer_health WHERE NOT reachable}, 'node4,node5', 120),
	'node4 and node5 stopped: node1 sees them unreachable');
agg_check('node4, node5 down: ssn_sum(sx), ssn_avg(sy), ssn_avg(sx), ssn_count, ssn_sum(2 * sx - sy + 1) still right',
	q{ssn_sum(sx), ssn_avg(sy), ssn_avg(sx), ssn_count(sy), ssn_sum(2 * sx - sy + 1)},
	q{sum(x), avg(y), avg(x), count(y), sum(2 * x::numeric - y + 1)}, 'FROM t');
agg_check('node4, node5 down: the stored product is a degree k-1 secret: ssn_sum(p), ssn_retrieve(p) work',
	q{ssn_sum(p), (SELECT string_agg(v, ',') FROM unnest((SELECT ssn_retrieve(array_agg(p ORDER BY id)) FROM t WHERE id <= 30)) v)},
	q{sum(x::numeric * y), (SELECT string_agg((x::numeric * y)::text, ',' ORDER BY id) FROM t WHERE id <= 30)}, 'FROM t');
($rc, $err) = fails(q{SELECT ssn_sum(sx * sy) FROM t});
ok($rc != 0, 'node4, node5 down: ssn_sum(sx * sy) fails (a product needs all 2k-1 = 5)');
like($err, qr/ERROR:\s+08006/, '...SQLSTATE 08006');
like($err, qr/of the 5 shares needed/, '...saying 5 shares are needed');
like($err, qr/node4.*node5|node5.*node4/s, '...naming node4 and node5');
diag "the error:\n$err";
($rc, $err) = fails(q{SELECT ssn_retrieve(sx * sy) FROM t WHERE id = 10});
ok($rc != 0 && $err =~ /08006/ && $err =~ /node4/ && $err =~ /node5/, 'ssn_retrieve(sx * sy) fails the same way') or diag $err;
agg_check('node4, node5 down: a product of k = 2 secrets needs only 3: ssn_sum(k2 * k2); a (3,4) sum needs 3 of 1..4',
	q{ssn_sum(k2 * k2), ssn_sum(s4 * 2 + 1)}, q{sum(i * i), sum(i * 7 * 2 + 1)}, 'FROM tx');
# storing a product needs its 5 contributors; a linear result all its shareholders: nothing is left behind
my $secrets = q1(q{SELECT count(*) FROM ssn.secret});
($rc, $err, $out) = fails(q{BEGIN; SELECT string_agg(quote_literal(ssn_secret_id(ssn_store(sx * sy))), ',') FROM t WHERE id BETWEEN 10 AND 12; COMMIT});
ok($rc != 0 && $err =~ /08006/ && $err =~ /3 of the 5 shareholders/, 'ssn_store(sx * sy) with node4, node5 down: the commit fails (3 of the 5 needed)')
  or diag $err;
my $lost = $out;
($rc, $err, $out) = fails(q{BEGIN; SELECT string_agg(quote_literal(ssn_secret_id(ssn_store(sx + 1))), ',') FROM t WHERE id BETWEEN 10 AND 12; COMMIT});
ok($rc != 0 && $err =~ /08006/ && $err =~ /node[45]/, 'ssn_store(sx + 1) with node4, node5 down: the commit fails, naming a missing shareholder')
  or diag $err;
$lost .= ",$out" if $out;
is(q1(q{SELECT count(*) FROM ssn.secret}), $secrets, "node1's catalog: no secret from the failed commits");
$lost =~ s/^,|,$//g;
for my $i (1 .. 3)
{
	# the shareholders that were reached staged their shares, unconfirmed: none is held
	is($net->query($i, "SELECT count(*) FROM ssn.held_share WHERE secret_id IN ($lost)"), '0',
		"node$i holds no share of the secrets whose commit failed");
	is($net->query($i, "SELECT (SELECT count(*) FROM ssn.held_part WHERE result_id IN ($lost) AND contributors > 0)"
		  . " + (SELECT count(*) FROM ssn.held_part_batch WHERE batch_id IN ($lost) AND contributor > 0)"), '0',
		"node$i: only unconfirmed staged shares of them wait (the worker prunes them after a day)");
	$net->query($i, "DELETE FROM ssn.held_part WHERE result_id IN ($lost); DELETE FROM ssn.held_part_batch WHERE batch_id IN ($lost)");
}
# a product of k = 2 secrets: 3 contributors reachable, but the new secret's shares go to all 5
($rc, $err, $out) = fails(q{BEGIN; SELECT ssn_secret_id(ssn_store(k2 * k2)) FROM tx WHERE i = 2; COMMIT});
ok($rc != 0 && $err =~ /08006/ && $err =~ /node[45]/, 'ssn_store(k2 * k2) with node4, node5 down: fails at commit, naming a missing shareholder')
  or diag $err;
my ($k2id) = $out =~ $uuid_re;
is(join(',', map { $net->query($_, "SELECT count(*) FROM ssn.held_share WHERE secret_id = '" . ($k2id // '?') . "'") // '?' } 1 .. 3),
	'0,0,0', '...no node holds a share of it');
# the parts delivered before the failure wait in ssn.held_part_batch (the worker prunes them after a day)
diag 'ssn.held_part_batch on node1..node3 after the failed re-sharing: '
  . join(',', map { $net->query($_, "SELECT count(*) FROM ssn.held_part_batch") // '?' } 1 .. 3);
$net->query($_, "DELETE FROM ssn.held_part WHERE result_id = '$k2id'; DELETE FROM ssn.held_part_batch WHERE batch_id = '$k2id'") for 1 .. 3;
$net->start(4);
$net->start(5);
ok($net->poll(1, q{SELECT count(*) FROM ssn.peer_health WHERE NOT reachable}, '0', 120), 'node4, node5 back: reachable');
agg_check('node4, node5 back: ssn_sum(sx * sy) works again', q{ssn_sum(sx * sy)}, q{sum(x::numeric * y)}, 'FROM t');
step('two down');

# ---- 3b. a confirmation meeting a share already held: the same share is no error,
# another one is refused and alarmed, and the held share stays
{
	my $sid = $net->query(2, q{SELECT secret_id FROM ssn.held_share
		WHERE origin = 'node1' AND ssn_share_field(share) = 'prime' ORDER BY secret_id LIMIT 1});
	my $held = q{SELECT share::text FROM ssn.held_share WHERE origin = 'node1' AND secret_id = '} . $sid . q{'};
	my $before = $net->query(2, $held);
	# one staged share under its id: a share batch of one (its length as a base-128
	# varint, then the share)
	my $stage = sub {
		my ($share_sql) = @_;
		$net->query(2, qq{DELETE FROM ssn.held_part_batch WHERE batch_id = '$sid';
			INSERT INTO ssn.held_part_batch (origin, batch_id, contributor, contributors, parts)
			SELECT 'node1', '$sid', 0, 0, CASE WHEN length(b) < 128 THEN set_byte('\\x00'::bytea, 0, length(b))
				ELSE set_byte(set_byte('\\x0000'::bytea, 0, (length(b) & 127) | 128), 1, length(b) >> 7) END || b
			FROM (SELECT ssn_share_send($share_sql) AS b FROM ssn.held_share
				  WHERE origin = 'node1' AND secret_id = '$sid') s});
	};
	my $confirm = sub {
		my ($out, $err) = ('', '');
		IPC::Run::run([ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $net->conninfo(1, 2),
				'-c', "SELECT ssn.channel_confirm('node1', ARRAY['$sid']::uuid[])" ],
			'>', \$out, '2>', \$err, IPC::Run::timeout(120));
		chomp $out;
		return ($out, $err);
	};
	my $mark = $net->query(2, q{SELECT coalesce(max(id), 0) FROM ssn.alarm});
	$stage->('share');
	my ($out, $err) = $confirm->();
	is($out, 'confirmed 0', 'confirming a share node2 already holds, the very same: no error, none added') or diag $err;
	# three times the share, under the same id (the id of a sum is the XOR of its terms')
	$stage->('ssn_share_add(share, ssn_share_add(share, share))');
	($out, $err) = $confirm->();
	like($err, qr/23505.*1 shares to confirm differ from the shares held under their ids/s,
		'confirming another share under a held id: refused (23505)');
	is($net->query(2, $held), $before, '... the held share stays');
	is($net->query(2, qq{SELECT count(*) FROM ssn.alarm WHERE id > $mark AND object = 'node1'
		AND problem = 'different share for a held slot'}), '1', '... and node2 raises an alarm naming node1');
	$net->query(2, qq{DELETE FROM ssn.held_part_batch WHERE batch_id = '$sid'});
	$net->query(2, qq{UPDATE ssn.alarm SET cleared_at = now() WHERE id > $mark AND cleared_at IS NULL});
}

# ---- in the end: every held share belongs to a secret of node1; no key used twice
my %known = map { $_ => 1 } split /\n/, q1(q{SELECT id FROM ssn.secret});
my %lost = map { s/'//gr => 1 } split /,/, $lost;
for my $i (1 .. $N)
{
	my @held = split /\n/, ($net->query($i, q{SELECT secret_id FROM ssn.held_share WHERE origin = 'node1'}) // '');
	my @orphans = grep { !$known{$_} && !$lost{$_} } @held;	# those of the failed linear stores: above
	is(scalar(@orphans), 0, "node$i: each of its " . scalar(@held) . " shares belongs to a secret in node1's catalog")
	  or diag 'orphans: ' . join(',', @orphans[0 .. ($#orphans > 4 ? 4 : $#orphans)]);
	is($net->query($i, q{SELECT (SELECT count(*) FROM ssn.held_part) + (SELECT count(*) FROM ssn.held_part_batch)}), '0',
		"node$i: no re-sharing part left over");
}
ok($net->wait_all_delivered(180), 'all outboxes empty');
{
	is($replays, 0, 'no commit of ssn_store(product) failed because a receiver refused parts');
}
$net->check_key_ledger('end of 022');

$net->teardown;
diag sprintf('022: %.0f s', time - $t0);
done_testing();
