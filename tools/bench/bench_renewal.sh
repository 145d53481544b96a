#!/usr/bin/env bash
# tools/bench/bench_renewal.sh - long-term security (ssn 1.3) on a local SSN
# (tools/ssn-local: a KME simulator and six nodes; node6 holds no share index, so
# the secrets are shared over nodes 1..5 with k = 3, n = 5, and node6 is the spare
# that replaces a failed shareholder), measured side by side in one run:
#   * renewal of shares (ssn_renew, proactive secret sharing): secrets per second and
#     QKD key bytes per renewed secret, for int8 secrets stored unverifiable
#     (verify => false) and verifiable (Pedersen commitments, the default);
#   * verification cost at store and at retrieval, verifiable against unverifiable
#     int8: one INSERT ... ssn_store of many values (commit, and until delivered),
#     one array ssn_retrieve of all of them (the bulk case), single ssn_retrieve
#     calls (per row), ssn_verify (per call); the target: verification at most
#     doubles retrieval time for int8; and the QKD key bytes per retrieved secret;
#   * re-sharing (ssn.reshare) after node3 fails: its shares rebuilt on node6,
#     secrets per second; node1 re-shares its unverifiable secrets and node2 its
#     verifiable ones (each SSA re-shares the secrets it stored).  Then node6 takes
#     share index 3 in every catalog, node4 and node5 are stopped as well, and the
#     secrets must still come back right from nodes 1, 2 and 6 alone.
# Run as root.  SSN_BENCH_RENEW (20000) secrets of each kind renewed,
# SSN_BENCH_RESHARE (10000) of each kind re-shared, SSN_BENCH_VERIFY (20000) of each
# kind stored and retrieved; SSN_BENCH_BATCH (1000) secrets per renewal or
# re-sharing batch; SSN_BENCH_CHUNK (100000) rows per INSERT while storing and
# secrets per array ssn_retrieve in the final check.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

nren=${SSN_BENCH_RENEW:-20000}
nres=${SSN_BENCH_RESHARE:-10000}
nver=${SSN_BENCH_VERIFY:-20000}
batch=${SSN_BENCH_BATCH:-1000}
chunk=${SSN_BENCH_CHUNK:-100000}
singles=200
[ "$singles" -le "$nver" ] || singles=$nver
verifies=50
[ "$verifies" -le "$nver" ] || verifies=$nver
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

