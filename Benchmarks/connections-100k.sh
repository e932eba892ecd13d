#!/usr/bin/env bash
# Benchmarks/connections-100k.sh - 100,000 concurrent WebSocket subscribers of one job on one
# machine, held by K Tally nodes that share progress through Redis, then a few events
# delivered to every one of them.
#
#   swift build -c release --product tally
#   Benchmarks/connections-100k.sh
#   NODES=6 TOTAL=100000 EVENTS=5 Benchmarks/connections-100k.sh
#
# Why several nodes: one process here may hold at most `ulimit -Hn` descriptors (20,000 in this
# container, and root cannot raise it), so TOTAL subscribers are spread over NODES processes of
# `tally bench fanout-server --redis` (each on its own port, its own data directory under
# $WORK, the connection caps off) and as many wsload processes, one per node, each under the
# limit. One source address reaches one server port through at most
# net.ipv4.ip_local_port_range ports (28,232 here), which each node's own port also respects.
#
# 1. A throwaway redis-server (scripts/lib/services.sh), NODES-1 serving nodes (--rate 0),
#    then the publisher node: it creates the job, which the others hear through Redis.
# 2. VmRSS of every node (and of redis-server) before; TOTAL/NODES subscribers of the job on
#    each node, one wsload per node; waits until every wsload has every connection open
#    (ready file) and every node counts its share in `tally_subscribers` (/metrics), i.e. has
#    subscribed each socket and sent its snapshot; SETTLE seconds; VmRSS again.
#    Server KiB per connection = sum of the nodes' VmRSS growth / connections held. Kernel
#    socket memory is not in VmRSS: the Slab growth of /proc/meminfo is printed next to it
#    (both ends of every connection, client and server, are in it).
# 3. The publisher then sends EVENTS progress updates, RATE per second, each stamped with
#    "ts_ns"; the other nodes get them through Redis. GRACE seconds after the last one the
#    wsloads are stopped (SIGTERM: each prints its JSON) and the script checks that every
#    subscriber holds the snapshot and every event (wsload --expect-msgs 1+EVENTS counts the
#    connections short of it, and seq gaps), next to the nodes' own delivery counters.
# 4. One summary JSON line on stdout (the per-node details and raw outputs go to $WORK).
#
# Loopback only. Bounded: wsload --duration, the nodes' --max-wait, every wait below has a
# deadline; whatever was started is stopped at the end (EXIT trap). About a minute here.
#
# env knobs (defaults): NODES=6 TOTAL=100000 EVENTS=5 RATE=1 (events per second) SETTLE=3
#   GRACE=3 PORT_BASE=19600 TALLY=.build/release/tally TALLY_LOOPS=(one per core, each node)
#   FANOUT_TOOLS=../shared/tools/fanout WORK=$TMPDIR/connections-100k
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${FANOUT_TOOLS:-$repo/../shared/tools/fanout}
[ -d "$TOOLS" ] || TOOLS=/work/shared/tools/fanout
WORK=${WORK:-${TMPDIR:-/tmp}/connections-100k}; rm -rf "$WORK/logs" "$WORK/nodes"; mkdir -p "$WORK/logs" "$WORK/nodes"
NODES=${NODES:-6}; TOTAL=${TOTAL:-100000}; EVENTS=${EVENTS:-5}; RATE=${RATE:-1}
SETTLE=${SETTLE:-3}; GRACE=${GRACE:-3}; PORT_BASE=${PORT_BASE:-19600}
TALLY=${TALLY:-$repo/.build/release/tally}
WSLOAD=$WORK/wsload
[ -x "$WSLOAD" ] || gcc -O2 -o "$WSLOAD" "$TOOLS/wsload.c" -lpthread || exit 1
[ -x "$TALLY" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)" >&2; exit 1; }
# shellcheck source=../scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"

# Every process started here inherits the soft limit raised to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
nofile=$(ulimit -n)
share=$(( (TOTAL + NODES - 1) / NODES ))
read -r port_lo port_hi < /proc/sys/net/ipv4/ip_local_port_range
if [ $((share + 200)) -gt "$nofile" ]; then
  echo "$share connections per node need ulimit -n above $((share + 200)) (it is $nofile): raise NODES" >&2; exit 1
fi
if [ "$share" -gt $((port_hi - port_lo)) ]; then
  echo "$share connections per node exceed the $((port_hi - port_lo + 1)) local ports of ip_local_port_range: raise NODES" >&2; exit 1
