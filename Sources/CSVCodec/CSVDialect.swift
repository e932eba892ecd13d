/// Dialect helpers: delimiter detection and UTF-8 checking, usable on their own.
public enum CSVDialect {
    /// The delimiters detection chooses from, in order of preference on a tie.
    public static let candidates: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")]

    /// Picks the delimiter that splits the sample's lines most consistently.
    ///
    /// For each candidate, counts its occurrences outside quotes on each of the first 100
    /// non-blank lines; the winner is the candidate whose most frequent non-zero count holds
    /// on the most lines, then the one with the larger count, then the earlier candidate.
    /// A sample where no candidate appears gives `,` (a one-column file).
    ///
    /// - Parameter isComplete: whether the sample is the whole input; if not, the last
    ///   (possibly cut) line is ignored when there is more than one.
    public static func detectDelimiter(in sample: UnsafeRawBufferPointer, isComplete: Bool) -> UInt8 {
        var lineCounts: [[Int]] = []
        var current = [Int](repeating: 0, count: candidates.count)
        var inQuotes = false
        var lineHasBytes = false
        var i = 0
        while i < sample.count && lineCounts.count < 100 {
            let b = sample[i]
            if b == 0x22 {
                inQuotes.toggle()
                lineHasBytes = true
            } else if !inQuotes && (b == 0x0A || b == 0x0D) {
                if lineHasBytes { lineCounts.append(current) }
                current = [Int](repeating: 0, count: candidates.count)
                lineHasBytes = false
            } else {
                lineHasBytes = true
                if !inQuotes, let k = candidates.firstIndex(of: b) { current[k] += 1 }
            }
            i += 1
        }
        if lineHasBytes && (isComplete || lineCounts.isEmpty) && lineCounts.count < 100 { lineCounts.append(current) }

        var best = candidates[0]
        var bestScore = (lines: 0, count: 0)
        for (k, candidate) in candidates.enumerated() {
            var frequency: [Int: Int] = [:]
            for counts in lineCounts where counts[k] > 0 { frequency[counts[k], default: 0] += 1 }
            var score = (lines: 0, count: 0)
            for (count, lines) in frequency where lines > score.lines || (lines == score.lines && count > score.count) {
                score = (lines, count)
            }
            if score.lines > bestScore.lines || (score.lines == bestScore.lines && score.count > bestScore.count) {
                best = candidate
                bestScore = score
            }
        }
        return best
    }

    /// Picks the delimiter for a sample held in an array (see the buffer version).
    public static func detectDelimiter(in sample: [UInt8], isComplete: Bool) -> UInt8 {
        sample.withUnsafeBytes { detectDelimiter(in: $0, isComplete: isComplete) }
    }

    /// The index of the first byte in `from..<to` that breaks UTF-8 (RFC 3629: no overlong
    /// forms, no surrogates, nothing above U+10FFFF, no cut sequence), or nil if valid.
    @usableFromInline
    static func firstInvalidUTF8(_ bytes: UnsafePointer<UInt8>, from: Int, to end: Int) -> Int? {
        var i = from
        while i < end {
            let b = bytes[i]
            if b < 0x80 {
                i += 1
                continue
            }
            var need: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; high = 0x9F
            case 0xF0: need = 3; low = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; high = 0x8F
            default: return i
            }
            if end - i <= need { return i }
            let second = bytes[i + 1]
            if second < low || second > high { return i }
            var k = 2
            while k <= need {
                if bytes[i + k] & 0xC0 != 0x80 { return i }
                k += 1
            }
            i += need + 1
        }
        return nil
    }

    /// Whether `bytes` is valid UTF-8.
    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        return firstInvalidUTF8(base.assumingMemoryBound(to: UInt8.self), from: 0, to: bytes.count) == nil
    }
}
