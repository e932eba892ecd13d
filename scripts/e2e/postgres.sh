#!/usr/bin/env bash
# The PostgreSQL sink against a real, throwaway PostgreSQL (initdb into a temporary directory,
# loopback only, stopped at the end):
#   1. the Swift tests that need a server (PostgresTests, PostgresSinkTests), which skip
#      themselves without TALLY_TEST_POSTGRES_URL;
#   2. a crash test: `tally import --sink postgres://…` of a large file is killed with SIGKILL
#      at random moments and started again, and PostgreSQL itself is restarted mid-import;
#      the table must end with exactly the valid rows, each once, and the checkpoint row must
#      agree with the job.
#   scripts/e2e/postgres.sh [ROWS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
source scripts/lib/crash-fixture.sh
rows=${1:-400000}
kills=${2:-3}
work=$(mktemp -d)
cleanup() { stop_services; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
echo "work dir: $work"
start_postgres "$work/pg"
echo "PostgreSQL at $PG_URL"

echo "-- swift tests against PostgreSQL"
TALLY_TEST_POSTGRES_URL=$PG_URL swift test --filter 'PostgresConnectionTests|PostgresSinkTests' >"$work/swift-test.log" 2>&1 \
    || { grep -E '✘|error:' "$work/swift-test.log" | head -40; echo "postgres: FAILED: swift tests"; exit 1; }
grep -E '^✔ Suite|^✔ Test run' "$work/swift-test.log" || true

echo "-- crash test: tally import --sink, SIGKILL x$kills and a PostgreSQL restart"
swift build --product tally >/dev/null
tally=$(swift build --show-bin-path)/tally
write_crash_fixture "$work" "$rows" '\ttab'  # a backslash for COPY's escaping

run() { exec "$tally" import "$work/data.csv" --table crash --schema "$work/schema.json" --batch 2000 \
            --data "$work/db" --sink "$PG_URL" "$@"; }
fail() { echo "postgres: FAILED: $*"; exit 1; }

# Kills come 0.3-1.0 s into each run, so that the file outlasts them at debug-build speed and
# the restart below still finds the import mid-way.
report_kill() { echo "kill $1: checkpoint rows=$(psql_value "SELECT processed FROM tally_import_checkpoints WHERE table_name = 'crash'") table rows=$(psql_value "SELECT count(*) FROM crash")"; }
kill_runs "$kills" 700 report_kill
[ -z "$finished" ] || [ "$status" -eq 0 ] || fail "run $finished exited with $status"

# PostgreSQL goes away mid-import: the import retries from its checkpoint and finishes.
if [ -z "$finished" ]; then
    ( run >"$work/restart.log" 2>&1 ) &
    pid=$!
    sleep 1
    restart_postgres
    echo "restarted PostgreSQL: checkpoint rows=$(psql_value "SELECT processed FROM tally_import_checkpoints WHERE table_name = 'crash'")"
    status=0
    wait "$pid" || status=$?
    tail -3 "$work/restart.log"
    [ "$status" -eq 0 ] || fail "the run across the PostgreSQL restart exited with $status"
else
    echo "postgres: the import finished before the PostgreSQL restart; restart not exercised this run (raise ROWS)"
fi

[ "$(psql_value "SELECT state FROM tally_import_checkpoints WHERE table_name = 'crash'")" = completed ] || fail "checkpoint state $(psql_value "SELECT state FROM tally_import_checkpoints WHERE table_name = 'crash'")"
[ "$(psql_value "SELECT count(*) FROM crash")" = "$valid" ] || fail "table has $(psql_value "SELECT count(*) FROM crash") rows, expected $valid"
[ "$(psql_value "SELECT count(DISTINCT id) FROM crash")" = "$valid" ] || fail "duplicate rows in the table"
[ "$(psql_value "SELECT count(*) FROM crash WHERE id % 997 = 0")" = 0 ] || fail "an invalid row was imported"
[ "$(psql_value "SELECT sum(amount) = sum(id) * 7 FROM crash")" = t ] || fail "row contents differ"
[ "$(psql_value "SELECT count(*) FROM crash WHERE name <> 'name ' || id || ', quoted\\ttab'")" = 0 ] || fail "text was altered"
counts=$(psql_value "SELECT processed || ' ' || succeeded || ' ' || failed FROM tally_import_checkpoints WHERE table_name = 'crash'")
[ "$counts" = "$((rows + dups)) $valid $((bad + dups))" ] || fail "checkpoint counts '$counts'"
jobcounts=$(sqlite3 "$work/db/tally.db" "SELECT state || ' ' || processed || ' ' || succeeded || ' ' || failed FROM tally_jobs")
[ "$jobcounts" = "completed $((rows + dups)) $valid $((bad + dups))" ] || fail "job '$jobcounts'"
[ "$(sqlite3 "$work/db/tally.db" "SELECT count(*) FROM tally_row_errors")" = "$((bad + dups))" ] || fail "row errors $(sqlite3 "$work/db/tally.db" "SELECT count(*) FROM tally_row_errors")"
echo "postgres: ok ($valid rows, $((bad + dups)) rejected, each once)"
