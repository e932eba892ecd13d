/// Incremental UTF-8 validation (RFC 3629) that can be fed a message piece by piece and fails on
/// the first byte that cannot start or continue a valid sequence, so a text message is refused
/// as soon as it goes wrong rather than when it ends (RFC 6455 §8.1, Autobahn 6.4.x).
///
/// Overlong forms, surrogates (U+D800-U+DFFF) and code points above U+10FFFF are invalid.
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current sequence.
    private var remaining: UInt8 = 0
    /// Bounds for the next byte: the first continuation byte is narrowed after E0, ED, F0, F4.
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// Whether the bytes so far end on a character boundary (a complete message is valid).
    public var isComplete: Bool { remaining == 0 }

    /// Validates the next piece; returns false at the first invalid byte. Once it has returned
    /// false the validator must not be used again without `reset()`.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if remaining == 0 {
                // ASCII fast path, eight bytes at a time.
                while index + 8 <= count {
                    let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index += 8
                }
                guard index < count else { return true }
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: remaining = 1; lower = 0x80; upper = 0xBF
                case 0xE0: remaining = 2; lower = 0xA0; upper = 0xBF
                case 0xE1...0xEC, 0xEE...0xEF: remaining = 2; lower = 0x80; upper = 0xBF
                case 0xED: remaining = 2; lower = 0x80; upper = 0x9F
                case 0xF0: remaining = 3; lower = 0x90; upper = 0xBF
                case 0xF1...0xF3: remaining = 3; lower = 0x80; upper = 0xBF
                case 0xF4: remaining = 3; lower = 0x80; upper = 0x8F
                default: return false
                }
            } else {
                let byte = bytes[index]
                index += 1
                guard byte >= lower && byte <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Convenience for arrays.
    public mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Starts over for a new message.
    public mutating func reset() { self = UTF8Validator() }
}
