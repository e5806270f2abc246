# Shared helpers of the benchmarks: free ports, waiting for servers, redis-benchmark runs
# parsed to requests per second.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 1 200); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2
  return 1
}

# rps PORT TEST [extra redis-benchmark args…]: requests per second of one test. The row is
# picked by the test's name: LRANGE_* tests print the row of their filler ("LPUSH (needed to
# benchmark LRANGE)") first.
rps() {
  local port=$1 test=$2
  shift 2
  redis-benchmark -p "$port" -t "$test" --csv -q "$@" 2>/dev/null |
    awk -F, -v name="${test^^}" 'NR>1 {gsub(/"/,""); split($1,w," "); if (w[1]==name) {print $2; exit}}'
}

# side_by_side PORT_A PORT_B TEST ROUNDS [redis-benchmark args…]: runs TEST against A and
# B in turn, ROUNDS times each, and prints the median requests/s of A, of B and their
# ratio A/B. One run of a pipelined test lasts a fraction of a second on two cores and
# varies by ±15%; medians of interleaved runs keep a drift of the machine off the ratio.
side_by_side() {
  local a=$1 b=$2 test=$3 rounds=$4 ra=() rb=()
  shift 4
  for _ in $(seq 1 "$rounds"); do
    ra+=("$(rps "$a" "$test" "$@")")
    rb+=("$(rps "$b" "$test" "$@")")
  done
  python3 -c '
import statistics, sys
n = len(sys.argv) // 2
a = statistics.median(float(x or 0) for x in sys.argv[1:n + 1])
b = statistics.median(float(x or 0) for x in sys.argv[n + 1:])
print(f"{a:.0f} {b:.0f} " + (f"{a / b:.2f}" if b else "n/a"))' "${ra[@]}" "${rb[@]}"
}

# requests_for PIPELINE REQUESTS: pipelined tests run 8x the requests, so they last about as
# long as unpipelined ones.
requests_for() {
  if [ "$1" = 1 ]; then echo "$2"; else echo $(($2 * 8)); fi
}

# rss_kb PID: resident memory of a process; fails instead of printing something that is
# not a number (a process gone, a ps that printed nothing).
rss_kb() {
  local kb
  kb=$(ps -o rss= -p "$1" | tr -d ' ')
  [[ $kb =~ ^[0-9]+$ ]] || { echo "cannot read the resident memory of pid $1" >&2; return 1; }
  echo "$kb"
}

ratio() {
  python3 -c "import sys; a,b=float(sys.argv[1] or 0),float(sys.argv[2] or 0); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"
}

build_release() {
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  (cd "$repo" && cargo build --release -q -p tinyredis)
  echo "${CARGO_TARGET_DIR:-$repo/target}/release/tinyredis"
}

# start_cluster BIN WORKDIR: three Raft nodes on free ports, node 1 bootstraps and the
# others join; waits until all three are voters. Sets resp[] and http[] (ports) and
# appends the node PIDs to pids[].
start_cluster() {
  local bin=$1 work=$2 n raft flags
  resp=(); http=()
  for n in 1 2 3; do
    resp+=("$(free_port)"); http+=("$(free_port)")
    raft=$(free_port)
    flags=(--node-id "n$n" --port "${resp[-1]}" --raft-dir "$work/n$n" --raft-bind "127.0.0.1:$raft"
           --raft-http "127.0.0.1:${http[-1]}" --loglevel warn)
    if [ "$n" = 1 ]; then flags+=(--raft-bootstrap); else flags+=(--raft-join "127.0.0.1:${http[0]}"); fi
    "$bin" node "${flags[@]}" &
    pids+=($!)
    wait_port "${resp[-1]}"
    [ "$n" = 1 ] && sleep 1
  done
  for _ in $(seq 1 100); do
    [ "$(curl -s "127.0.0.1:${http[0]}/status" | grep -o '"role":"voter"' | wc -l)" = 3 ] && return 0
    sleep 0.1
  done
  echo "the cluster did not form" >&2
  return 1
}
