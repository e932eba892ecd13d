/// One job's progress record, field for field the snapshot of docs/PROTOCOL.md. The job store
/// persists every field; events carry it.
public struct JobSnapshot: Sendable, Equatable {
    /// 12 lowercase base-36 characters, e.g. `k3v9q2m8x4c7`.
    public var id: String
    /// Per job: 1, 2, 3, … with no holes; every change that is published gets the next one.
    public var seq: Int64
    public var kind: JobKind
    /// A display name: the file name for imports, the producer's name for external jobs.
    public var name: String
    public var state: JobState
    /// The current phase ("Importing rows"), or nil.
    public var message: String?
    /// 0…100, or nil when nothing tells how far along the job is.
    public var percent: Double?
    public var processed: Int64
    public var succeeded: Int64
    public var failed: Int64
    /// Exact when `totalExact`, otherwise estimated from bytes (or nil when unknown).
    public var total: Int64?
    public var totalExact: Bool
    public var bytesRead: Int64?
    public var bytesTotal: Int64?
    /// Rows per second, smoothed.
    public var rate: Double?
    /// Seconds left, or nil when unknown.
    public var eta: Double?
    public var createdAt: Timestamp
    public var startedAt: Timestamp?
    public var updatedAt: Timestamp
    public var finishedAt: Timestamp?
    /// Why the job failed; nil unless `state == .failed`.
    public var error: JobError?
    /// The table an import writes to.
    public var table: String?
    /// A free JSON object published by an external producer.
    public var data: JSONText?

    /// A new pending job with zero counts.
    public init(id: String, kind: JobKind, name: String, createdAt: Timestamp, message: String? = nil,
                table: String? = nil, total: Int64? = nil, totalExact: Bool = false,
                bytesTotal: Int64? = nil, data: JSONText? = nil) {
        self.id = id
        self.seq = 1
        self.kind = kind
        self.name = name
        self.state = .pending
        self.message = message
        self.percent = nil
        self.processed = 0
        self.succeeded = 0
        self.failed = 0
        self.total = total
        self.totalExact = totalExact
        self.bytesRead = bytesTotal == nil ? nil : 0
        self.bytesTotal = bytesTotal
        self.rate = nil
        self.eta = nil
        self.createdAt = createdAt
        self.startedAt = nil
        self.updatedAt = createdAt
        self.finishedAt = nil
        self.error = nil
        self.table = table
        self.data = data
    }

    /// The snapshot as a JSON object (`{"id":…,"seq":…}`), as `GET /api/jobs/{id}` returns it.
    public var json: [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.raw("\"id\":")
        writer.string(id)
        writer.raw(",\"seq\":")
        writer.int(seq)
        encodeFields(into: &writer)
        writer.endObject()
        return writer.bytes
    }

    /// Writes every field after `id` and `seq`, each preceded by a comma.
    public func encodeFields(into w: inout JSONWriter) {
        w.raw(",\"kind\":"); w.string(kind.rawValue)
        w.raw(",\"name\":"); w.string(name)
        w.raw(",\"state\":"); w.string(state.rawValue)
        w.raw(",\"message\":"); w.string(message)
        w.raw(",\"percent\":"); w.number(percent, decimals: 2)
        w.raw(",\"processed\":"); w.int(processed)
        w.raw(",\"succeeded\":"); w.int(succeeded)
        w.raw(",\"failed\":"); w.int(failed)
        w.raw(",\"total\":"); w.int(total)
        w.raw(",\"totalExact\":"); w.bool(totalExact)
        w.raw(",\"bytesRead\":"); w.int(bytesRead)
        w.raw(",\"bytesTotal\":"); w.int(bytesTotal)
        w.raw(",\"rate\":"); w.number(rate, decimals: 1)
        w.raw(",\"eta\":"); w.number(eta, decimals: 1)
        w.raw(",\"createdAt\":"); timestamp(createdAt, &w)
        w.raw(",\"startedAt\":"); timestamp(startedAt, &w)
        w.raw(",\"updatedAt\":"); timestamp(updatedAt, &w)
        w.raw(",\"finishedAt\":"); timestamp(finishedAt, &w)
        w.raw(",\"error\":")
        if let error {
            w.raw("{\"code\":"); w.string(error.code)
            w.raw(",\"message\":"); w.string(error.message)
            w.endObject()
        } else {
            w.null()
        }
        w.raw(",\"table\":"); w.string(table)
        w.raw(",\"data\":")
        if let data { w.raw(json: data.raw.utf8) } else { w.null() }
    }

    private func timestamp(_ t: Timestamp?, _ w: inout JSONWriter) {
        guard let t else { return w.null() }
        w.bytes.append(UInt8(ascii: "\""))
        t.appendRFC3339(to: &w.bytes)
        w.bytes.append(UInt8(ascii: "\""))
    }
}

/// Generates job ids: 12 characters of base 36 from the system's random generator (about 62
/// bits, so collisions are not a practical concern).
public enum JobID {
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// A new random id.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12)
        for _ in 0..<12 {
            bytes.append(alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `text` has the shape of a job id (so a path segment can be rejected early).
    @inlinable
    public static func isValid(_ text: some StringProtocol) -> Bool {
        var count = 0
        for byte in text.utf8 {
            // Digits and lowercase letters: the alphabet above, without searching it per byte
            // (this runs on every request that names a job).
            guard (0x30...0x39).contains(byte) || (0x61...0x7A).contains(byte) else { return false }
            count += 1
            if count > 12 { return false }
        }
        return count == 12
    }
}