qn() { "$sl" psql "$1" --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }
q() { qn 1 "$1"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
per_s() { printf '%.0f' "$(echo "$1 / $2" | bc -l)"; }
per() { printf '%.1f' "$(echo "$1 / $2" | bc -l)"; }
row() { printf '  %-50s' "$1"; }	# a report line's label
# measure NAME SQL: run SQL on node1 twice; NAME_t = seconds of the second (warm)
# run, NAME_v = its result
measure() {
	local t0 v
	q "$2" >/dev/null
	t0=$(now)
	v=$(q "$2")
	printf -v "$1_t" '%s' "$(since "$t0")"
	printf -v "$1_v" '%s' "$v"
}
same() { [ "$(q "SELECT '$1'::numeric = '$2'::numeric")" = t ] && echo "equal" || echo "DIFFERENT"; }
delivered() {	# delivered [NODE]: the shares stored from NODE (default 1) all delivered
	[ "$(qn "${1:-1}" "SELECT ssn.wait_delivered('3600 s')")" = t ] ||
		{ echo "delivery did not finish on node${1:-1}" >&2; exit 1; }
}
all_nodes="1 2 3 4 5 6"
each() {	# each "NODES" SQL: run SQL on every node of the list
	local i
	for i in $1; do qn "$i" "$2" >/dev/null; done
}
# key counters, "A B C": A = key_bytes in node1's ssn.link_stats (both directions);
# B = bytes of the keys in node1's key ledger (ssn.key_ledger, every key it obtained);
# C = key_bytes sent on all links (the 'send' rows of the link_stats of the nodes
# listed: the nodes up)
keys() {
	local i t=0 v
	for i in ${1:-$all_nodes}; do
		v=$(qn "$i" "SELECT coalesce(sum(key_bytes), 0) FROM ssn.link_stats WHERE direction = 'send'")
		t=$((t + v))
	done
	echo "$(q "SELECT coalesce(sum(key_bytes), 0) FROM ssn.link_stats")" \
		"$(q "SELECT coalesce(sum(size_bits), 0) / 8 FROM ssn.key_ledger")" "$t"
}
# the counters once settled: node1's worker adds the replies a session received to
# ssn.link_stats at its next health check (ssn.health_interval, 2 s on ssn-local)
keys_settled() { sleep 4.5; keys "${1:-}"; }
kdiff() {	# kdiff BEFORE AFTER: the growth of the three counters
	local a1 b1 c1 a2 b2 c2
	read -r a1 b1 c1 <<<"$1"
	read -r a2 b2 c2 <<<"$2"
	echo "$((a2 - a1)) $((b2 - b1)) $((c2 - c1))"
}
keys_of() {	# keys_of SQL: the counters' growth during one statement on node1
	local before
	before=$(keys_settled)
	q "$1" >/dev/null
	kdiff "$before" "$(keys_settled)"
}
field() { cut -d' ' -f"$1" <<<"$2"; }
# Benchmark shortcut: the SSA (node NODE) forgets every secret it stored, so that the
# next renewal or re-sharing run (which covers all secrets of the node) covers only
# the set stored next.  Deleting from ssn.secret as superuser is fine in a benchmark;
# the shareholders keep the orphaned shares, which nothing reads any more.
forget() { qn "$1" "DELETE FROM ssn.secret"; }
# store NODE TABLE COUNT VERIFY: COUNT int8 secrets into a new TABLE (id, v, h) on
# NODE, in INSERTs of $chunk rows, all delivered
store() {
	local node=$1 t=$2 cnt=$3 ver=$4 lo
	qn "$node" "CREATE TABLE $t (id int, v int8, h ssn_secret)"
	for ((lo = 1; lo <= cnt; lo += chunk)); do
		qn "$node" "INSERT INTO $t SELECT g, g::int8 * 7919 - 50000000, ssn_store(g::int8 * 7919 - 50000000, 3, 5, verify => $ver)
			FROM generate_series($lo, $((lo + chunk - 1 < cnt ? lo + chunk - 1 : cnt))) g"
	done
	delivered "$node"
}
# the share tables just grew: vacuum them now rather than have autovacuum run during
# the measurements
settle() { local i; for i in $all_nodes; do qn "$i" "VACUUM ANALYZE"; qn "$i" "CHECKPOINT"; done; }
# sum of the values of TABLE on NODE retrieved in arrays of $chunk secrets (one statement)
retrieved_sum() {
	qn "$1" "SELECT sum(x::numeric) FROM (SELECT (id - 1) / $chunk AS c, array_agg(h) AS a FROM $2 GROUP BY 1) g,
		unnest(ssn_retrieve(g.a)) AS x"
}

say "local SSN of six nodes, unlimited key rate; node6 is the spare (no share index)"
"$sl" up --nodes 6 --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
each "$all_nodes" "UPDATE ssn.shareholder SET share_index = NULL WHERE name = 'node6'"
for i in $all_nodes; do
	c=$(qn "$i" "SELECT string_agg(name || '=' || coalesce(share_index::text, '-'), ',' ORDER BY name) FROM ssn.shareholder")
	[ "$c" = "node1=1,node2=2,node3=3,node4=4,node5=5,node6=-" ] ||
		{ echo "node$i's catalog is not as expected: $c" >&2; exit 1; }
done
# warm-up on both SSAs (connections, KME status caches, signing key, the retrieval
# and renewal paths), then forgotten
for i in 1 2; do
	qn "$i" "CREATE TABLE w AS SELECT g AS id, ssn_store(g::int8, 3, 5, verify => g % 2 = 0) AS h FROM generate_series(1, 1000) g"
	delivered "$i"
	qn "$i" "SELECT count(*) FROM unnest(ssn_retrieve((SELECT array_agg(h) FROM w)))" >/dev/null
	qn "$i" "SELECT ssn_retrieve(h, 0::int8) FROM w LIMIT 10" >/dev/null
	run=$(qn "$i" "SELECT ssn_renew($batch)")
	[ "$(qn "$i" "SELECT ssn.wait_renewal($run, '3600 s')")" = 'done' ] || { echo "warm-up renewal on node$i failed" >&2; exit 1; }
	qn "$i" "DROP TABLE w"
	forget "$i"
done

# ---------------------------------------------------------------- 1. renewal
# renew TABLE COUNT: renew every secret of node1 (only TABLE's are left); sets
# r_wall (ssn_renew until ssn.wait_renewal), r_dur (the run's duration in
# ssn.job_history), r_kb (its key_bytes), r_kbs (key_bytes_per_secret), r_msg
# (messages), r_batches, r_keys (the key counters' growth) and r_ok (values right)
renew() {
	local t=$1 cnt=$2 t0 k0 run st h
	k0=$(keys_settled)
	t0=$(now)
	run=$(q "SELECT ssn_renew($batch)")
	st=$(q "SELECT ssn.wait_renewal($run, '3600 s')")
	r_wall=$(since "$t0")
	r_keys=$(kdiff "$k0" "$(keys_settled)")
	h=$(q "SELECT secrets_renewed || '|' || extract(epoch FROM duration) || '|' || key_bytes || '|'
		|| coalesce(round(key_bytes_per_secret, 1)::text, '-') || '|' || messages || '|' || batches || '|' || coalesce(error, '')
		FROM ssn.job_history WHERE run = $run")
	IFS='|' read -r r_n r_dur _ r_kbs r_msg r_batches r_err <<<"$h"
	if [ "$st" != 'done' ] || [ "$r_n" != "$cnt" ]; then
		echo "renewal run $run of $t: state $st, $r_n of $cnt secrets renewed: $r_err" >&2
		exit 1
	fi
	# the values after renewal (the shares switched to a new epoch)
	r_ok=$(same "$(retrieved_sum 1 "$t")" "$(q "SELECT sum(v) FROM $t")")
}

say "renewal: $nren unverifiable int8 secrets (verify => false)"
store 1 ren_u "$nren" false
settle
renew ren_u "$nren"
ru_wall=$r_wall ru_dur=$r_dur ru_kbs=$r_kbs ru_msg=$r_msg ru_batches=$r_batches ru_keys=$r_keys ru_ok=$r_ok
q "DROP TABLE ren_u"
forget 1

say "renewal: $nren verifiable int8 secrets"
store 1 ren_v "$nren" true
settle
renew ren_v "$nren"
rv_wall=$r_wall rv_dur=$r_dur rv_kbs=$r_kbs rv_msg=$r_msg rv_batches=$r_batches rv_keys=$r_keys rv_ok=$r_ok
q "DROP TABLE ren_v"
forget 1

# ---------------------------------------------------------------- 3. verification cost
say "verification cost: $nver int8 values stored and retrieved, unverifiable and verifiable"
vstore() {	# vstore TABLE VERIFY: one INSERT; sets s_commit and s_deliv (seconds)
	local t0
	q "CREATE TABLE $1 (id int, v int8, h ssn_secret)"
	q "CHECKPOINT"
	t0=$(now)
	q "INSERT INTO $1 SELECT g, g::int8 * 7919 - 50000000, ssn_store(g::int8 * 7919 - 50000000, 3, 5, verify => $2)
		FROM generate_series(1, $nver) g"
	s_commit=$(since "$t0")
	delivered
	s_deliv=$(since "$t0")
}
vstore vf_u false
su_commit=$s_commit su_deliv=$s_deliv
vstore vf_v true
sv_commit=$s_commit sv_deliv=$s_deliv
settle
for t in vf_u vf_v; do
	# (a) all in one array; (b) one by one; (c) ssn_verify: rows of the expected status
	measure "${t}_arr" "SELECT sum(x::numeric) = (SELECT sum(v) FROM $t) FROM unnest(ssn_retrieve((SELECT array_agg(h) FROM $t))) AS x"
	measure "${t}_one" "SELECT count(*) FROM (SELECT v, h FROM $t ORDER BY id LIMIT $singles) s WHERE ssn_retrieve(h, 0::int8) = v"
	measure "${t}_ver" "SELECT count(*) FILTER (WHERE v.status ~ '^(valid|present \(not verifiable\)|not verifiable)') || '/' || count(*)
		FROM (SELECT h FROM $t ORDER BY id LIMIT $verifies) s, ssn_verify(s.h) AS v"
done
k_ret_u=$(keys_of "SELECT count(*) FROM unnest(ssn_retrieve((SELECT array_agg(h) FROM vf_u)))")
k_ret_v=$(keys_of "SELECT count(*) FROM unnest(ssn_retrieve((SELECT array_agg(h) FROM vf_v)))")
q "DROP TABLE vf_u, vf_v"
forget 1

# ---------------------------------------------------------------- 2. re-sharing
say "re-sharing: $nres unverifiable secrets from node1, $nres verifiable from node2; node3 fails"
store 1 rs_u "$nres" false
store 2 rs_v "$nres" true
settle
"$sl" stop-node 3 --dir "$dir" >/dev/null
up_nodes="1 2 4 5 6"
# reshare NODE: ssn.reshare('node3', 'node6') on NODE; sets x_t, x_n (secrets
# re-shared, or FAILED: the error) and x_keys
reshare() {
	local k0 t0 out
	k0=$(keys_settled "$up_nodes")
	t0=$(now)
	# its NOTICE (the index moved; what to do on the other nodes) goes to a log
	if out=$(qn "$1" "SELECT ssn.reshare('node3', 'node6', $batch)" 2>>"$scratch/reshare.log"); then
		x_t=$(since "$t0")
		x_n=$out
	else
		x_t=$(since "$t0")
		x_n="FAILED: $(tail -n 3 "$scratch/reshare.log" | tr '\n' ' ')"
	fi
	x_keys=$(kdiff "$k0" "$(keys_settled "$up_nodes")")
}
reshare 1
xu_t=$x_t xu_n=$x_n xu_keys=$x_keys
reshare 2
xv_t=$x_t xv_n=$x_n xv_keys=$x_keys
# the other catalogs follow (node1 and node2 moved the index themselves; the order
# matters: share_index is UNIQUE)
each "4 5 6" "UPDATE ssn.shareholder SET share_index = NULL WHERE name = 'node3';
	UPDATE ssn.shareholder SET share_index = 3 WHERE name = 'node6'"
cat_ok=yes
for i in 1 2 4 5 6; do
	c=$(qn "$i" "SELECT string_agg(name || '=' || coalesce(share_index::text, '-'), ',' ORDER BY name) FROM ssn.shareholder")
	[ "$c" = "node1=1,node2=2,node3=-,node4=4,node5=5,node6=3" ] || cat_ok="NO: node$i has $c"
done
"$sl" stop-node 4 --dir "$dir" >/dev/null
"$sl" stop-node 5 --dir "$dir" >/dev/null
sleep 5	# the SSAs' workers see node4 and node5 down (health checks every 2 s)
check() {	# check NODE TABLE: "retrieved: equal|DIFFERENT, ssn_sum: ..." with nodes 1, 2, 6 alone
	local node=$1 t=$2 plain r s
	plain=$(qn "$node" "SELECT sum(v) FROM $t")
	if r=$(retrieved_sum "$node" "$t" 2>"$scratch/check.err"); then
		r="$(same "$r" "$plain") ($r, plain $plain)"
	else
		r="FAILED: $(head -n 2 "$scratch/check.err" | tr '\n' ' ')"
	fi
	if s=$(qn "$node" "SELECT ssn_sum(h) FROM $t" 2>"$scratch/check.err"); then
		s="$(same "$s" "$plain")"
	else
		s="FAILED: $(head -n 2 "$scratch/check.err" | tr '\n' ' ')"
	fi
	echo "array ssn_retrieve sum: $r; ssn_sum: $s"
}
chk_u=$(check 1 rs_u)
chk_v=$(check 2 rs_v)
# node6's rebuilt verifiable shares against their signed commitments
v6=$(qn 2 "SELECT count(*) FILTER (WHERE v.status = 'valid') || ' of ' || count(*)
	FROM (SELECT h FROM rs_v ORDER BY id LIMIT $verifies) s, ssn_verify(s.h) AS v WHERE v.shareholder = 'node6'" 2>&1 |
	tr '\n' ' ') || true

# ---------------------------------------------------------------- report
target() { if [ "$(echo "$1 <= 2 * $2" | bc -l)" = 1 ]; then echo "met"; else echo "NOT met"; fi; }
rate_line() {	# rate_line LABEL SECONDS COUNT
	row "$1"; printf '%8.2f %12s' "$2" "$(per_s "$3" "$2")"
}
xline() {	# xline LABEL SECONDS RESULT KEYS
	if [[ "$3" =~ ^[0-9]+$ ]] && [ "$3" -gt 0 ]; then
		row "$1"; printf '%8.2f %12s   %s secrets, %s key bytes sent (%s per secret)' \
			"$2" "$(per_s "$3" "$2")" "$3" "$(field 3 "$4")" "$(per "$(field 3 "$4")" "$3")"
	else
		row "$1"; printf '%8.2f   %s' "$2" "$3"
	fi
}
vline() {	# vline LABEL UNVERIFIABLE VERIFIABLE [TARGET]
	row "$1"; printf '%8.3f %12.3f %8sx' "$2" "$3" "$(ratio "$3" "$2")"
	[ -z "${4:-}" ] || printf '   at most 2x: %s' "$(target "$3" "$2")"
}
cat <<EOT

================ ssn benchmark: long-term security (local SSN, k=3, n=5, spare node6) ================
$(printf '%-52s%8s %12s' "renewal (ssn_renew, batches of $batch)" seconds "secrets/s")
$(rate_line "$nren unverifiable int8, run duration" "$ru_dur" "$nren")
$(rate_line "... ssn_renew until ssn.wait_renewal" "$ru_wall" "$nren")
$(rate_line "$nren verifiable int8, run duration" "$rv_dur" "$nren")
$(rate_line "... ssn_renew until ssn.wait_renewal" "$rv_wall" "$nren")
  ratio verifiable / unverifiable (run duration): $(ratio "$rv_dur" "$ru_dur")x
$(printf '  %-48s%14s %14s' "QKD key bytes per renewed secret" unverifiable verifiable)
$(printf '  %-48s%14s %14s' "ssn.job_history key_bytes_per_secret" "$ru_kbs" "$rv_kbs")
$(printf '  %-48s%14s %14s' "all links sent (link_stats, 6 nodes) per secret" "$(per "$(field 3 "$ru_keys")" "$nren")" "$(per "$(field 3 "$rv_keys")" "$nren")")
$(printf '  %-48s%14s %14s' "node1 key ledger per secret" "$(per "$(field 2 "$ru_keys")" "$nren")" "$(per "$(field 2 "$rv_keys")" "$nren")")
$(printf '  %-48s%14s %14s' "messages (batches)" "$ru_msg ($ru_batches)" "$rv_msg ($rv_batches)")
  values after renewal (array ssn_retrieve sum): unverifiable $ru_ok, verifiable $rv_ok

$(printf '%-52s%8s %12s %9s' "verification cost, $nver int8 values" unverif. verifiable ratio)
$(vline "store: one INSERT ... ssn_store, committed" "$su_commit" "$sv_commit")
$(vline "store: ... until all shares delivered" "$su_deliv" "$sv_deliv")
$(vline "retrieve: one array of $nver (bulk)" "$vf_u_arr_t" "$vf_v_arr_t" target)
$(vline "retrieve: $singles single ssn_retrieve (per row)" "$vf_u_one_t" "$vf_v_one_t" target)
$(vline "ssn_verify of $verifies handles (per call)" "$vf_u_ver_t" "$vf_v_ver_t")
  results right: array sums $vf_u_arr_v / $vf_v_arr_v (t = equal to the plain sum); single $vf_u_one_v / $vf_v_one_v of $singles;
  ssn_verify rows of the expected status: $vf_u_ver_v / $vf_v_ver_v
$(printf '  %-48s%14s %14s' "QKD key bytes per retrieved secret (array)" unverifiable verifiable)
$(printf '  %-48s%14s %14s' "all links sent (link_stats, 6 nodes)" "$(per "$(field 3 "$k_ret_u")" "$nver")" "$(per "$(field 3 "$k_ret_v")" "$nver")")
$(printf '  %-48s%14s %14s' "node1 link_stats (both directions)" "$(per "$(field 1 "$k_ret_u")" "$nver")" "$(per "$(field 1 "$k_ret_v")" "$nver")")
$(printf '  %-48s%14s %14s' "node1 key ledger" "$(per "$(field 2 "$k_ret_u")" "$nver")" "$(per "$(field 2 "$k_ret_v")" "$nver")")

$(printf '%-52s%8s %12s' "re-sharing after node3 failed: onto node6" seconds "secrets/s")
$(xline "node1: $nres unverifiable int8 (ssn.reshare)" "$xu_t" "$xu_n" "$xu_keys")
$(xline "node2: $nres verifiable int8 (ssn.reshare)" "$xv_t" "$xv_n" "$xv_keys")
  catalogs of nodes 1, 2, 4, 5, 6 give node6 share index 3: $cat_ok
  with node3, node4 and node5 down (nodes 1, 2, 6 left):
    node1, unverifiable: $chk_u
    node2, verifiable:   $chk_v
    node6's shares of $verifies verifiable secrets valid (ssn_verify): $v6
=======================================================================================================
EOT
