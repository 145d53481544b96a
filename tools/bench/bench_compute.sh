#!/usr/bin/env bash
# tools/bench/bench_compute.sh - computing on shares across the network (ssn 1.2) on a
# local SSN (tools/ssn-local: a KME simulator and five nodes, k = 3, n = 5, all on
# this machine), measured side by side with plain PostgreSQL on node1 in the same run:
#   * ssn_sum, ssn_avg and the dot product ssn_sum(a * b), evaluated by the
#     shareholders on their shares, against sum, avg and sum(a * b) on a plain table
#     of the same values, as ratios (the second, warm, run of each);
#   * QKD key material per aggregate over 1000, 100000 and all rows (node1's
#     ssn.link_stats, node1's key ledger, and the key sent on all links of the
#     network): it should not grow with the number of rows;
#   * ssn_sum grouped by SSN_BENCH_GROUPS (10000) groups over all rows against the
#     plain grouped sum, as a ratio, and the replies node1 received for it (one
#     round for the whole query: at most one reply per shareholder);
#   * degree reduction: ssn_store(a * b) of many products in one transaction (the
#     shareholders re-share each product over OTP channels at COMMIT), products per
#     second, checked with ssn_sum against the plain sum(a * b).
# Run as root.  SSN_BENCH_AGG_ROWS (1000000) rows of two int8 secrets each,
# SSN_BENCH_PRODUCTS (100000) products stored, SSN_BENCH_CHUNK (100000) rows per
# INSERT while storing the secrets.
# Two builds side by side: SSN_BENCH_BUILDS="NAME=DIR NAME=DIR ..." (each DIR a
# PostgreSQL copy with that build of ssn installed, as `make install DESTDIR=DIR`
# makes it; see SSN_PG_PREFIX in tools/lib/common.sh) measures only the degree
# reduction of SSN_BENCH_PRODUCTS products, on a fresh local SSN per build holding
# that many pairs, the builds taking turns SSN_BENCH_ROUNDS times (default 2).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

rows=${SSN_BENCH_AGG_ROWS:-1000000}
prods=${SSN_BENCH_PRODUCTS:-100000}
groups=${SSN_BENCH_GROUPS:-10000}
chunk=${SSN_BENCH_CHUNK:-100000}
[ "$prods" -le "$rows" ] || prods=$rows
small=1000
[ "$small" -le "$rows" ] || small=$rows
mid=100000
[ "$mid" -le "$rows" ] || mid=$rows
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

