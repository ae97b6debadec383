#!/bin/bash
# Run the S3 live tests: start two s3rver instances on 127.0.0.1 (A: plain
# HTTP, any signature accepted so a distinctive secret key can be searched
# for; B: HTTPS with a throw-away CA, strict SigV4 with the only key s3rver
# knows), run the test program against them, stop them.
#
#   tests/s3/run.sh build/tests/test_s3_live [s3rver|fauxqs]
#
# With fauxqs, A is the second, independent S3 server (tests/s3/fauxqs.sh)
# and there is no B: the program then runs the checks whose outcome
# depends on the server (see test_s3_live.c).
#
# The program prints "ok - name" / "not ok - name: detail" and a final
# "s3: N passed, N failed[, N skipped]" line. When the harness itself cannot
# start, this script prints that line with one failure. KEEP=1 keeps the
# scratch directory (logs, server data) for a look after a failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROG=${1:?usage: $0 TEST_PROGRAM [s3rver|fauxqs]}
SERVER=${2:-s3rver}
case $SERVER in
s3rver | fauxqs) H=$ROOT/tests/s3/$SERVER.sh ;;
*) echo "unknown server $SERVER" >&2; exit 2 ;;
esac

harness_fail() {
	echo "not ok - harness: $*"
	echo "s3: 0 passed, 1 failed"
	exit 1
}

for t in rclone openssl node npm; do
	command -v "$t" >/dev/null 2>&1 || harness_fail "$t not found"
done
[ -x "$PROG" ] || harness_fail "$PROG not built"
"$H" install >&2 || harness_fail "cannot install $SERVER"

mkdir -p "$ROOT/build"
TMP=$(mktemp -d "$ROOT/build/s3-test.XXXXXX")
# the mount test reads through the FUSE mount as another user
chmod 0711 "$TMP"
cleanup() {
	"$H" stop "$TMP/a"
	"$H" stop "$TMP/b"
	# a FUSE mount left by a crashed test must not survive the run
	grep -F " $TMP/" /proc/self/mountinfo | awk '{print $5}' | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then
		echo "kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP/work"
chmod 0711 "$TMP/work"
if [ "$SERVER" = fauxqs ]; then
	PA=$("$H" start "$TMP/a" bkt other purge) || harness_fail "cannot start fauxqs"
	LCW_S3_SERVER=fauxqs LCW_S3_A="http://127.0.0.1:$PA" LCW_S3_A_DATA="$TMP/a/data" \
		LCW_S3_TMP="$TMP/work" "$PROG"
	exit
fi

# A CA and a server certificate for B, covering the virtual-host name.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lcw-test-ca \
	-keyout "$TMP/ca.key" -out "$TMP/ca.pem" >/dev/null 2>&1 || harness_fail "openssl ca"
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$TMP/srv.key" \
	-out "$TMP/srv.csr" >/dev/null 2>&1 || harness_fail "openssl csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:s3.us-east-1.amazonaws.com,DNS:*.s3.us-east-1.amazonaws.com\n' >"$TMP/ext"
openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile "$TMP/ext" -out "$TMP/srv.pem" >/dev/null 2>&1 || harness_fail "openssl sign"

PA=$("$H" start "$TMP/a" --lenient bkt other purge) || harness_fail "cannot start s3rver A"
PB=$("$H" start "$TMP/b" --tls "$TMP/srv.pem" "$TMP/srv.key" bkt) || harness_fail "cannot start s3rver B"

LCW_S3_A="http://127.0.0.1:$PA" LCW_S3_A_DATA="$TMP/a/data" \
	LCW_S3_B="https://127.0.0.1:$PB" LCW_S3_B_PORT="$PB" LCW_S3_CA="$TMP/ca.pem" \
	LCW_S3_TMP="$TMP/work" "$PROG"
