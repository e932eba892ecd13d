#!/usr/bin/env bash
# Crash test of the import engine: a real `tally import` of a large file is killed with SIGKILL
# at several random moments and started again (the same command resumes the interrupted job).
# Afterwards the table must hold exactly the valid rows, each once, and the job must read
# completed with the right counts. Then Ctrl-C of an import must cancel it cleanly (exit 130).
# Uses the debug build that scripts/test.sh just made.
#   scripts/e2e/crash-import.sh [ROWS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/crash-fixture.sh
rows=${1:-300000}
kills=${2:-4}
swift build --product tally >/dev/null
tally=$(swift build --show-bin-path)/tally
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT; echo "work dir: $work"

write_crash_fixture "$work" "$rows"

run() { exec "$tally" import "$work/data.csv" --table crash --schema "$work/schema.json" --batch 2000 --data "$work/db" "$@"; }
query() { sqlite3 "$work/db/tally.db" "$1" 2>/dev/null || echo "-"; }

# Kills come 0.3-1.3 s into each run: mid-import at debug-build speed (~150k rows/s idle).
report_kill() { echo "kill $1: checkpoint rows=$(query "SELECT cp_processed FROM tally_jobs") table rows=$(query "SELECT COUNT(*) FROM crash")"; }
kill_runs "$kills" 1000 report_kill
[ -z "$finished" ] || cp "$work/run-$finished.log" "$work/final.log"

if [ -z "$status" ]; then
    status=0
    ( run >"$work/final.log" 2>&1 ) || status=$?
fi
cat "$work/final.log" | tail -3
fail() { echo "crash-import: FAILED: $*"; exit 1; }
[ "$status" -eq 0 ] || fail "the last run exited with $status"
[ "$(query "SELECT COUNT(*) FROM tally_jobs")" = 1 ] || fail "expected one job, got $(query "SELECT COUNT(*) FROM tally_jobs")"
[ "$(query "SELECT state FROM tally_jobs")" = completed ] || fail "job state $(query "SELECT state FROM tally_jobs")"
[ "$(query "SELECT COUNT(*) FROM crash")" = "$valid" ] || fail "table has $(query "SELECT COUNT(*) FROM crash") rows, expected $valid"
[ "$(query "SELECT COUNT(DISTINCT id) FROM crash")" = "$valid" ] || fail "duplicate rows in the table"
[ "$(query "SELECT COUNT(*) FROM crash WHERE id % 997 = 0")" = 0 ] || fail "an invalid row was imported"
[ "$(query "SELECT SUM(amount) = SUM(id) * 7 FROM crash")" = 1 ] || fail "row contents differ"
counts=$(query "SELECT processed || ' ' || succeeded || ' ' || failed || ' ' || total || ' ' || total_exact FROM tally_jobs")
[ "$counts" = "$((rows + dups)) $valid $((bad + dups)) $((rows + dups)) 1" ] || fail "job counts '$counts'"
[ "$(query "SELECT COUNT(*) FROM tally_row_errors")" = "$((bad + dups))" ] || fail "row errors $(query "SELECT COUNT(*) FROM tally_row_errors")"
[ "$(query "SELECT COUNT(*) FROM tally_row_errors WHERE code = 'row.duplicate'")" = "$dups" ] || fail "duplicates not all detected"
echo "crash-import: ok ($killed kills, $valid rows once each, $((bad + dups)) rejected)"

# Ctrl-C (SIGINT) cancels through the same path as the API: exit status 130, job cancelled,
# the rows committed so far stay and match the job's counts.
"$tally" import "$work/data.csv" --table interrupted --batch 2000 --data "$work/db2" >"$work/int.log" 2>&1 &
pid=$!
sleep 0.7  # well before the end: a debug build imports ~150k rows a second on an idle machine
kill -INT "$pid"
status=0
wait "$pid" || status=$?
q2() { sqlite3 "$work/db2/tally.db" "$1"; }
[ "$status" -eq 130 ] || fail "Ctrl-C exit status $status, expected 130 ($(tail -1 "$work/int.log"))"
[ "$(q2 "SELECT state FROM tally_jobs")" = cancelled ] || fail "Ctrl-C left the job $(q2 "SELECT state FROM tally_jobs")"
[ "$(q2 "SELECT COUNT(*) FROM interrupted")" = "$(q2 "SELECT succeeded FROM tally_jobs")" ] || fail "cancelled job counts differ from the table"
echo "crash-import: Ctrl-C ok (exit 130, $(q2 "SELECT COUNT(*) FROM interrupted") rows kept)"