qn() { "$sl" psql "$1" --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }
q() { qn 1 "$1"; }
timed() { local t0; t0=$(now); q "$1" >/dev/null; since "$t0"; }
ratio() { printf '%.1f' "$(echo "$1 / $2" | bc -l)"; }
row() { printf '  %-52s' "$1"; }	# a report line's label
title() { printf '%-54s%8s %16s' "$1" seconds "ratio to plain"; [ -z "${2:-}" ] || printf ' %12s' "$2"; }
# measure NAME SQL: run SQL twice; NAME_t = seconds of the second (warm) run,
# NAME_v = its result
measure() {
	local t0 v
	q "$2" >/dev/null
	t0=$(now)
	v=$(q "$2")
	printf -v "$1_t" '%s' "$(since "$t0")"
	printf -v "$1_v" '%s' "$v"
}
same() { [ "$(q "SELECT '$1'::numeric = '$2'::numeric")" = t ] && echo "equal" || echo "DIFFERENT"; }
delivered() {
	[ "$(q "SELECT ssn.wait_delivered('3600 s')")" = t ] || { echo "delivery did not finish" >&2; exit 1; }
}
# key counters, "A B C": A = key_bytes in node1's ssn.link_stats (both directions);
# B = bytes of the keys in node1's key ledger (ssn.key_ledger, every key it obtained);
# C = key_bytes sent on all links (the 'send' rows of the five nodes' link_stats)
keys() {
	local i t=0 v
	for i in 1 2 3 4 5; do
		v=$(qn "$i" "SELECT coalesce(sum(key_bytes), 0) FROM ssn.link_stats WHERE direction = 'send'")
		t=$((t + v))
	done
	echo "$(q "SELECT coalesce(sum(key_bytes), 0) FROM ssn.link_stats")" \
		"$(q "SELECT coalesce(sum(size_bits), 0) / 8 FROM ssn.key_ledger")" "$t"
}
kdiff() {	# kdiff BEFORE AFTER: the growth of the three counters
	local a1 b1 c1 a2 b2 c2
	read -r a1 b1 c1 <<<"$1"
	read -r a2 b2 c2 <<<"$2"
	echo "$((a2 - a1)) $((b2 - b1)) $((c2 - c1))"
}
keys_of() {	# keys_of SQL: the counters' growth during one statement
	local before
	# node1's worker adds the replies a session received to ssn.link_stats at its
	# next health check (ssn.health_interval, 2 s on ssn-local): let it, before and after
	sleep 4.5
	before=$(keys)
	q "$1" >/dev/null
	sleep 4.5
	kdiff "$before" "$(keys)"
}
replies_of() {	# replies_of SQL: replies node1 received during one statement
	local before
	sleep 4.5
	before=$(q "SELECT coalesce(sum(messages), 0) FROM ssn.link_stats WHERE direction = 'receive'")
	q "$1" >/dev/null
	sleep 4.5
	echo $(($(q "SELECT coalesce(sum(messages), 0) FROM ssn.link_stats WHERE direction = 'receive'") - before))
}
kfmt() { local a b c; read -r a b c <<<"$1"; printf '%18s %14s %16s' "$a" "$b" "$c"; }
field() { cut -d' ' -f"$1" <<<"$2"; }

# a fresh local SSN with $1 pairs of int8 secrets in s (and in clear in p)
pairs_up() {
	"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
	q "CREATE TABLE p (id int, a int8, b int8); CREATE TABLE s (id int, a ssn_secret, b ssn_secret)"
	q "INSERT INTO p SELECT g, (g::int8 * 7919) % 100000 - 50000, g % 1000 FROM generate_series(1, $1) g"
	q "VACUUM ANALYZE p"
	for ((lo = 1; lo <= $1; lo += chunk)); do
		q "INSERT INTO s SELECT id, ssn_store(a), ssn_store(b) FROM p WHERE id BETWEEN $lo AND $((lo + chunk - 1))"
	done
	delivered
	for i in 1 2 3 4 5; do qn "$i" "VACUUM ANALYZE"; qn "$i" "CHECKPOINT"; done
}

