#!/usr/bin/env bash
# tools/bench/bench_network.sh - the storage network on a local SSN (tools/ssn-local:
# a KME simulator and five nodes, k = 3, n = 5, all on this machine), measured side
# by side with plain PostgreSQL on node1 in the same run:
#   * bulk store of int8 and 1 KB text values until every share is delivered,
#     against a plain INSERT of the same values, as ratios;
#   * bulk retrieval (ssn_retrieve over arrays of 10,000 handles) against a SELECT;
#   * QKD key bytes consumed per share byte delivered and per stored int8 secret;
#   * delivery throughput with the simulator's key rate limited to 1 Mbit/s per
#     link, as a fraction of what the key supply allows.
# Run as root.  SSN_BENCH_ROWS (100000), SSN_BENCH_TEXT_ROWS (100000),
# SSN_BENCH_THROTTLED_ROWS (30000) scale it.
#
# Two builds side by side: SSN_BENCH_BUILDS="NAME=DIR NAME=DIR ..." (each DIR a
# PostgreSQL copy with that build of ssn installed, as `make install DESTDIR=DIR`
# makes it; see SSN_PG_PREFIX in tools/lib/common.sh) measures only the bulk store
# of SSN_BENCH_ROWS int8 values, committed and delivered, on a fresh local SSN per
# build, the builds taking turns SSN_BENCH_ROUNDS times (default 2), and prints
# each build's times, and those of 1000 one-value transactions in one session.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

rows=${SSN_BENCH_ROWS:-100000}
trows=${SSN_BENCH_TEXT_ROWS:-100000}
throws=${SSN_BENCH_THROTTLED_ROWS:-30000}
rate_bps=1000000
pool_keys=4096				# 256-bit keys: a 128 KiB pool, one second of key at 1 Mbit/s
sl=$SSN_ROOT/tools/ssn-local
scratch=$(ssn_scratch)
dir=$scratch/net
trap '"$sl" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

q() { "$sl" psql 1 --dir "$dir" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
timed() { local t0; t0=$(now); q "$1" >/dev/null; since "$t0"; }
ratio() { echo "scale=1; $1 / $2" | bc -l; }
f2() { printf '%.2f' "$1"; }

# median milliseconds of 200 single retrievals (one int8 each, by primary key) in one
# session; with "v" in place of "ssn_retrieve(v)" the same for a plain SELECT
single_sql_of() {
	cat <<SQL
CREATE OR REPLACE FUNCTION pg_temp.median_ms(n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz; d float8[] := '{}'; r text;
BEGIN
	FOR i IN 1 .. n LOOP
		t := clock_timestamp();
		SELECT $1 INTO r FROM $2 WHERE id = i;
		d := d || (extract(epoch FROM clock_timestamp() - t) * 1000)::float8;
	END LOOP;
	RETURN round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(d) x)::numeric, 3);
END \$\$;
SELECT pg_temp.median_ms(200);
SQL
}
single_sql=$(single_sql_of 'ssn_retrieve(v)' s_int)
plain_single_sql=$(single_sql_of 'v' s_int)

