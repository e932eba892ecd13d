#!/usr/bin/env bash
# Benchmarks/fanout-redis.sh - the WebSocket fan-out benchmark across two Tally nodes through
# Redis, next to the single-node figure and Node `ws` measured in the same run.
#
#   swift build -c release --product tally
#   ../shared/tools/fanout/setup.sh          # wsload and node-ws (see Benchmarks/fanout.sh)
#   Benchmarks/fanout-redis.sh
#
# 1. Benchmarks/fanout.sh (IDLE=0) measures one Tally node and the peers: N subscribers of one
#    job, RATE events/s for DUR s.
# 2. The same publisher on one node without Redis, its subscribers split over two wsload
#    processes as in 3 (a one-node figure whose client side is the same as the two-node one).
# 3. A throwaway redis-server (scripts/lib/services.sh), node B (`tally bench fanout-server
#    --redis --rate 0`: serves only) and node A (`--redis`, creates the job and publishes the
#    same events as the single node does). Half the subscribers follow the job on A, half on B,
#    each half with its own wsload; A starts publishing once both halves are connected.
#    Prints deliveries per server CPU-second (A + B + redis-server, and each alone), p50/p99
#    latency per node (from "ts_ns" stamped on A at publish), seq gaps and missing connections.
# Loopback only; every process is bounded (wsload --duration, the servers' --max-wait) and
# stopped at the end.
#
# env knobs (defaults): CONNS="1000" RATE=100 DUR=10 (for 10,000 subscribers take RATE=10: 100
#   events/s to 10,000 is a million deliveries a second, more than wsload's one thread reads)
#   PEERS="tally node-ws" (the single-node run; empty skips it) PORT_BASE=19400
#   TALLY=.build/release/tally FANOUT_TOOLS=../shared/tools/fanout FANOUT_WORK=$TMPDIR/fanout
#   TALLY_LOOPS=(one per core, each node)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${FANOUT_TOOLS:-$repo/../shared/tools/fanout}
[ -d "$TOOLS" ] || TOOLS=/work/shared/tools/fanout
WORK=${FANOUT_WORK:-${TMPDIR:-/tmp}/fanout}; mkdir -p "$WORK/logs"
CONNS=${CONNS:-1000}; RATE=${RATE:-100}; DUR=${DUR:-10}
PEERS=${PEERS-"tally node-ws"}; PORT_BASE=${PORT_BASE:-19400}
TALLY=${TALLY:-$repo/.build/release/tally}
OUT=$WORK/fanout-redis-$(date +%s).jsonl
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WSLOAD=$WORK/wsload
[ -x "$WSLOAD" ] || gcc -O2 -o "$WSLOAD" "$TOOLS/wsload.c" -lpthread || exit 1
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
# shellcheck source=../scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  pids=()
  stop_redis
}
trap cleanup EXIT

