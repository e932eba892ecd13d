import Glibc
import Progress
import Reactor
import Synchronization

/// The progress hub of several nodes: a `LocalProgressHub` for this node's subscribers, kept
/// in step with every other node's through Redis.
///
/// ## In Redis (keys under `prefix`, default `tally:`)
/// - `events:{job}`: a capped stream (`MAXLEN ~ logCapacity`) of the job's events, entry id
///   `{seq}-0`, fields `type`, `terminal`, `snapshot`. Redis refuses an id that is not above
///   the last one, so re-sending an event is harmless. Any node can read what it missed from
///   here (`XRANGE`), which is what makes `after=SEQ` work on every node.
/// - `job:{job}`: a hash with the latest `seq`, `type`, `terminal`, `snapshot`, `node`.
/// - channel `events`: every event, so each node learns of new events at once.
/// Finished jobs' keys expire after a day.
///
/// ## Order and gaps
/// A node applies a remote event to its local hub only when it is the next seq of that job
/// (or the job is new to it); otherwise it first reads the missing events from the job's
/// stream, in order. So subscribers see the same seq numbers on every node with no holes.
///
/// ## Redis going away
/// Producers publish to the local hub first, so this node's own subscribers never wait for
/// Redis. Events that could not reach Redis are re-sent from the local log once it is back
/// (after its restart the streams may be empty: they are filled again), and every node
/// re-reads what it missed of the jobs it follows. Reconnects back off from 100 ms to 5 s;
/// `isDegraded` is true meanwhile (`/healthz` reports it).
///
/// All Redis work runs on one of the server's event loops; `publish` may be called on any
/// thread. `@unchecked Sendable`: the mutable state below is only touched on `loop`.
public final class RedisProgressHub: ProgressHub, @unchecked Sendable {
    /// The hub this node's subscribers use.
    public let local: LocalProgressHub
    public let address: RedisAddress
    private let library: Hiredis
    private let loop: EventLoop
    private let prefix: String
    private let nodeID: String
    private let streamLength: Int
    private let degraded = Atomic<Bool>(true)
    private let logger: Logger

    // Loop-confined.
    private var commands: RedisConnection?
    private var subscriber: RedisConnection?
    private var commandsUp = false
    private var subscriberUp = false
    private var backoff: UInt64 = 100
    private var reconnectPending = false
    private var stopped = false
    /// Jobs this node published: the highest seq handed to the local hub, and the highest
    /// one Redis confirmed.
    private var produced: [String: (queued: UInt64, stored: UInt64, terminal: Bool)] = [:]
    /// Jobs of other nodes this node follows (not finished): their latest applied seq.
    private var followed: [String: UInt64] = [:]
    private var catchingUp: Set<String> = []
    private var authRefusalLogged = false

    /// Connects to Redis at `url` (`redis://[[user]:password@]host:port/db`) from `loop`. Throws when hiredis
    /// cannot be loaded or the URL is bad; an unreachable Redis is not an error (the hub starts
    /// degraded and keeps trying).
    public init(url: String, local: LocalProgressHub, loop: EventLoop, nodeID: String,
                streamLength: Int = HubConfiguration().logCapacity, prefix: String = "tally:",
                logger: Logger = .disabled) throws(RedisError) {
        self.address = try RedisAddress(url: url)
        self.library = try Hiredis.shared.get()
        self.local = local
        self.loop = loop
        self.nodeID = nodeID
        self.streamLength = max(16, streamLength)
        self.prefix = prefix
        self.logger = logger
        loop.execute { [self] in connect() }
    }

    /// Checks the URL and loads hiredis, so `tally serve --redis` fails at start with a clear
    /// message rather than later.
    public static func validate(url: String) throws(RedisError) {
        _ = try RedisAddress(url: url)
        _ = try Hiredis.shared.get()
    }

    /// True while either Redis connection is down: remote jobs are not followed meanwhile.
    public var isDegraded: Bool { degraded.load(ordering: .relaxed) }

    /// Closes the connections (on the loop).
    public func stop() {
        loop.execute { [self] in
            stopped = true
            commands?.close()
            subscriber?.close()
            commands = nil
            subscriber = nil
        }
    }

    // MARK: ProgressHub

    public func publish(_ update: HubUpdate) throws(HubError) {
        try local.publish(update)
        loop.execute { [self] in
            var entry = produced[update.job] ?? (0, 0, false)
            entry.queued = max(entry.queued, update.seq)
            entry.terminal = entry.terminal || update.isTerminal
            produced[update.job] = entry
            if commandsUp { store(RemoteEvent(update)) }
        }
    }

    public func subscribe(to topic: HubTopic, after: UInt64?, sink: any HubSink, on loop: any HubLoop) -> HubSubscription? {
        local.subscribe(to: topic, after: after, sink: sink, on: loop)
    }

