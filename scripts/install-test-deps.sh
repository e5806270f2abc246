#!/usr/bin/env bash
# Installs what the test suite talks to: redis-server/redis-cli/redis-benchmark (the oracle),
# promtool (metrics checks), and for the packaging checks (scripts/check-manifests.sh)
# helm (and kubectl, used when none is on PATH: scripts/install-helm.sh) and the Python packages kubernetes-validate,
# jsonschema and pyyaml. Idempotent; skips what is already there.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v promtool >/dev/null || need+=(prometheus)
command -v unzip >/dev/null || need+=(unzip)
command -v npm >/dev/null || need+=(npm)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's package starts a redis-server on 6379; the tests start their own, so stop it to
# leave the default port to `tinyredis node`.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

# Packaging checks: Python validators and helm.
if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null \
    || ! command -v kubernetes-validate >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate jsonschema pyyaml
fi
"$(dirname "$0")/install-helm.sh" >/dev/null
