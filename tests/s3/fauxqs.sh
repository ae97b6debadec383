#!/bin/bash
# The second S3 server of the tests, written independently of s3rver: the
# npm package fauxqs (an SNS/SQS/S3 emulator; its S3 keeps objects in
# memory), installed into $S3_TOOLS/fauxqs (default build/s3-tools/fauxqs)
# at the version pinned by tests/s3/fauxqs/package-lock.json, and served by
# tests/s3/fauxqs-serve.mjs. fauxqs 1.9.2 is the last release that runs on
# Debian 12's Node 20 (later ones need node:sqlite). It checks no
# signature and knows no access keys: any key id is accepted.
#
#   fauxqs.sh install
#   fauxqs.sh start DIR BUCKET...   prints the port
#   fauxqs.sh stop DIR
#
# start binds 127.0.0.1 on a free port chosen by the kernel, mirrors the
# objects it holds into DIR/data (for the tests' plaintext scans), keeps
# its log in DIR/log and its pid in DIR/pid. Needs node and npm.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S3_TOOLS=${S3_TOOLS:-$ROOT/build/s3-tools}
DEST=$S3_TOOLS/fauxqs
HERE=$ROOT/tests/s3/fauxqs
MAIN=$DEST/node_modules/fauxqs/dist/app.js
SERVE=$ROOT/tests/s3/fauxqs-serve.mjs

install() {
	local t
	for t in node npm; do
		command -v "$t" >/dev/null 2>&1 || { echo "$t not found (Debian: nodejs, npm)" >&2; return 1; }
	done
	# the copy of the lock is removed when npm ci fails: with node_modules
	# in place, it marks a finished install
	if [ -f "$MAIN" ] && cmp -s "$HERE/package-lock.json" "$DEST/package-lock.json"; then
		return 0
	fi
	mkdir -p "$DEST"
	rm -f "$DEST/package-lock.json"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/" || return 1
	if ! (cd "$DEST" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1) || [ ! -f "$MAIN" ]; then
		echo "npm ci of fauxqs failed:" >&2
		tail -20 "$DEST/npm.log" >&2
		rm -f "$DEST/package-lock.json"
		return 1
	fi
}

start() {
	local dir=$1 port i pid
	shift
	mkdir -p "$dir/data"
	# setsid: its own session, so a Ctrl-C of the test run does not leave
	# it half-dead; stop kills exactly the recorded pid.
	setsid node "$SERVE" "$DEST" "$dir/data" "$@" >"$dir/log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/pid"
	# node can take minutes to start in the emulated VM on a busy host
	for i in $(seq 1 ${S3_START_POLLS:-1800}); do
		port=$(sed -nE 's/^fauxqs listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$dir/log" | head -1)
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "fauxqs did not start:" >&2
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
*) echo "usage: $0 install | start DIR BUCKET... | stop DIR" >&2; exit 2 ;;
esac
