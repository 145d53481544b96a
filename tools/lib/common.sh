# Shared by tools/test, tools/demo and tools/bench/run: packages, build, and a
# throw-away PostgreSQL run as an unprivileged user.  Source it; don't run it.

SSN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
# SSN_PG_PREFIX=DIR: run the PostgreSQL copied under DIR (the layout of
# `make install DESTDIR=DIR`) and install the extension there, not into the system's;
# SSN_NO_INSTALL=1: use the extension already installed (e.g. another build's).
[ -z "${SSN_PG_PREFIX:-}" ] || PG_BIN=$SSN_PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin
PG_REGRESS=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/regress/pg_regress
PG_PERL=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/perl
SSN_PACKAGES="build-essential clang bc openssl curl jq libipc-run-perl postgresql-$PG_MAJOR postgresql-contrib postgresql-server-dev-$PG_MAJOR libsodium-dev libssl-dev libjansson-dev libcurl4-openssl-dev libpq-dev valgrind"

say() { printf '\n== %s\n' "$*"; }

# Install what the build and the tests need (Debian 12).  Needs root.
ssn_install_packages() {
	local missing=()
	local p
	for p in $SSN_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# Build and install the extension (as the caller, normally root).
ssn_build_install() {
	say "building and installing the extension"
	# CI builds with every warning an error
	[ -z "${SSN_NO_INSTALL:-}" ] || return 0
	make -C "$SSN_ROOT" -s -j2 ${CI:+WERROR=1} >/dev/null
	make -C "$SSN_ROOT" -s install ${SSN_PG_PREFIX:+DESTDIR="$SSN_PG_PREFIX"} >/dev/null
}

# The unprivileged user that runs PostgreSQL (PostgreSQL refuses root).
ssn_pg_user() {
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --create-home postgres
		echo postgres
	else
		id -un
	fi
}

# Run a command as the PostgreSQL user.
# PostgreSQL's programs complain when they cannot enter the current directory (a
# clone under /root, as CI makes): then they run from /, so give them absolute paths.
as_pg() {
	local u
	u=$(ssn_pg_user)
	if [ "$(id -un)" = "$u" ]; then
		"$@"
	elif runuser -u "$u" -- test -x "$PWD" 2>/dev/null; then
		runuser -u "$u" -- "$@"
	else
		(cd / && runuser -u "$u" -- "$@")
	fi
}

# A scratch directory the PostgreSQL user owns.
ssn_scratch() {
	local d
	d=$(mktemp -d /tmp/ssn.XXXXXX)
	chown "$(ssn_pg_user)" "$d"
	chmod 755 "$d"
	echo "$d"
}

# A free TCP port on loopback.
ssn_free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# N distinct free TCP ports on loopback, space-separated.
ssn_free_ports() {
	local n=$1 p ports=" " count=0
	while [ "$count" -lt "$n" ]; do
		p=$(ssn_free_port)
		[[ "$ports" == *" $p "* ]] && continue
		ports+="$p "
		count=$((count + 1))
	done
	echo $ports
}

# Write stdin to FILE as the PostgreSQL user (atomically: a temporary file, then
# rename), so that nothing root writes lands in a directory that user controls.
as_pg_write() {	# as_pg_write FILE [MODE]
	as_pg bash -c 'set -e; t=$(mktemp "$1.XXXXXX"); cat >"$t"; chmod "$2" "$t"; mv -f "$t" "$1"' \
		_ "$1" "${2:-644}"
}

# timing for the benchmarks: now (seconds, fractional), since START (seconds elapsed)
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