fi
duration=$(awk -v e="$EVENTS" -v r="$RATE" 'BEGIN { print e / r }')
max_wait=240     # the publisher's bound on waiting for its subscribers and the start file
client_bound=300 # wsload's own hard stop

pids=(); wpids=()
cleanup() {
  for pid in "${wpids[@]}" "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${wpids[@]}" "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  pids=(); wpids=()
  stop_redis
}
trap cleanup EXIT

t_start=$(date +%s.%N)
say() { echo "[$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1f", b - a }')s] $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
rss() { awk '$1=="VmRSS:" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
sum_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(cpu_ticks "$pid"))); done; echo $t; }
slab() { awk '$1=="Slab:" {print $2}' /proc/meminfo; }
metric() {  # port name: the value of an unlabelled metric
  curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {v=$2} END {printf "%d\n", v}'
}

load_before=$(loadavg)
say "load before: $load_before; $NODES nodes, $TOTAL subscribers ($share per node), $EVENTS events at $RATE/s; ulimit -n $nofile"
start_redis "$WORK/redis" >/dev/null || exit 1
redis_pid=$(cat "$WORK/redis/redis.pid")

start_node() {  # index flags...; sets NPID NLOG
  local i=$1; shift
  local port=$((PORT_BASE + i))
  NLOG=$WORK/logs/node$i.err
  mkdir -p "$WORK/nodes/$i"
  # TMPDIR: the node's throwaway data directory lives under $WORK/nodes/i.
  TMPDIR=$WORK/nodes/$i "$TALLY" bench fanout-server --port "$port" ${TALLY_LOOPS:+--loops $TALLY_LOOPS} \
      --redis "$REDIS_URL" --max-wait "$max_wait" "$@" >/dev/null 2>"$NLOG" &
  NPID=$!
  pids+=("$NPID")
  for _ in $(seq 1 300); do grep -q listening "$NLOG" 2>/dev/null && return 0; kill -0 $NPID 2>/dev/null || break; sleep 0.1; done
  echo "node $i (port $port) failed to start: $(tail -3 "$NLOG")" >&2
  return 1
}

# The serving nodes first: they follow the Redis channel before the job exists, so they hear
# of it from its first event. Node 0 publishes.
node_pids=()
for i in $(seq 1 $((NODES - 1))); do
  start_node "$i" --rate 0 || exit 1
  node_pids[$i]=$NPID
done
start_file=$WORK/logs/start; rm -f "$start_file"
start_node 0 --rate "$RATE" --duration "$duration" --expect-conns "$share" --start-file "$start_file" --start-delay 1 || exit 1
node_pids[0]=$NPID; publisher_log=$NLOG
path=$(grep -o '"path":"[^"]*"' "$publisher_log" | head -1 | cut -d'"' -f4)
job=${path##*/}
for i in $(seq 0 $((NODES - 1))); do
  port=$((PORT_BASE + i))
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/api/jobs/$job" >/dev/null && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/api/jobs/$job" >/dev/null || { echo "node $i never heard of job $job" >&2; exit 1; }
done
sleep 1

# Before: RSS, the subscriber counter (the publisher already counts its latency probes, one
# per loop), kernel slab, conntrack.
declare -a rss0 rss1 subs0 deliv0 deliv1 fds share_of limits
for i in $(seq 0 $((NODES - 1))); do
  rss0[$i]=$(rss "${node_pids[$i]}")
  subs0[$i]=$(metric $((PORT_BASE + i)) tally_subscribers)
  limits[$i]=$(awk '/^Max open files/ {print $4 "/" $5}' "/proc/${node_pids[$i]}/limits")
done
redis_rss0=$(rss "$redis_pid"); slab0=$(slab)
conntrack0=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo -)

say "nodes up (job $job); opening the connections"
t_ramp=$(date +%s.%N)
remaining=$TOTAL
for i in $(seq 0 $((NODES - 1))); do
  n=$(( remaining < share ? remaining : share )); remaining=$((remaining - n))
  share_of[$i]=$n
  "$WSLOAD" --port $((PORT_BASE + i)) --path "$path" --conns "$n" --duration "$client_bound" \
      --expect-msgs $((1 + EVENTS)) --ready-file "$WORK/logs/ready$i" > "$WORK/logs/wsload$i.json" 2>"$WORK/logs/wsload$i.err" &
  wpids[$i]=$!
