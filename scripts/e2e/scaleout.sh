#!/usr/bin/env bash
# Several nodes, end to end, on loopback: a real redis-server, a real PostgreSQL (initdb into a
# temporary directory) and two `tally serve` nodes sharing them and one spool directory. Redis
# requires a password (`redis://:PASSWORD@host:port/0`).
#   1. a CSV is uploaded to node A; node B follows it live over WebSocket and long-polling,
#      node A over long-polling;
#   2. Redis is killed and restarted (empty) mid-import: every watcher goes on without a gap;
#   3. node A is killed with SIGKILL mid-import: node B takes the import over once A's lease
#      expires and finishes it from the PostgreSQL checkpoint;
#   4. with A dead, B lists the jobs of the shared database and their row errors (those A and
#      B recorded of the taken-over import, once each); a node C started last answers a
#      WebSocket subscription to the finished import (from its Redis hash);
#   5. the watchers on B saw every seq once, in order, ending with `completed`, the same events
#      on both transports and the same as A's watcher up to A's death; the table holds exactly
#      the valid rows, each once.
#   scripts/e2e/scaleout.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
# Outside CI a machine without Redis or hiredis skips this test (`.ci/run` installs both).
if ! command -v redis-server >/dev/null || ! ldconfig -p | grep 'libhiredis.so.0.14' >/dev/null; then
    [ -n "${CI:-}" ] && { echo "scaleout: FAILED: redis-server or libhiredis0.14 missing"; exit 1; }
    echo "scaleout: skipped (needs redis-server and libhiredis0.14: apt-get install redis-server libhiredis-dev)"
    exit 0
fi
rows=${1:-1000000}
# Redis requires a password here, so the nodes' AUTH is exercised too.
export REDIS_PASSWORD="e2e pass/:@"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    stop_services
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "scaleout: FAILED: $*"; for f in "$work"/node-*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }
echo "work dir: $work"
start_postgres "$work/pg"
start_redis "$work/redis"
swift build --product tally >/dev/null
tally=$(swift build --show-bin-path)/tally

port_a=$(free_port)
port_b=$(free_port)
mkdir -p "$work/spool"
start_node() {  # name port
    "$tally" serve --port "$2" --data "$work/data-$1" --node-id "node-$1" --redis "$REDIS_URL" --sink "$PG_URL" \
        --spool "$work/spool" --lease 3 --rate-limit off --web web >"$work/node-$1.log" 2>&1 &
    pids+=($!)
    eval "pid_$1=$!"
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$2/healthz" | grep -q '"status":"ok"' && return 0
        sleep 0.1
    done
    fail "node $1 did not come up"
}
start_node a "$port_a"
start_node b "$port_b"
echo "nodes: A on $port_a, B on $port_b; Redis on $REDIS_PORT (with a password); PostgreSQL $PG_URL"

# A small import finished on A alone: later, with A dead, B lists it and its row errors from
# the shared PostgreSQL database.
schema='{"columns":[{"name":"id","type":"integer","required":true,"unique":true},{"name":"name","type":"text"},{"name":"amount","type":"integer"}]}'
schema_q=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$schema")
printf 'id,name,amount\n1,a,10\n2,b,oops\n3,c,30\n4,d,nope\n5,e,50\n' > "$work/small.csv"
small=$(curl -sf -X POST -H 'Content-Type: text/csv' --data-binary @"$work/small.csv" \
    "http://127.0.0.1:$port_a/api/imports?name=small.csv&table=scaleout_small&schema=$schema_q" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "small upload to node A refused"
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port_a/api/jobs/$small" | grep -q '"state":"completed"' && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port_a/api/jobs/$small" | grep -q '"state":"completed"' || fail "the small import did not complete on A"

# Every 1000th row has a bad amount.
awk -v n="$rows" 'BEGIN {
    print "id,name,amount"
    for (i = 1; i <= n; i++) printf "%d,name %d,%s\n", i, i, (i % 1000 == 0) ? "bad" : i * 3
}' > "$work/data.csv"
valid=$((rows - rows / 1000))
answer=$(curl -sf -X POST -H 'Content-Type: text/csv' --data-binary @"$work/data.csv" \
    "http://127.0.0.1:$port_a/api/imports?name=scaleout.csv&table=scaleout&schema=$schema_q") \
    || fail "upload to node A refused"
job=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$answer")
echo "job $job uploaded to A ($(date +%T))"

watch=scripts/lib/watch_job.py
python3 "$watch" ws "$port_b" "$job" "$work/b-ws.jsonl" --give-up 60 & w1=$!
python3 "$watch" poll "$port_b" "$job" "$work/b-poll.jsonl" --give-up 60 & w2=$!
python3 "$watch" poll "$port_a" "$job" "$work/a-poll.jsonl" --give-up 3 & w3=$!
pids+=("$w1" "$w2" "$w3")

