import Progress

/// Feeds the progress hub from the job tracker, and tells the hub how to find jobs it does not
/// hold (after a restart or an eviction).
public enum HubBridge {
    /// The hub's form of a tracker event: the snapshot JSON and the event's seq and type.
    public static func update(for event: JobEvent) -> HubUpdate {
        HubUpdate(job: event.jobID, seq: UInt64(max(0, event.seq)), type: hubType(event.type),
                  isTerminal: event.isTerminal, state: event.snapshot.state.rawValue, snapshot: event.snapshot.json)
    }

    /// The hub's form of a stored snapshot (for the hub's snapshot provider).
    public static func update(for snapshot: JobSnapshot) -> HubUpdate {
        HubUpdate(job: snapshot.id, seq: UInt64(max(0, snapshot.seq)), type: .state,
                  isTerminal: snapshot.state.isTerminal, state: snapshot.state.rawValue, snapshot: snapshot.json)
    }

    /// Publishes every tracker event to `hub`, inline: the hub holds an event before the
    /// producer's `publish` returns, so a client told about a job (the `202` of an upload)
    /// never asks the hub before the job's first event is there. `hub.publish` only encodes
    /// and hands the event to the loops, so it does not hold the producer up.
    ///
    /// A refusal (a stale seq: a snapshot loaded from the store raced a live event) only means
    /// the hub already holds something newer.
    public static func connect(_ tracker: JobTracker, to hub: any ProgressHub,
                               refused: (@Sendable (HubError) -> Void)? = nil) {
        tracker.addInlineObserver { event in
            do throws(HubError) {
                try hub.publish(update(for: event))
            } catch {
                refused?(error)
            }
        }
    }

    private static func hubType(_ type: JobEvent.EventType) -> HubEventType {
        switch type {
        case .progress: .progress
        case .state: .state
        case .snapshot: .state
        }
    }
}