done

# Every wsload has every connection settled (open or failed for good)...
deadline=$(( $(date +%s) + 180 ))
for i in $(seq 0 $((NODES - 1))); do
  while [ ! -s "$WORK/logs/ready$i" ] && kill -0 "${wpids[$i]}" 2>/dev/null && [ "$(date +%s)" -lt $deadline ]; do sleep 0.1; done
done
ramp_s=$(awk -v a="$t_ramp" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# ...and every node has subscribed its share (the snapshot is sent as the socket subscribes).
for i in $(seq 0 $((NODES - 1))); do
  want=$(( ${subs0[$i]:-0} + share_of[$i] ))
  while [ "$(metric $((PORT_BASE + i)) tally_subscribers)" -lt $want ] && [ "$(date +%s)" -lt $deadline ]; do sleep 0.2; done
done
idle_t0=$(sum_ticks "${node_pids[@]}" "$redis_pid")
sleep "$SETTLE"
idle_t1=$(sum_ticks "${node_pids[@]}" "$redis_pid")
for i in $(seq 0 $((NODES - 1))); do
  rss1[$i]=$(rss "${node_pids[$i]}")
  fds[$i]=$(ls "/proc/${node_pids[$i]}/fd" | wc -l)
  subs1[$i]=$(metric $((PORT_BASE + i)) tally_subscribers)
  # The delivery counter counts snapshots too: read from here on, it counts the events.
  deliv0[$i]=$(metric $((PORT_BASE + i)) tally_events_delivered_total)
done
redis_rss1=$(rss "$redis_pid"); slab1=$(slab); load_held=$(loadavg)
conntrack1=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo -)
client_rss=0; for pid in "${wpids[@]}"; do client_rss=$((client_rss + $(rss "$pid"))); done
say "$TOTAL held after ${ramp_s}s of ramp: load $load_held; publishing"

srv_t0=$(sum_ticks "${node_pids[@]}" "$redis_pid"); cli_t0=$(sum_ticks "${wpids[@]}")
touch "$start_file"
for _ in $(seq 1 $(( ${duration%.*} + 60 ))); do grep -q '"events"' "$publisher_log" && break; sleep 1; done
sleep "$GRACE"
for i in $(seq 0 $((NODES - 1))); do deliv1[$i]=$(metric $((PORT_BASE + i)) tally_events_delivered_total); done
srv_t1=$(sum_ticks "${node_pids[@]}" "$redis_pid"); cli_t1=$(sum_ticks "${wpids[@]}")
say "published; stopping the clients"
for pid in "${wpids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${wpids[@]}"; do wait "$pid" 2>/dev/null; done
wpids=()
say "clients stopped; stopping the nodes and redis-server"
publisher=$(grep -o '{"peer":"tally","events".*}' "$publisher_log" | tail -1)
cleanup
say "stopped"
load_after=$(loadavg)

join() { local IFS=,; echo "$*"; }
python3 - "$WORK" "$NODES" "$TOTAL" "$EVENTS" "$RATE" "$load_before" "$load_held" "$load_after" "$ramp_s" \
    "$(join "${share_of[@]}")" "$(join "${rss0[@]}")" "$(join "${rss1[@]}")" "$(join "${fds[@]}")" \
    "$(join "${subs0[@]}")" "$(join "${subs1[@]}")" "$(join "${deliv0[@]}")" "$(join "${deliv1[@]}")" \
    "$redis_rss0" "$redis_rss1" "$slab0" "$slab1" "$conntrack0" "$conntrack1" "$client_rss" "$nofile" \
    "$(join "${limits[@]}")" "$publisher" "$(( srv_t1 - srv_t0 ))" "$(( cli_t1 - cli_t0 ))" "$(getconf CLK_TCK)" "$(( idle_t1 - idle_t0 ))" "$SETTLE" <<'EOF'
import json, sys
(work, nodes, total, events, rate, load_before, load_held, load_after, ramp_s, shares, rss0, rss1, fds,
 subs0, subs1, deliv0, deliv1, redis0, redis1, slab0, slab1, ct0, ct1, client_rss, nofile, limits, publisher, srv_ticks, cli_ticks, tck, idle_ticks, settle) = sys.argv[1:]