processed() { curl -sf "http://127.0.0.1:${1:-$port_a}/api/jobs/$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["processed"])' 2>/dev/null || echo 0; }
wait_for_rows() {  # n
    for _ in $(seq 1 600); do
        [ "$(processed)" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "the import did not reach $1 rows"
}

wait_for_rows $((rows / 6))
echo "Redis killed at $(processed) rows"
redis_pid=$(cat "$work/redis/redis.pid")
kill -9 "$redis_pid"
rm -f "$work/redis/redis.pid"
sleep 1
curl -sf "http://127.0.0.1:$port_b/healthz" | grep -q '"status":"degraded"' || fail "node B not degraded without Redis"
start_redis "$work/redis"
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port_a/healthz" | grep -q '"status":"ok"' \
        && curl -sf "http://127.0.0.1:$port_b/healthz" | grep -q '"status":"ok"' && break
    sleep 0.1
done
echo "Redis back at $(processed) rows"

wait_for_rows $((rows / 2))
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null || true
echo "node A killed (SIGKILL) at $(processed "$port_b") rows"

wait "$w1" || fail "the WebSocket watcher on B did not see the end"
wait "$w2" || fail "the long-poll watcher on B did not see the end"
wait "$w3" || true
grep -q "import.taken_over" "$work/node-b.log" || fail "node B did not take the import over"

python3 - "$work" "$valid" <<'PY' || fail "event streams"
import json, sys
work, valid = sys.argv[1], int(sys.argv[2])
def load(name):
    return [json.loads(line) for line in open(f"{work}/{name}")]
def check(name, events):
    seqs = [e["seq"] for e in events]
    assert not any(e["resync"] for e in events), f"{name}: a resync snapshot (gap) at {[e['seq'] for e in events if e['resync']]}"
    holes = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
    assert not holes, f"{name}: seq jumps {holes[:5]}"
    return {e["seq"]: (e["processed"], e["state"]) for e in events if e["type"] != "snapshot"}
ws, poll, a = load("b-ws.jsonl"), load("b-poll.jsonl"), load("a-poll.jsonl")
for name, events in (("B websocket", ws), ("B long-poll", poll)):
    assert events and events[-1]["state"] == "completed", f"{name} ended with {events[-1] if events else None}"
    assert events[-1]["processed"] >= valid, f"{name}: final count {events[-1]['processed']}"
bw, bp, aa = check("B websocket", ws), check("B long-poll", poll), check("A long-poll", a)
common = set(bw) & set(bp)
assert all(bw[s] == bp[s] for s in common), "B's transports disagree on an event"
assert max(bw) == max(bp), "B's transports end at different seqs"
shared = set(aa) & set(bp)
assert shared and all(aa[s] == bp[s] for s in shared), "A and B disagree on an event"
print(f"events: B websocket {len(ws)}, B long-poll {len(poll)} (seq {min(bp)}..{max(bp)}), A long-poll {len(a)} up to seq {max(aa) if aa else 0}; no gaps")
PY

[ "$(psql_value "SELECT count(*) FROM scaleout")" = "$valid" ] || fail "table has $(psql_value "SELECT count(*) FROM scaleout") rows, expected $valid"
[ "$(psql_value "SELECT count(DISTINCT id) FROM scaleout")" = "$valid" ] || fail "duplicate rows"
[ "$(psql_value "SELECT state || ' ' || (owner IS NULL)::text FROM tally_import_checkpoints WHERE job_id = '$job'")" = "completed true" ] \
    || fail "checkpoint $(psql_value "SELECT state, owner FROM tally_import_checkpoints WHERE job_id = '$job'")"

# Jobs and row errors of the shared database, asked of B with A dead.
curl -sf "http://127.0.0.1:$port_b/api/jobs?limit=100" | python3 -c '
import json, sys
jobs = {j["id"]: j for j in json.load(sys.stdin)["jobs"]}
small, big = sys.argv[1], sys.argv[2]
assert small in jobs and big in jobs, f"B lists {list(jobs)}"
assert jobs[small]["state"] == "completed" and jobs[small]["failed"] == 2, jobs[small]
assert jobs[big]["state"] == "completed", jobs[big]
' "$small" "$job" || fail "B does not list the jobs of the shared database"
curl -sf "http://127.0.0.1:$port_b/api/jobs/$small" | grep -q '"state":"completed"' || fail "B does not answer A's job"
small_errors=$(curl -sf "http://127.0.0.1:$port_b/api/jobs/$small/errors" | python3 -c 'import json,sys; print(" ".join(str(e["line"]) for e in json.load(sys.stdin)["errors"]))')
[ "$small_errors" = "3 5" ] || fail "B lists the row errors of A's import at lines '$small_errors', expected '3 5'"
# The big import's errors: those A recorded before it died and those B recorded after, once each.
big_errors=$(curl -sf "http://127.0.0.1:$port_b/api/jobs/$job/errors?format=csv" | tail -n +2 | cut -d, -f1 | sort -n | uniq | wc -l)
all_errors=$(curl -sf "http://127.0.0.1:$port_b/api/jobs/$job/errors?format=csv" | tail -n +2 | wc -l)
[ "$big_errors" = $((rows / 1000)) ] && [ "$all_errors" = "$big_errors" ] \
    || fail "B lists $all_errors row errors ($big_errors lines) of the taken-over import, expected $((rows / 1000)) once each"
echo "shared store: B lists A's jobs and row errors ($((rows / 1000)) of the taken-over import, once each)"

# A node started after both jobs ended never heard their events: it answers a WebSocket
# subscription to the taken-over job from the job's Redis hash, and the snapshot of the small
# one (whose hash went with the Redis restart) from the PostgreSQL checkpoint row.
port_c=$(free_port)
start_node c "$port_c"
python3 "$watch" ws "$port_c" "$job" "$work/c-big.jsonl" --give-up 10 || fail "node C does not answer a subscription to the taken-over job"
python3 - "$work" "$valid" <<'PY' || fail "node C's snapshot of the taken-over job"
import json, sys
big = [json.loads(l) for l in open(f"{sys.argv[1]}/c-big.jsonl")]
assert big and big[-1]["state"] == "completed" and big[-1]["processed"] >= int(sys.argv[2]), big
PY
curl -sf "http://127.0.0.1:$port_c/api/jobs/$small" | grep -q '"state":"completed"' || fail "node C does not answer A's small job"
echo "node C (started last) answers for both jobs (from Redis and from PostgreSQL)"

echo "scaleout: ok ($valid rows once each in PostgreSQL; A killed, B finished; Redis restarted without a gap)"
