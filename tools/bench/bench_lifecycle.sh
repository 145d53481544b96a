#!/usr/bin/env bash
# tools/bench/bench_lifecycle.sh - the end of a secret's life and of its SSA on a
# local SSN (tools/ssn-local: a KME simulator and five nodes, k = 3, n = 5), side by
# side with plain PostgreSQL in the same run:
#   * records: the store's messages, which carry the secrets' records with their
#     shares (kind 'stored'), and messages of records alone (none for a store);
#   * take-over: node1 stores SSN_BENCH_LIFE_ROWS (100000) int8 secrets, is stopped,
#     node3..node5 allow the take-over and node2 runs ssn.take_over('node1'): its
#     time, and its ratio to the time the store of the same secrets took;
#   * deletion: ssn_delete of every secret on node2 (the new SSA) until every
#     holder dropped its share, against a plain DELETE of as many rows.
# Run as root.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

rows=${SSN_BENCH_LIFE_ROWS:-100000}
chunk=20000
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

qn() { "$sl" psql "$1" --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }
timed() { local t0; t0=$(now); qn "$1" "$2" >/dev/null; since "$t0"; }
ratio() { printf '%.1f' "$(echo "$1 / $2" | bc -l)"; }
delivered() {
	[ "$(qn "$1" "SELECT ssn.wait_delivered('3600 s')")" = t ] || { echo "delivery did not finish" >&2; exit 1; }
}

say "local SSN, unlimited key rate"
"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
qn 1 "CREATE TABLE s (id int, h ssn_secret); CREATE TABLE p (id int, v int8)"
qn 2 "CREATE TABLE s (id int, h ssn_secret); CREATE TABLE p (id int, v int8)"

say "store: $rows int8 secrets on node1"
t0=$(now)
for ((lo = 1; lo <= rows; lo += chunk)); do
	qn 1 "INSERT INTO s SELECT g, ssn_store(g::int8) FROM generate_series($lo, $((lo + chunk - 1))) g"
done
delivered 1
t_store=$(since "$t0")
# messages as node2 received them: a store's records travel with its shares
read -r msgs_st msgs_rec <<<"$(qn 2 "SELECT count(*) FILTER (WHERE kind = 'stored'), count(*) FILTER (WHERE kind = 'records')
	FROM ssn.message_seen WHERE sender = 'node1'" | tr '|' ' ')"
printf '  %-52s %10.1f s  (%.0f secrets/s)\n' "store and deliver" "$t_store" "$(echo "$rows / $t_store" | bc -l)"
printf '  %-52s %10s  (records in clear, shares under the pad)\n' "messages node1 -> node2, records and shares" "$msgs_st"
printf '  %-52s %10s\n' "messages node1 -> node2, records alone" "$msgs_rec"
qn 1 "\\copy (SELECT id, h FROM s) TO '$scratch/handles.tsv'"
qn 2 "\\copy s FROM '$scratch/handles.tsv'"
qn 2 "INSERT INTO p SELECT g, g FROM generate_series(1, $rows) g"

say "take-over: node1 lost, node2 takes its $rows secrets over"
"$sl" stop-node 1 --dir "$dir" >/dev/null
for i in 3 4 5; do qn "$i" "SELECT ssn.allow_take_over('node1', 'node2')" >/dev/null; done
t_take=$(timed 2 "SELECT ssn.take_over('node1')")
taken=$(qn 2 "SELECT count(*) FROM ssn.secret")
printf '  %-52s %10.1f s  (%.0f secrets/s; %s taken over)\n' "ssn.take_over" "$t_take" "$(echo "$rows / $t_take" | bc -l)" "$taken"
printf '  %-52s %10s\n' "take-over / store of the same secrets" "$(ratio "$t_take" "$t_store")"
t_check=$(timed 2 "SELECT count(ssn_retrieve(h)) FROM (SELECT h FROM s ORDER BY id LIMIT 1000) x")
printf '  %-52s %10.2f s\n' "node2: 1000 of them retrieved afterwards" "$t_check"

say "deletion: ssn_delete of the $rows secrets on node2, plain DELETE of as many rows"
t_pdel=$(timed 2 "DELETE FROM p")
t0=$(now)
qn 2 "SELECT ssn_delete(array_agg(h)) FROM s" >/dev/null
t_sdel=$(since "$t0")
for i in 3 4 5; do
	until [ "$(qn "$i" "SELECT count(*) FROM ssn.held_share WHERE origin = 'node2'")" = 0 ]; do sleep 0.2; done
done
t_sgone=$(since "$t0")
printf '  %-52s %10.3f s\n' "plain DELETE" "$t_pdel"
printf '  %-52s %10.1f s  (ratio %s)\n' "ssn_delete, committed" "$t_sdel" "$(ratio "$t_sdel" "$t_pdel")"
printf '  %-52s %10.1f s  (ratio %s)\n' "ssn_delete, every live holder's share gone" "$t_sgone" "$(ratio "$t_sgone" "$t_pdel")"
