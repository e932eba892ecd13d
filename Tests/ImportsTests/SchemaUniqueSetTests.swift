import Testing
@testable import Imports

struct SchemaUniqueSetTests {
    /// The set agrees with the standard library's on mixed orders: ascending runs (the sorted
    /// list), descending and random values and zero (the table), across many resizes.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [true, false])
    func agreesWithASetOfTheSameKeys(_ exact: Bool) {
        // Many short seeded runs catch order-dependent cases; one long run crosses resizes.
        for seed in 0..<300 {
            if !agree(exact: exact, seed: UInt64(seed), rounds: 200) { return }
        }
        _ = agree(exact: exact, seed: 1_000_000, rounds: 60_000)
    }

    func agree(exact: Bool, seed: UInt64, rounds: Int) -> Bool {
        var generator = Generator(state: seed)
        let set = UniqueSet(isExact: exact)
        var reference = Set<UInt64>()
        var next: Int64 = -50
        for round in 0..<rounds {
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
                Issue.record("seed \(seed): contains(\(Int64(bitPattern: key))) disagrees at round \(round)")
                return false
            }
            if set.insert(key) == present {
                Issue.record("seed \(seed): insert(\(Int64(bitPattern: key))) disagrees at round \(round)")
                return false
            }
            reference.insert(key)
        }
        #expect(set.count == reference.count)
        return set.count == reference.count
    }

    /// Regression: zero above the ascending run was "found" in the table's empty slots.
    @Test func zeroAboveTheAscendingRunIsNew() {
        let set = UniqueSet(isExact: true)
        set.insert(UInt64(bitPattern: -49))
        set.insert(UInt64(bitPattern: -11))
        set.insert(UInt64(bitPattern: -114_146_304))
        #expect(!set.contains(0))
        #expect(set.insert(0))
        #expect(set.contains(0))
    }

    @Test func ascendingKeysStayOutOfTheTable() {
        let set = UniqueSet(isExact: true)
        for k in 1...100_000 { set.insert(UInt64(k)) }
        #expect(set.count == 100_000)
        #expect(set.contains(1) && set.contains(50_000) && set.contains(100_000))
        #expect(!set.contains(0) && !set.contains(100_001))
    }
}
