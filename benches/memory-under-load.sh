#!/bin/bash
# The server's memory at rest and under appends (BENCHMARKS.md, "Memory under load"), by hand:
#   benches/memory-under-load.sh DATA_DIR [TRACKER_BINARY]      (SECS=10 by default; needs wrk and curl)
# Starts `tracker serve` on DATA_DIR (e.g. a copy of `BENCH_FILL_ONLY=DIR cargo bench --bench http`), prints
# VmRSS and jemalloc's gauges from /metrics at ready and 5 s later, drives 32 connections of staff-exchange
# appends with wrk for SECS seconds, and prints them again right after and 5 and 15 s later.
set -euo pipefail
data=$1
bin=${2:-target/release/tracker}
port=${PORT:-18140}
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp)
"$bin" --data "$data" serve --addr "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
deadline=$((SECONDS + 120))
until grep -q listening "$log"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "not listening after 120 s" >&2; exit 1; }
    sleep 0.1
done
show() {
    local gauges
    gauges=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^tracker_memory/ {printf "%s=%.0f MiB ", $1, $2/1048576}')
    echo "$1: $(grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' ') $gauges"
}
show "ready"; sleep 5; show "ready + 5 s"
TOKEN_FILE="$data/admin.token" wrk -t1 -c32 -d"${SECS:-10}s" -s "$here/post-activity.lua" "http://127.0.0.1:$port" |
    grep -E 'requests in|Requests/sec'
show "after the appends"; sleep 5; show "appends + 5 s"; sleep 10; show "appends + 15 s"
