#!/usr/bin/env bash
# A local three-node cluster, on the original tinyredis's ports:
# RESP 6379-6381, Raft 7000-7002, admin HTTP 17000-17002. Logs, PIDs and data in .devcluster/.
#
#   scripts/cluster.sh up        build, start node-1 (bootstrap), then node-2/3 (join)
#   scripts/cluster.sh status    role and leader of each node
#   scripts/cluster.sh down      stop all nodes (data kept)
#   scripts/cluster.sh rejoin N  restart node N with its data (after a kill or crash)
#   scripts/cluster.sh clean     stop and delete all data
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.devcluster
bin=${TINYREDIS_BIN:-target/release/tinyredis}

start_node() {
  local n=$1; shift
  mkdir -p "$dir/node$n"
  "$bin" node --node-id "node-$n" --host 127.0.0.1 --port $((6378 + n)) \
    --raft-dir "$dir/node$n" --raft-bind "127.0.0.1:$((6999 + n))" \
    --raft-http "127.0.0.1:$((16999 + n))" "$@" >>"$dir/node$n.log" 2>&1 &
  echo $! >"$dir/node$n.pid"
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$((16999 + $1))/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "node-$1 did not become ready; see $dir/node$1.log" >&2
  return 1
}

stop_node() {
  local pid_file="$dir/node$1.pid"
  [ -f "$pid_file" ] || return 0
  kill "$(cat "$pid_file")" 2>/dev/null || true
  rm -f "$pid_file"
}

case "${1:-}" in
  up)
    [ -x "$bin" ] || cargo build --release -p tinyredis
    start_node 1 --raft-bootstrap
    wait_ready 1
    start_node 2 --raft-join 127.0.0.1:17000
    start_node 3 --raft-join 127.0.0.1:17000
    wait_ready 2 && wait_ready 3
    echo "cluster up: redis-cli -p 6379 (leader: $(curl -s 127.0.0.1:17000/status | sed 's/.*"leader_id":"\([^"]*\)".*/\1/'))"
    ;;
  status)
    for n in 1 2 3; do
      printf 'node-%s: ' "$n"
      curl -s "http://127.0.0.1:$((16999 + n))/status" | sed 's/.*"role":"\([^"]*\)".*"leader_id":\("[^"]*"\|null\).*/\1 (leader \2)/' || echo down
      echo
    done
    ;;
  down)
    for n in 1 2 3; do stop_node "$n"; done
    ;;
  rejoin)
    n=${2:?usage: cluster.sh rejoin N}
    stop_node "$n"
    start_node "$n"
    wait_ready "$n"
    ;;
  clean)
    for n in 1 2 3; do stop_node "$n"; done
    rm -rf "$dir"
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac
