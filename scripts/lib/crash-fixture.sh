# The file and schema of the crash tests (scripts/e2e/crash-import.sh, scripts/e2e/postgres.sh).
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
