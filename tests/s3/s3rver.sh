#!/bin/bash
# A real S3-compatible server for tests: the npm package s3rver, installed
# into $S3_TOOLS (default build/s3-tools) at the version pinned by
# tests/s3/package-lock.json. s3rver accepts only the access key id S3RVER
# (secret S3RVER); with --lenient it accepts any well-formed signature, so
# tests can use a distinctive secret key that leak scans search for.
#
#   s3rver.sh install
#   s3rver.sh start DIR [--lenient] [--tls CERT KEY] BUCKET...   prints the port
#   s3rver.sh stop DIR
#
# start binds 127.0.0.1 on a free port chosen by the kernel, keeps its data
# in DIR/data, its log in DIR/log and its pid in DIR/pid. Needs node, npm
# and patch.
#
# install applies s3rver-common-prefixes.patch: s3rver 3.7.1 leaves a
# common prefix out of a delimited listing when all its objects lie two or
# more levels below it (a/ for the sole key a/b/c), which S3 lists. An
# rclone mount lists each directory that way, so without the patch a
# directory that holds only directories (mkdir -p a/b) disappeared from
# the mount once its files were in the bucket (issue 15).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S3_TOOLS=${S3_TOOLS:-$ROOT/build/s3-tools}
HERE=$ROOT/tests/s3
BIN=$S3_TOOLS/node_modules/s3rver/bin/s3rver.js
PATCH=s3rver-common-prefixes.patch

install() {
	local t
	for t in node npm; do
		command -v "$t" >/dev/null 2>&1 || { echo "$t not found (Debian: nodejs, npm)" >&2; return 1; }
	done
	command -v patch >/dev/null 2>&1 || { echo "patch not found (Debian: patch)" >&2; return 1; }
	# the copy of the patch is written last: it marks a finished install
	# (and a reverse dry run proves the sources still carry it)
	if [ -f "$BIN" ] && cmp -s "$HERE/package-lock.json" "$S3_TOOLS/package-lock.json" &&
		cmp -s "$HERE/$PATCH" "$S3_TOOLS/$PATCH" &&
		patch -s -R --dry-run -p1 -d "$S3_TOOLS/node_modules/s3rver" <"$HERE/$PATCH" >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$S3_TOOLS"
	rm -f "$S3_TOOLS/$PATCH"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$S3_TOOLS/" || return 1
	# npm ci starts from an empty node_modules: the patch applies to
	# pristine sources
	if ! (cd "$S3_TOOLS" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
		echo "npm ci failed:" >&2
		tail -20 "$S3_TOOLS/npm.log" >&2
		rm -f "$S3_TOOLS/package-lock.json"
		return 1
	fi
	[ -f "$BIN" ] || { echo "s3rver not installed at $BIN" >&2; return 1; }
	if ! patch -s -p1 -N -d "$S3_TOOLS/node_modules/s3rver" <"$HERE/$PATCH"; then
		echo "cannot apply $PATCH to s3rver" >&2
		return 1
	fi
	cp "$HERE/$PATCH" "$S3_TOOLS/$PATCH"
}

start() {
	local dir=$1 lenient=0 cert="" key="" b port i pid
	shift
	local args=()
	while [ $# -gt 0 ]; do
		case $1 in
		--lenient) lenient=1; shift ;;
		--tls) cert=$2; key=$3; shift 3 ;;
		*) args+=(--configure-bucket "$1"); shift ;;
		esac
	done
	mkdir -p "$dir/data"
	local extra=()
	[ "$lenient" = 1 ] && extra+=(--allow-mismatched-signatures)
	[ -n "$cert" ] && extra+=(--cert "$cert" --key "$key")
	# setsid: its own session, so a Ctrl-C of the test run does not leave
	# it half-dead; stop kills exactly the recorded pid.
	# --openssl-legacy-provider: s3rver encrypts continuation tokens with
	# DES, which OpenSSL 3 keeps in its legacy provider.
	setsid node --openssl-legacy-provider "$BIN" -d "$dir/data" -a 127.0.0.1 -p 0 "${extra[@]}" "${args[@]}" \
		>"$dir/log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/pid"
	# node can take minutes to start in the emulated VM on a busy host
	for i in $(seq 1 ${S3RVER_START_POLLS:-1800}); do
		port=$(sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$dir/log" | head -1)
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "s3rver did not start:" >&2
	cat "$dir/log" >&2
	stop "$dir"
	return 1
}

stop() {
	local dir=$1 pid i
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if kill "$pid" 2>/dev/null; then
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$dir/pid"
}

cmd=${1:-}
shift || true
case $cmd in
install) install ;;
start) start "$@" ;;
stop) stop "$@" ;;
*) echo "usage: $0 install | start DIR [--lenient] [--tls CERT KEY] BUCKET... | stop DIR" >&2; exit 2 ;;
esac