    public func replay(job: String, after: UInt64?) -> HubReplay {
        local.replay(job: job, after: after)
    }

    public func latest(job: String) -> HubEvent? {
        local.latest(job: job)
    }

    public func format(named name: String) -> HubFormat? {
        local.format(named: name)
    }

    public var metrics: HubMetrics { local.metrics }

    /// The latest event of a job this node never heard of, from the job's Redis hash: for
    /// the local hub's snapshot provider, so a node that started after a job's last event
    /// still answers subscriptions to it. Waits at most `timeoutMilliseconds` for Redis; nil
    /// when Redis does not know the job, is down, or when called on the Redis loop itself
    /// (where it would wait for its own thread). A running job is followed from then on.
    public func storedLatest(job: String, timeoutMilliseconds: Int = 250) -> HubUpdate? {
        guard !isDegraded, !loop.inEventLoop else { return nil }
        let pending = PendingFetch()
        loop.execute { [self] in
            guard let commands, commandsUp else {
                pending.finish(nil)
                return
            }
            let sent = commands.send([Array("HGETALL".utf8), key("job", job)]) { [weak self] reply in
                let update = RedisProgressHub.update(fromHash: reply, job: job)
                if let self, let update, !update.isTerminal, self.produced[job] == nil {
                    self.followed[job] = max(self.followed[job] ?? 0, update.seq)
                }
                pending.finish(update)
            }
            if !sent { pending.finish(nil) }
        }
        return pending.wait(milliseconds: timeoutMilliseconds)
    }

