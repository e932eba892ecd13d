/// The set of values already seen in one `unique` column.
///
/// Two kinds of keys:
/// - **Exact** keys (integers, dates as days, timestamps as microseconds) are kept as the
///   value itself, so there are no false duplicates. Values that arrive in ascending order,
///   as ids and times usually do, go to a sorted list: checking one costs a comparison with
///   the last, with no random memory access. Others go to the hash table below, placed by
///   `home(ofExact:)`, which keeps 16 consecutive values in two cache lines.
/// - **Hashed** keys (text, reals, booleans) are 64-bit hashes from `CellParser.hash`,
///   already well mixed, so they index the table directly.
///
/// The table is open addressing in one flat allocation: 8 bytes per slot, at most 3/4 full,
/// so a million values cost 16 MiB at most (8 MiB in the sorted list when they ascend) and
/// no allocation per value.
final class UniqueSet {
    /// Whether keys are exact signed integers (see above) or hashes.
    let isExact: Bool
    @exclusivity(unchecked) private var table: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var mask: Int
    @exclusivity(unchecked) private var tableCount = 0
    /// Zero marks an empty slot, so the key 0 is kept apart.
    @exclusivity(unchecked) private var hasZero = false
    @exclusivity(unchecked) private var ascending: ContiguousArray<Int64> = []

    init(isExact: Bool) {
        self.isExact = isExact
        mask = 1023
        table = .allocate(capacity: 1024)
        table.initialize(repeating: 0, count: 1024)
    }

    deinit { table.deallocate() }

    /// How many distinct keys the set holds.
    var count: Int { ascending.count + tableCount + (hasZero ? 1 : 0) }

    /// The first slot for an exact key: blocks of 16 consecutive values, each block placed
    /// by a mixed hash so that strided values do not pile up.
    @inline(__always)
    static func home(ofExact key: UInt64) -> UInt64 {
        CellParser.hash(key >> 4, tag: 0x5EED) << 4 | (key & 15)
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: isExact ? UniqueSet.home(ofExact: key) : key) & mask
    }

    func contains(_ key: UInt64) -> Bool {
        if isExact, let last = ascending.last {
            let value = Int64(bitPattern: key)
            // Every key in the table was at most the last ascending one when it came, so a
            // larger key can only be new. Zero is never in the table (it marks empty slots).
            if value > last { return key != 0 && tableCount > 0 && tableContains(key) }
            if value == last || sortedContains(value) { return true }
        }
        if key == 0 { return hasZero }
        return tableCount > 0 && tableContains(key)
    }

    /// Adds `key`; returns false if it was already there.
    @discardableResult
    func insert(_ key: UInt64) -> Bool {
        if contains(key) { return false }
        if isExact {
            let value = Int64(bitPattern: key)
            if ascending.last.map({ value > $0 }) ?? (tableCount == 0 && !hasZero) {
                ascending.append(value)
                return true
            }
        }
        if key == 0 {
            hasZero = true
            return true
        }
        if (tableCount + 1) * 4 > (mask + 1) * 3 { grow() }
        var i = home(key)
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = key
        tableCount += 1
        return true
    }

    private func sortedContains(_ value: Int64) -> Bool {
        var low = 0
        var high = ascending.count
        while low < high {
            let mid = (low + high) / 2
            if ascending[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < ascending.count && ascending[low] == value
    }

    /// Whether a non-zero key is in the table.
    private func tableContains(_ key: UInt64) -> Bool {
        var i = home(key)
        while true {
            let slot = table[i]
            if slot == key { return true }
            if slot == 0 { return false }
            i = (i + 1) & mask
        }
    }

    /// Rehashes into twice the slots.
    private func grow() {
        let oldTable = table
        let oldCapacity = mask + 1
        let capacity = oldCapacity * 2
        table = .allocate(capacity: capacity)
        table.initialize(repeating: 0, count: capacity)
        mask = capacity - 1
        for k in 0..<oldCapacity where oldTable[k] != 0 {
            var i = home(oldTable[k])
            while table[i] != 0 { i = (i + 1) & mask }
            table[i] = oldTable[k]
        }
        oldTable.deallocate()
    }
}
