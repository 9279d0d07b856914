import Synchronization

/// A fixed row of integer counters that the thread owning them bumps with a relaxed load and
/// store (no read-modify-write, no lock, no allocation) and any thread reads. The metrics
/// endpoint publishes them into swift-metrics when it is scraped, so the path that consumes
/// and invokes pays a few plain stores per invocation and nothing else.
final class CounterSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        for index in 0..<count { (slots + index).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Adds `amount` to `slot`. Only the owning thread may call this.
    @inline(__always)
    func add(_ slot: Int, _ amount: Int = 1) {
        slots[slot].store(slots[slot].load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Adds `amount` to `slot` from any thread (a read-modify-write: for rare events only).
    func addShared(_ slot: Int, _ amount: Int = 1) {
        slots[slot].wrappingAdd(amount, ordering: .relaxed)
    }

    @inline(__always)
    func set(_ slot: Int, _ value: Int) {
        slots[slot].store(value, ordering: .relaxed)
    }

    func value(_ slot: Int) -> Int {
        slots[slot].load(ordering: .relaxed)
    }
}

/// Histogram buckets kept as counter slots: per bucket, how many observations and their sum
/// (so that publishing can hand swift-metrics observations that add up to the same sum).
struct BucketLayout: Sendable {
    /// Upper bounds, ascending; a last bucket without a bound takes the rest.
    let bounds: [Int]
    var slotCount: Int { 2 * (bounds.count + 1) }

    @inline(__always)
    func record(_ value: Int, in slots: CounterSlots, at base: Int) {
        var bucket = 0
        while bucket < bounds.count && value > bounds[bucket] { bucket += 1 }
        slots.add(base + 2 * bucket + 1, value)
        slots.add(base + 2 * bucket)
    }

    /// Invocation durations in nanoseconds: 0.5 ms to 60 s.
    static let durationNanoseconds = BucketLayout(bounds: [
        500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
        250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
        30_000_000_000, 60_000_000_000,
    ])
    /// Events per call of a MANY function.
    static let batchSize = BucketLayout(bounds: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
}
