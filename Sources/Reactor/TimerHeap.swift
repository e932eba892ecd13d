/// Identifies a timer scheduled on an `EventLoop`, for cancelling it.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// A binary min-heap of (deadline, id); cancelled timers are skipped lazily when they surface.
struct TimerHeap {
    private var entries: [(deadline: UInt64, id: UInt64)] = []
    private var actions: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var isEmpty: Bool { actions.isEmpty }

    /// The earliest live deadline, discarding cancelled entries on top.
    mutating func earliestDeadline() -> UInt64? {
        while let top = entries.first {
            if actions[top.id] != nil { return top.deadline }
            pop()
        }
        return nil
    }

    mutating func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID &+= 1
        actions[id] = action
        entries.append((deadline, id))
        siftUp(entries.count - 1)
        return TimerID(raw: id)
    }

    mutating func cancel(_ timer: TimerID) {
        actions[timer.raw] = nil
        if actions.isEmpty { entries.removeAll(keepingCapacity: false) }
    }

    /// Removes and returns the actions due at `now`, earliest first.
    mutating func takeDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = entries.first, top.deadline <= now {
            pop()
            if let action = actions.removeValue(forKey: top.id) { due.append(action) }
        }
        return due
    }

    private mutating func pop() {
        let last = entries.removeLast()
        guard !entries.isEmpty else { return }
        entries[0] = last
        siftDown(0)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = entries.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            if left + 1 < count, entries[left + 1].deadline < entries[left].deadline { smallest = left + 1 }
            guard entries[smallest].deadline < entries[parent].deadline else { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
