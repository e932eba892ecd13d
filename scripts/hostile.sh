#!/usr/bin/env bash
# Hostile clients on loopback against a release build of `tally serve`, while a well-behaved
# WebSocket client watches a live import (docs/SECURITY.md). Bounded: counts and deadlines are
# fixed; the server's data directory is a temporary one.
#   scripts/hostile.sh [ROWS] [SLOWLORIS] [NON_READERS]
# PROGRESS_INTERVAL (seconds, default 0.01) is the import's shortest time between progress
# events: a hundred a second gives the watcher a few hundred events, enough for a p99.
# Fails when the watcher's p99 event latency reaches 50 ms, the server's RSS passes 512 MiB,
# or the import does not finish with every row. Not part of scripts/test.sh (it needs a
# release build and about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
slowloris=${2:-1000}
readers=${3:-1000}
# TALLY_BIN=PATH runs that binary instead of building one.
if [ -n "${TALLY_BIN:-}" ]; then
    tally=$TALLY_BIN
else
    swift build -c release --product tally >/dev/null
    tally=$(swift build -c release --show-bin-path)/tally
fi
work=$(mktemp -d)
pid=""
# HOSTILE_SERVER_LOG=PATH keeps the server's log there; HOSTILE_SERVER_FLAGS adds flags to
# `tally serve` (to compare with a limit turned off, say).
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ -n "${HOSTILE_SERVER_LOG:-}" ] && cp "$work/log.txt" "$HOSTILE_SERVER_LOG"; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

secret=$(head -c 32 /dev/urandom | base64 | tr -d '=+/' | head -c 40)
key=$(head -c 24 /dev/urandom | base64 | tr -d '=+/' | head -c 32)
awk -v n="$rows" 'BEGIN { print "id,name,amount"; for (i = 1; i <= n; i++) printf "%d,name %d,%d\n", i, i, i * 7 }' > "$work/rows.csv"

# The fan-out budget is off: with 1,000 non-reading subscribers it would space the import's
# events to 10 a second, which spares the server and leaves the watcher too few events for a p99.
# SERVER_NICE=-10 gives the server priority over other work on a shared machine, so that
# what is measured is the server rather than the scheduler's queue.
nice -n "${SERVER_NICE:-0}" "$tally" serve --port 0 --data "$work/data" --web web --token-secret "$secret" --api-key "$key" \
    --header-timeout 5 --max-connections-per-address 2000 --max-upload 200000000 \
    --progress-interval "${PROGRESS_INTERVAL:-0.01}" --fanout-budget 0 ${HOSTILE_SERVER_FLAGS:-} \
    >"$work/out.txt" 2>"$work/log.txt" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'http://[^ ]*' "$work/out.txt" | sed 's/.*://')
echo "tally pid $pid on port $port, $rows rows, $slowloris slowloris, $readers non-readers, progress every ${PROGRESS_INTERVAL:-0.01} s; $(uptime)"
python3 scripts/hostile.py --port "$port" --pid "$pid" --csv "$work/rows.csv" --rows "$rows" \
    --api-key "$key" --secret "$secret" --slowloris "$slowloris" --non-readers "$readers" \
    --slowloris-seconds 12 || status=$?
echo "load after: $(uptime)"
exit "${status:-0}"
