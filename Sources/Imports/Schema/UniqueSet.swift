/// A set of 64-bit keys for `unique` columns: open addressing in one flat table, so a million
/// values cost 16 MiB at most and no per-value allocation.
///
/// Each key comes with a `home` that picks its first slot. For hashed values the home is the
/// hash itself (already well mixed, see `CellParser.hash`). Integer columns store the exact
/// value and use `UniqueSet.home(ofInteger:)`, which keeps runs of 16 consecutive integers in
/// two cache lines: ids usually ascend, and probing a random slot per row would miss the
/// cache on every row once the table outgrows it.
final class UniqueSet {
    @exclusivity(unchecked) private var table: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var mask: Int
    @exclusivity(unchecked) private(set) var count = 0
    /// Zero marks an empty slot, so the value 0 is kept apart.
    @exclusivity(unchecked) private var hasZero = false

    /// Whether keys are exact integers (homes from `home(ofInteger:)`) or hashes.
    let exactIntegers: Bool

    init(exactIntegers: Bool) {
        self.exactIntegers = exactIntegers
        mask = 1023
        table = .allocate(capacity: 1024)
        table.initialize(repeating: 0, count: 1024)
    }

    deinit { table.deallocate() }

    /// The home slot for an exact integer key: blocks of 16 consecutive values, each block
    /// placed by a mixed hash so that strided patterns do not pile up.
    @inline(__always)
    static func home(ofInteger value: UInt64) -> UInt64 {
        CellParser.hash(value >> 4, tag: 0x5EED) << 4 | (value & 15)
    }

    func contains(_ hash: UInt64, home: UInt64) -> Bool {
        if hash == 0 { return hasZero }
        var i = Int(truncatingIfNeeded: home) & mask
        while true {
            let slot = table[i]
            if slot == hash { return true }
            if slot == 0 { return false }
            i = (i + 1) & mask
        }
    }

    /// Adds `hash`; returns false if it was already there.
    @discardableResult
    func insert(_ hash: UInt64, home: UInt64) -> Bool {
        if hash == 0 {
            defer { hasZero = true }
            if !hasZero { count += 1 }
            return !hasZero
        }
        if (count + 1) * 4 > (mask + 1) * 3 { grow() }
        var i = Int(truncatingIfNeeded: home) & mask
        while true {
            let slot = table[i]
            if slot == hash { return false }
            if slot == 0 {
                table[i] = hash
                count += 1
                return true
            }
            i = (i + 1) & mask
        }
    }

    /// Rehashes into twice the slots. Homes are recomputed from the keys, so the table needs
    /// to know how they were made.
    private func grow() {
        let oldTable = table
        let oldCapacity = mask + 1
        let capacity = oldCapacity * 2
        table = .allocate(capacity: capacity)
        table.initialize(repeating: 0, count: capacity)
        mask = capacity - 1
        for k in 0..<oldCapacity where oldTable[k] != 0 {
            let key = oldTable[k]
            var i = Int(truncatingIfNeeded: exactIntegers ? UniqueSet.home(ofInteger: key) : key) & mask
            while table[i] != 0 { i = (i + 1) & mask }
            table[i] = oldTable[k]
        }
        oldTable.deallocate()
    }
}