srv_cpu, cli_cpu = int(srv_ticks) / int(tck), int(cli_ticks) / int(tck)
nodes, total, events = int(nodes), int(total), int(events)
ints = lambda s: [int(x) if x.strip().lstrip("-").isdigit() else 0 for x in s.split(",")]
shares, rss0, rss1, fds, subs0, subs1, deliv0, deliv1 = map(ints, (shares, rss0, rss1, fds, subs0, subs1, deliv0, deliv1))
clients = []
for i in range(nodes):
    try: clients.append(json.load(open(f"{work}/logs/wsload{i}.json")))
    except Exception as e: clients.append({"wsload_error": str(e)})
connected = sum(c.get("connected", 0) for c in clients)
held = sum(c.get("open_at_end", 0) for c in clients)
msgs = sum(c.get("msgs", 0) for c in clients)
missing = sum(c.get("missing_conns", total) for c in clients)
gaps = sum(c.get("seq_gaps", 0) for c in clients)
growth = [b - a for a, b in zip(rss0, rss1)]
kib = lambda v, n: round(v / n, 3) if n else None
per_node = []
for i in range(nodes):
    c = clients[i]
    per_node.append({"node": i, "role": "publisher" if i == 0 else "follower", "conns": shares[i],
                     "connected": c.get("connected"), "rss_before_kib": rss0[i], "rss_after_kib": rss1[i],
                     "kib_per_conn": kib(growth[i], c.get("connected", 0)), "fds": fds[i], "nofile": limits.split(",")[i],
                     "subscribers_added": subs1[i] - subs0[i], "server_deliveries": deliv1[i] - deliv0[i],
                     "client_msgs": c.get("msgs"), "min_msgs_per_conn": c.get("min_msgs_per_conn"),
                     "max_msgs_per_conn": c.get("max_msgs_per_conn"), "missing_conns": c.get("missing_conns"),
                     "seq_gaps": c.get("seq_gaps"), "p50_ms": c.get("p50_us", 0) / 1000, "p99_ms": c.get("p99_us", 0) / 1000,
                     "max_ms": c.get("max_us", 0) / 1000, "ramp_s": c.get("ramp_s"), "failed_conns": c.get("failed_conns"),
                     "server_closed": c.get("server_closed")})
# Every connection's first message is its snapshot; the rest are events.
delivered = msgs - connected
summary = {
    "bench": "connections-100k", "nodes": nodes, "conns": total, "connected": connected, "held_at_end": held,
    "ramp_s": float(ramp_s),
    "server_kib_per_conn": kib(sum(growth), connected),
    "server_rss_growth_mib": round(sum(growth) / 1024, 1),
    "kib_per_conn_per_node": [p["kib_per_conn"] for p in per_node],
    "redis_rss_kib": {"before": int(redis0), "after": int(redis1)},
    "kernel_slab_growth_mib": round((int(slab1) - int(slab0)) / 1024, 1),
    "kernel_slab_kib_per_conn": kib(int(slab1) - int(slab0), connected),
    "client_rss_mib": round(int(client_rss) / 1024, 1),
    "events": events, "rate_per_s": float(rate),
    "events_delivered": delivered, "events_expected": total * events,
    "conns_missing_an_event": missing, "seq_gaps": gaps,
    "server_deliveries": sum(deliv1[i] - deliv0[i] for i in range(nodes)),  # + the publisher's probes
    # CPU of the nodes and redis-server while every connection is held and idle (SETTLE s).
    "idle_cpu_s": round(int(idle_ticks) / int(tck), 2), "idle_window_s": float(settle),
    # CPU from the first event to the end of the grace period: nodes + redis-server, and wsload.
    "publish_cpu_s": {"servers": round(srv_cpu, 2), "clients": round(cli_cpu, 2)},
    "deliveries_per_server_cpu_s": round(delivered / srv_cpu) if srv_cpu else None,
    "p50_ms_per_node": [p["p50_ms"] for p in per_node], "p99_ms_per_node": [p["p99_ms"] for p in per_node],
    "max_ms": max(p["max_ms"] for p in per_node),
    "nofile": int(nofile), "conntrack": [ct0, ct1],
    "load_before": load_before, "load_held": load_held, "load_after": load_after,
    "publisher": json.loads(publisher) if publisher.strip() else None,
}
with open(f"{work}/logs/per-node.jsonl", "w") as f:
    for p in per_node: f.write(json.dumps(p) + "\n")
for p in per_node: print(json.dumps(p), file=sys.stderr)
print(json.dumps(summary))
EOF
