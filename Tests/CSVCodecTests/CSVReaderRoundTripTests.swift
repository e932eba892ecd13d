import Testing
import CSVCodec

/// Random tables written as RFC 4180 text (random quoting, line ends, delimiter, BOM) must
/// read back exactly, with the right line numbers and offsets, whatever the chunking, with
/// the delimiter given or detected.
struct CSVReaderRoundTripTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let alphabet: [String] = ["a", "b", "Z", "0", " ", "\"", ",", ";", "\t", "|", "\r", "\n", "\r\n", "é", "€", "😀"]

    static func field(_ g: inout Generator) -> String {
        let length = Int.random(in: 0...6, using: &g)
        return (0..<length).map { _ in alphabet.randomElement(using: &g) ?? "a" }.joined()
    }

    static func physicalLines(_ value: String) -> Int {
        var n = 0
        var previousCR = false
        for b in value.utf8 {
            if b == 0x0D { n += 1 }
            if b == 0x0A && !previousCR { n += 1 }
            previousCR = b == 0x0D
        }
        return n
    }

    @Test func randomTablesReadBackExactly() {
        var g = Generator(state: 42)
        for round in 0..<300 {
            let columns = Int.random(in: 1...4, using: &g)
            let rows = Int.random(in: 1...8, using: &g)
            let header = (0..<columns).map { "c\($0)" }
            var table = [header]
            for _ in 0..<rows { table.append((0..<columns).map { _ in Self.field(&g) }) }
            let delimiter = [",", ";", "\t", "|"].randomElement(using: &g) ?? ","
            // Line numbers: recompute from what was written instead of trusting the writer.
            var bytes: [UInt8] = Bool.random(using: &g) ? [0xEF, 0xBB, 0xBF] : []
            var lines: [Int] = []
            var ends: [Int] = []
            var line = 1
            for (r, record) in table.enumerated() {
                lines.append(line)
                for (i, value) in record.enumerated() {
                    if i > 0 { bytes += Array(delimiter.utf8) }
                    let special = value.utf8.contains { [0x22, 0x2C, 0x3B, 0x09, 0x7C, 0x0D, 0x0A].contains($0) }
                    if special || (record.count == 1 && value.isEmpty) || Int.random(in: 0..<4, using: &g) == 0 {
                        bytes += [0x22]
                        for b in value.utf8 { bytes += b == 0x22 ? [0x22, 0x22] : [b] }
                        bytes += [0x22]
                    } else {
                        bytes += Array(value.utf8)
                    }
                    line += Self.physicalLines(value)
                }
                if r < table.count - 1 || Bool.random(using: &g) {
                    bytes += Array((["\n", "\r\n", "\r"].randomElement(using: &g) ?? "\n").utf8)
                    line += 1
                }
                ends.append(bytes.count)
            }
            var expected: [Event] = [.header(header)]
            for r in 1..<table.count {
                let endLine = r + 1 < lines.count ? lines[r + 1] : line
                expected.append(.record(line: lines[r], fields: table[r], end: CSVPosition(offset: Int64(ends[r]), line: endLine)))
            }
            // Half the rounds detect the delimiter: every unquoted candidate byte is a real delimiter.
            let configuration = CSVConfiguration(delimiter: Bool.random(using: &g) ? delimiter.utf8.first : nil)
            let cuts = (0..<Int.random(in: 0...5, using: &g)).map { _ in Int.random(in: 0...bytes.count, using: &g) }.sorted()
            let events = read(bytes, cuts: cuts, configuration: configuration)
            if events != expected {
                Issue.record("round \(round), cuts \(cuts): \(events) != \(expected)")
                return
            }
        }
    }
}
