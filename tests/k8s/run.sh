#!/bin/bash
# Run tests/k8s/test_k8s_client against the fake API server over real TLS.
#   tests/k8s/run.sh [path/to/test_k8s_client]   (default build/tests/...)
# Makes a throwaway CA + server certificate (and a second CA for the
# wrong-certificate case) with the openssl CLI, starts fake_apiserver.py on
# 127.0.0.1, runs the test, stops the server. The test's last line is
# "k8s: N passed, N failed"; the exit status is non-zero on any failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/../../build/tests/test_k8s_client}
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/k8s-test.XXXXXX")
SRV=

cleanup() {
	if [ -n "$SRV" ]; then
		kill "$SRV" 2>/dev/null
		wait "$SRV" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

fail_setup() {
	echo "not ok - setup: $*"
	[ -s "$WORK/openssl.log" ] && tail -5 "$WORK/openssl.log" | sed 's/^/# /'
	[ -s "$WORK/server.log" ] && tail -20 "$WORK/server.log" | sed 's/^/# /'
	echo "k8s: 0 passed, 1 failed"
	exit 1
}

[ -x "$BIN" ] || fail_setup "no test binary at $BIN"
command -v openssl >/dev/null || fail_setup "openssl CLI missing (Debian package openssl)"

# CA -> server certificate for IP 127.0.0.1 only (so "localhost" must fail
# host verification). EC keys: fast to make.
mkcert() { # prefix
	local p=$WORK/$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$1-ca" -keyout "$p-ca.key" -out "$p-ca.crt" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=kube-apiserver" -keyout "$p-srv.key" -out "$p-srv.csr" &&
	printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$p-ext.cnf" &&
	openssl x509 -req -in "$p-srv.csr" -CA "$p-ca.crt" -CAkey "$p-ca.key" \
		-CAcreateserial -days 2 -extfile "$p-ext.cnf" -out "$p-srv.crt"
}
{ mkcert good && mkcert other; } >"$WORK/openssl.log" 2>&1 || fail_setup "certificate generation"
cp "$WORK/good-ca.crt" "$WORK/ca.crt"
echo "this is not a PEM certificate" >"$WORK/not-a-ca.pem"
# JWT-shaped tokens; files end in a newline as the kubelet's do not, to
# exercise trimming.
printf '%s\n' "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJsY3ctb2xkIn0.b2xkLXNpZw" >"$WORK/token-old"
printf '%s\n' "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJsY3ctbmV3In0.bmV3LXNpZw" >"$WORK/token-new"
: >"$WORK/requests.log"

$PY "$HERE/fake_apiserver.py" --cert "$WORK/good-srv.crt" --key "$WORK/good-srv.key" \
	--wrong-cert "$WORK/other-srv.crt" --wrong-key "$WORK/other-srv.key" \
	--token "$WORK/token-old" --token-new "$WORK/token-new" \
	--log "$WORK/requests.log" --ports-file "$WORK/ports" --expect-limit 2 \
	>"$WORK/server.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do
	[ -s "$WORK/ports" ] && break
	kill -0 "$SRV" 2>/dev/null || fail_setup "fake API server exited"
	sleep 0.1
done
[ -s "$WORK/ports" ] || fail_setup "fake API server did not start"

K8S_TEST_DIR=$WORK K8S_TEST_PORTS=$(cat "$WORK/ports") K8S_TEST_LOG=$WORK/requests.log "$BIN"
rc=$?
if ! kill -0 "$SRV" 2>/dev/null; then
	echo "not ok - fake API server died during the run"
	tail -20 "$WORK/server.log" | sed 's/^/# /'
	rc=1
fi
exit $rc
