/// Where one field lies in the reader's buffer, and what the scanner learnt about it.
@usableFromInline
struct CSVFieldBounds {
    @usableFromInline var start: Int
    @usableFromInline var end: Int
    @usableFromInline var flags: UInt8

    @usableFromInline static let nonASCII: UInt8 = 1
    @usableFromInline static let quoted: UInt8 = 2
    @usableFromInline static let escaped: UInt8 = 4

    @inlinable init(start: Int, end: Int, flags: UInt8) {
        self.start = start
        self.end = end
        self.flags = flags
    }
}

/// The reader's byte buffer and field table, in manually managed memory so that records
/// can view them without copy-on-write copies and without an allocation per record.
@usableFromInline
final class CSVStorage {
    @exclusivity(unchecked) @usableFromInline var bytes: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) @usableFromInline var count: Int
    @exclusivity(unchecked) var capacity: Int
    @exclusivity(unchecked) @usableFromInline var fields: UnsafeMutablePointer<CSVFieldBounds>
    @exclusivity(unchecked) var fieldCapacity: Int
    /// Byte classes for the scanner: 0 plain ASCII, 1 non-ASCII, 2 delimiter, then the
    /// bytes that stop a quoted field too (LF, CR, quote, NUL).
    let classes: UnsafeMutablePointer<UInt8>

    static let plain: UInt8 = 0
    static let high: UInt8 = 1
    static let delimiter: UInt8 = 2
    static let lineFeed: UInt8 = 3
    static let carriageReturn: UInt8 = 4
    static let quote: UInt8 = 5
    static let nul: UInt8 = 6

    init(capacity: Int = 4096) {
        self.capacity = max(capacity, 16)
        self.bytes = .allocate(capacity: self.capacity)
        self.count = 0
        self.fieldCapacity = 64
        self.fields = .allocate(capacity: 64)
        self.classes = .allocate(capacity: 256)
        setDelimiter(UInt8(ascii: ","))
    }

    deinit {
        bytes.deallocate()
        fields.deallocate()
        classes.deallocate()
    }

    /// Byte classes before a delimiter is chosen: ASCII plain, the upper half non-ASCII.
    static let baseClasses: [UInt8] = (0..<256).map { $0 >= 0x80 ? CSVStorage.high : CSVStorage.plain }

    func setDelimiter(_ delimiter: UInt8) {
        CSVStorage.baseClasses.withUnsafeBufferPointer { base in
            if let source = base.baseAddress { classes.update(from: source, count: 256) }
        }
        classes[Int(delimiter)] = CSVStorage.delimiter
        classes[0x0A] = CSVStorage.lineFeed
        classes[0x0D] = CSVStorage.carriageReturn
        classes[0x22] = CSVStorage.quote
        classes[0x00] = CSVStorage.nul
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    func discardPrefix(_ n: Int) {
        guard n > 0 else { return }
        let rest = count - n
        if rest > 0 { (bytes).update(from: bytes + n, count: rest) }
        count = rest
    }

    func append(_ chunk: UnsafeRawBufferPointer) {
        guard let source = chunk.baseAddress, chunk.count > 0 else { return }
        reserve(count + chunk.count)
        UnsafeMutableRawPointer(bytes + count).copyMemory(from: source, byteCount: chunk.count)
        count += chunk.count
    }

    func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBytes.update(from: bytes, count: count)
        bytes.deallocate()
        bytes = newBytes
        capacity = newCapacity
    }

    func reserveFields(_ needed: Int) {
        guard needed > fieldCapacity else { return }
        var newCapacity = fieldCapacity
        while newCapacity < needed { newCapacity *= 2 }
        let newFields = UnsafeMutablePointer<CSVFieldBounds>.allocate(capacity: newCapacity)
        newFields.moveInitialize(from: fields, count: fieldCapacity)
        fields.deallocate()
        fields = newFields
        fieldCapacity = newCapacity
    }
}
