#!/usr/bin/env bash
# Benchmarks/fanout.sh - WebSocket fan-out and idle memory, Tally side by side with Node `ws`
# (and Python `websockets` when its venv exists), in ONE run with the same load generator.
#
#   swift build -c release --product tally
#   ../shared/tools/fanout/setup.sh          # wsload, node-ws, the websockets venv
#   Benchmarks/fanout.sh
#
# Fan-out: N subscribers of one job, RATE events/s for DUR s, read by WSLOAD_THREADS client
# threads (one by default; at 10,000 subscribers one thread reads slower than Tally sends);
# prints deliveries per server CPU-second, p50/p99 latency, how far each publisher slipped
# behind its schedule, Tally's own split of its latency (stamp to stored, stamp to loop
# start), seq gaps and missing connections.
# Latency is measured from each event's "ts_ns" stamp. STAMP=due (the default) stamps every
# event, in every server, with the time its schedule gave it (start + k/RATE): a server whose
# publisher falls behind (Node's does at 100/s x 1,000) has that wait counted, as a user
# waiting for the event would. STAMP=send stamps when the publisher gets to the event, which
# leaves a slipping publisher's wait out. The peers are the yardstick's Node and Python
# servers with that option added (Benchmarks/peers/).
# ROUNDS=R repeats the whole fan-out comparison R times, the peers taking turns, and the table
# shows each figure's median over the rounds and the per-round ratios of deliveries per
# CPU-second (the machine is shared: one round can be off by 40 %).
# Idle: IDLE_CONNS WebSocket connections that never receive anything; prints server KiB per
# connection (VmRSS growth; kernel socket buffers are not in it). Loopback only; every run is
# bounded (wsload's --duration, the servers' --max-wait) and the servers are stopped at the end.
#
# env knobs (defaults): CONNS="1000" (add 10000 for the large run) RATE=100 DUR=10 STAMP=due
#   ROUNDS=1 WSLOAD_THREADS=1 IDLE_CONNS=10000 IDLE=1 (0 skips idle) PEERS="tally node-ws websockets"
#   PORT_BASE=19300 TALLY=.build/release/tally FANOUT_TOOLS=../shared/tools/fanout
#   FANOUT_WORK=$TMPDIR/fanout TALLY_LOOPS=(one per core)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${FANOUT_TOOLS:-$repo/../shared/tools/fanout}
[ -d "$TOOLS" ] || TOOLS=/work/shared/tools/fanout
WORK=${FANOUT_WORK:-${TMPDIR:-/tmp}/fanout}; mkdir -p "$WORK/logs"
CONNS=${CONNS:-1000}; RATE=${RATE:-100}; DUR=${DUR:-10}; IDLE_CONNS=${IDLE_CONNS:-10000}; IDLE=${IDLE:-1}
PEERS=${PEERS:-"tally node-ws websockets"}; PORT_BASE=${PORT_BASE:-19300}
STAMP=${STAMP:-due}; ROUNDS=${ROUNDS:-1}; WSLOAD_THREADS=${WSLOAD_THREADS:-1}
TALLY=${TALLY:-$repo/.build/release/tally}
OUT=$WORK/fanout-$(date +%s).jsonl
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WSLOAD=$WORK/wsload
[ -x "$WSLOAD" ] || gcc -O2 -o "$WSLOAD" "$TOOLS/wsload.c" -lpthread || exit 1
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
TCK=$(getconf CLK_TCK)

