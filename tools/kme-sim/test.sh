#!/usr/bin/env bash
# kme-sim end-to-end test: builds the simulator, makes a PKI with ssn-pki, starts
# kme-sim on 127.0.0.1 (kernel-chosen free port) and checks it with curl.
# Needs: make, a C compiler, libssl-dev, libsodium-dev, libjansson-dev, openssl, curl, jq.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKI_TOOL=$(cd "$HERE/../pki" && pwd)/ssn-pki
SIM=$HERE/kme-sim
PASS=0
FAIL=0

T=$(mktemp -d "${TMPDIR:-/tmp}/kme-sim-test.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok - $*"; PASS=$((PASS + 1)); }
nok() { echo "not ok - $*"; FAIL=$((FAIL + 1)); }
q() { "$@" >/dev/null 2>&1; }  # run quietly: use as  check DESC q CMD...
check() {  # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}
finish() {
    if [[ $FAIL -gt 0 && -f $T/kme.log ]]; then
        echo "# --- kme-sim log (last 40 lines) ---"
        tail -40 "$T/kme.log" | sed 's/^/# /'
    fi
    echo "kme-sim: $PASS passed, $FAIL failed"
    [[ $FAIL -eq 0 ]]
    exit $?
}
bail() { nok "$*"; finish; }

for tool in curl jq openssl make; do
    command -v "$tool" >/dev/null 2>&1 || bail "required tool '$tool' not found"
done

# ---------------------------------------------------------------- build
BUILD=$HERE
if [[ ! -w $HERE ]]; then      # e.g. an unprivileged user on a root-owned tree
    BUILD=$T/build
    mkdir -p "$BUILD" && cp "$HERE"/*.c "$HERE"/*.h "$HERE"/Makefile "$BUILD"/
    SIM=$BUILD/kme-sim
fi
if make -s -C "$BUILD" >"$T/build.log" 2>&1; then
    if grep -qi 'warning' "$T/build.log"; then nok "build is warning-free"; cat "$T/build.log"; else ok "build"; fi
else
    cat "$T/build.log"
    bail "build"
fi

# ---------------------------------------------------------------- PKI
PKI=$T/pki
FAULTS=(bad_json short_key bad_base64 html_error slow drop wrong_key zero_count)
{
    "$PKI_TOOL" init "$PKI" &&
    "$PKI_TOOL" issue "$PKI" --kind kme kme --dns localhost --ip 127.0.0.1 &&
    "$PKI_TOOL" issue "$PKI" --kind kme kme-other --dns kme-other.example &&
    for s in SAE_A SAE_B SAE_C SAE_D SAE_E SAE_F SAE_R SAE_X "${FAULTS[@]/#/FLT_}"; do
        "$PKI_TOOL" issue "$PKI" --kind sae "$s" || exit 1
    done &&
    "$PKI_TOOL" issue "$PKI" --kind server pgnode --dns localhost &&
    "$PKI_TOOL" init "$T/foreign" && "$PKI_TOOL" issue "$T/foreign" --kind sae SAE_A
} >"$T/pki.log" 2>&1 || { cat "$T/pki.log"; bail "ssn-pki creates the test PKI"; }
ok "ssn-pki creates the test PKI"

keymode=$(stat -c %a "$PKI/sae/SAE_A.key")
check "private keys are mode 0600 ($keymode)" [ "$keymode" = 600 ]
check "SAE certificate verifies against the root" \
    q openssl verify -CAfile "$PKI/ca.crt" -purpose sslclient "$PKI/sae/SAE_A.crt"
check "KME certificate is a TLS server certificate" \
    q openssl verify -CAfile "$PKI/ca.crt" -purpose sslserver "$PKI/kme/kme.crt"
check "SAE certificate is not accepted as a server certificate" \
    bash -c "! openssl verify -CAfile '$PKI/ca.crt' -purpose sslserver '$PKI/sae/SAE_A.crt' >/dev/null 2>&1"
txt=$(openssl x509 -in "$PKI/server/pgnode.crt" -noout -text)
check "server certificate has SAN, EKU, SKI/AKI and CA:FALSE" bash -c '
    grep -q "DNS:localhost" <<<"$1" && grep -q "TLS Web Server Authentication" <<<"$1" &&
    grep -q "Subject Key Identifier" <<<"$1" && grep -q "Authority Key Identifier" <<<"$1" &&
    grep -q "CA:FALSE" <<<"$1"' _ "$txt"
before=$(openssl x509 -in "$PKI/sae/SAE_A.crt" -noout -serial)
"$PKI_TOOL" issue "$PKI" --kind sae SAE_A >/dev/null 2>&1
after=$(openssl x509 -in "$PKI/sae/SAE_A.crt" -noout -serial)
check "ssn-pki issue is idempotent (existing certificate kept)" [ "$before" = "$after" ]

# ---------------------------------------------------------------- configuration
cat >"$T/kme.conf" <<CONF
# kme-sim test configuration
[kme]
id = KME_TEST
listen = 127.0.0.1
port = 0
cert = pki/kme/kme.crt
key = pki/kme/kme.key
ca = pki/ca.crt
crl = pki/crl.pem

[defaults]
key_size = 256
max_key_per_request = 16
max_key_size = 1024
min_key_size = 64

[link SAE_A SAE_B]
max_key_count = 1000
max_SAE_ID_count = 1
target_kme_id = KME_PEER

[link SAE_A SAE_C]

[link SAE_C SAE_D]
direction = oneway

[link SAE_E SAE_F]
rate = 128
max_key_count = 4

[link SAE_R SAE_B]
CONF
for f in "${FAULTS[@]}"; do
    printf '\n[link SAE_A FLT_%s]\nfault = %s\n' "$f" "$f" >>"$T/kme.conf"
    [[ $f == slow ]] && echo "slow_ms = 1500" >>"$T/kme.conf"
    [[ $f == wrong_key ]] && echo "fault_endpoints = dec_keys" >>"$T/kme.conf"
done

check "kme-sim -t accepts the configuration" q "$SIM" -t -c "$T/kme.conf"
printf '[kme]\nid = K\ncert = a\nkey = b\nca = c\n[link A B]\nkey_size = 100\n' >"$T/bad.conf"
check "kme-sim rejects key_size not a multiple of 8 in the configuration" \
    bash -c "! '$SIM' -t -c '$T/bad.conf' 2>/dev/null"
printf '[kme]\nid = K\ncert = a\nkey = b\nca = c\nbogus = 1\n' >"$T/bad2.conf"
check "kme-sim rejects unknown configuration keys" bash -c "! '$SIM' -t -c '$T/bad2.conf' 2>/dev/null"

start_sim() {  # CONFIG PORTFILE LOG -> sets SIM_PID
    rm -f "$2"
    "$SIM" -c "$1" -P "$2" 2>>"$3" &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    # the port file comes once it listens: a moment, or longer on a loaded machine
    local deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ]; do
        [[ -s $2 ]] && return 0
        kill -0 "$SIM_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

start_sim "$T/kme.conf" "$T/port" "$T/kme.log" || { cat "$T/kme.log"; bail "kme-sim starts"; }
PORT=$(cat "$T/port")
ok "kme-sim starts (port $PORT)"
BASE="https://127.0.0.1:$PORT/api/v1/keys"

# call WHO URL [curl args...]: sets CODE (HTTP status, 000 if none), RC (curl exit),
# body in $T/body.  WHO is an SAE name, "none" (no client cert) or "foreign".
# MAXTIME: generous, an answer may be slow on a loaded machine (the bound only
# matters when none comes)
MAXTIME=60
call() {
    local who=$1 url=$2
    shift 2
    local -a cert=()
    case $who in
        none) ;;
        foreign) cert=(--cert "$T/foreign/sae/SAE_A.crt" --key "$T/foreign/sae/SAE_A.key") ;;
        *) cert=(--cert "$PKI/sae/$who.crt" --key "$PKI/sae/$who.key") ;;
    esac
    CODE=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time "$MAXTIME" --cacert "$PKI/ca.crt" \
        "${cert[@]}" "$@" "$url" 2>"$T/curl.err")
    RC=$?
}
post() {  # post WHO URL JSON [curl args]
    local who=$1 url=$2 json=$3
    shift 3
    call "$who" "$url" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}
body() { cat "$T/body"; }
jbody() { jq -r "$1" "$T/body" 2>/dev/null; }
msg() { jbody .message; }

# ---------------------------------------------------------------- status
call SAE_A "$BASE/SAE_B/status"
check "status: 200" [ "$CODE" = 200 ]
check "status: all ETSI fields with the right types" q jq -e '
    (.source_KME_ID|type)=="string" and (.target_KME_ID|type)=="string" and
    (.master_SAE_ID|type)=="string" and (.slave_SAE_ID|type)=="string" and
    ([.key_size,.stored_key_count,.max_key_count,.max_key_per_request,.max_key_size,
      .min_key_size,.max_SAE_ID_count]|all(type=="number"))' "$T/body"
check "status: values follow the configuration" q jq -e '
    .source_KME_ID=="KME_TEST" and .target_KME_ID=="KME_PEER" and .master_SAE_ID=="SAE_A" and
    .slave_SAE_ID=="SAE_B" and .key_size==256 and .stored_key_count==1000 and
    .max_key_count==1000 and .max_key_per_request==16 and .max_key_size==1024 and
    .min_key_size==64 and .max_SAE_ID_count==1' "$T/body"
call SAE_B "$BASE/SAE_A/status"
check "status: reverse direction (B as master) on a two-way link" \
    q jq -e '.master_SAE_ID=="SAE_B" and .slave_SAE_ID=="SAE_A"' "$T/body"
call SAE_A "$BASE/SAE%5FB/status"
check "status: URL-encoded SAE ID" [ "$CODE" = 200 ]
call SAE_D "$BASE/SAE_C/status"
check "status: one-way link refuses the wrong master with 401" [ "$CODE" = 401 ]
call SAE_A "$BASE/NOBODY/status"
check "status: unknown slave SAE ID gives 400" [ "$CODE" = 400 ]

# ---------------------------------------------------------------- enc_keys / dec_keys
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":3,"size":512,"unknown_field":{"x":[1,2]},"extension_optional":[{"foo":1}]}'
check "enc_keys POST: 200 with 3 keys (unknown fields ignored)" \
    bash -c "[ '$CODE' = 200 ] && jq -e '.keys|length==3' '$T/body' >/dev/null"
cp "$T/body" "$T/enc.json"
lens=$(jq -r '.keys[].key' "$T/enc.json" | while read -r k; do printf '%s' "$k" | base64 -d | wc -c; done | sort -u)
check "enc_keys: keys are size/8 = 64 bytes" [ "$lens" = 64 ]
ids_json=$(jq -c '{key_IDs:[.keys[]|{key_ID}]}' "$T/enc.json")
post SAE_B "$BASE/SAE_A/dec_keys" "$ids_json"
check "dec_keys POST: 200" [ "$CODE" = 200 ]
check "dec_keys returns the same keys as enc_keys (base64 compared)" \
    bash -c "diff <(jq -r '.keys[]|.key_ID+\" \"+.key' '$T/enc.json' | sort) <(jq -r '.keys[]|.key_ID+\" \"+.key' '$T/body' | sort) >/dev/null"
post SAE_B "$BASE/SAE_A/dec_keys" "$ids_json"
check "dec_keys of the same IDs again: 400 'one or more keys specified are not found on KME'" \
    bash -c "[ '$CODE' = 400 ] && [ \"\$(jq -r .message '$T/body')\" = 'one or more keys specified are not found on KME' ]"
check "error body has message and details array" q jq -e '(.message|type)=="string" and (.details|type)=="array"' "$T/body"

call SAE_A "$BASE/SAE_B/enc_keys?number=2&size=128"
check "enc_keys GET ?number=2&size=128: 2 keys of 16 bytes" \
    bash -c "[ '$CODE' = 200 ] && jq -e '.keys|length==2' '$T/body' >/dev/null && [ \"\$(jq -r '.keys[0].key' '$T/body' | base64 -d | wc -c)\" = 16 ]"
id=$(jbody '.keys[0].key_ID'); key=$(jbody '.keys[0].key'); id2=$(jbody '.keys[1].key_ID')
call SAE_C "$BASE/SAE_A/dec_keys?key_ID=$id"
check "third SAE (linked to the master) fetching another pair's key: 401" [ "$CODE" = 401 ]
call SAE_D "$BASE/SAE_A/dec_keys?key_ID=$id"
check "SAE without a link to the master fetching its key: 401" [ "$CODE" = 401 ]
call SAE_B "$BASE/SAE_R/dec_keys?key_ID=$id"
check "slave naming the wrong (but linked) master: 400 not found" [ "$CODE" = 400 ]
call SAE_B "$BASE/SAE_C/dec_keys?key_ID=$id"
check "slave naming a master it has no link with: 401" [ "$CODE" = 401 ]
call SAE_B "$BASE/SAE_A/dec_keys?key_ID=$id"
check "dec_keys GET ?key_ID=: the right key for the slave, after the refusals" \
    bash -c "[ '$CODE' = 200 ] && [ \"\$(jq -r '.keys[0].key' '$T/body')\" = '$key' ]"
call SAE_B "$BASE/SAE_A/dec_keys?key_ID=$id&key_ID=$id2"
check "dec_keys is all-or-nothing (one known, one spent ID: 400)" [ "$CODE" = 400 ]
call SAE_B "$BASE/SAE_A/dec_keys?key_ID=$id2"
check "...and the known key is still there afterwards" [ "$CODE" = 200 ]
call SAE_B "$BASE/SAE_A/dec_keys?key_ID=00000000-0000-4000-8000-000000000000"
check "dec_keys of an unknown ID: 400 not found" \
    bash -c "[ '$CODE' = 400 ] && [ \"\$(jq -r .message '$T/body')\" = 'one or more keys specified are not found on KME' ]"

call SAE_A "$BASE/SAE_B/enc_keys"
check "enc_keys GET without parameters: 1 key of key_size" \
    bash -c "[ '$CODE' = 200 ] && [ \"\$(jq -r '.keys[0].key' '$T/body' | base64 -d | wc -c)\" = 32 ]"
post SAE_A "$BASE/SAE_B/enc_keys" ''
check "enc_keys POST with empty body: defaults" [ "$CODE" = 200 ]

# multicast: additional_slave_SAE_IDs
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":1,"additional_slave_SAE_IDs":["SAE_C"]}'
mid=$(jbody '.keys[0].key_ID'); mkey=$(jbody '.keys[0].key')
call SAE_B "$BASE/SAE_A/dec_keys?key_ID=$mid"; c1=$CODE; k1=$(jbody '.keys[0].key')
call SAE_C "$BASE/SAE_A/dec_keys?key_ID=$mid"; c2=$CODE; k2=$(jbody '.keys[0].key')
call SAE_C "$BASE/SAE_A/dec_keys?key_ID=$mid"; c3=$CODE
check "additional_slave_SAE_IDs: each slave gets the key once" \
    bash -c "[ $c1 = 200 ] && [ $c2 = 200 ] && [ $c3 = 400 ] && [ '$k1' = '$mkey' ] && [ '$k2' = '$mkey' ]"
post SAE_A "$BASE/SAE_B/enc_keys" '{"additional_slave_SAE_IDs":["SAE_C","FLT_slow"]}'
check "more additional slaves than max_SAE_ID_count: 400" [ "$CODE" = 400 ]

# ---------------------------------------------------------------- request errors
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":1,"size":100}'
check "size not a multiple of 8 (POST): 400 'size shall be a multiple of 8'" \
    bash -c "[ '$CODE' = 400 ] && [ \"\$(jq -r .message '$T/body')\" = 'size shall be a multiple of 8' ]"
call SAE_A "$BASE/SAE_B/enc_keys?size=257"
check "size not a multiple of 8 (GET): 400 with the exact message" \
    bash -c "[ '$CODE' = 400 ] && [ \"\$(jq -r .message '$T/body')\" = 'size shall be a multiple of 8' ]"
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":1,"extension_mandatory":[{"abc_route_type":"direct"}]}'
check "extension_mandatory: 400 'not all extension_mandatory parameters are supported'" \
    bash -c "[ '$CODE' = 400 ] && [ \"\$(jq -r .message '$T/body')\" = 'not all extension_mandatory parameters are supported' ]"
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":17}'
check "number above max_key_per_request: 400 naming the limit" \
    bash -c "[ '$CODE' = 400 ] && jq -r .message '$T/body' | grep -q max_key_per_request"
post SAE_A "$BASE/SAE_B/enc_keys" '{"size":2048}'
check "size above max_key_size: 400" [ "$CODE" = 400 ]
post SAE_A "$BASE/SAE_B/enc_keys" '{"size":32}'
check "size below min_key_size: 400" [ "$CODE" = 400 ]
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":0}'
check "number 0: 400" [ "$CODE" = 400 ]
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":"3"}'
check "number as a string: 400" [ "$CODE" = 400 ]
post SAE_A "$BASE/SAE_B/enc_keys" '{"number":1,'
check "malformed JSON body: 400" [ "$CODE" = 400 ]
post SAE_B "$BASE/SAE_A/dec_keys" '{"key_IDs":[]}'
check "dec_keys with an empty key_IDs: 400" [ "$CODE" = 400 ]
call SAE_A "$BASE/SAE_B/status" -X POST
check "POST to status: 405" [ "$CODE" = 405 ]
call SAE_A "https://127.0.0.1:$PORT/api/v1/keys/SAE_B/other"
check "unknown endpoint: 404" [ "$CODE" = 404 ]
resp=$( { printf 'GARBAGE\r\n\r\n'; sleep 0.5; } | openssl s_client -quiet -connect "127.0.0.1:$PORT" \
    -cert "$PKI/sae/SAE_A.crt" -key "$PKI/sae/SAE_A.key" -CAfile "$PKI/ca.crt" 2>/dev/null | head -1)
check "malformed HTTP request line: 400" bash -c "[[ '$resp' == 'HTTP/1.1 400'* ]]"
big=$(head -c 70000 /dev/zero | tr '\0' 'x')
post SAE_A "$BASE/SAE_B/enc_keys" "$big"
check "oversized body: 413" [ "$CODE" = 413 ]

# ---------------------------------------------------------------- authentication
call none "$BASE/SAE_B/status"
check "no client certificate: 401" [ "$CODE" = 401 ]
call SAE_X "$BASE/SAE_B/status"
check "valid certificate of an SAE unknown to the KME: 401" [ "$CODE" = 401 ]
call foreign "$BASE/SAE_B/status"
check "client certificate from another CA: refused in the TLS handshake" \
    bash -c "[ '$RC' != 0 ] && [ '$CODE' = 000 ]"
call SAE_R "$BASE/SAE_B/status"
check "SAE_R works before revocation" [ "$CODE" = 200 ]
"$PKI_TOOL" revoke "$PKI" SAE_R >/dev/null 2>&1
call SAE_R "$BASE/SAE_B/status"
check "revoked client certificate refused (CRL reloaded on change)" \
    bash -c "[ '$RC' != 0 ] && [ '$CODE' = 000 ]"
call SAE_A "$BASE/SAE_B/status"
check "other SAEs unaffected by the new CRL" [ "$CODE" = 200 ]

# KME certificate for another name
sed -e 's#pki/kme/kme\.#pki/kme/kme-other.#' -e 's/^crl = .*//' \
    -e 's/^id = KME_TEST/id = KME_OTHER\nfault = html_error/' "$T/kme.conf" >"$T/other.conf"
if start_sim "$T/other.conf" "$T/port2" "$T/kme.log"; then
    P2=$(cat "$T/port2")
    call SAE_A "https://127.0.0.1:$P2/api/v1/keys/SAE_B/status"
    check "curl rejects a KME certificate issued for another name (exit 60)" [ "$RC" = 60 ]
    call SAE_A "https://kme-other.example:$P2/api/v1/keys/SAE_B/status" \
        --resolve "kme-other.example:$P2:127.0.0.1"
    check "...and accepts it under its own name (global fault html_error: 500 HTML)" \
        bash -c "[ '$CODE' = 500 ] && grep -qi '<html' '$T/body'"
else
    nok "second kme-sim (other name) starts"
fi

# ---------------------------------------------------------------- pool exhaustion and refill
# SAE_E - SAE_F: 4 keys of 256 bits, refilled at 128 bit/s = a key every 2 s (8 s from
# empty: the second request, a moment after the first, finds the pool short even on a
# loaded machine).  t0 is taken before the pool is emptied, so the refill cannot be
# seen complete less than 8 s after it.
t0=$(date +%s%N)
call SAE_E "$BASE/SAE_F/enc_keys?number=4"
check "exhaustion: take the whole pool (4 keys)" [ "$CODE" = 200 ]
call SAE_E "$BASE/SAE_F/enc_keys?number=4"
check "exhaustion: 503 when the pool has fewer keys than asked" [ "$CODE" = 503 ]
check "exhaustion: the 503 message says so" bash -c "jq -r .message '$T/body' | grep -q 'not enough key material'"
full=0
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
    call SAE_E "$BASE/SAE_F/status"
    if [[ $(jbody .stored_key_count) == 4 ]]; then full=1; break; fi
    sleep 0.2
done
dt_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "refill: pool full again after ${dt_ms} ms (rate says 8000 ms)" \
    bash -c "[ $full = 1 ] && [ $dt_ms -ge 7900 ]"
call SAE_E "$BASE/SAE_F/enc_keys?number=4"
check "refill: enc_keys succeeds again" [ "$CODE" = 200 ]

# ---------------------------------------------------------------- concurrency
for i in $(seq 1 20); do
    curl -sS --max-time "$MAXTIME" --cacert "$PKI/ca.crt" --cert "$PKI/sae/SAE_A.crt" --key "$PKI/sae/SAE_A.key" \
        "$BASE/SAE_C/enc_keys?number=5" -o "$T/par.$i" &
done
wait_ok=1
for j in $(jobs -p); do
    case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" || wait_ok=0 ;; esac
done
nids=$(cat "$T"/par.* | jq -r '.keys[].key_ID' 2>/dev/null | sort -u | wc -l)
check "20 concurrent clients: 100 distinct keys" bash -c "[ $wait_ok = 1 ] && [ $nids = 100 ]"

# ---------------------------------------------------------------- fault modes
call SAE_A "$BASE/FLT_bad_json/enc_keys?number=2"
check "fault bad_json: 200 with a body that is not JSON" \
    bash -c "[ '$CODE' = 200 ] && ! jq . '$T/body' >/dev/null 2>&1"
call SAE_A "$BASE/FLT_short_key/enc_keys?size=256"
check "fault short_key: key shorter than size/8" \
    bash -c "[ '$CODE' = 200 ] && [ \"\$(jq -r '.keys[0].key' '$T/body' | base64 -d | wc -c)\" = 31 ]"
call SAE_A "$BASE/FLT_bad_base64/enc_keys"
check "fault bad_base64: key is not valid base64" \
    bash -c "[ '$CODE' = 200 ] && ! jq -r '.keys[0].key' '$T/body' | base64 -d >/dev/null 2>&1"
call SAE_A "$BASE/FLT_html_error/enc_keys"
check "fault html_error: 500 text/html" bash -c "[ '$CODE' = 500 ] && grep -qi '<html' '$T/body'"
call SAE_A "$BASE/FLT_slow/status" --max-time 0.5
check "fault slow: a client with a 0.5 s timeout times out (curl 28)" [ "$RC" = 28 ]
s0=$(date +%s%N)
call SAE_A "$BASE/FLT_slow/status"
sdt=$(( ($(date +%s%N) - s0) / 1000000 ))
check "fault slow: correct answer after slow_ms (${sdt} ms)" bash -c "[ '$CODE' = 200 ] && [ $sdt -ge 1400 ]"
call SAE_A "$BASE/FLT_drop/enc_keys"
check "fault drop: connection closed without a response" bash -c "[ '$RC' != 0 ] && [ '$CODE' = 000 ]"
call SAE_A "$BASE/FLT_wrong_key/enc_keys"
wid=$(jbody '.keys[0].key_ID'); wkey=$(jbody '.keys[0].key')
call FLT_wrong_key "$BASE/SAE_A/dec_keys?key_ID=$wid"
check "fault wrong_key (dec_keys only): same ID and length, different key" \
    bash -c "[ '$CODE' = 200 ] && [ \"\$(jq -r '.keys[0].key_ID' '$T/body')\" = '$wid' ] && [ \"\$(jq -r '.keys[0].key' '$T/body')\" != '$wkey' ] && [ \"\$(jq -r '.keys[0].key' '$T/body' | base64 -d | wc -c)\" = 32 ]"
call SAE_A "$BASE/FLT_zero_count/status"
check "fault zero_count: status says no key stored" bash -c "[ '$CODE' = 200 ] && [ \"\$(jq -r .stored_key_count '$T/body')\" = 0 ]"
call SAE_A "$BASE/FLT_zero_count/enc_keys?number=2"
check "fault zero_count: enc_keys still delivers keys" bash -c "[ '$CODE' = 200 ] && [ \"\$(jq '.keys | length' '$T/body')\" = 2 ]"

# ---------------------------------------------------------------- log hygiene and shutdown
check "the log never contains key material" bash -c "! grep -qF '$key' '$T/kme.log' && ! grep -qF '$mkey' '$T/kme.log'"
kill "$SIM_PID" 2>/dev/null
kill "${PIDS[0]}" 2>/dev/null
stopped=0
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "${PIDS[0]}" 2>/dev/null; then stopped=1; break; fi
    sleep 0.05
done
check "kme-sim stops on SIGTERM" [ $stopped = 1 ]

finish
