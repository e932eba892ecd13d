# The file, schema and kill loop of the crash tests (scripts/e2e/crash-import.sh, scripts/e2e/postgres.sh).
# Source this file, then:
#   write_crash_fixture DIR ROWS [NAME_SUFFIX]
# writes DIR/data.csv (ROWS rows; every 997th has a bad amount; five rows at the end repeat
# earlier ids of the unique column; each name is quoted with a comma, followed by NAME_SUFFIX as
# written) and DIR/schema.json, and sets bad, dups and valid: the rows the table must end with.

write_crash_fixture() {
    local dir=$1 rows=$2 suffix=${3:-}
    CRASH_NAME_SUFFIX=$suffix awk -v n="$rows" 'BEGIN {
        suffix = ENVIRON["CRASH_NAME_SUFFIX"]
        print "id,name,amount,note"
        for (i = 1; i <= n; i++) {
            amount = (i % 997 == 0) ? "x" i : i * 7
            printf "%d,\"name %d, quoted%s\",%s,line %d\n", i, i, suffix, amount, i
        }
        for (i = 1; i <= 5; i++) printf "%d,dup,1,dup\n", i * 1000
    }' > "$dir/data.csv"
    cat > "$dir/schema.json" <<'JSON'
{"columns":[{"name":"id","type":"integer","required":true,"unique":true},
            {"name":"name","type":"text"},{"name":"amount","type":"integer"},{"name":"note"}]}
JSON
    bad=$((rows / 997))
    dups=5
    valid=$((rows - bad))
}

# kill_runs KILLS MAX_MS REPORT
# starts the caller's `run` KILLS times (log in $work/run-K.log), SIGKILLs each 300 ms plus a
# random 0..MAX_MS ms in, and calls REPORT K after each kill. A resumed import has less left to
# do: a run that finishes before its kill ends the loop (running the command again would rightly
# start a second import of the same file), with finished=K and status=its exit status.
# Afterwards killed holds the kills made.
kill_runs() {
    local count=$1 max_ms=$2 report=$3 k pid ended
    finished="" status="" killed=0
    for k in $(seq 1 "$count"); do
        ( run >"$work/run-$k.log" 2>&1 ) &
        pid=$!
        sleep "$(awk -v s="$RANDOM" -v m="$max_ms" 'BEGIN { printf "%.3f", 0.3 + (s % (m + 1)) / 1000 }')"
        kill -9 "$pid" 2>/dev/null || true
        ended=0
        wait "$pid" 2>/dev/null || ended=$?
        if [ "$ended" -ne 137 ]; then
            finished=$k status=$ended
            echo "run $k finished before its kill (exit $status)"
            return
        fi
        killed=$k
        "$report" "$k"
    done
}
