#!/usr/bin/env bash
# Static checks of the packaging (no cluster, no Docker engine needed):
#   helm lint + helm template (default and all-options values),
#   kubectl kustomize deploy/ and its overlay,
#   then scripts/check_manifests.py: kubernetes-validate --strict (1.30 and
#   newest), examples against the CRD schema, RBAC == API_ACCESS, Deployment
#   env, Dockerfile paths/binaries, CRD copies, versions, CRD reference doc.
# Needs: helm and kubectl (scripts/install-helm.sh), python3 with
# kubernetes-validate, jsonschema, pyyaml (scripts/install-test-deps.sh).
# TINYREDIS_OPERATOR_BIN: the operator binary (`cargo test` passes it);
# built with cargo when unset.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM="${HELM:-$(scripts/install-helm.sh)}"
# kubectl from PATH, else the one install-helm.sh put beside helm.
KUBECTL="$(command -v kubectl || echo "$(dirname "$HELM")/kubectl")"
command -v kubernetes-validate >/dev/null || {
  echo "check-manifests: kubernetes-validate is needed (scripts/install-test-deps.sh)" >&2; exit 1; }

if [ -z "${TINYREDIS_OPERATOR_BIN:-}" ]; then
  cargo build --quiet --locked -p tinyredis-operator --bin tinyredis-operator
  TINYREDIS_OPERATOR_BIN="${CARGO_TARGET_DIR:-target}/debug/tinyredis-operator"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir "$out/rendered"

chart=charts/tinyredis-operator
all_options="$chart/ci/all-options-values.yaml"
"$HELM" lint --strict --quiet "$chart"
"$HELM" lint --strict --quiet "$chart" -f "$all_options"
echo "ok: helm lint --strict (default and all-options values)"
"$HELM" template tinyredis "$chart" --namespace tinyredis-system >"$out/rendered/helm-default.yaml"
"$HELM" template tinyredis "$chart" --namespace tinyredis-system -f "$all_options" \
  >"$out/rendered/helm-all-options.yaml"
echo "ok: helm template (default and all-options values)"
# values.schema.json must reject bad values.
for bad in metrics.port=0 replicaCount=-1 cluster.nmae=typo image.pullPolicy=Sometimes; do
  if "$HELM" template tinyredis "$chart" --set "$bad" >/dev/null 2>&1; then
    echo "FAIL: helm template accepted --set $bad; values.schema.json should reject it" >&2
    exit 1
  fi
done
echo "ok: values.schema.json rejects bad values"

"$KUBECTL" kustomize deploy/ >"$out/rendered/kustomize-base.yaml"
"$KUBECTL" kustomize deploy/overlays/monitoring >"$out/rendered/kustomize-monitoring.yaml"
echo "ok: kubectl kustomize deploy/ and deploy/overlays/monitoring"

"$TINYREDIS_OPERATOR_BIN" rbac >"$out/rbac.json"
python3 scripts/check_manifests.py "$out/rendered" "$out/rbac.json"