    /// A job hash (`HGETALL` reply: field, value, …) as the hub's update.
    static func update(fromHash reply: RedisReply, job: String) -> HubUpdate? {
        guard let items = reply.elements, !items.isEmpty else { return nil }
        var fields: [String: [UInt8]] = [:]
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].bytes, let value = items[index + 1].bytes {
                fields[String(decoding: name, as: UTF8.self)] = value
            }
            index += 2
        }
        guard let seqText = fields["seq"], let seq = UInt64(String(decoding: seqText, as: UTF8.self)), seq > 0,
              let typeText = fields["type"], let type = HubEventType(rawValue: String(decoding: typeText, as: UTF8.self)),
              let snapshot = fields["snapshot"] else { return nil }
        return HubUpdate(job: job, seq: seq, type: type, isTerminal: fields["terminal"]?.first == 0x31,
                         state: fields["state"].map { String(decoding: $0, as: UTF8.self) } ?? "", snapshot: snapshot)
    }

    // MARK: Connections

    private func connect() {
        guard !stopped else { return }
        reconnectPending = false
        let commands = RedisConnection(library: library, loop: loop)
        let subscriber = RedisConnection(library: library, loop: loop)
        self.commands = commands
        self.subscriber = subscriber
        let auth = address.authCommand
        // With a password, the commands connection counts as up once Redis accepted its AUTH,
        // not when the socket connects. The subscriber is up once its SUBSCRIBE is confirmed:
        // an event announced before that would be missed, so "not degraded" means none is.
        commands.onConnected = { [unowned self] in
            if auth == nil { commandsReady() }
        }
        commands.onDisconnected = { [unowned self] message in lost("commands", message) }
        subscriber.onDisconnected = { [unowned self] message in lost("subscriber", message) }
        do throws(RedisError) {
            try commands.connect(to: address)
            try subscriber.connect(to: address)
        } catch {
            lost("connect", error.message)
            return
        }
        if let auth {
            // Queued first, so hiredis writes it before anything else once connected.
            commands.send(auth) { [weak self] reply in self?.authenticated(reply, role: "commands") }
            subscriber.send(auth) { [weak self] reply in self?.authenticated(reply, role: "subscriber") }
        }
        if address.database != 0 {
            commands.send([Array("SELECT".utf8), Array(String(address.database).utf8)])
        }
        // Pub/sub channels are global in Redis: the channel name carries the database so
        // deployments sharing one Redis on different databases stay apart.
        subscriber.subscribe(prefix + "events:\(address.database)") { [unowned self] reply in received(reply) }
    }

    private func commandsReady() {
        commandsUp = true
        logger.info("redis.connected", ["role": "commands", "redis": address.description])
        updateHealth()
        resendUnstored()
    }

    /// The answer to `AUTH`: a refusal is a lost connection (retried with backoff, as a
    /// password may be changed on the server), logged once until a connection succeeds.
    private func authenticated(_ reply: RedisReply, role: String) {
        switch reply {
        case .status:
            authRefusalLogged = false
            if role == "commands" { commandsReady() }
        case .error(let message):
            if !authRefusalLogged {
                logger.error("redis.auth_failed", ["redis": address.description, "message": message])
                authRefusalLogged = true
            }
            lost(role, "AUTH refused: " + message)
        default:
            // The connection ended first; its disconnect callback reports that.
            break
        }
    }

    private func lost(_ role: String, _ message: String) {
        let wasUp = commandsUp && subscriberUp
        commandsUp = false
        subscriberUp = false
        updateHealth()
        commands?.close()
        subscriber?.close()
        commands = nil
        subscriber = nil
        if wasUp { logger.warning("redis.disconnected", ["role": role, "message": message]) }
        guard !stopped, !reconnectPending else { return }
        reconnectPending = true
        let delay = backoff
        backoff = min(5_000, backoff * 2)
        loop.scheduleTimer(afterMilliseconds: delay) { [weak self] in self?.connect() }
    }

    private func updateHealth() {
        let up = commandsUp && subscriberUp
        if up { backoff = 100 }
        degraded.store(!up, ordering: .relaxed)
    }

    // MARK: Writing

    private func key(_ kind: String, _ job: String) -> [UInt8] {
        Array((prefix + kind + ":" + job).utf8)
    }

    /// Appends one event to the job's stream, updates its hash and announces it.
    private func store(_ event: RemoteEvent) {
        guard let commands else { return }
        let (job, seq, snapshot, terminal) = (event.job, event.seq, event.snapshot, event.terminal)
        let id = Array("\(seq)-0".utf8)
        let typeName = Array(event.type.rawValue.utf8)
        let terminalFlag: [UInt8] = terminal ? [0x31] : [0x30]
        let state = Array(event.state.utf8)
        commands.send([Array("XADD".utf8), key("events", job), Array("MAXLEN".utf8), Array("~".utf8),
                       Array(String(streamLength).utf8), id, Array("type".utf8), typeName, Array("terminal".utf8), terminalFlag,
                       Array("state".utf8), state, Array("snapshot".utf8), snapshot]) { [weak self] reply in
            guard let self else { return }
            switch reply {
            case .string:
                self.stored(job: job, seq: seq)
            case .error(let message) where message.contains("equal or smaller"):
                // Already there (a re-send): as good as stored.
                self.stored(job: job, seq: seq)
            default:
                break
            }
        }
        commands.send([Array("HSET".utf8), key("job", job), Array("seq".utf8), Array(String(seq).utf8),
                       Array("type".utf8), typeName, Array("terminal".utf8), terminalFlag, Array("state".utf8), state,
                       Array("snapshot".utf8), snapshot, Array("node".utf8), Array(nodeID.utf8)])
        if terminal {
            commands.send([Array("EXPIRE".utf8), key("events", job), Array("86400".utf8)])
            commands.send([Array("EXPIRE".utf8), key("job", job), Array("86400".utf8)])
        }
        var message: [UInt8] = []
        message.reserveCapacity(snapshot.count + job.utf8.count + 32)
        message += Array(job.utf8) + [0x0A] + Array(String(seq).utf8) + [0x0A] + typeName + [0x0A] + terminalFlag + [0x0A]
        message += state + [0x0A]
        message += snapshot
        commands.send([Array("PUBLISH".utf8), Array((prefix + "events:\(address.database)").utf8), message])
    }

    private func stored(job: String, seq: UInt64) {
        guard var entry = produced[job] else { return }
        entry.stored = max(entry.stored, seq)
        if entry.terminal, entry.stored >= entry.queued {
            produced[job] = nil
        } else {
            produced[job] = entry
        }
    }

    /// After a reconnect: sends again what Redis has not confirmed, from the local log.
    private func resendUnstored() {
        for (job, entry) in produced where entry.stored < entry.queued {
            switch local.replay(job: job, after: entry.stored) {
            case .events(let events):
                for event in events { store(RemoteEvent(event)) }
            case .resync(let event):
                var latest = RemoteEvent(event)
                latest.type = .state
                store(latest)
            case .unknownJob:
                produced[job] = nil
            }
        }
    }

    // MARK: Reading

    private func received(_ reply: RedisReply) {
        guard let parts = reply.elements, parts.count >= 3, let kind = parts[0].bytes else { return }
        if kind == Array("subscribe".utf8) {
            subscriberUp = true
            updateHealth()
            // Whatever was published while this node was cut off is in the streams; look
            // again a little later for what other nodes re-send once they reconnect too.
            catchUpFollowed()
            for delay: UInt64 in [1_000, 3_000] {
                loop.scheduleTimer(afterMilliseconds: delay) { [weak self] in self?.catchUpFollowed() }
            }
            return
        }
        guard kind == Array("message".utf8), let payload = parts[2].bytes else { return }
        guard let event = RemoteEvent(message: payload) else { return }
        apply(event)
    }

    private func apply(_ event: RemoteEvent) {
        let latest = local.latest(job: event.job)?.seq ?? 0
        if event.seq <= latest { return }
        if event.seq == latest + 1 || (latest == 0 && event.seq == 1) {
            deliver(event)
        } else {
            catchUp(job: event.job, after: latest)
        }
    }

    private func deliver(_ event: RemoteEvent) {
        do throws(HubError) {
            try local.publish(HubUpdate(job: event.job, seq: event.seq, type: event.type, isTerminal: event.terminal,
                                        state: event.state, snapshot: event.snapshot))
        } catch {
            return
        }
        if produced[event.job] != nil { return }
        if event.terminal { followed[event.job] = nil } else { followed[event.job] = event.seq }
    }

    private func catchUpFollowed() {
        for (job, seq) in followed { catchUp(job: job, after: seq) }
    }

    /// Reads the job's events after `after` from its stream and applies them in order.
    private func catchUp(job: String, after: UInt64) {
        guard let commands, commandsUp, !catchingUp.contains(job) else { return }
        catchingUp.insert(job)
        let start = after == 0 ? Array("-".utf8) : Array("\(after + 1)-0".utf8)
        let sent = commands.send([Array("XRANGE".utf8), key("events", job), start, Array("+".utf8)]) { [weak self] reply in
            guard let self else { return }
            self.catchingUp.remove(job)
            for entry in reply.elements ?? [] {
                guard let event = RemoteEvent(streamEntry: entry, job: job) else { continue }
                if event.seq > (self.local.latest(job: job)?.seq ?? 0) { self.deliver(event) }
            }
        }
        if !sent { catchingUp.remove(job) }
    }
}

