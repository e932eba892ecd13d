/// One record: a view of field ranges inside the reader's buffer, made without copying.
///
/// A record is valid until the next call to `feed`, `next` or `finish` on the reader that
/// returned it; after that its bytes may be overwritten (it never reads freed memory, but it
/// may show other bytes). Bind or copy what you need before reading on.
///
/// Quoted fields are already unquoted and their doubled quotes undone; the bytes of every
/// field of a record that `next()` returned are valid UTF-8.
public struct CSVRecord {
    @usableFromInline let storage: CSVStorage
    /// The number of fields.
    public let count: Int
    /// The physical line (1-based) on which the record starts.
    public let line: Int
    /// Where the next record starts: the byte offset just after this record's line end and
    /// the line number there. Store it as the import checkpoint.
    public let end: CSVPosition

    @usableFromInline init(storage: CSVStorage, count: Int, line: Int, end: CSVPosition) {
        self.storage = storage
        self.count = count
        self.line = line
        self.end = end
    }

    /// The byte offset just after this record (`end.offset`).
    @inlinable public var endOffset: Int64 { end.offset }

    /// Calls `body` with the bytes of field `index` (0-based), valid only during the call:
    /// bind them to a statement or parse them there.
    @inlinable
    public func withBytes<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(index >= 0 && index < count, "CSVRecord field index out of range")
        let field = storage.fields[index]
        return try body(UnsafeRawBufferPointer(start: storage.bytes + field.start, count: field.end - field.start))
    }

    /// The length in bytes of field `index`.
    @inlinable
    public func byteCount(at index: Int) -> Int {
        precondition(index >= 0 && index < count, "CSVRecord field index out of range")
        let field = storage.fields[index]
        return field.end - field.start
    }

    /// Whether field `index` was written in quotes (so `""` can be told from an empty field).
    @inlinable
    public func isQuoted(at index: Int) -> Bool {
        precondition(index >= 0 && index < count, "CSVRecord field index out of range")
        return storage.fields[index].flags & CSVFieldBounds.quoted != 0
    }

    /// Whether field `index` holds only ASCII bytes (so byte count equals character count).
    @inlinable
    public func isASCII(at index: Int) -> Bool {
        precondition(index >= 0 && index < count, "CSVRecord field index out of range")
        return storage.fields[index].flags & CSVFieldBounds.nonASCII == 0
    }

    /// Field `index` as a String (allocates; prefer `withBytes` on hot paths).
    public func string(at index: Int) -> String {
        withBytes(at: index) { bytes in String(decoding: bytes, as: UTF8.self) }
    }

    /// Field `index` as an array of bytes (allocates).
    public func bytes(at index: Int) -> [UInt8] {
        withBytes(at: index) { bytes in Array(bytes) }
    }

    /// Every field as a String (allocates; for tests and small files).
    public var strings: [String] { (0..<count).map { string(at: $0) } }
}
