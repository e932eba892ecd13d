import Dispatch
import Imports
import Progress
import Reactor
import Synchronization

/// Runs the imports of nodes that died: every `interval` seconds it asks the shared PostgreSQL
/// sink for running imports whose lease expired and adopts them on this node, with the last
/// snapshot the hub holds (kept in step through Redis), so their seq numbers go on where the
/// dead node stopped and their watchers on any node see one continuous job. Only with a
/// server-wide PostgreSQL sink (`tally serve --sink`); uploads must be on a spool directory
/// every node reads (`--spool`).
final class TakeoverWatcher: Sendable {
    let imports: ImportService
    let hub: any ProgressHub
    let interval: Double
    let logger: Reactor.Logger
    private let stopped = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "tally.takeover")

    init(imports: ImportService, hub: any ProgressHub, interval: Double, logger: Reactor.Logger) {
        self.imports = imports
        self.hub = hub
        self.interval = interval
        self.logger = logger
    }

    func start() {
        queue.asyncAfter(deadline: .now() + interval) { [self] in
            guard !stopped.load(ordering: .relaxed) else { return }
            scan()
            start()
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        queue.sync {}
    }

    /// One look for orphaned imports (tests call it directly).
    func scan() {
        let orphans: [OrphanedImport]
        do {
            orphans = try imports.orphanedImports()
        } catch {
            logger.warning("import.takeover_scan_failed", ["error": "\(error)"])
            return
        }
        for orphan in orphans {
            let heard = hub.latest(job: orphan.job).flatMap { event in
                JobSnapshot.decode(json: event.snapshot)
            }
            let snapshot = heard ?? JobSnapshot(id: orphan.job, kind: .import, name: orphan.options.name ?? orphan.table,
                                                createdAt: imports.configuration.clock.now(), message: "Taken over",
                                                table: orphan.table)
            do {
                if try imports.adopt(orphan, snapshot: snapshot) {
                    logger.info("import.taken_over", ["job": orphan.job, "seq": String(snapshot.seq)])
                }
            } catch {
                logger.warning("import.takeover_failed", ["job": orphan.job, "error": "\(error)"])
            }
        }
    }
}
