#!/bin/bash
# Render deploy/lukscryptwalker-csi.yaml (plain manifests) from the chart
# with its default values, into namespace lukscryptwalker-csi.
#
#   tests/chart/render-deploy.sh            print to stdout
#   tests/chart/render-deploy.sh --write    update deploy/lukscryptwalker-csi.yaml
#
# tests/chart/run.sh checks that the committed file equals a fresh render.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. tests/chart/tools.sh
NS=lukscryptwalker-csi

render() {
	cat <<HEADER
# lukscryptwalker-csi: plain manifests (namespace $NS).
#
# GENERATED from helm/lukscryptwalker-csi with its default values by
# tests/chart/render-deploy.sh --write. Do not edit by hand: change the chart
# (or use it with your own values) and regenerate. See deploy/README.md.
---
# The node plugin needs privileged pods (Bidirectional mount propagation).
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/warn: privileged
    pod-security.kubernetes.io/audit: privileged
HEADER
	# Not managed by Helm once applied with kubectl: say so in the label.
	"$HELM" template lukscryptwalker-csi helm/lukscryptwalker-csi --namespace "$NS" |
		sed 's|^\( *app.kubernetes.io/managed-by:\) Helm$|\1 kubectl|'
}

if ! why=$(chart_tools_install); then
	echo "render-deploy: $why" >&2
	exit 1
fi
if [ "${1:-}" = "--write" ]; then
	render >deploy/lukscryptwalker-csi.yaml.tmp
	mv deploy/lukscryptwalker-csi.yaml.tmp deploy/lukscryptwalker-csi.yaml
	echo "wrote deploy/lukscryptwalker-csi.yaml"
else
	render
fi
