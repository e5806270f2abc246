#!/usr/bin/env bash
# Overhead of `tinyredis proxy`: a three-node cluster, redis-benchmark straight to the
# leader and through the proxy, same run, SET and GET with 50 clients, with and without
# pipelining (-P 16); prints requests/s and the ratio proxy/direct (goal >= 0.8).
#
#   [TESTS="set get"] [ROUNDS=3] bench/proxy.sh [requests per unpipelined test, default 100000]
#
# Each figure is the median of ROUNDS runs, direct and through the proxy in turn;
# pipelined tests send 8x the requests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
requests=${1:-100000}
tests=${TESTS:-set get}
rounds=${ROUNDS:-3}
bin=$(build_release)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

start_cluster "$bin" "$work"
leader=$(curl -s "127.0.0.1:${http[0]}/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"]["resp_addr"].rsplit(":",1)[1])')

proxy=$(free_port)
nodes=$(printf '127.0.0.1:%s,' "${resp[@]}")
"$bin" proxy --listen "127.0.0.1:$proxy" --nodes "${nodes%,}" --admin-port "${http[0]}" --loglevel warn &
pids+=($!)
wait_port "$proxy"

echo "cores: $(nproc); requests per test: $requests; leader on port $leader"
printf '%-5s %-4s %14s %14s %7s\n' test P direct proxy ratio
for pipeline in 1 16; do
  for t in $tests; do
    n=$(requests_for "$pipeline" "$requests")
    read -r a b r < <(side_by_side "$proxy" "$leader" "$t" "$rounds" -c 50 -n "$n" -P "$pipeline" -r 100000)
    printf '%-5s %-4s %14s %14s %7s\n' "$t" "$pipeline" "$b" "$a" "$r"
  done
done
