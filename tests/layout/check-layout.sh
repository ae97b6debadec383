#!/bin/bash
# The tree's promises, checked against the Makefile and the built binaries
# (README "Architecture"):
#   - every C file under the source folders is in exactly one Makefile list,
#     and each list holds only files of its own folder;
#   - privd (root) links no gRPC or protobuf, and none of its objects came
#     from frontend/ or generated protobuf code;
#   - lcw-frontend contains no object from privd/ (the root helper's folders);
#   - includes run one way: core -> backends -> node/k8s -> common -> ipc;
#   - no source file passes 650 lines without a reason at its top.
# Usage: tests/layout/check-layout.sh [build-dir]   (default build)
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { # description, then a command whose success means ok
	local d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
mkvar() { make -s --no-print-directory B="$B" "print-$1"; }

# ---- Makefile lists against folders ------------------------------------------
declare -A LIST_DIR=(
	[IPC_SRC]=ipc [COMMON_SRC]=common [POLICY_SRC]=policy [PRIVD_CORE_SRC]=privd
	[PRIVD_NODE_SRC]=privd/node [PRIVD_K8S_SRC]=privd/k8s [PRIVD_LUKS_SRC]=privd/luks
	[PRIVD_S3_SRC]=privd/s3 [FRONTEND_SRC]=frontend
)
declare -A SEEN=()
for v in "${!LIST_DIR[@]}"; do
	for f in $(mkvar "$v"); do
		SEEN[$f]=$((${SEEN[$f]:-0} + 1))
		[ "$(dirname "$f")" = "${LIST_DIR[$v]}" ] || bad "$f is listed in $v but lives outside ${LIST_DIR[$v]}/"
	done
done
missing=() twice=()
for f in ipc/*.c common/*.c policy/*.c privd/*.c privd/*/*.c frontend/*.c; do
	case ${SEEN[$f]:-0} in
	1) ;;
	0) missing+=("$f") ;;
	*) twice+=("$f") ;;
	esac
done
check "every source file is in a Makefile list (${missing[*]:-none missing})" test ${#missing[@]} -eq 0
check "no source file is in two lists (${twice[*]:-none twice})" test ${#twice[@]} -eq 0

# ---- what each binary links ---------------------------------------------------
PRIVD=$B/bin/lukscryptwalker-csi FE=$B/bin/lcw-frontend
for bin in "$PRIVD" "$FE"; do
	[ -x "$bin" ] || { bad "$bin is built"; echo "layout: $PASS passed, $FAIL failed"; exit 1; }
done
# Compile units recorded in the debug info: the sources a binary was made of.
# (A sanitizer build adds the runtime's own preinit unit.)
units() { readelf --debug-dump=info "$1" 2>/dev/null | awk '/DW_TAG_compile_unit/ {cu=1} cu && /DW_AT_name/ {print $NF; cu=0}' | sort -u; }
PRIVD_UNITS=$(units "$PRIVD") FE_UNITS=$(units "$FE")
check "privd's debug info lists its compile units" test -n "$PRIVD_UNITS"
check "lcw-frontend's debug info lists its compile units" test -n "$FE_UNITS"
check "privd links no gRPC or protobuf library" \
	bash -c "! ldd '$PRIVD' | grep -Ei 'grpc|protobuf'"
check "privd references no gRPC or protobuf symbol" \
	bash -c "! nm -D --undefined-only '$PRIVD' | grep -Ei ' (grpc|protobuf)'"
check "privd contains no frontend/ or generated protobuf object" \
	bash -c "! grep -E '(^|/)frontend/|pb-c\.c' <<<'$PRIVD_UNITS'"
check "lcw-frontend contains no object from the root helper's folders (privd/)" \
	bash -c "! grep -E '(^|/)privd/' <<<'$FE_UNITS'"
check "lcw-frontend is made of frontend/, common/, ipc/, policy/ and generated code only" \
	bash -c "! grep -vE '(^|/)(frontend|common|ipc|policy)/|/gen/|^build|libsanitizer/' <<<'$FE_UNITS'"

# ---- include direction ------------------------------------------------------------
# Which folders a folder's files may include headers from (its own first).
declare -A MAY=(
	[ipc]="ipc"
	[common]="common ipc"
	[policy]="policy common ipc"
	[privd/node]="privd/node common ipc"
	[privd/k8s]="privd/k8s privd/node common ipc"
	[privd/luks]="privd/luks privd/k8s privd/node common ipc"
	[privd/s3]="privd/s3 privd/luks privd/k8s privd/node common ipc"
	[privd]="privd privd/s3 privd/luks privd/k8s privd/node policy common ipc"
	[frontend]="frontend policy common ipc GEN"
)
declare -A HOME_OF=()
dups=()
for d in "${!MAY[@]}"; do
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		n=$(basename "$h")
		[ -n "${HOME_OF[$n]:-}" ] && dups+=("$n")
		HOME_OF[$n]=$d
	done
done
check "header names are unique across folders (${dups[*]:-no duplicates})" test ${#dups[@]} -eq 0
wrong=()
for d in "${!MAY[@]}"; do
	for f in "$d"/*.c "$d"/*.h; do
		[ -e "$f" ] || continue
		for inc in $(sed -nE 's/^#include "([^"]+)".*/\1/p' "$f"); do
			home=${HOME_OF[$(basename "$inc")]:-GEN}
			case " ${MAY[$d]} " in *" $home "*) ;; *) wrong+=("$f->$inc($home)") ;; esac
		done
	done
done
check "includes run one way: core -> backends -> node/k8s -> common -> ipc (${wrong[*]:-none against it})" \
	test ${#wrong[@]} -eq 0
# No cycle between the two backends: s3 may use luks (the cache volume), not back.
check "privd/luks includes nothing from privd/s3" \
	bash -c "! grep -l '#include \"\\($(ls privd/s3/*.h | xargs -n1 basename | paste -sd'|' | sed 's/|/\\\\|/g')\\)\"' privd/luks/*.[ch]"

# ---- file size -----------------------------------------------------------------------
long=()
for f in ipc/*.[ch] common/*.[ch] policy/*.[ch] privd/*.[ch] privd/*/*.[ch] frontend/*.[ch]; do
	n=$(wc -l <"$f")
	if [ "$n" -gt 650 ] && ! head -20 "$f" | grep -q 'Longer than 600 lines because'; then
		long+=("$f($n)")
	fi
done
check "no source file over 650 lines without a reason at its top (${long[*]:-none})" test ${#long[@]} -eq 0

echo "layout: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
