#!/usr/bin/env bash
# Copies crds/ (what `tinyredis-operator crd` prints) into the Helm chart and
# the kustomize base, and regenerates docs/crd-reference.md. Run after
# regenerating crds/; scripts/check-manifests.sh fails while they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
crd=crds/tinyredis.io_tinyredisclusters.yaml
cp "$crd" charts/tinyredis-operator/crds/
cp "$crd" deploy/base/crd/
python3 scripts/gen_crd_reference.py
