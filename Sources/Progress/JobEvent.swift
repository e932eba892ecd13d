/// One published change of a job: the snapshot with a `type` in front (docs/PROTOCOL.md).
/// Its JSON is encoded once, at creation, and the same bytes go to every subscriber.
public struct JobEvent: Sendable {
    /// What changed.
    public enum EventType: String, Sendable {
        /// Counts moved.
        case progress
        /// State or message changed; never coalesced or dropped.
        case state
        /// Sent first on subscribe, or instead of missed events (`resync`).
        case snapshot
    }

    public let type: EventType
    public let snapshot: JobSnapshot
    /// True for a snapshot that replaces everything a client that fell behind knew.
    public let resync: Bool
    /// `{"type":…,"seq":…,"id":…,…snapshot fields…}` in UTF-8.
    public let json: [UInt8]

    /// The job id.
    public var jobID: String { snapshot.id }
    /// The event's sequence number (the snapshot's).
    public var seq: Int64 { snapshot.seq }
    /// Whether this is the job's last event.
    public var isTerminal: Bool { snapshot.state.isTerminal }

    public init(type: EventType, snapshot: JobSnapshot, resync: Bool = false) {
        self.type = type
        self.snapshot = snapshot
        self.resync = resync
        var w = JSONWriter()
        w.raw("{\"type\":")
        w.string(type.rawValue)
        if resync { w.raw(",\"resync\":true") }
        w.raw(",\"seq\":")
        w.int(snapshot.seq)
        w.raw(",\"id\":")
        w.string(snapshot.id)
        snapshot.encodeFields(into: &w)
        w.endObject()
        json = w.bytes
    }

    /// The JSON as a String (for text WebSocket frames and logs).
    public var jsonString: String { String(decoding: json, as: UTF8.self) }
}
