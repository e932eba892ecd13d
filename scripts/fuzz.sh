#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses under Fuzz/.
#   scripts/fuzz.sh [SECONDS] [NAME...]     default: 60 s each, every harness
#   FUZZ_RUNS=N scripts/fuzz.sh ...         also stop each harness after N executions
# Layout of a harness: Fuzz/<name>/harness.swift (defines LLVMFuzzerTestOneInput and does not
# import the codec module: the codec's sources are compiled into the same module),
# Fuzz/<name>/sources.txt (source directories to compile with it, one per line),
# Fuzz/<name>/corpus/ (seed inputs, committed) and optionally Fuzz/<name>/dict.
# Source lines may name single files, for a harness that needs a few pure files of a large
# target. Fuzz/<name>/modules.txt (optional) lists modules those files import, one
# "Module Sources/Dir" a line in dependency order; each is built once, instrumented the same
# way, into Fuzz/out/modules/ and rebuilt when one of its sources changes.
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
modules=Fuzz/out/modules
mkdir -p "$modules"
includes+=(-I "$modules")
build_module() {  # NAME DIR: a static library and .swiftmodule with fuzzing instrumentation
    local lib=$modules/lib$1.a
    if [ "$rebuilt" -eq 0 ] && [ -f "$lib" ] && [ -z "$(find "$2" -name '*.swift' -newer "$lib" | head -1)" ]; then
        return 0
    fi
    rebuilt=1  # the modules listed after this one import it
    rm -f "$lib"
    echo "== building module $1"
    local files=()
    while IFS= read -r f; do files+=("$f"); done < <(find "$2" -name '*.swift' | sort)
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$1" "${includes[@]}" \
        -emit-module -emit-module-path "$modules/$1.swiftmodule" -emit-library -static -o "$lib" \
        "${files[@]}" 2>&1 | grep -v "Cannot export local symbol" || true
    [ -f "$lib" ]
}
status=0
for name in "${names[@]}"; do
    dir=Fuzz/$name; out=Fuzz/out/$name
    mkdir -p "$out/corpus" "$out/crashes"
    sources=()
    while read -r src; do
        [ -n "$src" ] || continue
        while IFS= read -r f; do sources+=("$f"); done < <(find "$src" -name '*.swift' | sort)
    done < "$dir/sources.txt"
    libs=(); rebuilt=0
    if [ -f "$dir/modules.txt" ]; then
        while read -r module src; do
            [ -n "$module" ] || continue
            build_module "$module" "$src" || { echo "build of module $module failed"; status=1; continue 2; }
            libs=("$modules/lib$module.a" "${libs[@]}")  # a static library before those it uses
        done < "$dir/modules.txt"
    fi
    echo "== building $name (${#sources[@]} source files)"
    rm -f "$out/fuzzer"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$name" \
        "${includes[@]}" -lz -lssl -lcrypto -lsqlite3 -lpq \
        "$dir/harness.swift" "${sources[@]}" "${libs[@]}" -o "$out/fuzzer" 2>&1 | grep -v "Cannot export local symbol" || true
    [ -x "$out/fuzzer" ] || { echo "build of $name failed"; status=1; continue; }
    dict=(); [ -f "$dir/dict" ] && dict=(-dict="$dir/dict")
    runs_limit=(); [ -n "${FUZZ_RUNS:-}" ] && runs_limit=(-runs="$FUZZ_RUNS")
    echo "== running $name for ${seconds}s"
    set +e
    started=$SECONDS
    "$out/fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/crashes/" \
        "${dict[@]}" "${runs_limit[@]}" "$out/corpus" "$dir/corpus" > "$out/log.txt" 2>&1
    rc=$?
    elapsed=$((SECONDS - started))
    set -e
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$out/log.txt" | grep -Eo '[0-9]+$' || echo "?")
    crashes=$(find "$out/crashes" -type f | wc -l)
    echo "$name: $runs executions in ${elapsed}s, $crashes crash files (exit $rc)"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