/// An event as another node announced or stored it.
struct RemoteEvent {
    var job: String
    var seq: UInt64
    var type: HubEventType
    var terminal: Bool
    var state: String
    var snapshot: [UInt8]

    init(_ update: HubUpdate) {
        job = update.job
        seq = update.seq
        type = update.type == .snapshot ? .state : update.type
        terminal = update.isTerminal
        state = update.state
        snapshot = update.snapshot
    }

    init(_ event: HubEvent) {
        job = event.job
        seq = event.seq
        type = event.type == .snapshot ? .state : event.type
        terminal = event.isTerminal
        state = event.state
        snapshot = event.snapshot
    }

    /// From a pub/sub message: `job \n seq \n type \n terminal \n state \n snapshot`.
    init?(message: [UInt8]) {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < message.count, lines.count < 5 {
            if message[index] == 0x0A {
                lines.append(message[start..<index])
                start = index + 1
            }
            index += 1
        }
        guard lines.count == 5, let seq = UInt64(String(decoding: lines[1], as: UTF8.self)),
              let type = HubEventType(rawValue: String(decoding: lines[2], as: UTF8.self)) else { return nil }
        self.job = String(decoding: lines[0], as: UTF8.self)
        self.seq = seq
        self.type = type
        self.terminal = lines[3].first == 0x31
        self.state = String(decoding: lines[4], as: UTF8.self)
        self.snapshot = Array(message[start...])
    }

    /// From an `XRANGE` entry: `[id, [field, value, …]]`, id `{seq}-0`.
    init?(streamEntry: RedisReply, job: String) {
        guard let parts = streamEntry.elements, parts.count == 2, let id = parts[0].bytes,
              let fields = parts[1].elements else { return nil }
        let seqText = String(decoding: id.prefix(while: { $0 != UInt8(ascii: "-") }), as: UTF8.self)
        guard let seq = UInt64(seqText) else { return nil }
        var type: HubEventType?
        var terminal = false
        var state = ""
        var snapshot: [UInt8]?
        var i = 0
        while i + 1 < fields.count {
            let name = fields[i].bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let value = fields[i + 1].bytes ?? []
            switch name {
            case "type": type = HubEventType(rawValue: String(decoding: value, as: UTF8.self))
            case "terminal": terminal = value.first == 0x31
            case "state": state = String(decoding: value, as: UTF8.self)
            case "snapshot": snapshot = value
            default: break
            }
            i += 2
        }
        guard let type, let snapshot else { return nil }
        self.job = job
        self.seq = seq
        self.type = type
        self.terminal = terminal
        self.state = state
        self.snapshot = snapshot
    }
}

/// One answer awaited by a thread that is not the Redis loop's: a POSIX semaphore (no
/// Foundation here) and the result under a lock.
private final class PendingFetch: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private let result = Mutex<HubUpdate?>(nil)

    init() {
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func finish(_ update: HubUpdate?) {
        result.withLock { $0 = update }
        sem_post(semaphore)
    }

    func wait(milliseconds: Int) -> HubUpdate? {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += milliseconds / 1000
        deadline.tv_nsec += (milliseconds % 1000) * 1_000_000
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        while sem_timedwait(semaphore, &deadline) != 0 {
            if errno != EINTR { return nil }
        }
        return result.withLock { $0 }
    }
}
