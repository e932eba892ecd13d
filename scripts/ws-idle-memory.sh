#!/usr/bin/env bash
# Server memory per idle connection, for every kind of connection Tally holds open
# (docs/BENCHMARKS.md, "Memory per idle connection"). For each kind: start a release server,
# read its VmRSS, open N connections of that kind from one client process, wait until all are
# established (and, where there is one, answered), let the server settle, read VmRSS again,
# and print one JSON line with (after - before) / connected. Kernel socket buffers are not in
# VmRSS. Every step is bounded (clients hold at most 120 s, the servers are stopped).
#
#   swift build -c release --product tally
#   BIN=.build/release/tally N=10000 scripts/ws-idle-memory.sh
#   KINDS="job longpoll" N=19000 scripts/ws-idle-memory.sh
#
# Kinds (KINDS, default all):
#   echo       WebSocket on /ws/echo (`tally serve --echo`), nothing sent after the handshake
#   job        WebSocket following one job on /ws/jobs/{id} (`tally bench fanout-server
#              --rate 0`: the whole application with one external job, rate limit off),
#              snapshot received (ws_msgs counts them)
#   mux        multiplexed WebSocket on /ws, subscribed to that job with one message
#              (ws_msgs: the confirmation and the snapshot, two per connection)
#   longpoll   GET /api/jobs/{id}/events?after=<latest seq>&wait=60, parked (never answered)
#   keepalive  HTTP keep-alive connection idle after one answered GET /healthz
#
# N above ~19,000 needs `ulimit -n` above N + 100 for the server and for the client.
# WSLOAD is wsload from ../shared/tools/fanout (built here with gcc when missing).
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/tally}; PORT=${PORT:-19350}; N=${N:-10000}
KINDS=${KINDS:-"echo job mux longpoll keepalive"}
TOOLS=${FANOUT_TOOLS:-../shared/tools/fanout}; [ -d "$TOOLS" ] || TOOLS=/work/shared/tools/fanout
WORK=$(mktemp -d /tmp/idle-memory.XXXXXX)
WSLOAD=${WSLOAD:-/tmp/fanout/wsload}
if [ ! -x "$WSLOAD" ]; then
  WSLOAD=$WORK/wsload
  gcc -O2 -o "$WSLOAD" "$TOOLS/wsload.c" -lpthread || exit 1
fi
[ -x "$BIN" ] || { echo "build first: swift build -c release --product tally" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null
SPID=""; CPID=""
trap '[ -n "$CPID" ] && kill "$CPID" 2>/dev/null; [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

rss() { awk '$1=="VmRSS:"{print $2}' "/proc/$1/status"; }

start_server() {  # $1 kind; sets SPID and JOB
  local log=$WORK/server.err
  rm -f "$log"
  if [ "$1" = echo ]; then
    "$BIN" serve --echo --port "$PORT" --data "$WORK/data" --log-level warn \
        --max-connections-per-address 0 --max-connections 1000000 >"$log" 2>&1 &
  else
    "$BIN" bench fanout-server --port "$PORT" --rate 0 2>"$log" >/dev/null &
  fi
  SPID=$!
  for _ in $(seq 1 200); do grep -q listening "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$log" || { echo "server did not start: $(tail -3 "$log")" >&2; exit 1; }
  JOB=$(grep -o '"path":"/ws/jobs/[^"]*"' "$log" | head -1 | sed 's|.*/ws/jobs/||; s|"||')
  SEQ=0
  [ -n "$JOB" ] && SEQ=$(curl -s "http://127.0.0.1:$PORT/api/jobs/$JOB" | grep -o '"seq":[0-9]*' | head -1 | cut -d: -f2)
  sleep 1
}

stop_server() { kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), N=$N" >&2
for kind in $KINDS; do
  start_server "$kind"
  ready=$WORK/ready; out=$WORK/client.json; rm -f "$ready" "$out"
  r0=$(rss "$SPID")
  case $kind in
    echo) "$WSLOAD" --port "$PORT" --path /ws/echo --conns "$N" --duration 120 --ready-file "$ready" >"$out" & ;;
    job)  "$WSLOAD" --port "$PORT" --path "/ws/jobs/$JOB" --conns "$N" --duration 120 --ready-file "$ready" >"$out" & ;;
    mux)  "$WSLOAD" --port "$PORT" --path /ws --subscribe-msg "{\"type\":\"subscribe\",\"job\":\"$JOB\"}" \
              --conns "$N" --duration 120 --ready-file "$ready" >"$out" & ;;
    longpoll)
      python3 scripts/lib/idle_http_client.py --port "$PORT" --conns "$N" --expect none \
          --request "/api/jobs/$JOB/events?after=${SEQ:-0}&wait=60" --ready-file "$ready" --hold 50 >"$out" & ;;
    keepalive)
      python3 scripts/lib/idle_http_client.py --port "$PORT" --conns "$N" --expect response \
          --request /healthz --ready-file "$ready" --hold 50 >"$out" & ;;
    *) echo "unknown kind $kind" >&2; stop_server; continue ;;
  esac
  CPID=$!
  while [ ! -s "$ready" ] && kill -0 "$CPID" 2>/dev/null; do sleep 0.05; done
  sleep 3   # let the last handshakes, subscriptions and parked requests settle
  r1=$(rss "$SPID"); fds=$(ls "/proc/$SPID/fd" | wc -l)
  kill -TERM "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null; CPID=""
  stop_server
  python3 - "$kind" "$N" "$r0" "$r1" "$fds" "$out" <<'PY'
import json, sys
kind, n, r0, r1, fds, path = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
try:
    c = json.load(open(path))
except Exception as error:
    c = {"client_error": str(error)}
connected = c.get("connected") or 0
print(json.dumps({"kind": kind, "conns": n, "connected": connected, "failed": c.get("failed_conns"),
                  "answered": c.get("answered"), "ws_msgs": c.get("msgs"), "rss_before_kib": r0, "rss_after_kib": r1,
                  "kib_per_conn": round((r1 - r0) / connected, 3) if connected else None,
                  "bytes_per_conn": round((r1 - r0) * 1024 / connected) if connected else None, "server_fds": fds}))
PY
  sleep 1
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
