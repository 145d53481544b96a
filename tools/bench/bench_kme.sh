#!/usr/bin/env bash
# tools/bench/bench_kme.sh - how fast the KME client gets keys from kme-sim.
#
# Sets up a PKI, kme-sim with an unthrottled pool and one PostgreSQL (as SAE_A),
# then runs ssn.kme_bench() for a few batch sizes and prints keys/s, key Mbit/s,
# the time per request and per key (client: HTTPS request, JSON, base64, wipe) and
# the ledger's share (recording the IDs and settling them: one INSERT and one UPDATE
# per batch, as a channel worker does it; so with batch 1 it is the cost of two
# statements per key).  Run as root, by hand: tools/bench/bench_kme.sh
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

ssn_install_packages
ssn_build_install >/dev/null
make -C "$SSN_ROOT/tools/kme-sim" -s >/dev/null
S=$(ssn_scratch)
PGPORT=$(ssn_free_port)
cleanup() {
	as_pg "$PG_BIN/pg_ctl" -D "$S/data" -m immediate stop >/dev/null 2>&1 || true
	[ -s "$S/kme.pid" ] && kill "$(cat "$S/kme.pid")" 2>/dev/null || true
	rm -rf "$S"
}
trap cleanup EXIT
cp "$SSN_ROOT/tools/kme-sim/kme-sim" "$SSN_ROOT/tools/pki/ssn-pki" "$S/"
chown postgres "$S"/kme-sim "$S"/ssn-pki

as_pg bash -c "
set -e
cd '$S'
./ssn-pki init pki >/dev/null 2>&1
./ssn-pki issue pki --kind kme kme --dns localhost --ip 127.0.0.1 >/dev/null 2>&1
./ssn-pki issue pki --kind sae SAE_A >/dev/null 2>&1
./ssn-pki issue pki --kind sae SAE_B >/dev/null 2>&1
cat > kme.conf <<CONF
[kme]
id = KME_BENCH
port = 0
cert = pki/kme/kme.crt
key = pki/kme/kme.key
ca = pki/ca.crt
max_requests_per_connection = 1000000
[link SAE_A SAE_B]
rate = unlimited
key_size = 256
max_key_size = 8192
max_key_count = 4000000
max_key_per_request = 256
max_pending_keys = 10000000
CONF
./kme-sim -c kme.conf -P kme.port -p kme.pid -d 2>kme.log
for i in \$(seq 1 100); do [ -s kme.port ] && break; sleep 0.05; done
'$PG_BIN/initdb' -D data -A trust -E UTF8 --locale=C >/dev/null
cat >> data/postgresql.conf <<CONF
port = $PGPORT
unix_socket_directories = '$S'
ssn.kme_url = 'https://localhost:\$(cat kme.port)'
ssn.sae_id = 'SAE_A'
ssn.sae_cert = '$S/pki/sae/SAE_A.crt'
ssn.sae_key = '$S/pki/sae/SAE_A.key'
ssn.kme_ca = '$S/pki/ca.crt'
CONF
'$PG_BIN/pg_ctl' -D data -l pg.log start >/dev/null
"
psql() { as_pg "$PG_BIN/psql" -X -q -h "$S" -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION ssn" -c "SELECT ssn.add_shareholder('b', 'SAE_B')" >/dev/null
psql -c "SELECT count(*) FROM ssn.kme_enc_keys('b', 1)" >/dev/null	# warm up: TLS connection

say "KME client throughput (kme-sim unthrottled, one backend, keep-alive HTTPS)"
printf '%6s %6s %9s %10s %11s %10s %10s %12s %14s\n' batch bits keys/s 'key Mbit/s' 'ms/request' 'us/key' 'ledger us/key' 'client CPU us/key' 'client-only Mbit/s'
for bits in 256 8192; do
	for batch in 1 16 256; do
		case $batch in 1) req=2000 ;; 16) req=400 ;; *) req=$(( bits > 256 ? 40 : 200 )) ;; esac
		psql -A -t -F ' ' -c "SELECT keys, key_bytes, requests, client_seconds, ledger_seconds, client_cpu_seconds
			FROM ssn.kme_bench('b', $batch, $bits, $req)" |
		while read -r keys bytes r cs ls cpu; do
			awk -v b="$batch" -v bits="$bits" -v k="$keys" -v B="$bytes" -v r="$r" -v cs="$cs" -v ls="$ls" -v cpu="$cpu" 'BEGIN {
				if (cpu <= 0) cpu = 1e-9
				printf "%6d %6d %9.0f %10.1f %11.3f %10.1f %10.1f %12.1f %14.1f\n", b, bits, k / cs, B * 8 / cs / 1e6,
					cs / r * 1e3, cs / k * 1e6, ls / k * 1e6, cpu / k * 1e6, B * 8 / cpu / 1e6 }'
		done
	done
done
echo
echo "keys/s and key Mbit/s are end to end, with kme-sim on the same two cores; 'client CPU'"
echo "is the backend's own CPU time (getrusage) for the requests, and 'client-only Mbit/s'"
echo "the key rate the client could take if the KME answered instantly."
echo "The client is the bottleneck only if that is below the QKD link's key rate (target: 100 Mbit/s)."
