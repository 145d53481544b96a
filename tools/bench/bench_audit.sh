#!/usr/bin/env bash
# tools/bench/bench_audit.sh - what the audit trail (ssn.audit_log) costs per
# operation, on a local SSN (tools/ssn-local: five nodes, k = 3), side by side in
# the same run:
#   * SSN_BENCH_AUDIT_OPS (1000) one-value store transactions and as many single
#     ssn_retrieve calls, each in a transaction of its own (one audit row each):
#     their time per operation;
#   * the audit's own parts on the same node: appending a row as the SSA does at
#     commit (one INSERT), chaining it (ssn.audit_chain, the node worker's step) and
#     checking it (ssn.audit_verify), per row, over 10,000 rows;
#   * those parts as a fraction of a store and of a retrieval.
# Run as root.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

ops=${SSN_BENCH_AUDIT_OPS:-1000}
rows=10000
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

qn() { "$sl" psql "$1" --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }

say "local SSN"
"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
qn 1 "CREATE TABLE a (id int PRIMARY KEY, h ssn_secret)"

say "$ops one-value stores and $ops single retrievals on node1, each its own transaction"
seq 1 "$ops" | awk '{ printf "INSERT INTO a VALUES (%d, ssn_store(%d::int8));\n", $1, $1 * 7 }' >"$scratch/store.sql"
seq 1 "$ops" | awk '{ printf "SELECT ssn_retrieve(h) FROM a WHERE id = %d;\n", $1 }' >"$scratch/retrieve.sql"
chmod a+r "$scratch"/*.sql
t0=$(now)
"$sl" psql 1 --dir "$dir" -X -q -v ON_ERROR_STOP=1 -f "$scratch/store.sql" >/dev/null
t_store=$(since "$t0")
qn 1 "SELECT ssn.wait_delivered('600 s')" >/dev/null
t0=$(now)
"$sl" psql 1 --dir "$dir" -X -q -v ON_ERROR_STOP=1 -f "$scratch/retrieve.sql" >/dev/null
t_ret=$(since "$t0")
us_store=$(echo "$t_store * 1000000 / $ops" | bc -l)
us_ret=$(echo "$t_ret * 1000000 / $ops" | bc -l)

say "the audit's own parts, per row over $rows rows"
parts=$(qn 1 "
CREATE TEMP TABLE t (what text, us float8);
DO \$\$
DECLARE t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	FOR i IN 1..$rows LOOP
		INSERT INTO ssn.audit_log (role, session_role, client, operation, outcome, at, secrets, secret_id)
		VALUES ('bench', 'bench', '[local]', 'retrieve', 'committed', clock_timestamp(), 1, gen_random_uuid());
	END LOOP;
	INSERT INTO t VALUES ('append', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $rows);
	t0 := clock_timestamp();
	PERFORM ssn.audit_chain();
	INSERT INTO t VALUES ('chain', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $rows);
	t0 := clock_timestamp();
	PERFORM count(*) FROM ssn.audit_verify();
	INSERT INTO t VALUES ('verify', extract(epoch FROM clock_timestamp() - t0) * 1e6
		/ (SELECT count(*) FROM ssn.audit_log));
END \$\$;
SELECT string_agg(format('%s=%s', what, round(us::numeric, 1)), ' ' ORDER BY what) FROM t")
append=$(sed -nE 's/.*append=([0-9.]+).*/\1/p' <<<"$parts")
chain=$(sed -nE 's/.*chain=([0-9.]+).*/\1/p' <<<"$parts")
verify=$(sed -nE 's/.*verify=([0-9.]+).*/\1/p' <<<"$parts")
printf '  %-52s %10.1f µs\n' "one-value store transaction (committed)" "$us_store"
printf '  %-52s %10.1f µs\n' "single ssn_retrieve, its own transaction" "$us_ret"
printf '  %-52s %10.1f µs\n' "audit: append one row (INSERT)" "$append"
printf '  %-52s %10.1f µs\n' "audit: chain one row (node worker)" "$chain"
printf '  %-52s %10.1f µs\n' "audit: verify one row (ssn.audit_verify)" "$verify"
printf '  %-52s %10.1f %%\n' "append + chain / store" "$(echo "($append + $chain) * 100 / $us_store" | bc -l)"
printf '  %-52s %10.1f %%\n' "append + chain / retrieval (off its path: the worker)" \
	"$(echo "($append + $chain) * 100 / $us_ret" | bc -l)"
sleep 2	# the reads' rows reach the table with the worker's next turn
printf '  %-52s %10s\n' "audit rows of the stores and retrievals" \
	"$(qn 1 "SELECT count(*) FROM ssn.audit_log WHERE role <> 'bench' AND operation IN ('store', 'retrieve')")"