# ---- two builds side by side: bulk int8 store, committed and delivered
if [ -n "${SSN_BENCH_BUILDS:-}" ]; then
	declare -A commit_t deliver_t uncommit_t small_t single_t plain_t
	for round in $(seq "${SSN_BENCH_ROUNDS:-2}"); do
		for b in $SSN_BENCH_BUILDS; do
			name=${b%%=*}
			export SSN_PG_PREFIX=${b#*=} SSN_NO_INSTALL=1
			PG_BIN=$SSN_PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin
			say "$name (round $round): $rows int8 values"
			"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
			q "CREATE TABLE s_int (id int, v ssn_secret)"
			q "INSERT INTO s_int SELECT g, ssn_store(g::int8) FROM generate_series(1, 2000) g" >/dev/null
			q "SELECT ssn.wait_delivered('60 s')" >/dev/null
			q "TRUNCATE s_int; CHECKPOINT" >/dev/null
			t0=$(now)
			q "INSERT INTO s_int SELECT g, ssn_store(g::int8) FROM generate_series(1, $rows) g" >/dev/null
			tc=$(since "$t0")
			[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
			td=$(since "$t0")
			ok=$(q "SELECT count(*) FROM (SELECT unnest(ssn_retrieve(array_agg(v ORDER BY id))) AS r,
			        generate_series(1, $rows) AS g FROM s_int) x WHERE r::int8 = g")
			[ "$ok" = "$rows" ] || { echo "$name: only $ok of $rows values retrieved right"; exit 1; }
			commit_t[$name]+=" $(f2 "$tc")"
			deliver_t[$name]+=" $(f2 "$td")"
			# the same values without commitments (a checked value each), committed
			q "CREATE TABLE s_unv (id int, v ssn_secret)"
			t0=$(now)
			q "INSERT INTO s_unv SELECT g, ssn_store(g::int8, verify => false) FROM generate_series(1, $rows) g" >/dev/null
			uncommit_t[$name]+=" $(f2 "$(since "$t0")")"
			[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
			# small transactions: one value per commit, one session
			for i in $(seq 1000); do echo "INSERT INTO s_int VALUES (-$i, ssn_store($i::int8));"; done >"$scratch/small.sql"
			chmod 644 "$scratch/small.sql"
			t0=$(now)
			"$sl" psql 1 --dir "$dir" -X -q -v ON_ERROR_STOP=1 -f "$scratch/small.sql" >/dev/null
			small_t[$name]+=" $(f2 "$(since "$t0")")"
			# single retrievals: median of 200 calls in one session, on a settled
			# network (the one-value stores delivered, every node vacuumed)
			[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
			q "CREATE INDEX ON s_int (id)" >/dev/null
			for i in 1 2 3 4 5; do "$sl" psql "$i" --dir "$dir" -X -q -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null; done
			single_t[$name]+=" $(q "$single_sql")"
			plain_t[$name]+=" $(q "$plain_single_sql")"
			"$sl" down --dir "$dir" >/dev/null
		done
	done
	echo
	echo "============ ssn benchmark: $rows int8 values, bulk store (local SSN, k=3, n=5) ============"
	printf '%-8s %-26s %-26s %-30s %-28s %-40s %s\n' build 'committed (s, per round)' 'delivered (s, per round)' \
		'unverifiable, committed (s)' '1000 one-value commits (s)' 'single ssn_retrieve, median of 200 (ms)' \
		'the same row by plain SELECT (ms)'
	for b in $SSN_BENCH_BUILDS; do
		name=${b%%=*}
		printf '%-8s %-26s %-26s %-30s %-28s %-40s %s\n' "$name" "${commit_t[$name]}" "${deliver_t[$name]}" \
			"${uncommit_t[$name]}" "${small_t[$name]}" "${single_t[$name]}" "${plain_t[$name]}"
	done
	exit 0
fi

say "local SSN, unlimited key rate"
"$sl" up --dir "$dir" >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log"; exit 1; }
q "CREATE TABLE p_int (id int, v int8); CREATE TABLE s_int (id int, v ssn_secret);
   CREATE TABLE p_txt (id int, v text); CREATE TABLE s_txt (id int, v ssn_secret)"
# warm-up (first touch of shared buffers, connections, KME status caches)
q "INSERT INTO s_int SELECT g, ssn_store(g::int8) FROM generate_series(1, 2000) g" >/dev/null
q "SELECT ssn.wait_delivered('60 s')" >/dev/null
q "SELECT ssn_retrieve(array_agg(v)) IS NOT NULL FROM s_int" >/dev/null
q "TRUNCATE s_int; SELECT pg_stat_reset()" >/dev/null
for i in 1 2 3 4 5; do "$sl" psql "$i" --dir "$dir" -X -q -c "CHECKPOINT; TRUNCATE ssn.link_stats" >/dev/null; done

say "int8: $rows values"
t_pins=$(timed "INSERT INTO p_int SELECT g, g FROM generate_series(1, $rows) g")
t0=$(now)
q "INSERT INTO s_int SELECT g, ssn_store(g::int8) FROM generate_series(1, $rows) g" >/dev/null
t_sins=$(since "$t0")
[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
t_sdel=$(since "$t0")
t_psel=$(timed "SELECT v FROM p_int")
t_sret=$(timed "SELECT ssn_retrieve(array_agg(v)) FROM s_int GROUP BY id / 10000")
ok=$(q "SELECT count(*) FROM (SELECT unnest(ssn_retrieve(array_agg(v ORDER BY id))) AS r,
        generate_series(1, $rows) AS g FROM s_int) x WHERE r::int8 = g")
int_stats=$(q "SELECT sum(share_bytes) || ' ' || sum(payload_bytes) || ' ' || sum(envelope_bytes) || ' ' || sum(key_bytes) || ' ' || sum(messages)
               FROM ssn.link_stats WHERE direction = 'send'")
# the same values unverifiable (a checked value each), and verifiable with every
# commitment made by the storing call itself (no commit pool threads)
q "CREATE TABLE s_unv (id int, v ssn_secret); CREATE TABLE s_v0 (id int, v ssn_secret)"
t0=$(now)
q "INSERT INTO s_unv SELECT g, ssn_store(g::int8, verify => false) FROM generate_series(1, $rows) g" >/dev/null
t_uins=$(since "$t0")
[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
t0=$(now)
q "SET ssn.commit_threads = 0; INSERT INTO s_v0 SELECT g, ssn_store(g::int8) FROM generate_series(1, $rows) g" >/dev/null
t_v0ins=$(since "$t0")
[ "$(q "SELECT ssn.wait_delivered('600 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
# one value at a time, as applications read: the median of 200 single retrievals
# by primary key in one session, on a settled network, beside a plain SELECT of
# the same row (the holders' reply keys fetched ahead once the first replies came)
q "CREATE INDEX ON s_int (id)" >/dev/null
for i in 1 2 3 4 5; do "$sl" psql "$i" --dir "$dir" -X -q -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null; done
reply_keys="SELECT count(*) FILTER (WHERE purpose = 'reply keys ahead' AND state = 'used') || ' '
	|| count(*) FILTER (WHERE direction = 'receive' AND purpose = 'retrieve') FROM ssn.key_ledger"
read -r ahead0 slow0 <<<"$(q "$reply_keys")"
ms_single=$(q "$single_sql")
read -r ahead1 slow1 <<<"$(q "$reply_keys")"
ms_plain=$(q "$plain_single_sql")
copies=$(q "SELECT coalesce(sum(held), 0) FROM ssn.reply_key_copies()")
ahead_keys=$((ahead1 - ahead0))
slow_keys=$((slow1 - slow0))
q "TRUNCATE ssn.link_stats" >/dev/null

say "text: $trows values of 1 KB"
t_ptins=$(timed "INSERT INTO p_txt SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, $trows) g")
t0=$(now)
q "INSERT INTO s_txt SELECT g, ssn_store(repeat(md5(g::text), 32)) FROM generate_series(1, $trows) g" >/dev/null
t_stins=$(since "$t0")
[ "$(q "SELECT ssn.wait_delivered('1800 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
t_stdel=$(since "$t0")
t_ptsel=$(timed "SELECT v FROM p_txt")
t_stret=$(timed "SELECT ssn_retrieve(array_agg(v)) FROM s_txt GROUP BY id / 2000")
tok=$(q "SELECT count(*) FROM (SELECT id, ssn_retrieve(v) AS r FROM s_txt WHERE id % 1000 = 0) x
         WHERE r = repeat(md5(id::text), 32)")
txt_stats=$(q "SELECT sum(share_bytes) || ' ' || sum(payload_bytes) || ' ' || sum(envelope_bytes) || ' ' || sum(key_bytes) || ' ' || sum(messages)
               FROM ssn.link_stats WHERE direction = 'send'")
"$sl" down --dir "$dir" >/dev/null

say "key rate limited to 1 Mbit/s per link: $throws int8 values"
"$sl" up --dir "$dir" --key-rate 1M --key-pool "$pool_keys" >"$scratch/up2.log" 2>&1 || { cat "$scratch/up2.log"; exit 1; }
q "CREATE TABLE s_thr (id int, v ssn_secret)"
# a stream of stores, 1,000 values a transaction: what the key rate lets through
t0=$(now)
q "DO \$\$ BEGIN FOR b IN 0 .. $throws / 1000 - 1 LOOP
	INSERT INTO s_thr SELECT g, ssn_store(g::int8) FROM generate_series(b * 1000 + 1, (b + 1) * 1000) g;
	COMMIT;
END LOOP; END \$\$" >/dev/null
[ "$(q "SELECT ssn.wait_delivered('1800 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
t_thr=$(since "$t0")
thr_stats=$(q "SELECT max(share_bytes) || ' ' || max(key_bytes) || ' ' || max(payload_bytes) FROM ssn.link_stats WHERE direction = 'send'")
"$sl" down --dir "$dir" >/dev/null
# the same values in one transaction: nothing is delivered before its commit, so the
# holders' checks after it leave the key supply idle (the pool full) meanwhile
"$sl" up --dir "$dir" --key-rate 1M --key-pool "$pool_keys" >"$scratch/up3.log" 2>&1 || { cat "$scratch/up3.log"; exit 1; }
q "CREATE TABLE s_thr (id int, v ssn_secret)"
t0=$(now)
q "INSERT INTO s_thr SELECT g, ssn_store(g::int8) FROM generate_series(1, $throws) g" >/dev/null
[ "$(q "SELECT ssn.wait_delivered('1800 s')")" = t ] || { echo "delivery did not finish"; exit 1; }
t_thr1=$(since "$t0")
thr1_pb=$(q "SELECT max(payload_bytes) FROM ssn.link_stats WHERE direction = 'send'")

read -r i_sb i_pb i_eb i_kb i_msg <<<"$int_stats"
read -r t_sb t_pb t_eb t_kb t_msg <<<"$txt_stats"
read -r h_sb h_kb h_pb <<<"$thr_stats"
ceiling=$(echo "$rate_bps / 8 * $t_thr + $pool_keys * 32" | bc -l)
ceiling1=$(echo "$rate_bps / 8 * $t_thr1 + $pool_keys * 32" | bc -l)
cat <<EOT

================ ssn benchmark: storage network (local SSN, k=3, n=5) ================
int8, $rows values                           seconds    ratio to plain
  plain INSERT                                  $(printf '%8.2f' "$t_pins")
  ssn_store, committed (local share + outbox)   $(printf '%8.2f %10s' "$t_sins" "$(ratio "$t_sins" "$t_pins")x")
  ssn_store until all shares delivered          $(printf '%8.2f %10s' "$t_sdel" "$(ratio "$t_sdel" "$t_pins")x")
  ssn_store(v, verify => false), committed      $(printf '%8.2f %10s' "$t_uins" "$(ratio "$t_uins" "$t_pins")x")
    verifiable / unverifiable at commit: $(ratio "$t_sins" "$t_uins")x
  verifiable, ssn.commit_threads = 0, committed $(printf '%8.2f %10s' "$t_v0ins" "$(ratio "$t_v0ins" "$t_pins")x")
    verifiable without / with the commit pool: $(ratio "$t_v0ins" "$t_sins")x
  plain SELECT                                  $(printf '%8.2f' "$t_psel")
  ssn_retrieve, arrays of 10000 handles         $(printf '%8.2f %10s' "$t_sret" "$(ratio "$t_sret" "$t_psel")x")
  values checked after retrieval: $ok of $rows
  single ssn_retrieve, median of 200 (ms)       $(printf '%8.3f %10s' "$ms_single" "$(ratio "$ms_single" "$ms_plain")x")  (plain SELECT of the row: $ms_plain ms)
    their reply keys: $ahead_keys copies fetched ahead, $slow_keys fetched at retrieval; $copies copies held after them
text, $trows values of 1 KB
  plain INSERT                                  $(printf '%8.2f' "$t_ptins")
  ssn_store, committed (local share + outbox)   $(printf '%8.2f %10s' "$t_stins" "$(ratio "$t_stins" "$t_ptins")x")
  ssn_store until all shares delivered          $(printf '%8.2f %10s' "$t_stdel" "$(ratio "$t_stdel" "$t_ptins")x")
  plain SELECT                                  $(printf '%8.2f' "$t_ptsel")
  ssn_retrieve, arrays of 2000 handles          $(printf '%8.2f %10s' "$t_stret" "$(ratio "$t_stret" "$t_ptsel")x")
  values checked after retrieval (1 in 1000): $tok
QKD key per share byte delivered (node1's four links)
  int8: $i_msg messages, $i_sb share bytes, key $i_kb bytes = $(echo "scale=4; $i_kb / $i_sb" | bc -l) per share byte
        = $(echo "scale=1; $i_kb / $rows" | bc -l) key bytes per stored int8 secret (verifiable; k = 3, n = 5)
        (one-time pad over $i_pb bytes; MAC key 32 per message; clear (authenticated) $((i_eb - i_pb)) bytes)
  text: $t_msg messages, $t_sb share bytes, key $t_kb bytes = $(echo "scale=4; $t_kb / $t_sb" | bc -l) per share byte
Key rate limited to 1 Mbit/s per link (pool $pool_keys keys = $((pool_keys * 32)) bytes at start)
  $throws int8 values, 1,000 a transaction, delivered to each peer in $(f2 "$t_thr") s: $h_sb share bytes, $h_kb key bytes per link
  key supply allowed $(printf '%.0f' "$ceiling") bytes per link in that time (rate x time + initial pool)
  throughput = $(echo "scale=1; 100 * $h_pb / $ceiling" | bc -l)% of the key-limited ceiling (secrets delivered / secrets the key
    available allows at the floor, the one-time pad their secret values need: $h_pb pad bytes / key available)
  the same values in one transaction: delivered in $(f2 "$t_thr1") s, $(echo "scale=1; 100 * $thr1_pb / $ceiling1" | bc -l)% of the ceiling
    (nothing leaves before the commit; the holders' checks after it leave the key idle)
======================================================================================
EOT
