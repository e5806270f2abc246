#!/usr/bin/env bash
# End-to-end test of the operator on a real Kubernetes cluster (kind or k3d).
#
# NOT RUN in this repository's CI or on the development machines: they have
# no Docker engine and no Kubernetes API server. See README.md.
#
# What it does:
#   1. creates a throwaway kind (default) or k3d cluster
#   2. builds the node and operator images from the root Dockerfile and
#      loads them into the cluster
#   3. helm-installs charts/tinyredis-operator
#   4. applies deploy/examples/cluster-3-node.yaml (TinyRedisCluster "demo")
#   5. writes keys with redis-cli through the proxy Service (port-forward)
#   6. scales to 5 and back to 3, checking members and data each time
#   7. kills the leader pod, waits for a new leader, checks the data
#   8. deletes the cluster (unless KEEP=1)
#
# Usage: tests/e2e/run.sh            # kind
#        PROVIDER=k3d tests/e2e/run.sh
#        KEEP=1 tests/e2e/run.sh     # keep the cluster for debugging
# Needs: docker, kind or k3d, kubectl, helm, redis-cli, jq.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROVIDER="${PROVIDER:-kind}"
CLUSTER="${CLUSTER:-tinyredis-e2e}"
NS="${NS:-tinyredis-e2e}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
NODE_IMAGE="tinyredis:${VERSION}"
OPERATOR_IMAGE="tinyredis-operator:${VERSION}"
LOCAL_PORT="${LOCAL_PORT:-16379}"
TIMEOUT="${TIMEOUT:-300}"

log() { printf '\n== %s\n' "$*"; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

for tool in docker kubectl helm redis-cli jq "$PROVIDER"; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

cleanup() {
  [[ -n "${PF_PID:-}" ]] && kill "$PF_PID" 2>/dev/null || true
  if [[ "${KEEP:-0}" != 1 ]]; then
    log "deleting the $PROVIDER cluster $CLUSTER"
    case "$PROVIDER" in
      kind) kind delete cluster --name "$CLUSTER" ;;
      k3d) k3d cluster delete "$CLUSTER" ;;
    esac
  fi
}
trap cleanup EXIT

log "creating a $PROVIDER cluster $CLUSTER"
case "$PROVIDER" in
  kind) kind create cluster --name "$CLUSTER" --wait 120s ;;
  k3d) k3d cluster create "$CLUSTER" --agents 2 --wait ;;
  *) die "PROVIDER must be kind or k3d" ;;
esac

log "building $NODE_IMAGE and $OPERATOR_IMAGE"
docker build --target node -t "$NODE_IMAGE" "$ROOT"
docker build --target operator -t "$OPERATOR_IMAGE" "$ROOT"
case "$PROVIDER" in
  kind) kind load docker-image --name "$CLUSTER" "$NODE_IMAGE" "$OPERATOR_IMAGE" ;;
  k3d) k3d image import -c "$CLUSTER" "$NODE_IMAGE" "$OPERATOR_IMAGE" ;;
esac

log "installing the operator with helm"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install tinyredis-operator "$ROOT/charts/tinyredis-operator" \
  --namespace "$NS" \
  --set image.repository=tinyredis-operator --set image.tag="$VERSION" \
  --set image.pullPolicy=Never --wait --timeout 180s

log "creating the TinyRedisCluster demo (deploy/examples/cluster-3-node.yaml)"
# Small requests so the cluster fits a laptop-sized kind node.
sed -e 's/cpu: 100m/cpu: 10m/' -e 's/memory: 256Mi/memory: 64Mi/' \
  "$ROOT/deploy/examples/cluster-3-node.yaml" | kubectl apply -n "$NS" -f -
kubectl patch trc demo -n "$NS" --type merge -p '{"spec":{"imagePullPolicy":"Never"}}'

trc() { kubectl get trc demo -n "$NS" -o json; }

