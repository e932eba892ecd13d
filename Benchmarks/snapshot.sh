#!/usr/bin/env bash
# Benchmarks/snapshot.sh - keep-alive requests per second for `GET /api/jobs/{id}`: Tally
# against a minimal Node `http` server answering the same JSON bytes, in ONE run, with `wrk`.
#
#   swift build -c release --product tally
#   apt-get install wrk
#   Benchmarks/snapshot.sh
#
# Each server gets the same wrk load (THREADS threads, CONNECTIONS keep-alive connections,
# DUR seconds, loopback) twice, interleaved (tally, node, tally, node) so that a noisy neighbour
# hurts both alike; the best of the two is reported with the server's CPU seconds, so the
# requests per server CPU-second are printed too (client and server share the cores).
# env knobs (defaults): DUR=10 CONNECTIONS=50 THREADS=1 ROUNDS=2 PORT_BASE=19400
#   TALLY=.build/release/tally TALLY_LOOPS=(one per core)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10}; CONNECTIONS=${CONNECTIONS:-50}; THREADS=${THREADS:-1}; ROUNDS=${ROUNDS:-2}
PORT_BASE=${PORT_BASE:-19400}; TALLY=${TALLY:-$repo/.build/release/tally}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-snapshot.XXXXXX")
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
cpu_ticks() { local s; s=$(cat /proc/$1/stat 2>/dev/null) || { echo 0; return; }; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

tport=$PORT_BASE; nport=$((PORT_BASE + 1))
"$TALLY" bench fanout-server --port $tport --rate 0 ${TALLY_LOOPS:+--loops $TALLY_LOOPS} 2>"$WORK/tally.err" >/dev/null &
TPID=$!; pids+=($TPID)
for _ in $(seq 1 100); do grep -q listening "$WORK/tally.err" && break; sleep 0.1; done
id=$(grep -o '"path":"/ws/jobs/[^"]*"' "$WORK/tally.err" | head -1 | sed 's#.*/ws/jobs/##; s#"##')
[ -n "$id" ] || { echo "tally did not start: $(cat "$WORK/tally.err")" >&2; exit 1; }
url_path=/api/jobs/$id
curl -sf "http://127.0.0.1:$tport$url_path" -o "$WORK/body.json" || { echo "GET $url_path failed" >&2; exit 1; }

cat > "$WORK/peer_http.js" <<'EOF'
'use strict';
// The yardstick: Node's own http module answering one fixed JSON body with keep-alive.
const http = require('http');
const fs = require('fs');
const body = fs.readFileSync(process.argv[2]);
const port = parseInt(process.argv[3], 10);
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
  res.end(body);
}).listen(port, '127.0.0.1', () => console.error('listening ' + port));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
EOF
node "$WORK/peer_http.js" "$WORK/body.json" $nport 2>"$WORK/node.err" >/dev/null &
NPID=$!; pids+=($NPID)
for _ in $(seq 1 100); do grep -q listening "$WORK/node.err" && break; sleep 0.1; done

echo "body: $(wc -c < "$WORK/body.json") bytes; tally headers:" >&2
curl -sI "http://127.0.0.1:$tport$url_path" | sed 's/^/  /' >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results=$WORK/results.txt
for round in $(seq 1 "$ROUNDS"); do
  for peer in tally node; do
    if [ $peer = tally ]; then pid=$TPID; port=$tport; else pid=$NPID; port=$nport; fi
    c0=$(cpu_ticks $pid)
    rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DUR}s" "http://127.0.0.1:$port$url_path" | awk '/Requests\/sec/ {print $2}')
    non2xx=$(wrk -t1 -c1 -d1s "http://127.0.0.1:$port$url_path" | awk '/Non-2xx/ {print $NF}')
    c1=$(cpu_ticks $pid)
    cpu=$(python3 -c "print(($c1 - $c0) / $TCK)")
    echo "round $round $peer: $rps req/s, server CPU $cpu s${non2xx:+, non-2xx $non2xx}" >&2
    echo "$peer $rps $cpu" >> "$results"
    sleep 1
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$results" "$DUR" <<'EOF'
import sys
best = {}
for line in open(sys.argv[1]):
    peer, rps, cpu = line.split()
    rps, cpu = float(rps or 0), float(cpu)
    if rps > best.get(peer, (0, 0))[0]: best[peer] = (rps, cpu)
dur = float(sys.argv[2])
t, n = best.get("tally", (0, 0)), best.get("node", (0, 0))
per_cpu = lambda b: b[0] * dur / b[1] if b[1] else 0
print("| figure | tally | node http | ratio |")
print("|---|---|---|---|")
print(f"| GET /api/jobs/{{id}} keep-alive req/s | {t[0]:,.0f} | {n[0]:,.0f} | {t[0] / n[0] if n[0] else 0:.2f}x |")
print(f"| requests per server CPU-s | {per_cpu(t):,.0f} | {per_cpu(n):,.0f} | {per_cpu(t) / per_cpu(n) if per_cpu(n) else 0:.2f}x |")
EOF
