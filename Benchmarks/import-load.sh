#!/usr/bin/env bash
# Benchmarks/import-load.sh - import throughput with 0 and with N WebSocket subscribers watching
# the job, interleaved, in ONE run (issue 6: "an import running while 10,000 subscribers watch
# it loses less than 5 % throughput").
#
#   swift build -c release --product tally
#   Benchmarks/import-load.sh                 # ROUNDS=3 SUBS=10000 ROWS=1000000
#
# Each run starts `tally bench import-server` (the whole application on 127.0.0.1 with a fresh
# data directory and its import queue held), uploads the same CSV file through
# `POST /api/imports` (multipart, typed schema, table `bench`), connects SUBS `wsload` clients
# to `/ws/jobs/{id}` (none in the baseline runs); once they all follow the job the server
# releases the queue. The rate is the job's own: processed / (finishedAt - startedAt). Every
# subscriber must get the snapshot, every event and the close at the end: the script checks
# msgs per connection = final seq - start seq + 1 for all, no seq gaps, all closed by the server.
# Loopback only; each run is bounded (wsload --duration, the server's --max-wait and its own
# 300 s limit) and the servers are stopped at the end.
#
# env knobs (defaults): ROUNDS=3 SUBS=10000 ROWS=1000000 PORT_BASE=19500 CLIENT_NICE=0
#   TALLY=.build/release/tally FANOUT_TOOLS=../shared/tools/fanout WORK=$TMPDIR/import-load
#   TALLY_LOOPS=(one per core) FANOUT_BUDGET=(the server's default, 10000; 0: off)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${FANOUT_TOOLS:-$repo/../shared/tools/fanout}
[ -d "$TOOLS" ] || TOOLS=/work/shared/tools/fanout
WORK=${WORK:-${TMPDIR:-/tmp}/import-load}; mkdir -p "$WORK/logs"
ROUNDS=${ROUNDS:-3}; SUBS=${SUBS:-10000}; ROWS=${ROWS:-1000000}; PORT_BASE=${PORT_BASE:-19500}
CLIENT_NICE=${CLIENT_NICE:-0}
TALLY=${TALLY:-$repo/.build/release/tally}
OUT=$WORK/import-load-$(date +%s).jsonl
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
WSLOAD=${WSLOAD:-$WORK/wsload}
[ -x "$WSLOAD" ] || gcc -O2 -o "$WSLOAD" "$TOOLS/wsload.c" -lpthread || exit 1
need=$((SUBS + 200))
[ "$(ulimit -n)" -ge "$need" ] || { echo "ulimit -n $(ulimit -n) < $need for $SUBS subscribers" >&2; exit 1; }

CSV=$WORK/bench-$ROWS.csv
if [ ! -s "$CSV" ] || [ ! -s "$CSV.schema.json" ]; then
  echo "generating $ROWS rows…" >&2
  "$TALLY" bench csv --rows "$ROWS" --out "$CSV" || exit 1
fi

