/// A parse-only benchmark for the reader, used by `scripts/bench-csv.sh` (no timing in tests).
public enum CSVBenchmark {
    /// A deterministic CSV file of `rows` records and 8 columns with a header: integers, short
    /// names, e-mail addresses, a status, amounts, booleans, dates and timestamps, with a
    /// quoted field containing a comma every 10th row (like typical exports).
    public static func sampleFile(rows: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows * 90 + 64)
        out.append(contentsOf: "id,name,email,status,amount,active,day,at\n".utf8)
        let statuses = ["new", "paid", "shipped", "cancelled"]
        for i in 1...max(1, rows) {
            let name = i % 10 == 0 ? "\"Smith, J\(i % 97)\"" : "user\(i % 1000)"
            let line = "\(i),\(name),user\(i)@example.com,\(statuses[i % 4]),\(i % 10000).\(i % 100),"
                + "\(i % 2 == 0 ? "true" : "false"),2024-\(pad(i % 12 + 1))-\(pad(i % 28 + 1)),"
                + "2024-01-\(pad(i % 28 + 1))T\(pad(i % 24)):\(pad(i % 60)):00Z\n"
            out.append(contentsOf: line.utf8)
        }
        return out
    }

    static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Parses `input` fed in chunks of `chunkSize` bytes, touching every field's bytes, and
    /// returns the records read, a checksum of field lengths (so work is not optimized
    /// away) and the elapsed time in seconds.
    public static func parse(_ input: [UInt8], chunkSize: Int = 64 * 1024) -> (records: Int, checksum: Int, seconds: Double) {
        let clock = ContinuousClock()
        var records = 0
        var checksum = 0
        let start = clock.now
        var reader = CSVReader()
        input.withUnsafeBytes { all in
            var offset = 0
            var done = false
            while !done {
                if offset < all.count {
                    let n = min(chunkSize, all.count - offset)
                    reader.feed(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                    offset += n
                } else {
                    reader.finish()
                }
                inner: while true {
                    do throws(CSVError) {
                        switch try reader.next() {
                        case .record(let record):
                            records += 1
                            for i in 0..<record.count { checksum &+= record.withBytes(at: i) { $0.count } }
                        case .header: break
                        case .needMoreData: break inner
                        case .end:
                            done = true
                            break inner
                        }
                    } catch {
                        if error.isFatal {
                            done = true
                            break inner
                        }
                    }
                }
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (records, checksum, seconds)
    }
}