server_cmd() {  # the command of one peer, or nothing when it is not installed
  case $1 in
    tally) echo "$TALLY bench fanout-server ${TALLY_LOOPS:+--loops $TALLY_LOOPS}" ;;
    node-ws) [ -d /usr/share/nodejs/ws ] && echo "env NODE_PATH=/usr/share/nodejs node $repo/Benchmarks/peers/peer_node_ws.js" ;;
    websockets) [ -x "$WORK/venv/bin/python" ] && echo "$WORK/venv/bin/python $repo/Benchmarks/peers/peer_websockets.py" ;;
  esac
}
cpu_ticks() { local s; s=$(cat /proc/$1/stat 2>/dev/null) || { echo 0; return; }; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
status_kib() { awk -v k="$2:" '$1==k {print $2}' /proc/$1/status 2>/dev/null || echo 0; }

start_server() {  # $1 peer $2 port, rest: flags; sets SPID SLOG WSPATH
  local peer=$1 port=$2; shift 2
  SLOG=$WORK/logs/${peer}_$port.err
  # shellcheck disable=SC2046
  $(server_cmd "$peer") --port "$port" "$@" >/dev/null 2>"$SLOG" &
  SPID=$!
  for _ in $(seq 1 300); do grep -q listening "$SLOG" 2>/dev/null && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  grep -q listening "$SLOG" || { kill -0 $SPID 2>/dev/null; echo "$peer failed to start (alive: $?): $(tail -3 "$SLOG")" >&2; stop_server; return 1; }
  WSPATH=$(grep -o '"path":"[^"]*"' "$SLOG" | head -1 | cut -d'"' -f4); WSPATH=${WSPATH:-/ws/jobs/j1}
}
stop_server() { kill -TERM $SPID 2>/dev/null; for _ in $(seq 1 50); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done; kill -KILL $SPID 2>/dev/null; wait $SPID 2>/dev/null; }

run=0
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq 1 "$ROUNDS"); do
for N in $CONNS; do
  for peer in $PEERS; do
    [ -n "$(server_cmd $peer)" ] || continue
    port=$((PORT_BASE + run)); run=$((run + 1))
    echo "fanout: $peer, $N subscribers, $RATE/s for $DUR s, stamp $STAMP, round $round of $ROUNDS" >&2
    start_server "$peer" $port --rate "$RATE" --duration "$DUR" --expect-conns "$N" --start-delay 1 --max-wait 60 \
        --stamp "$STAMP" || continue
    sleep 0.5
    c0=$(cpu_ticks $SPID); r0=$(status_kib $SPID VmRSS)
    rf=$WORK/logs/ready.$port; rm -f "$rf"
    wl=$WORK/logs/wsload_${peer}_$N.json
    "$WSLOAD" --port $port --path "$WSPATH" --conns "$N" --threads "$WSLOAD_THREADS" \
        --duration $((${DUR%.*} + 60)) --idle-exit 3 \
        --expect-msgs $((RATE * ${DUR%.*})) --ready-file "$rf" > "$wl" &
    WPID=$!
    while [ ! -s "$rf" ] && kill -0 $WPID 2>/dev/null; do sleep 0.05; done
    c1=$(cpu_ticks $SPID); r1=$(status_kib $SPID VmRSS)
    wait $WPID
    c2=$(cpu_ticks $SPID); hwm=$(status_kib $SPID VmHWM)
    stop_server; rm -f "$rf"
    python3 - "$peer" "$N" "$TCK" "$c0" "$c1" "$c2" "$r0" "$r1" "$hwm" "$wl" "$SLOG" "$round" "$STAMP" <<'EOF' | tee -a "$OUT" >&2
import json, sys
peer, n, tck, c0, c1, c2, r0, r1, hwm, wf, slog, rnd, stamp = sys.argv[1:]
tck = int(tck); c1, c2 = int(c1) / tck, int(c2) / tck
try: w = json.load(open(wf))
except Exception as e: w = {"wsload_error": str(e)}
# The server's own summary: how far its publisher fell behind schedule (with STAMP=send a
# publisher that slips hides that wait from the latency), and Tally's split.
srv = {}
for line in open(slog, errors="replace"):
    try: d = json.loads(line)
    except Exception: continue
    if isinstance(d, dict) and "events" in d: srv = d
pub = c2 - c1
print(json.dumps({"peer": peer, "mode": "fanout", "conns": int(n), "round": int(rnd), "stamp": stamp, **w, "srv_cpu_publish_s": round(pub, 2),
                  "deliveries_per_srv_cpu_s": round(w.get("msgs", 0) / pub) if pub > 0 else None,
                  "srv_rss_connected_kib": int(r1 or 0), "srv_hwm_kib": int(hwm or 0),
                  "srv_publish_s": srv.get("publish_s"), "srv_max_slip_ms": srv.get("max_slip_ms"),
                  **{"srv_" + k: srv[k] for k in ("stored_ms", "loop_ms") if k in srv}}))
EOF
    sleep 1
  done
done
done

if [ "$IDLE" = 1 ]; then
  for peer in $PEERS; do
    [ -n "$(server_cmd $peer)" ] || continue
    port=$((PORT_BASE + run)); run=$((run + 1))
    echo "idle: $peer, $IDLE_CONNS connections" >&2
    start_server "$peer" $port --rate 0 || continue
    sleep 1
    c0=$(cpu_ticks $SPID); r0=$(status_kib $SPID VmRSS)
    rf=$WORK/logs/ready.$port; rm -f "$rf"
    wl=$WORK/logs/wsload_${peer}_idle.json
    "$WSLOAD" --port $port --path "$WSPATH" --conns "$IDLE_CONNS" --duration 60 --ready-file "$rf" > "$wl" &
    WPID=$!
    while [ ! -s "$rf" ] && kill -0 $WPID 2>/dev/null; do sleep 0.05; done
    sleep 3   # let pending handshakes and collectors settle
    c1=$(cpu_ticks $SPID); r1=$(status_kib $SPID VmRSS)
    kill -TERM $WPID 2>/dev/null; wait $WPID
    stop_server; rm -f "$rf"
    python3 - "$peer" "$IDLE_CONNS" "$TCK" "$c0" "$c1" "$r0" "$r1" "$wl" <<'EOF' | tee -a "$OUT" >&2