if [ -n "${SSN_BENCH_BUILDS:-}" ]; then
	declare -A dr_t
	for round in $(seq "${SSN_BENCH_ROUNDS:-2}"); do
		for b in $SSN_BENCH_BUILDS; do
			name=${b%%=*}
			export SSN_PG_PREFIX=${b#*=} SSN_NO_INSTALL=1
			PG_BIN=$SSN_PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin
			say "$name (round $round): $prods pairs, then their products"
			pairs_up "$prods"
			t0=$(now)
			q "CREATE TABLE prod AS SELECT id, ssn_store(a * b) AS v FROM s" >/dev/null
			t=$(since "$t0")
			[ "$(q "SELECT ssn_sum(v) = (SELECT sum(a * b) FROM p) FROM prod")" = t ] ||
				{ echo "$name: the products' sum is wrong" >&2; exit 1; }
			dr_t[$name]+=" $(printf '%.0f' "$(echo "$prods / $t" | bc -l)")"
			"$sl" down --dir "$dir" >/dev/null 2>&1
		done
	done
	echo
	echo "degree reduction, $prods products in one transaction, committed (products/s, each round):"
	for b in $SSN_BENCH_BUILDS; do
		name=${b%%=*}
		printf '  %-8s %s\n' "$name" "${dr_t[$name]}"
	done
	exit 0
fi

say "local SSN, unlimited key rate"
"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
q "CREATE TABLE p (id int, a int8, b int8); CREATE TABLE s (id int, a ssn_secret, b ssn_secret)"
# warm-up (first touch of shared buffers, connections, KME status caches, compute path)
q "CREATE TABLE w AS SELECT g AS id, ssn_store(g::int8) AS v FROM generate_series(1, 2000) g"
delivered
q "SELECT ssn_sum(v), ssn_sum(v * v) FROM w" >/dev/null
q "DROP TABLE w"

say "setup: $rows rows of two int8 values, plain and as secrets"
t_pins=$(timed "INSERT INTO p SELECT g, (g::int8 * 7919) % 100000 - 50000, g % 1000 FROM generate_series(1, $rows) g")
q "VACUUM ANALYZE p"
t0=$(now)
for ((lo = 1; lo <= rows; lo += chunk)); do
	q "INSERT INTO s SELECT id, ssn_store(a), ssn_store(b) FROM p WHERE id BETWEEN $lo AND $((lo + chunk - 1))"
done
t_sins=$(since "$t0")
delivered
t_sdel=$(since "$t0")
# every node: the share tables just grew by millions of rows; vacuum them now rather
# than have autovacuum run during the measurements
for i in 1 2 3 4 5; do qn "$i" "VACUUM ANALYZE"; qn "$i" "CHECKPOINT"; done

say "aggregates over $rows rows: plain and by the shareholders (second run of each)"
measure p_sum "SELECT sum(a) FROM p"
measure s_sum "SELECT ssn_sum(a) FROM s"
measure p_avg "SELECT avg(a) FROM p"
measure s_avg "SELECT ssn_avg(a) FROM s"
measure p_dot "SELECT sum(a * b) FROM p"
measure s_dot "SELECT ssn_sum(a * b) FROM s"
measure p_cnt "SELECT count(a) FROM p"
measure s_cnt "SELECT ssn_count(a) FROM s"

say "grouped: $groups groups over $rows rows (second run of each)"
g_plain="SELECT count(*) || ' ' || sum(s) FROM (SELECT id % $groups AS g, sum(a) AS s FROM p GROUP BY 1) q"
g_ssn="SELECT count(*) || ' ' || sum(s) FROM (SELECT id % $groups AS g, ssn_sum(a) AS s FROM s GROUP BY 1) q"
measure p_grp "$g_plain"
measure s_grp "$g_ssn"
# a hashed aggregate is one round per hash batch: EXPLAIN ANALYZE says how many
batches() { q "$1 EXPLAIN (ANALYZE, COSTS OFF) SELECT id % $groups AS g, ssn_sum(a) FROM s GROUP BY 1" |
	sed -nE 's/.*(Hash|Group)Aggregate.*/\1Aggregate/p; s/.*Batches: ([0-9]+).*/\1 batches/p' | paste -sd' '; }
g_plan=$(batches "")
g_replies=$(replies_of "$g_ssn")
# with work_mem for the groups' programs (about 20 bytes per row): one batch, one round
big_wm="SET work_mem = '256MB';"
measure p_grpw "$big_wm $g_plain"
measure s_grpw "$big_wm $g_ssn"
g_planw=$(batches "$big_wm")
g_wrong=$(q "SELECT count(*) FROM (SELECT id % $groups AS g, ssn_sum(a) AS s FROM s GROUP BY 1) x
	FULL JOIN (SELECT id % $groups AS g, sum(a) AS s FROM p GROUP BY 1) y USING (g) WHERE x.s IS DISTINCT FROM y.s")

say "key material per aggregate"
delivered
k_small=$(keys_of "SELECT ssn_sum(a) FROM s WHERE id <= $small")
k_mid=$(keys_of "SELECT ssn_sum(a) FROM s WHERE id <= $mid")
k_all=$(keys_of "SELECT ssn_sum(a) FROM s")
k_dot=$(keys_of "SELECT ssn_sum(a * b) FROM s")
indep() {	# indep N: is counter N the same for the three row counts?
	local x y z
	x=$(field "$1" "$k_small")
	y=$(field "$1" "$k_mid")
	z=$(field "$1" "$k_all")
	if [ "$x" != "$y" ] || [ "$y" != "$z" ]; then
		echo "NO: $x, $y and $z bytes"
	elif [ "$x" = 0 ]; then
		echo "nothing counted (0 bytes)"
	else
		echo "yes: $x bytes for $small, $mid and $rows rows"
	fi
}

say "degree reduction: ssn_store(a * b) of $prods products in one transaction"
delivered
q "CHECKPOINT"
t_pprod=$(timed "CREATE TABLE pprod AS SELECT id, a * b AS v FROM p WHERE id <= $prods")
k_prod0=$(keys)
t0=$(now)
# a failure here is reported with the figures above, not fatal to the whole run
if prod_err=$(q "CREATE TABLE prod AS SELECT id, ssn_store(a * b) AS v FROM s WHERE id <= $prods" 2>&1); then
	t_sprod=$(since "$t0")
	delivered
	t_sprod_del=$(since "$t0")
	k_prod=$(kdiff "$k_prod0" "$(keys)")
	n_prod=$(q "SELECT count(*) FROM prod")
	v_pprod=$(q "SELECT sum(a * b) FROM p WHERE id <= $prods")
	v_sprod=$(q "SELECT ssn_sum(v) FROM prod")
	# a few products one by one (ssn_retrieve rebuilds each from k shares)
	step=$((prods / 10 > 0 ? prods / 10 : 1))
	spot=$(q "SELECT count(*) FROM prod x JOIN p y USING (id) WHERE x.id % $step = 0 AND ssn_retrieve(x.v)::numeric = y.a * y.b")
	spot_n=$(q "SELECT count(*) FROM prod WHERE id % $step = 0")
else
	t_sprod=
	prod_err=$(tr '\n' ' ' <<<"$prod_err")
fi
held=0
for i in 1 2 3 4 5; do held=$((held + $(qn "$i" "SELECT (SELECT count(*) FROM ssn.held_part) + (SELECT count(*) FROM ssn.held_part_batch)"))); done

pps() { printf '%.0f' "$(echo "$1 / $2" | bc -l)"; }
if [ "$(echo "$s_sum_t <= 20 * $p_sum_t" | bc -l)" = 1 ]; then target=met; else target="NOT met"; fi
if [ -n "$t_sprod" ]; then
	dr_lines="$(row "ssn_store(a * b), committed (re-shared at COMMIT)")$(printf '%8.2f %16s %12s' "$t_sprod" "$(ratio "$t_sprod" "$t_pprod")x" "$(pps "$prods" "$t_sprod")")
$(row "... and until ssn.wait_delivered")$(printf '%8.2f %16s %12s' "$t_sprod_del" "$(ratio "$t_sprod_del" "$t_pprod")x" "$(pps "$prods" "$t_sprod_del")")
  key bytes: node1 link_stats $(field 1 "$k_prod"), node1 ledger $(field 2 "$k_prod"), all links sent $(field 3 "$k_prod")
      = $(printf '%.1f' "$(echo "$(field 3 "$k_prod") / $prods" | bc -l)") key bytes sent per product
  $n_prod products stored; ssn_sum of them $v_sprod (plain sum(a * b) $v_pprod): $(same "$v_sprod" "$v_pprod")
  products retrieved one by one and right: $spot of $spot_n"
else
	dr_lines="$(row "ssn_store(a * b), committed (re-shared at COMMIT)")  FAILED:
      $prod_err"
fi
cat <<EOT

================ ssn benchmark: computing on shares (local SSN, k=3, n=5) ================
$(title "setup, $rows rows of two int8 values")
$(row "plain INSERT")$(printf '%8.2f' "$t_pins")
$(row "2 x ssn_store, committed ($chunk rows per INSERT)")$(printf '%8.2f %16s' "$t_sins" "$(ratio "$t_sins" "$t_pins")x")
$(row "2 x ssn_store until all shares delivered")$(printf '%8.2f %16s' "$t_sdel" "$(ratio "$t_sdel" "$t_pins")x")
$(title "aggregates over $rows rows (second, warm run)")
$(row "sum(a)")$(printf '%8.2f' "$p_sum_t")
$(row "ssn_sum(a)")$(printf '%8.2f %16s' "$s_sum_t" "$(ratio "$s_sum_t" "$p_sum_t")x")   target: within 20x ($target)
      $s_sum_v (plain $p_sum_v): $(same "$s_sum_v" "$p_sum_v")
$(row "avg(a)")$(printf '%8.2f' "$p_avg_t")
$(row "ssn_avg(a)")$(printf '%8.2f %16s' "$s_avg_t" "$(ratio "$s_avg_t" "$p_avg_t")x")
      $s_avg_v (plain $p_avg_v): $(same "$s_avg_v" "$p_avg_v")
$(row "sum(a * b)")$(printf '%8.2f' "$p_dot_t")
$(row "ssn_sum(a * b), dot product (2k-1 shareholders)")$(printf '%8.2f %16s' "$s_dot_t" "$(ratio "$s_dot_t" "$p_dot_t")x")
      $s_dot_v (plain $p_dot_v): $(same "$s_dot_v" "$p_dot_v")
$(row "count(a)")$(printf '%8.2f' "$p_cnt_t")
$(row "ssn_count(a) (needs no shareholder)")$(printf '%8.2f %16s' "$s_cnt_t" "$(ratio "$s_cnt_t" "$p_cnt_t")x")
      $s_cnt_v (plain $p_cnt_v): $(same "$s_cnt_v" "$p_cnt_v")
$(row "sum(a) GROUP BY id % $groups")$(printf '%8.2f' "$p_grp_t")
$(row "ssn_sum(a) GROUP BY id % $groups")$(printf '%8.2f %16s' "$s_grp_t" "$(ratio "$s_grp_t" "$p_grp_t")x")   target: within 30x
      $g_plan (one round per batch); reply messages node1 received: $g_replies
      groups and total: $s_grp_v (plain $p_grp_v); groups whose sum differs: $g_wrong
$(row "the same, work_mem 256MB: sum(a)")$(printf '%8.2f' "$p_grpw_t")
$(row "ssn_sum(a)")$(printf '%8.2f %16s' "$s_grpw_t" "$(ratio "$s_grpw_t" "$p_grpw_t")x")   $g_planw
$(printf '%-44s%18s %14s %16s' "QKD key bytes per aggregate" "node1 link_stats" "node1 ledger" "all links sent")
$(printf '  %-42s' "ssn_sum(a), $small rows")$(kfmt "$k_small")
$(printf '  %-42s' "ssn_sum(a), $mid rows")$(kfmt "$k_mid")
$(printf '  %-42s' "ssn_sum(a), $rows rows")$(kfmt "$k_all")
$(printf '  %-42s' "ssn_sum(a * b), $rows rows")$(kfmt "$k_dot")
  independent of the row count?  node1 link_stats: $(indep 1)
                                 node1 ledger:     $(indep 2)
                                 all links sent:   $(indep 3)
$(title "degree reduction: ssn_store(a * b), $prods products" products/s)
$(row "plain CREATE TABLE AS SELECT a * b")$(printf '%8.2f' "$t_pprod")
$dr_lines
  re-sharing parts left waiting on the shareholders (ssn.held_part, 5 nodes): $held
===========================================================================================
EOT
[ -n "$t_sprod" ] || { echo "degree reduction failed (see above)" >&2; exit 1; }
