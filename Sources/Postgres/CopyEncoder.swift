/// Builds `COPY … FROM STDIN` data in PostgreSQL's text format: fields separated by tabs,
/// rows ended by `\n`, NULL as `\N`, and backslash, tab, newline and carriage return escaped
/// with a backslash. Text is copied byte for byte otherwise (it is already valid UTF-8).
///
/// A value type holding one growing buffer; the caller flushes `bytes` to
/// `PostgresConnection.copy` when it is large enough and calls `removeAll`.
public struct CopyEncoder {
    /// The encoded rows so far.
    public private(set) var bytes: [UInt8] = []
    private var fieldsInRow = 0

    /// Creates an encoder whose buffer starts with room for `capacity` bytes.
    public init(capacity: Int = 1 << 18) {
        bytes.reserveCapacity(capacity)
    }

    /// Whether text can be encoded: PostgreSQL text values cannot hold the NUL character.
    public static func canEncode(_ text: UnsafeRawBufferPointer) -> Bool {
        !text.contains(0)
    }

    /// Appends a NULL field.
    public mutating func appendNull() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    /// Appends an integer field.
    public mutating func append(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Appends a finite floating-point field (shortest representation that reads back equal).
    public mutating func append(_ value: Double) {
        separate()
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Appends a boolean field (`t` or `f`).
    public mutating func append(_ value: Bool) {
        separate()
        bytes.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    /// Appends a text field, escaping what the text format requires. The caller checks
    /// `canEncode` first: a NUL byte would be sent as is and refused by the server.
    public mutating func appendText(_ text: UnsafeRawBufferPointer) {
        separate()
        var start = 0
        for i in 0..<text.count {
            let escaped: UInt8
            switch text[i] {
            case 0x5C: escaped = 0x5C                 // backslash
            case 0x09: escaped = UInt8(ascii: "t")
            case 0x0A: escaped = UInt8(ascii: "n")
            case 0x0D: escaped = UInt8(ascii: "r")
            default: continue
            }
            if i > start { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[start..<i])) }
            bytes.append(0x5C)
            bytes.append(escaped)
            start = i + 1
        }
        if text.count > start { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[start...])) }
    }

    /// Appends a text field from a String.
    public mutating func appendText(_ text: String) {
        var copy = text
        copy.withUTF8 { appendText(UnsafeRawBufferPointer($0)) }
    }

    /// Ends the current row.
    public mutating func endRow() {
        bytes.append(0x0A)
        fieldsInRow = 0
    }

    /// Forgets the current row's fields (the row was rejected half-way); `mark` is
    /// `bytes.count` before its first field.
    public mutating func discardRow(from mark: Int) {
        if mark >= 0, mark <= bytes.count { bytes.removeSubrange(mark...) }
        fieldsInRow = 0
    }

    /// Empties the buffer, keeping its capacity.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fieldsInRow = 0
    }

    private mutating func separate() {
        if fieldsInRow > 0 { bytes.append(0x09) }
        fieldsInRow += 1
    }
}
