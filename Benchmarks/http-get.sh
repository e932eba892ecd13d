#!/usr/bin/env bash
# Keep-alive GET throughput, Tally against a Node `http` server answering the same JSON, in
# one run. The figure compared is requests per server CPU-second (server user+system time
# from /proc across the wrk run), which stays meaningful on a shared machine where wall-clock
# requests per second do not. Bounded: ROUNDS × 2 runs of SECONDS each, 50 connections.
#   Benchmarks/http-get.sh [SECONDS] [ROUNDS]     needs wrk and node; uses the release build
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}; rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 1; }
command -v node >/dev/null || { echo "node not found"; exit 1; }
swift build -c release --product tally >/dev/null
tally=$(swift build -c release --show-bin-path)/tally
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

"$tally" serve --port 0 --loops 1 --data "$work/data" --web web --log-level error >"$work/tally.txt" 2>/dev/null &
tally_pid=$!; pids+=("$tally_pid")
for _ in $(seq 1 100); do grep -q "listening on" "$work/tally.txt" 2>/dev/null && break; sleep 0.1; done
tally_url="$(grep -o 'http://[^ ]*' "$work/tally.txt")/healthz"
body=$(curl -s "$tally_url")

cat >"$work/peer.js" <<JS
const http = require('http');
const body = process.argv[2];
const server = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
JS
node "$work/peer.js" "$body" >"$work/node.txt" &
node_pid=$!; pids+=("$node_pid")
for _ in $(seq 1 100); do grep -q "port" "$work/node.txt" 2>/dev/null && break; sleep 0.1; done
node_url="http://127.0.0.1:$(awk '{print $2}' "$work/node.txt")/"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() {  # pid url -> "requests ticks"
    local before after out
    before=$(cpu_ticks "$1")
    out=$(wrk -t1 -c50 -d"${seconds}s" "$2")
    after=$(cpu_ticks "$1")
    echo "$(echo "$out" | grep -Eo '^ *[0-9]+ requests in' | grep -Eo '[0-9]+') $((after - before))"
}
hz=$(getconf CLK_TCK)
best_tally=0; best_node=0
for round in $(seq 1 "$rounds"); do
    read -r treq tticks < <(measure "$tally_pid" "$tally_url")
    read -r nreq nticks < <(measure "$node_pid" "$node_url")
    t=$(( treq * hz / (tticks > 0 ? tticks : 1) )); n=$(( nreq * hz / (nticks > 0 ? nticks : 1) ))
    echo "round $round: tally $treq requests, $t per CPU-second; node $nreq requests, $n per CPU-second"
    (( t > best_tally )) && best_tally=$t; (( n > best_node )) && best_node=$n
done
echo "best: tally $best_tally, node $best_node requests per server CPU-second; ratio $(awk "BEGIN {printf \"%.2f\", $best_tally / $best_node}")"