import json, sys
peer, n, tck, c0, c1, r0, r1, wf = sys.argv[1:]
tck = int(tck)
try: w = json.load(open(wf))
except Exception as e: w = {"wsload_error": str(e)}
conn = w.get("connected", 0) or 1
print(json.dumps({"peer": peer, "mode": "idle", "conns": int(n), "connected": w.get("connected"),
                  "failed_conns": w.get("failed_conns"), "srv_rss_before_kib": int(r0 or 0), "srv_rss_after_kib": int(r1 or 0),
                  "srv_kib_per_idle_conn": round((int(r1 or 0) - int(r0 or 0)) / conn, 2),
                  "srv_cpu_us_per_connect": round((int(c1) - int(c0)) / tck * 1e6 / conn, 1)}))
EOF
    sleep 1
  done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" "$DUR" "$STAMP" <<'EOF'
import json, sys, statistics
DUR, STAMP = sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def runs(mode, peer, conns=None):
    return [r for r in rows if r["mode"] == mode and r["peer"] == peer and (conns is None or r["conns"] == conns)]
def pick(mode, peer, conns=None):
    found = runs(mode, peer, conns)
    return found[0] if found else None
def median(mode, peer, conns, key):
    # median_low: an even number of rounds gives one measured value, not the mean of two.
    values = [r.get(key) for r in runs(mode, peer, conns) if isinstance(r.get(key), (int, float))]
    return statistics.median_low(values) if values else None
def ratio(a, b, higher_better=True):
    if not a or not b: return "-"
    return f"{(a / b if higher_better else b / a):.2f}x"
peers = [p for p in ("node-ws", "websockets") if any(r["peer"] == p for r in rows)]
rounds = max([r.get("round", 1) for r in rows if r["mode"] == "fanout"] or [1])
if rounds > 1: print(f"(fan-out figures: median of {rounds} rounds)")
print("| figure | tally | " + " | ".join(peers) + " | " + " | ".join(f"tally vs {p}" for p in peers) + " |")
print("|---|---" + "|---" * (2 * len(peers)) + "|")
since = "from due time" if STAMP == "due" else "from send"
for n in sorted({r["conns"] for r in rows if r["mode"] == "fanout"}):
    for key, label, hb in (("deliveries_per_srv_cpu_s", f"deliveries / server CPU-s, {n} subs", True),
                           ("p50_us", f"p50 latency ms {since}, {n} subs", False),
                           ("p99_us", f"p99 latency ms {since}, {n} subs", False),
                           ("srv_max_slip_ms", f"publisher max slip ms, {n} subs", None),
                           ("srv_publish_s", f"publishing took s ({DUR} s planned), {n} subs", None),
                           ("msgs", f"messages received ({n} x events expected), {n} subs", None),
                           ("seq_gaps", f"seq gaps, {n} subs", None), ("missing_conns", f"missing conns, {n} subs", None)):
        vals = [median("fanout", p, n, key) for p in ["tally"] + peers]
        fmt = lambda v: "-" if v is None else (f"{v / 1000:.1f}" if key.endswith("_us") else
                                               f"{v:,.1f}" if isinstance(v, float) else f"{v:,}")
        rs = [ratio(vals[0], v, hb) if hb is not None else "" for v in vals[1:]]
        print(f"| {label} | " + " | ".join(fmt(v) for v in vals) + " | " + " | ".join(rs) + " |")
    if rounds > 1:
        per_round = []
        for p in peers:
            pairs = []
            for k in range(1, rounds + 1):
                t = [r for r in runs("fanout", "tally", n) if r.get("round") == k]
                o = [r for r in runs("fanout", p, n) if r.get("round") == k]
                if t and o: pairs.append(ratio(t[0].get("deliveries_per_srv_cpu_s"), o[0].get("deliveries_per_srv_cpu_s")))
            per_round.append(" ".join(pairs))
        print(f"| deliveries / CPU-s ratio per round, {n} subs |" + " |" * (1 + len(peers)) + " " + " | ".join(per_round) + " |")
    t = [r for r in runs("fanout", "tally", n) if r.get("srv_loop_ms") and r.get("srv_stored_ms")]
    if t:
        s = {q: statistics.median_low([r["srv_stored_ms"][q] for r in t]) for q in ("p50", "p99")}
        l = {q: statistics.median_low([r["srv_loop_ms"][q] for r in t]) for q in ("p50", "p99")}
        print(f"| tally: stamp to stored / to loop start, p50 p99 ms, {n} subs | {s['p50']} {s['p99']} / "
              f"{l['p50']} {l['p99']} |" + " |" * (2 * len(peers)))
if any(r["mode"] == "idle" for r in rows):
    vals = [(pick("idle", p) or {}).get("srv_kib_per_idle_conn") for p in ["tally"] + peers]
    n = (pick("idle", "tally") or {}).get("connected")
    print(f"| KiB per idle WebSocket ({n} conns) | " + " | ".join("-" if v is None else str(v) for v in vals) + " | "
          + " | ".join(ratio(vals[0], v, False) for v in vals[1:]) + " |")
print(f"(raw: {sys.argv[1]}; ratios > 1 favour Tally)")
EOF
