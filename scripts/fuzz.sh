#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses under Fuzz/.
#   scripts/fuzz.sh [SECONDS] [NAME...]     default: 60 s each, every harness
# Layout of a harness: Fuzz/<name>/harness.swift (defines LLVMFuzzerTestOneInput and does not
# import the codec module: the codec's sources are compiled into the same module),
# Fuzz/<name>/sources.txt (source directories to compile with it, one per line),
# Fuzz/<name>/corpus/ (seed inputs, committed) and optionally Fuzz/<name>/dict.
# Binaries, the growing corpus and crash files go to Fuzz/out/<name>/ (not committed).
# Prints one summary line per harness: executions run and crashes found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for d in Fuzz/*/; do [ -f "$d/harness.swift" ] && names+=("$(basename "$d")"); done
fi
includes=()
for m in Sources/C*/; do includes+=(-I "$m"); done
includes+=(-I Sources/CSystem/include)
status=0
for name in "${names[@]}"; do
    dir=Fuzz/$name; out=Fuzz/out/$name
    mkdir -p "$out/corpus" "$out/crashes"
    sources=()
    while read -r src; do
        [ -n "$src" ] || continue
        while IFS= read -r f; do sources+=("$f"); done < <(find "$src" -name '*.swift' | sort)
    done < "$dir/sources.txt"
    echo "== building $name (${#sources[@]} source files)"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$name" \
        "${includes[@]}" -lz -lssl -lcrypto \
        "$dir/harness.swift" "${sources[@]}" -o "$out/fuzzer" 2>&1 | grep -v "Cannot export local symbol" || true
    [ -x "$out/fuzzer" ] || { echo "build of $name failed"; status=1; continue; }
    dict=(); [ -f "$dir/dict" ] && dict=(-dict="$dir/dict")
    echo "== running $name for ${seconds}s"
    set +e
    "$out/fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/crashes/" \
        "${dict[@]}" "$out/corpus" "$dir/corpus" > "$out/log.txt" 2>&1
    rc=$?
    set -e
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$out/log.txt" | grep -Eo '[0-9]+$' || echo "?")
    crashes=$(find "$out/crashes" -type f | wc -l)
    echo "$name: $runs executions in ${seconds}s, $crashes crash files (exit $rc)"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
