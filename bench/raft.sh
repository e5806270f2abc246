#!/usr/bin/env bash
# A durable three-node tinyredis cluster next to redis-server with `appendonly yes,
# appendfsync always` (both acknowledge a write only once it is on disk), same run:
# requests/s of SET and GET, with and without pipelining, and the ratio.
#
#   [ROUNDS=3] bench/raft.sh [requests per unpipelined test, default 100000]
#
# Each figure is the median of ROUNDS runs, the cluster and redis-server in turn;
# pipelined tests send 8x the requests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
requests=${1:-100000}
rounds=${ROUNDS:-3}
bin=$(build_release)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

start_cluster "$bin" "$work"
leader=${resp[0]}

redis=$(free_port)
redis-server --port "$redis" --save '' --appendonly yes --appendfsync always --dir "$work" >/dev/null &
pids+=($!)
wait_port "$redis"

printf '%-5s %-4s %14s %14s %7s\n' test P tinyredis-3 redis-aof ratio
for pipeline in 1 16; do
  for t in set get; do
    n=$(requests_for "$pipeline" "$requests")
    read -r a b r < <(side_by_side "$leader" "$redis" "$t" "$rounds" -c 50 -n "$n" -P "$pipeline" -r 100000)
    printf '%-5s %-4s %14s %14s %7s\n' "$t" "$pipeline" "$a" "$b" "$r"
  done
done
