#!/usr/bin/env bash
# Parse-only throughput of the CSV reader: compiles CSVCodec with a tiny driver (-O, no
# SwiftPM product needed) and parses a generated 8-column file. Reports rows per CPU-second
# of the parsing thread (stable on a shared machine) and wall-clock rows/s.
#   scripts/bench-csv.sh [ROWS]        default 1,000,000
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
out=.build/bench-csv
mkdir -p "$out"
cat > "$out/main.swift" <<'SWIFT'
import Glibc
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
let rows = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 1_000_000
let input = CSVBenchmark.sampleFile(rows: rows)
var bestWall = Double.infinity
var bestCPU = Double.infinity
var result = (records: 0, checksum: 0, seconds: 0.0)
for _ in 0..<5 {
    let c0 = cpuSeconds()
    result = CSVBenchmark.parse(input)
    bestCPU = min(bestCPU, cpuSeconds() - c0)
    bestWall = min(bestWall, result.seconds)
}
let mib = Double(input.count) / 1_048_576
print("csv parse: \(result.records) records, \(Int(mib)) MiB; best of 5: \(Int(Double(result.records) / bestCPU)) rows/s per CPU-second (\(Int(mib / bestCPU)) MiB/s), \(Int(Double(result.records) / bestWall)) rows/s wall")
SWIFT
swiftc -O -wmo -module-name CSVBench Sources/CSVCodec/*.swift "$out/main.swift" -o "$out/bench"
"$out/bench" "$rows"