cpu_ticks() { local s; s=$(cat /proc/$1/stat 2>/dev/null) || { echo 0; return; }; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
single=""
if [ -n "$PEERS" ]; then
  # The single node and the peers, through the one-node script itself.
  table=$(IDLE=0 PEERS="$PEERS" CONNS="$CONNS" RATE="$RATE" DUR="$DUR" PORT_BASE="$PORT_BASE" TALLY="$TALLY" \
          FANOUT_TOOLS="$TOOLS" FANOUT_WORK="$WORK" TALLY_LOOPS="${TALLY_LOOPS:-}" "$repo/Benchmarks/fanout.sh")
  echo "$table" >&2
  single=$(sed -n 's/^(raw: \([^;]*\);.*/\1/p' <<<"$table")
fi

start_node() {  # name port flags...; sets NPID NLOG
  local name=$1 port=$2; shift 2
  NLOG=$WORK/logs/node-${name}_$port.err
  "$TALLY" bench fanout-server --port "$port" ${TALLY_LOOPS:+--loops $TALLY_LOOPS} "$@" >/dev/null 2>"$NLOG" &
  NPID=$!
  pids+=("$NPID")
  for _ in $(seq 1 300); do grep -q listening "$NLOG" 2>/dev/null && return 0; kill -0 $NPID 2>/dev/null || break; sleep 0.1; done
  echo "node $name failed to start: $(tail -3 "$NLOG")" >&2
  return 1
}

run=0
for N in $CONNS; do
 # "one": node A alone (no Redis) with the same two wsload processes, so the two-node figures
 # are compared with a one-node run whose client side is split the same way.
 for topo in one redis; do
  port_b=$((PORT_BASE + 50 + run)); port_a=$((PORT_BASE + 70 + run)); run=$((run + 1))
  half_a=$((N / 2)); half_b=$((N - N / 2))
  sf=$WORK/logs/start.$port_a; rm -f "$sf"
  pid_b=0; redis_pid=0; redis=()
  if [ $topo = redis ]; then
    echo "fanout through Redis: $N subscribers ($half_a on A, $half_b on B), $RATE/s for $DUR s" >&2
    start_redis "$WORK/redis" >/dev/null || exit 1
    redis_pid=$(cat "$WORK/redis/redis.pid")
    redis=(--redis "$REDIS_URL")
    # B first: it follows the channel before A's job exists, so it hears the job's first event.
    start_node b $port_b "${redis[@]}" --rate 0 || { cleanup; continue; }
    pid_b=$NPID
    expect=$half_a
  else
    echo "fanout, one node, two clients: $N subscribers ($half_a + $half_b on A), $RATE/s for $DUR s" >&2
    port_b=$port_a
    expect=$N
  fi
  start_node a $port_a "${redis[@]}" --rate "$RATE" --duration "$DUR" --expect-conns "$expect" --start-file "$sf" \
      --start-delay 1 --max-wait 90 || { cleanup; continue; }
  pid_a=$NPID; log_a=$NLOG
  path=$(grep -o '"path":"[^"]*"' "$log_a" | head -1 | cut -d'"' -f4)
  job=${path##*/}
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port_b/api/jobs/$job" >/dev/null && break
    sleep 0.05
  done
  curl -sf "http://127.0.0.1:$port_b/api/jobs/$job" >/dev/null || { echo "node B never heard of job $job" >&2; cleanup; continue; }
  sleep 0.5
  ra=$WORK/logs/ready-a.$port_a; rb=$WORK/logs/ready-b.$port_b.$topo; rm -f "$ra" "$rb"
  wa=$WORK/logs/wsload_${topo}_a_$N.json; wb=$WORK/logs/wsload_${topo}_b_$N.json
  # --idle-exit 6: the half that connects first waits for the other before any event comes.
  "$WSLOAD" --port $port_a --path "$path" --conns "$half_a" --duration $((${DUR%.*} + 90)) --idle-exit 6 \
      --expect-msgs $((RATE * ${DUR%.*})) --ready-file "$ra" > "$wa" &
  wpa=$!
  "$WSLOAD" --port $port_b --path "$path" --conns "$half_b" --duration $((${DUR%.*} + 90)) --idle-exit 6 \
      --expect-msgs $((RATE * ${DUR%.*})) --ready-file "$rb" > "$wb" &
  wpb=$!
  while { [ ! -s "$ra" ] && kill -0 $wpa 2>/dev/null; } || { [ ! -s "$rb" ] && kill -0 $wpb 2>/dev/null; }; do sleep 0.05; done
  a1=$(cpu_ticks $pid_a); b1=$(cpu_ticks $pid_b); r1=$(cpu_ticks $redis_pid)
  touch "$sf"
  wait $wpa; wait $wpb
  a2=$(cpu_ticks $pid_a); b2=$(cpu_ticks $pid_b); r2=$(cpu_ticks $redis_pid)
  summary=$(grep -o '{"peer":"tally","events".*}' "$log_a" | tail -1)
  cleanup
  python3 - "$topo" "$N" "$TCK" "$a1" "$a2" "$b1" "$b2" "$r1" "$r2" "$wa" "$wb" "$summary" <<'EOF' | tee -a "$OUT" >&2
import json, sys
topo, n, tck, a1, a2, b1, b2, r1, r2, wa, wb, summary = sys.argv[1:]
tck = int(tck)
cpu_a, cpu_b, cpu_r = ((int(y) - int(x)) / tck for x, y in ((a1, a2), (b1, b2), (r1, r2)))
def load(path):
    try: return json.load(open(path))
    except Exception as e: return {"wsload_error": str(e)}
A, B = load(wa), load(wb)
msgs = A.get("msgs", 0) + B.get("msgs", 0)
total = cpu_a + cpu_b + cpu_r
per = lambda m, c: round(m / c) if c > 0 else None
row = {"peer": "tally-redis" if topo == "redis" else "tally-2clients", "mode": "fanout", "conns": int(n), "msgs": msgs,
       "deliveries_per_srv_cpu_s": per(msgs, total), "deliveries_per_node_cpu_s": per(msgs, cpu_a + cpu_b),
       "cpu_a_s": round(cpu_a, 2), "cpu_b_s": round(cpu_b, 2), "cpu_redis_s": round(cpu_r, 2),
       "seq_gaps": A.get("seq_gaps", 0) + B.get("seq_gaps", 0),
       "missing_conns": A.get("missing_conns", 0) + B.get("missing_conns", 0),
       "a": A, "b": B, "publisher": json.loads(summary) if summary.strip() not in ("", "{}") else None}
print(json.dumps(row))
EOF
  sleep 1
 done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" "$single" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if len(sys.argv) > 2 and sys.argv[2]:
    rows += [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
def pick(peer, n):
    return next((r for r in rows if r.get("mode") == "fanout" and r["peer"] == peer and r["conns"] == n), None)
ms = lambda v: "-" if v is None else f"{v / 1000:.1f}"
num = lambda v: "-" if v is None else f"{v:,}"
print("| figure | Tally, one node | one node, two clients | two nodes + Redis | Node ws |")
print("|---|---|---|---|---|")
for n in sorted({r["conns"] for r in rows if r.get("mode") == "fanout"}):
    one, split, two, ws = (pick(p, n) or {} for p in ("tally", "tally-2clients", "tally-redis", "node-ws"))
    a, b, sa, sb = two.get("a", {}), two.get("b", {}), split.get("a", {}), split.get("b", {})
    per = lambda m, c: num(round(m / c)) if m and c else "-"
    print(f"| deliveries / server CPU-s, {n} subs | {num(one.get('deliveries_per_srv_cpu_s'))} "
          f"| {num(split.get('deliveries_per_srv_cpu_s'))} "
          f"| {num(two.get('deliveries_per_srv_cpu_s'))} (A {per(a.get('msgs'), two.get('cpu_a_s'))}, "
          f"B {per(b.get('msgs'), two.get('cpu_b_s'))}) | {num(ws.get('deliveries_per_srv_cpu_s'))} |")
    print(f"| server CPU-s, {n} subs | {one.get('srv_cpu_publish_s', '-')} | {split.get('cpu_a_s', '-')} "
          f"| A {two.get('cpu_a_s', '-')} + B {two.get('cpu_b_s', '-')} + redis {two.get('cpu_redis_s', '-')} "
          f"| {ws.get('srv_cpu_publish_s', '-')} |")
    for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
        print(f"| {label} latency ms, {n} subs | {ms(one.get(key))} | {ms(sa.get(key))} / {ms(sb.get(key))} "
              f"| A {ms(a.get(key))} / B {ms(b.get(key))} | {ms(ws.get(key))} |")
    for key, label in (("seq_gaps", "seq gaps"), ("missing_conns", "missing conns"), ("msgs", "deliveries")):
        print(f"| {label}, {n} subs | {num(one.get(key))} | {num(split.get(key))} | {num(two.get(key))} | {num(ws.get(key))} |")
print(f"(raw: {sys.argv[1]}" + (f", {sys.argv[2]}" if len(sys.argv) > 2 and sys.argv[2] else "") + ")")
EOF
