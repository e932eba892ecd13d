#!/usr/bin/env bash
# Idle WebSocket memory, measured the way ../shared/tools/fanout/run_fanout.sh MODE=idle does:
# server RSS before and after N idle WebSocket connections to /ws/echo are open (wsload, built
# by the fanout tools' setup.sh). run_fanout.sh itself passes --rate to the server, which
# `tally serve` does not take, hence this wrapper.
#   BIN=.build/release/tally N=10000 WSLOAD=/tmp/fanout/wsload scripts/ws-idle-memory.sh
set -u
BIN=${BIN:?}; PORT=${PORT:-19350}; N=${N:-10000}; WSLOAD=${WSLOAD:-/tmp/fanout/wsload}
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$BIN" serve --echo --port "$PORT" --data /tmp/ws-idle-data --log-level warn --max-connections-per-address 0 --max-connections 30000 2>/tmp/idle-server.err >/dev/null &
SPID=$!
for _ in $(seq 1 100); do grep -q listening /tmp/idle-server.err 2>/dev/null && break; sleep 0.1; done
sleep 1
r0=$(awk '$1=="VmRSS:"{print $2}' /proc/$SPID/status)
rf=/tmp/idle-ready.$$; rm -f $rf
"$WSLOAD" --port "$PORT" --path /ws/echo --conns "$N" --duration 120 --ready-file $rf > /tmp/idle-wsload.json &
WPID=$!
while [ ! -s $rf ] && kill -0 $WPID 2>/dev/null; do sleep 0.05; done
sleep 3
r1=$(awk '$1=="VmRSS:"{print $2}' /proc/$SPID/status)
fds=$(ls /proc/$SPID/fd | wc -l)
kill -TERM $WPID; wait $WPID 2>/dev/null
kill -TERM $SPID; wait $SPID 2>/dev/null
rm -f $rf
python3 - "$N" "$r0" "$r1" "$fds" <<'PY'
import json, sys
n, r0, r1, fds = (int(x) for x in sys.argv[1:])
w = json.load(open('/tmp/idle-wsload.json'))
c = w.get('connected', 0) or 1
print(json.dumps({"conns": n, "connected": w.get('connected'), "failed": w.get('failed_conns'),
  "rss_before_kib": r0, "rss_after_kib": r1, "kib_per_idle_conn": round((r1 - r0) / c, 3), "fds": fds}))
PY
