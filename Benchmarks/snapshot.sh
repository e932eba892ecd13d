#!/usr/bin/env bash
# Benchmarks/snapshot.sh - keep-alive requests per second for `GET /api/jobs/{id}` (a job
# snapshot): Tally against a minimal Node `http` server answering the same JSON bytes, in ONE
# run, with `wrk`. The project's only keep-alive GET benchmark (docs/BENCHMARKS.md, "Snapshots
# with keep-alive").
#
#   nice -n 15 swift build -c release --product tally     # the script does not build
#   apt-get install wrk                                    # and node on PATH
#   flock -w 1200 /tmp/tally-bench.lock Benchmarks/snapshot.sh     # defaults: about 75 s
#
# Tally is `tally bench fanout-server --rate 0`: the full application (parser, security gate
# and its headers, router, store read) on 127.0.0.1 with one external job that never changes.
# Node is its `http` module on 127.0.0.1 answering the body Tally returned, read from a file
# and compared byte for byte (cmp) with what Tally sends before anything is measured.
# Both get the same wrk load (THREADS threads, CONNECTIONS keep-alive connections, DUR
# seconds), interleaved round by round (tally, node, tally, node, ...) so that a noisy
# neighbour hurts both alike. Each run yields two figures: wall requests/s (wrk's), and
# requests per server CPU-second (the requests wrk completed over the user + system time of
# the server process in /proc across that run). wrk and the server share the cores, so the
# second figure is the one that stays meaningful on a busy machine. Every round prints both
# ratios side by side; the summary gives the best and the median of each figure.
# Bounded: each wrk run is killed after DUR + 30 s; in all about ROUNDS x 2 x (DUR + 1) s.
# env knobs (defaults): DUR=10 ROUNDS=3 CONNECTIONS=50 THREADS=1 PORT_BASE=19400
#   TALLY=.build/release/tally TALLY_LOOPS=(one per core; 1 runs one loop, as Node does)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-10}; CONNECTIONS=${CONNECTIONS:-50}; THREADS=${THREADS:-1}; ROUNDS=${ROUNDS:-3}
PORT_BASE=${PORT_BASE:-19400}; TALLY=${TALLY:-$repo/.build/release/tally}
for tool in wrk node curl python3; do
  command -v $tool >/dev/null || { echo "$tool is missing (wrk: apt-get install wrk)" >&2; exit 1; }
done
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-snapshot.XXXXXX")
TCK=$(getconf CLK_TCK)
# utime + stime of all the process's threads; the fields after the parenthesised name, which
# may contain spaces, start at field 3.
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
curl -sf "http://127.0.0.1:$nport$url_path" -o "$WORK/node.json" || { echo "node did not start: $(cat "$WORK/node.err")" >&2; exit 1; }
cmp -s "$WORK/body.json" "$WORK/node.json" || { echo "node's body differs from tally's" >&2; exit 1; }

echo "body: $(wc -c < "$WORK/body.json") bytes from both; wrk -t$THREADS -c$CONNECTIONS -d${DUR}s x $ROUNDS rounds each, interleaved" >&2
for port in $tport $nport; do
  echo "headers of :$port:" >&2
  curl -sI "http://127.0.0.1:$port$url_path" | tr -d '\r' | sed '/^$/d; s/^/  /' >&2
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results=$WORK/results.txt
for round in $(seq 1 "$ROUNDS"); do
  for peer in tally node; do
    if [ $peer = tally ]; then pid=$TPID; port=$tport; else pid=$NPID; port=$nport; fi
    c0=$(cpu_ticks $pid)
    timeout -s KILL $((DUR + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DUR}s" "http://127.0.0.1:$port$url_path" > "$WORK/wrk.txt" 2>&1
    c1=$(cpu_ticks $pid)
    requests=$(awk '/ requests in / {print $1}' "$WORK/wrk.txt")
    rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")
    bad=$(awk '/Non-2xx/ {print "non-2xx " $NF} /Socket errors/ {sub(/^ *Socket errors: */, ""); print "socket errors " $0}' "$WORK/wrk.txt" | paste -sd';' -)
    [ -n "$requests" ] && [ -n "$rps" ] || { echo "wrk failed against $peer: $(cat "$WORK/wrk.txt")" >&2; exit 1; }
    echo "round $round $peer: $rps req/s, $requests requests, server CPU $(( c1 - c0 )) ticks${bad:+, $bad}" >&2
    echo "$round $peer $requests $rps $(( c1 - c0 )) ${bad:+bad}" >> "$results"
    sleep 1
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$results" "$TCK" <<'EOF'
import statistics, sys
rows, tck, invalid = {}, float(sys.argv[2]), False
for line in open(sys.argv[1]):
    fields = line.split()
    rnd, peer, requests, rps, ticks = fields[:5]
    invalid |= len(fields) > 5
    per_cpu = float(requests) * tck / float(ticks) if float(ticks) > 0 else 0.0
    rows.setdefault(int(rnd), {})[peer] = (float(rps), per_cpu)
ratio = lambda a, b: f"{a / b:.2f}x" if b else "-"
print("| round | tally req/s | node req/s | ratio | tally req/CPU-s | node req/CPU-s | ratio |")
print("|---|---|---|---|---|---|---|")
for rnd in sorted(rows):
    (tw, tc), (nw, nc) = rows[rnd].get("tally", (0, 0)), rows[rnd].get("node", (0, 0))
    print(f"| {rnd} | {tw:,.0f} | {nw:,.0f} | {ratio(tw, nw)} | {tc:,.0f} | {nc:,.0f} | {ratio(tc, nc)} |")
for name, pick in (("best", max), ("median", statistics.median)):
    tw, nw, tc, nc = (pick([r[p][i] for r in rows.values() if p in r] or [0])
                      for p, i in (("tally", 0), ("node", 0), ("tally", 1), ("node", 1)))
    print(f"| {name} | {tw:,.0f} | {nw:,.0f} | {ratio(tw, nw)} | {tc:,.0f} | {nc:,.0f} | {ratio(tc, nc)} |")
if invalid:
    print("some runs had non-2xx answers or socket errors (see above): not a valid figure")
    sys.exit(1)
EOF