# wait_members N: phase Running, N ready voters, N pods.
wait_members() {
  local want="$1" deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    local status
    status="$(trc | jq -c '.status // {}')"
    if jq -e --argjson n "$want" '
        .phase == "Running" and (.members | length) == $n
        and all(.members[]; .role == "Voter" and .ready)' <<<"$status" >/dev/null \
      && [[ "$(kubectl get pods -n "$NS" -l app.kubernetes.io/instance=demo,app.kubernetes.io/component=node -o name | wc -l)" == "$want" ]]
    then
      echo "running with $want members, leader $(jq -r .leader <<<"$status")"
      return 0
    fi
    sleep 3
  done
  kubectl get trc,pods,pvc -n "$NS" -o wide || true
  trc | jq .status || true
  die "cluster did not reach $want members in ${TIMEOUT}s"
}

start_port_forward() {
  [[ -n "${PF_PID:-}" ]] && kill "$PF_PID" 2>/dev/null || true
  kubectl port-forward -n "$NS" svc/demo-proxy "$LOCAL_PORT:6379" >/dev/null 2>&1 &
  PF_PID=$!
  for _ in $(seq 1 50); do
    redis-cli -p "$LOCAL_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.2
  done
  die "the proxy Service does not answer PING"
}

rcli() { redis-cli -p "$LOCAL_PORT" "$@"; }

# write_keys PREFIX COUNT: SET PREFIX-i for i in 1..COUNT, each must answer OK.
write_keys() {
  local prefix="$1" count="$2" i
  for i in $(seq 1 "$count"); do
    [[ "$(rcli SET "$prefix-$i" "v$i")" == OK ]] || die "SET $prefix-$i failed"
  done
}

# check_keys PREFIX COUNT: every key must read back.
check_keys() {
  local prefix="$1" count="$2" i
  for i in $(seq 1 "$count"); do
    [[ "$(rcli GET "$prefix-$i")" == "v$i" ]] || die "$prefix-$i lost"
  done
  echo "$count keys $prefix-* present"
}

# digests_agree: DEBUG DIGEST on every node pod (READONLY) is the same.
digests_agree() {
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    local pods digests
    pods="$(kubectl get pods -n "$NS" -l app.kubernetes.io/instance=demo,app.kubernetes.io/component=node -o name)"
    digests="$(for pod in $pods; do
      kubectl exec -n "$NS" "$pod" -- sh -c 'printf "READONLY\r\nDEBUG DIGEST\r\n" | (exec 3<>/dev/tcp/127.0.0.1/6379 2>/dev/null && cat >&3 && sleep 0.5 && timeout 1 cat <&3)' 2>/dev/null | tail -1
    done | sort -u | wc -l)"
    [[ "$digests" == 1 ]] && { echo "replica digests agree"; return 0; }
    sleep 2
  done
  echo "WARNING: could not confirm equal digests (the node image may have no shell)"
}

log "0 -> 3: bootstrap"
wait_members 3
start_port_forward
write_keys a 200
check_keys a 200

log "3 -> 5"
kubectl patch trc demo -n "$NS" --type merge -p '{"spec":{"replicas":5}}'
wait_members 5
start_port_forward
write_keys b 100
check_keys a 200
check_keys b 100

log "5 -> 3"
kubectl patch trc demo -n "$NS" --type merge -p '{"spec":{"replicas":3}}'
wait_members 3
deadline=$((SECONDS + 120))
until [[ "$(kubectl get pvc -n "$NS" -l app.kubernetes.io/instance=demo -o name | wc -l)" == 3 ]]; do
  ((SECONDS < deadline)) || die "PVCs of removed members were not deleted"
  sleep 3
done
start_port_forward
check_keys a 200
check_keys b 100

log "killing the leader pod"
leader="$(trc | jq -r .status.leader)"
echo "leader is $leader"
kubectl delete pod -n "$NS" "$leader" --grace-period=0 --force
deadline=$((SECONDS + TIMEOUT))
until new="$(trc | jq -r '.status.leader // empty')" && [[ -n "$new" && "$new" != "$leader" ]]; do
  ((SECONDS < deadline)) || die "no new leader after killing $leader"
  sleep 2
done
echo "new leader: $new"
wait_members 3
start_port_forward
write_keys c 100
check_keys a 200
check_keys b 100
check_keys c 100
digests_agree

log "events"
kubectl get events -n "$NS" --field-selector involvedObject.kind=TinyRedisCluster \
  --sort-by=.metadata.creationTimestamp | tail -30

log "PASSED"