SPID=""; WPID=""
cleanup() {
  [ -n "$WPID" ] && kill -TERM "$WPID" 2>/dev/null
  [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT

run_one() {  # $1 subscribers $2 port $3 round; appends one JSON line to $OUT
  local n=$1 port=$2 round=$3
  local slog=$WORK/logs/server_$port.err sres=$WORK/logs/server_$port.json wl=$WORK/logs/wsload_$port.json
  rm -f "$slog" "$sres" "$wl"
  ${TALLY_NICE:+nice -n $TALLY_NICE} "$TALLY" bench import-server --port "$port" --subscribers "$n" --max-wait 120 \
      ${TALLY_LOOPS:+--loops $TALLY_LOOPS} ${FANOUT_BUDGET:+--fanout-budget $FANOUT_BUDGET} >"$sres" 2>"$slog" &
  SPID=$!
  for _ in $(seq 1 300); do grep -q listening "$slog" 2>/dev/null && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  grep -q listening "$slog" || { echo "server failed to start: $(tail -3 "$slog")" >&2; return 1; }
  local body id
  body=$(curl -sS --max-time 120 -F "schema=<$CSV.schema.json" -F table=bench -F "file=@$CSV;type=text/csv" \
         "http://127.0.0.1:$port/api/imports")
  id=$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
  [ -n "$id" ] || { echo "upload failed: $body" >&2; return 1; }
  if [ "$n" -gt 0 ]; then
    nice -n "$CLIENT_NICE" "$WSLOAD" --port "$port" --path "/ws/jobs/$id" --conns "$n" --duration 240 --idle-exit 30 > "$wl" &
    WPID=$!
  fi
  for _ in $(seq 1 1800); do [ -s "$sres" ] && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  # The server says "drained" once every subscriber's socket closed after the terminal event.
  for _ in $(seq 1 700); do grep -q drained "$slog" 2>/dev/null && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  if [ -n "$WPID" ]; then kill -TERM "$WPID" 2>/dev/null; wait "$WPID"; WPID=""; fi
  kill -TERM $SPID 2>/dev/null; wait $SPID 2>/dev/null; SPID=""
  python3 - "$round" "$n" "$sres" "$wl" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF' | tee -a "$OUT" >&2
import json, sys
round_, n, sres, wl, load = sys.argv[1:]
try: s = json.loads(open(sres).read().strip().splitlines()[-1])
except Exception as e: s = {"server_error": str(e)}
w = {}
if int(n) > 0:
    try: w = json.load(open(wl))
    except Exception as e: w = {"wsload_error": str(e)}
row = {"round": int(round_), "subs": int(n), "load": load, **s}
if int(n) > 0:
    expect = s.get("final_seq", 0) - s.get("start_seq", 0) + 1
    row.update({"ws_connected": w.get("connected"), "ws_min_msgs": w.get("min_msgs_per_conn"),
                "ws_max_msgs": w.get("max_msgs_per_conn"), "ws_expect_msgs": expect, "ws_seq_gaps": w.get("seq_gaps"),
                "ws_server_closed": w.get("server_closed"), "ws_failed": w.get("failed_conns"),
                "ws_client_cpu_s": w.get("client_cpu_s"),
                "all_received": w.get("connected") == int(n) and w.get("min_msgs_per_conn") == expect
                                and w.get("max_msgs_per_conn") == expect and w.get("seq_gaps") == 0
                                and w.get("server_closed") == int(n)})
print(json.dumps(row))
EOF
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
run=0
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order="0 $SUBS"; else order="$SUBS 0"; fi
  for n in $order; do
    echo "round $round: $n subscribers" >&2
    run_one "$n" $((PORT_BASE + run)) "$round"
    run=$((run + 1))
    sleep 1
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" "$SUBS" "$ROWS" <<'EOF'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
subs, nrows = int(sys.argv[2]), int(sys.argv[3])
def fmt(v): return "-" if v is None else f"{v:,}"
print(f"import of {nrows:,} rows (8 columns) with 0 and {subs:,} WebSocket subscribers on /ws/jobs/{{id}}")
print(f"| round | rows/s, 0 subs | rows/s, {subs:,} subs | loss | import thread on CPU / waiting for a core / blocked, s (0 subs; {subs:,} subs) | loops CPU s | client CPU s | deliveries | all received | load |")
print("|---|---:|---:|---:|---|---:|---:|---:|---|---|")
base_all, load_all = [], []
for r in sorted({x["round"] for x in rows}):
    a = next((x for x in rows if x["round"] == r and x["subs"] == 0), {})
    b = next((x for x in rows if x["round"] == r and x["subs"] == subs), {})
    ra, rb = a.get("rows_per_s"), b.get("rows_per_s")
    loss = f"{(1 - rb / ra) * 100:.1f} %" if ra and rb else "-"
    if ra: base_all.append(ra)
    if rb: load_all.append(rb)
    sched = lambda x: f"{x.get('import_on_cpu_s', '-')} / {x.get('import_runqueue_s', '-')} / {x.get('import_blocked_s', '-')}"
    print(f"| {r} | {fmt(ra)} | {fmt(rb)} | {loss} | {sched(a)}; {sched(b)} | "
          f"{a.get('cpu_loops_s', '-')} / {b.get('cpu_loops_s', '-')} | {b.get('ws_client_cpu_s', '-')} | {fmt(b.get('delivered'))} | "
          f"{b.get('all_received', '-')} ({b.get('ws_min_msgs', '-')}/{b.get('ws_expect_msgs', '-')} msgs, {b.get('ws_seq_gaps', '-')} gaps) | "
          f"{a.get('load', '-')} / {b.get('load', '-')} |")
if base_all and load_all:
    for label, f in (("best", max), ("median", statistics.median)):
        x, y = f(base_all), f(load_all)
        print(f"| {label} | {x:,.0f} | {y:,.0f} | {(1 - y / x) * 100:.1f} % | | | | | | |")
EOF
