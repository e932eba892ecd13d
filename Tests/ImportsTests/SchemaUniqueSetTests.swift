import Testing
@testable import Imports

struct SchemaUniqueSetTests {
    /// The set agrees with the standard library's on mixed orders: ascending runs (the sorted
    /// list), descending and random values and zero (the table), across many resizes.
    @Test(arguments: [true, false])
    func agreesWithASetOfTheSameKeys(_ exact: Bool) {
        var generator = SystemRandomNumberGenerator()
        let set = UniqueSet(isExact: exact)
        var reference = Set<UInt64>()
        var next: Int64 = -50
        for round in 0..<60_000 {
            let key: UInt64
            switch round % 7 {
            case 0, 1, 2:
                next += Int64.random(in: 0...2, using: &generator)
                key = UInt64(bitPattern: next)
            case 3: key = UInt64(bitPattern: Int64.random(in: -100...100, using: &generator))
            case 4: key = UInt64(bitPattern: Int64.random(in: -1_000_000...1_000_000, using: &generator) * 1024)
            case 5: key = 0
            default: key = UInt64.random(in: 0...UInt64.max, using: &generator)
            }
            let present = reference.contains(key)
            if set.contains(key) != present {
                Issue.record("contains(\(Int64(bitPattern: key))) disagrees at round \(round)")
                return
            }
            if set.insert(key) == present {
                Issue.record("insert(\(Int64(bitPattern: key))) disagrees at round \(round)")
                return
            }
            reference.insert(key)
        }
        #expect(set.count == reference.count)
    }

    @Test func ascendingKeysStayOutOfTheTable() {
        let set = UniqueSet(isExact: true)
        for k in 1...100_000 { set.insert(UInt64(k)) }
        #expect(set.count == 100_000)
        #expect(set.contains(1) && set.contains(50_000) && set.contains(100_000))
        #expect(!set.contains(0) && !set.contains(100_001))
    }
}
