#!/bin/bash
# test_shim.sh TEST_PROGRAM - a temporary PKI (SAE_A, SAE_B, a KME certificate),
# kme-sim on a kernel-chosen port, the test program against it, the sim stopped.
set -euo pipefail

prog=$(realpath "${1:-build/test_shim}")
here=$(cd "$(dirname "$0")" && pwd)
tools=$here/..
dir=$(mktemp -d)
pid=

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

for c in "init $dir/pki" \
	"issue $dir/pki --kind kme kme --dns localhost --ip 127.0.0.1" \
	"issue $dir/pki --kind sae SAE_A" \
	"issue $dir/pki --kind sae SAE_B"; do
	# shellcheck disable=SC2086
	"$tools/pki/ssn-pki" $c >/dev/null 2>>"$dir/pki.log" || { cat "$dir/pki.log" >&2; exit 1; }
done

cat >"$dir/kme.conf" <<EOF
[kme]
id = KME_SHIM
port = 0
cert = pki/kme/kme.crt
key = pki/kme/kme.key
ca = pki/ca.crt
crl = pki/crl.pem
[link SAE_A SAE_B]
EOF

if ! "$tools/kme-sim/kme-sim" -c "$dir/kme.conf" -P "$dir/port" -p "$dir/pid" -d 2>"$dir/kme.log"; then
	cat "$dir/kme.log" >&2
	exit 1
fi
# the daemon writes both files once it listens
for _ in $(seq 600); do
	[ -s "$dir/port" ] && [ -s "$dir/pid" ] && break
	sleep 0.1
done
pid=$(cat "$dir/pid")
port=$(cat "$dir/port")

${SHIM_WRAP:-} "$prog" "https://localhost:$port" "$dir/pki"
