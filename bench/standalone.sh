#!/usr/bin/env bash
# Throughput and memory of a standalone tinyredis next to redis-server, in the same run.
# Prints a table of requests/s and the ratio tinyredis / redis-server, then memory per key
# after loading the same keys into both.
#
#   [ROUNDS=3] bench/standalone.sh [requests per unpipelined test, default 200000] [keys for the memory test, default 1000000]
#
# Each figure is the median of ROUNDS runs, tinyredis and redis-server in turn; pipelined
# tests send 8x the requests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
requests=${1:-200000}
keys=${2:-1000000}
rounds=${ROUNDS:-3}
bin=$(build_release)
work=$(mktemp -d)
ours_pid=; redis_pid=
trap 'kill $ours_pid $redis_pid 2>/dev/null; rm -rf "$work"' EXIT

# Sets ours/redis (ports) and ours_pid/redis_pid.
start_servers() {
  ours=$(free_port); redis=$(free_port)
  "$bin" node --standalone --port "$ours" --raft-http "127.0.0.1:$(free_port)" --loglevel warn &
  ours_pid=$!
  redis-server --port "$redis" --save '' --appendonly no --dir "$work" >/dev/null &
  redis_pid=$!
  wait_port "$ours"; wait_port "$redis"
}

stop_servers() {
  kill $ours_pid $redis_pid
  wait $ours_pid $redis_pid 2>/dev/null || true
}

start_servers
tests=(set get incr lpush lrange_100 sadd zadd mset)
printf '%-12s %-4s %14s %14s %7s\n' test P tinyredis redis-server ratio
for pipeline in 1 16; do
  for t in "${tests[@]}"; do
    n=$(requests_for "$pipeline" "$requests")
    read -r a b r < <(side_by_side "$ours" "$redis" "$t" "$rounds" -c 50 -n "$n" -P "$pipeline" -r 100000)
    printf '%-12s %-4s %14s %14s %7s\n' "$t" "$pipeline" "$a" "$b" "$r"
  done
done

# Memory: the same keys (key:NNNNNNNN -> 10-byte value) into fresh servers. Fresh, because
# memory freed by FLUSHALL stays resident in an allocator's free lists: the throughput
# tests' keys left room for 100k keys, which then loaded for "0 KiB".
stop_servers
start_servers
base_ours=$(rss_kb $ours_pid); base_redis=$(rss_kb $redis_pid)
python3 -c "
import sys
n=int(sys.argv[1])
out=sys.stdout.buffer
for i in range(n):
    k=b'key:%08d' % i
    out.write(b'*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$10\r\nvalue12345\r\n' % (len(k), k))
" "$keys" >"$work/load.resp"
redis-cli -p "$ours" --pipe <"$work/load.resp" >/dev/null
redis-cli -p "$redis" --pipe <"$work/load.resp" >/dev/null
for port in "$ours" "$redis"; do
  [ "$(redis-cli -p "$port" dbsize)" = "$keys" ] || { echo "the server on port $port did not load $keys keys" >&2; exit 1; }
done
rss_ours=$(rss_kb $ours_pid); rss_redis=$(rss_kb $redis_pid)
used_ours=$((rss_ours - base_ours)); used_redis=$((rss_redis - base_redis))
# Each key holds at least its 12 key and 10 value bytes: less growth than that means the
# reading is wrong, not the server frugal.
floor_kb=$((keys * 22 / 1024))
for used in "$used_ours" "$used_redis"; do
  [ "$used" -ge "$floor_kb" ] || { echo "implausible memory growth: $used KiB for $keys keys (RSS $base_ours -> $rss_ours KiB ours, $base_redis -> $rss_redis KiB redis-server)" >&2; exit 1; }
done
echo
printf 'memory for %s keys: tinyredis %s KiB (%s B/key), redis-server %s KiB (%s B/key), ratio %s\n' \
  "$keys" "$used_ours" $((used_ours * 1024 / keys)) "$used_redis" $((used_redis * 1024 / keys)) "$(ratio "$used_ours" "$used_redis")"
