#!/usr/bin/env bash
# tools/bench/bench_owner.sh - the data owner's client (SSN-U, tools/ssn-client) on a
# local SSN (tools/ssn-local: a KME simulator and five nodes, k = 3, n = 5), side by
# side in the same run with the same values stored and retrieved through psql:
#   * store SSN_BENCH_OWNER_ROWS (100000) int8 values: ssn-client store --table
#     (values sealed under a one-time pad, 1,000 per envelope) against psql running
#     INSERT ... SELECT ssn_store(v) FROM unnest('{...}'::int8[]) v, 1,000 per
#     statement (the values in the statement text); each until committed;
#   * retrieve them all: ssn-client retrieve --query against psql's
#     ssn_retrieve(array of 1,000 handles) (one message per holder per array), and
#     psql's row-by-row ssn_retrieve(h) on the first 1,000 for scale;
#   * QKD key bytes per value on the owner's link, both ways (the client's count,
#     checked against the SSA's key ledger).
# Run as root.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

rows=${SSN_BENCH_OWNER_ROWS:-100000}
batch=1000
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

qn() { "$sl" psql "$1" --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$2"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

say "local SSN, unlimited key rate"
"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
qn 1 "CREATE TABLE by_client (id bigserial PRIMARY KEY, h ssn_secret);
	CREATE TABLE by_psql (id bigserial PRIMARY KEY, h ssn_secret);
	GRANT ALL ON by_client, by_psql, by_client_id_seq, by_psql_id_seq TO owner1"

# the same values both ways: 64-bit random integers
od -An -v -t d8 -N $((rows * 8)) /dev/urandom | tr -s ' ' '\n' | sed '/^$/d' | head -n "$rows" >"$scratch/values"
awk -v b=$batch '{ v[++n] = $1 } n == b { printf "INSERT INTO by_psql (h) SELECT ssn_store(v) FROM unnest(%c{", 39;
		for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), v[i]; printf "}%c::int8[]) WITH ORDINALITY u(v, i) ORDER BY i;\n", 39; n = 0 }
	END { if (n) { printf "INSERT INTO by_psql (h) SELECT ssn_store(v) FROM unnest(%c{", 39;
		for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), v[i]; printf "}%c::int8[]) WITH ORDINALITY u(v, i) ORDER BY i;\n", 39 } }' \
	"$scratch/values" >"$scratch/psql.sql"
chmod a+r "$scratch/values" "$scratch/psql.sql"

say "store: $rows int8 values on node1, $batch per statement"
t0=$(now)
"$sl" client 1 --dir "$dir" store --type int8 --table by_client --column h --batch $batch --stats \
	<"$scratch/values" 2>"$scratch/client-store.log"
t_cs=$(since "$t0")
t0=$(now)
"$sl" psql 1 --dir "$dir" -X -q -v ON_ERROR_STOP=1 -c "SET ROLE owner1" -f "$scratch/psql.sql" >/dev/null
t_ps=$(since "$t0")
key_store=$(sed -nE 's/.* ([0-9]+) bytes of QKD key.*/\1/p' "$scratch/client-store.log")
ledger=$(qn 1 "SELECT coalesce(sum(size_bits / 8), 0) FROM ssn.key_ledger WHERE peer = 'OWNER_1' AND purpose = 'owner store'")
printf '  %-56s %9.2f s  (%.0f values/s)\n' "ssn-client store (sealed envelopes)" "$t_cs" "$(echo "$rows / $t_cs" | bc -l)"
printf '  %-56s %9.2f s  (%.0f values/s)\n' "psql INSERT ... ssn_store(v) (values in the SQL text)" "$t_ps" "$(echo "$rows / $t_ps" | bc -l)"
printf '  %-56s %9s\n' "client / psql, store" "$(ratio "$t_cs" "$t_ps")"
printf '  %-56s %9s  (%.1f per value; ledger: %s)\n' "QKD key bytes on the owner link, store" "$key_store" \
	"$(echo "$key_store / $rows" | bc -l)" "$ledger"
qn 1 "SELECT ssn.wait_delivered('3600 s')" >/dev/null

say "retrieve: all $rows values"
t0=$(now)
"$sl" client 1 --dir "$dir" retrieve --query "SELECT h FROM by_client ORDER BY id" --batch $batch --stats \
	>"$scratch/client-out" 2>"$scratch/client-retrieve.log"
t_cr=$(since "$t0")
t0=$(now)
"$sl" psql 1 --dir "$dir" -X -A -t -q -c "SET ROLE owner1" \
	-c "SELECT unnest(ssn_retrieve(array_agg(h ORDER BY id))) FROM by_psql GROUP BY (id - 1) / $batch ORDER BY (id - 1) / $batch" \
	>"$scratch/psql-out"
t_pr=$(since "$t0")
sample=$(( rows < 1000 ? rows : 1000 ))
t0=$(now)
"$sl" psql 1 --dir "$dir" -X -A -t -q -c "SET ROLE owner1" \
	-c "SELECT ssn_retrieve(h) FROM by_psql WHERE id <= $sample ORDER BY id" >/dev/null
t_p1=$(since "$t0")
cmp -s "$scratch/client-out" "$scratch/values" || { echo "the client's values differ from those stored" >&2; exit 1; }
cmp -s "$scratch/psql-out" "$scratch/values" || { echo "psql's values differ from those stored" >&2; exit 1; }
key_ret=$(sed -nE 's/.* ([0-9]+) bytes of QKD key.*/\1/p' "$scratch/client-retrieve.log")
printf '  %-56s %9.2f s  (%.0f values/s)\n' "ssn-client retrieve (sealed replies, $batch per envelope)" "$t_cr" "$(echo "$rows / $t_cr" | bc -l)"
printf '  %-56s %9.2f s  (%.0f values/s)\n' "psql ssn_retrieve(array of $batch handles)" "$t_pr" "$(echo "$rows / $t_pr" | bc -l)"
printf '  %-56s %9s\n' "client / psql, retrieve" "$(ratio "$t_cr" "$t_pr")"
printf '  %-56s %9.2f s  (%.2f ms per value)\n' "psql ssn_retrieve(h) row by row, first $sample" "$t_p1" "$(echo "$t_p1 * 1000 / $sample" | bc -l)"
printf '  %-56s %9s  (%.1f per value)\n' "QKD key bytes on the owner link, retrieve" "$key_ret" "$(echo "$key_ret / $rows" | bc -l)"
echo "  (an int8 travels as its decimal text, 5 bytes of flags and length, and 32 bytes of MAC key per envelope)"
