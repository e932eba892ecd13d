#if canImport(Glibc)
import Glibc
#endif

// Parsers that read a cell's bytes in place: no String is made on the hot path.

/// Byte-level parsing of cell values (public for tests and for other sinks).
public enum CellParser {
    /// The bytes without leading and trailing spaces and tabs.
    @inlinable
    public static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var lower = 0
        var upper = bytes.count
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[lower..<upper])
    }

    /// A decimal integer with an optional sign, or nil (no spaces, separators or fraction).
    @inlinable
    public static func integer(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        let n = bytes.count
        var negative = false
        if n > 0 && (bytes[0] == 0x2D || bytes[0] == 0x2B) {
            negative = bytes[0] == 0x2D
            i = 1
        }
        guard i < n, n - i <= 20 else { return nil }
        var magnitude: UInt64 = 0
        while i < n {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            magnitude = s
            i += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Powers of ten that a Double holds exactly (Clinger's fast path).
    @usableFromInline
    static let exactPowers: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

    /// A finite decimal number `[+-]digits[.digits][(e|E)[+-]digits]`, or nil. Common short
    /// values are converted exactly in place; the rest go through `strtod` (correctly
    /// rounded) on a stack copy.
    public static func real(_ bytes: UnsafeRawBufferPointer) -> Double? {
        let n = bytes.count
        guard n > 0, n <= 400 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == 0x2D || bytes[0] == 0x2B {
            negative = bytes[0] == 0x2D
            i = 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var significant = 0
        var scale = 0
        var sawDigit = false
        while i < n, bytes[i] &- 0x30 < 10 {
            sawDigit = true
            let d = UInt64(bytes[i] &- 0x30)
            if significant > 0 || d != 0 { significant += 1 }
            if significant <= 19 { mantissa = mantissa &* 10 &+ d } else { scale += 1 }
            digits += 1
            i += 1
        }
        if i < n, bytes[i] == 0x2E {
            i += 1
            while i < n, bytes[i] &- 0x30 < 10 {
                sawDigit = true
                let d = UInt64(bytes[i] &- 0x30)
                if significant > 0 || d != 0 { significant += 1 }
                if significant <= 19 {
                    mantissa = mantissa &* 10 &+ d
                    scale -= 1
                }
                digits += 1
                i += 1
            }
        }
        guard sawDigit else { return nil }
        var exponent = 0
        if i < n, bytes[i] == 0x65 || bytes[i] == 0x45 {
            i += 1
            var expNegative = false
            if i < n, bytes[i] == 0x2D || bytes[i] == 0x2B {
                expNegative = bytes[i] == 0x2D
                i += 1
            }
            var sawExpDigit = false
            while i < n, bytes[i] &- 0x30 < 10 {
                sawExpDigit = true
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[i] &- 0x30) }
                i += 1
            }
            guard sawExpDigit else { return nil }
            if expNegative { exponent = -exponent }
        }
        guard i == n else { return nil }
        let power = scale + exponent
        if significant <= 15 && power >= -22 && power <= 22 {
            var value = Double(mantissa)
            if power < 0 { value /= exactPowers[-power] } else { value *= exactPowers[power] }
            return negative ? -value : value
        }
        return slowReal(bytes)
    }

    static func slowReal(_ bytes: UnsafeRawBufferPointer) -> Double? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer -> Double? in
            guard let base = buffer.baseAddress else { return nil }
            for i in 0..<bytes.count { base[i] = CChar(bitPattern: bytes[i]) }
            base[bytes.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(base, &end)
            guard let end, end == base + bytes.count, value.isFinite else { return nil }
            return value
        }
    }

    /// true/false, t/f, yes/no, y/n, on/off, 1/0 in any letter case, or nil.
    public static func boolean(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        guard bytes.count >= 1, bytes.count <= 5 else { return nil }
        var word: UInt64 = 0
        for b in bytes {
            guard b != 0 else { return nil }
            let lower = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
            word = word << 8 | UInt64(lower)
        }
        switch word {
        case 0x74_72_75_65, 0x74, 0x79_65_73, 0x79, 0x6F_6E, 0x31: return true            // true t yes y on 1
        case 0x66_61_6C_73_65, 0x66, 0x6E_6F, 0x6E, 0x6F_66_66, 0x30: return false     // false f no n off 0
        default: return nil
        }
    }

    /// Reads `count` decimal digits at `offset`, or nil.
    @inlinable @inline(__always)
    static func digits(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> Int? {
        guard offset + count <= bytes.count else { return nil }
        var value = 0
        for i in offset..<(offset + count) {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return nil }
            value = value * 10 + Int(d)
        }
        return value
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// A real calendar date `YYYY-MM-DD` (years 0001–9999), as (year, month, day), or nil.
    public static func date(_ bytes: UnsafeRawBufferPointer) -> (year: Int, month: Int, day: Int)? {
        guard bytes.count == 10 else { return nil }
        return datePrefix(bytes)
    }

    static func datePrefix(_ bytes: UnsafeRawBufferPointer) -> (year: Int, month: Int, day: Int)? {
        guard bytes.count >= 10, bytes[4] == 0x2D, bytes[7] == 0x2D,
              let year = digits(bytes, 0, 4), let month = digits(bytes, 5, 2), let day = digits(bytes, 8, 2),
              year >= 1, month >= 1, month <= 12, day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        return (year, month, day)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// An RFC 3339 / ISO 8601 timestamp `YYYY-MM-DD(T| )HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM]`
    /// as UTC seconds since 1970 and microseconds. `t`/`z` may be lower case; no offset means
    /// UTC; digits beyond microseconds are dropped; leap second 60 is refused.
    public static func timestamp(_ bytes: UnsafeRawBufferPointer) -> (seconds: Int64, micros: Int)? {
        guard bytes.count >= 16, let (year, month, day) = datePrefix(bytes) else { return nil }
        let separator = bytes[10]
        guard separator == 0x54 || separator == 0x74 || separator == 0x20,
              let hour = digits(bytes, 11, 2), bytes[13] == 0x3A, let minute = digits(bytes, 14, 2),
              hour <= 23, minute <= 59
        else { return nil }
        var i = 16
        var second = 0
        var micros = 0
        if i < bytes.count && bytes[i] == 0x3A {
            guard let s = digits(bytes, i + 1, 2), s <= 59 else { return nil }
            second = s
            i += 3
            if i < bytes.count && (bytes[i] == 0x2E || bytes[i] == 0x2C) {
                i += 1
                var count = 0
                while i < bytes.count, bytes[i] &- 0x30 < 10 {
                    if count < 6 { micros = micros * 10 + Int(bytes[i] &- 0x30) }
                    count += 1
                    i += 1
                }
                guard count > 0 else { return nil }
                var pad = count
                while pad < 6 {
                    micros *= 10
                    pad += 1
                }
            }
        }
        var offsetMinutes = 0
        if i < bytes.count {
            let sign = bytes[i]
            if sign == 0x5A || sign == 0x7A {
                i += 1
            } else if sign == 0x2B || sign == 0x2D {
                guard let oh = digits(bytes, i + 1, 2), oh <= 23 else { return nil }
                var j = i + 3
                if j < bytes.count && bytes[j] == 0x3A { j += 1 }
                guard let om = digits(bytes, j, 2), om <= 59 else { return nil }
                offsetMinutes = (oh * 60 + om) * (sign == 0x2D ? -1 : 1)
                i = j + 2
            } else {
                return nil
            }
        }
        guard i == bytes.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        // The UTC form must still be a four-digit year.
        guard seconds >= minSeconds, seconds <= maxSeconds else { return nil }
        return (seconds, micros)
    }

    static let minSeconds = Int64(daysFromCivil(1, 1, 1)) * 86_400
    static let maxSeconds = Int64(daysFromCivil(9999, 12, 31)) * 86_400 + 86_399

    /// Writes the UTC form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (27 bytes) at `out`.
    public static func formatTimestamp(seconds: Int64, micros: Int, into out: UnsafeMutablePointer<UInt8>) {
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        var rest = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = civilFromDays(days)
        let hour = rest / 3600
        rest %= 3600
        func put(_ value: Int, _ width: Int, _ at: Int) {
            var v = value
            var k = width - 1
            while k >= 0 {
                out[at + k] = UInt8(0x30 + v % 10)
                v /= 10
                k -= 1
            }
        }
        put(year, 4, 0); out[4] = 0x2D; put(month, 2, 5); out[7] = 0x2D; put(day, 2, 8)
        out[10] = 0x54; put(hour, 2, 11); out[13] = 0x3A; put(rest / 60, 2, 14); out[16] = 0x3A
        put(rest % 60, 2, 17); out[19] = 0x2E; put(micros, 6, 20); out[26] = 0x5A
    }

    /// The number of Unicode scalars in valid UTF-8 bytes.
    @inlinable
    public static func scalarCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 0
        for b in bytes where b & 0xC0 != 0x80 { count += 1 }
        return count
    }

    /// A 64-bit hash of bytes with a type tag, for uniqueness sets (not for security).
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, tag: UInt64) -> UInt64 {
        var h: UInt64 = mix(0x9E37_79B9_7F4A_7C15 ^ tag &* 0xBF58_476D_1CE4_E5B9)
        var i = 0
        while i + 8 <= bytes.count {
            h = mix(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        // The length goes in last, so a tail of zero bytes differs from no tail.
        return mix(mix(h ^ tail) ^ UInt64(bytes.count) &* 0x94D0_49BB_1331_11EB)
    }

    /// A 64-bit hash of a fixed-size value with a type tag.
    @inlinable
    public static func hash(_ value: UInt64, tag: UInt64) -> UInt64 {
        mix(mix(0x9E37_79B9_7F4A_7C15 ^ tag &* 0xBF58_476D_1CE4_E5B9 ^ value) ^ 0x94D0_49BB_1331_11EB)
    }

    /// SplitMix64's finalizer: every input bit affects every output bit.
    @inlinable
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 31)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
