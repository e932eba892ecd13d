/// What an event tells a subscriber (docs/PROTOCOL.md, "Events").
public enum HubEventType: String, Sendable, Hashable {
    /// Counts moved; a slow subscriber may receive only the latest of a run of these.
    case progress
    /// The state or the message changed; never coalesced with another event.
    case state
    /// The full snapshot, sent first on subscribe and instead of missed events.
    case snapshot
}

/// One change of a job's snapshot, as a producer hands it to a hub.
///
/// The producer owns the job model and its `seq` counter; the hub only needs the snapshot
/// already encoded as a JSON object, so it can stay ignorant of the job model and encode each
/// event once for every subscriber.
public struct HubUpdate: Sendable {
    /// The job id (the snapshot's `id`).
    public var job: String
    /// The snapshot's `seq`: 1, 2, 3, … per job, with no holes.
    public var seq: UInt64
    /// `.progress` or `.state`; `.snapshot` is reserved for what the hub sends on subscribe.
    public var type: HubEventType
    /// True when the snapshot's state is completed, failed or cancelled.
    public var isTerminal: Bool
    /// The snapshot's `state` (`"running"`), for answers that name it beside the events.
    public var state: String
    /// The snapshot as a JSON object (`{"id":…,"seq":…,…}`), UTF-8.
    public var snapshot: [UInt8]

    /// Creates an update; `snapshot` must be a JSON object whose `seq`, `id` and `state` match.
    public init(job: String, seq: UInt64, type: HubEventType, isTerminal: Bool, state: String = "",
                snapshot: [UInt8]) {
        self.job = job
        self.seq = seq
        self.type = type
        self.isTerminal = isTerminal
        self.state = state
        self.snapshot = snapshot
    }
}

/// The fields of an event that an encoder may need, before the event exists.
public struct HubEventDraft: Sendable {
    /// The job id.
    public let job: String
    /// The event's `seq` (for SSE's `id:` line).
    public let seq: UInt64
    /// The event's type (for SSE's `event:` line).
    public let type: HubEventType
    /// Whether the snapshot is in a terminal state.
    public let isTerminal: Bool
    /// Whether this is a snapshot sent because the subscriber was too far behind.
    public let isResync: Bool
    /// The event as a JSON object: `{"type":…,` followed by the snapshot's fields.
    public let json: [UInt8]

    /// Creates a draft (the hub makes them; public for encoder tests).
    public init(job: String, seq: UInt64, type: HubEventType, isTerminal: Bool, isResync: Bool, json: [UInt8]) {
        self.job = job
        self.seq = seq
        self.type = type
        self.isTerminal = isTerminal
        self.isResync = isResync
        self.json = json
    }
}

/// An event encoded for one transport, shared by every subscriber that uses it.
///
/// A class so that handing it out costs a reference count, and so that the wiring layer can
/// wrap whatever its connections write (the server's shared buffers) without Progress
/// knowing the type.
public protocol HubPayload: AnyObject, Sendable {}

/// A payload that is just bytes; enough for tests and for transports that copy anyway.
public final class HubBytes: HubPayload {
    /// The encoded bytes.
    public let bytes: [UInt8]

    /// Wraps `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// A transport encoding computed once per event and shared by every subscriber that uses it:
/// for example a WebSocket text frame or an SSE record.
public struct HubEncoder: Sendable {
    /// A name to look the encoding up by (`"ws"`, `"sse"`).
    public let name: String
    /// Turns the event into what the transport writes as it is.
    public let encode: @Sendable (HubEventDraft) -> any HubPayload

    /// Creates an encoder.
    public init(name: String, encode: @escaping @Sendable (HubEventDraft) -> any HubPayload) {
        self.name = name
        self.encode = encode
    }
}

/// A handle on one of a hub's encodings, from `ProgressHub.format(named:)`.
public struct HubFormat: Sendable, Hashable {
    /// The position of the encoding in the hub's encoder list.
    public let index: Int

    init(index: Int) { self.index = index }
}

/// An event as delivered: immutable, encoded once, and shared by every subscriber.
public final class HubEvent: Sendable {
    /// The job id.
    public let job: String
    /// The per-job sequence number.
    public let seq: UInt64
    /// The event type.
    public let type: HubEventType
    /// True when the job's state is terminal: no event follows it.
    public let isTerminal: Bool
    /// The job's state as the snapshot names it.
    public let state: String
    /// True for a snapshot that replaces events the subscriber missed.
    public let isResync: Bool
    /// The event as a JSON object: `{"type":"progress","seq":…,…}`.
    public let json: [UInt8]
    /// The event in each of the hub's encodings, in the hub's encoder order.
    let payloads: [any HubPayload]
    /// Where the snapshot's own fields start in `json` (after the `"type"` prefix).
    let bodyOffset: Int

    /// Creates the event, or nil when `snapshot` is not a JSON object.
    init?(job: String, seq: UInt64, type: HubEventType, isTerminal: Bool, isResync: Bool, state: String = "",
          snapshot: [UInt8], encoders: [HubEncoder]) {
        guard let (json, offset) = HubEvent.splice(type: type, isResync: isResync, into: snapshot) else {
            return nil
        }
        self.job = job
        self.seq = seq
        self.type = type
        self.isTerminal = isTerminal
        self.isResync = isResync
        self.state = state
        self.bodyOffset = offset
        let draft = HubEventDraft(job: job, seq: seq, type: type, isTerminal: isTerminal,
                                  isResync: isResync, json: json)
        self.json = json
        self.payloads = encoders.map { $0.encode(draft) }
    }

    /// The event in the given encoding: the same object for every caller, never copied.
    /// Nil only for a format of another hub.
    public func encoded(_ format: HubFormat) -> (any HubPayload)? {
        format.index >= 0 && format.index < payloads.count ? payloads[format.index] : nil
    }

    /// The job snapshot alone, without the event's `type` (what `GET /api/jobs/{id}` returns).
    public var snapshot: [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.append(contentsOf: json[bodyOffset...])
        return bytes
    }

    /// The same snapshot under another type, for the snapshot sent on subscribe and resyncs.
    func retyped(_ type: HubEventType, isResync: Bool, encoders: [HubEncoder]) -> HubEvent {
        // The body came out of a valid splice, so splicing it again cannot fail.
        HubEvent(job: job, seq: seq, type: type, isTerminal: isTerminal, isResync: isResync, state: state,
                 snapshot: snapshot, encoders: encoders) ?? self
    }

    /// Builds `{"type":"…",["resync":true,]` + the snapshot's fields, and returns where those
    /// fields start; nil when the snapshot is not a JSON object.
    static func splice(type: HubEventType, isResync: Bool, into snapshot: [UInt8]) -> ([UInt8], Int)? {
        var start = 0
        while start < snapshot.count, isJSONSpace(snapshot[start]) { start += 1 }
        var end = snapshot.count
        while end > start, isJSONSpace(snapshot[end - 1]) { end -= 1 }
        guard end - start >= 2, snapshot[start] == UInt8(ascii: "{"),
              snapshot[end - 1] == UInt8(ascii: "}") else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(end - start + 32)
        out.append(contentsOf: #"{"type":""#.utf8)
        out.append(contentsOf: type.rawValue.utf8)
        out.append(UInt8(ascii: "\""))
        if isResync { out.append(contentsOf: #","resync":true"#.utf8) }
        var body = start + 1
        while body < end, isJSONSpace(snapshot[body]) { body += 1 }
        if snapshot[body] != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
        let offset = out.count
        out.append(contentsOf: snapshot[body..<end])
        return (out, offset)
    }

    private static func isJSONSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
