/// Where each partition of a trigger's topic stands: the offset to store once the current fetch
/// is done, and whether the partition is held at a failed message waiting to be delivered again.
/// The trigger has one topic, so partitions are indexed by number.
struct PartitionProgress {
    struct State {
        /// The next offset to store (last succeeded + 1), or -1 when nothing new succeeded.
        var offsetToStore: Int64 = -1
        /// The failed message's offset while the partition is held, else -1.
        var heldAt: Int64 = -1
        /// When a held partition is sought back to `heldAt` and resumed (monotonic nanoseconds).
        var retryDue: UInt64 = 0
        /// The last offset that failed and how many times in a row.
        var failedOffset: Int64 = -1
        var failures = 0

        var isHeld: Bool { heldAt >= 0 }
    }

    private(set) var states: [State] = []

    private subscript(partition: Int32) -> State {
        get { Int(partition) < states.count ? states[Int(partition)] : State() }
        set {
            let index = Int(partition)
            if index >= states.count { states.append(contentsOf: repeatElement(State(), count: index + 1 - states.count)) }
            states[index] = newValue
        }
    }

    @inline(__always)
    func isHeld(_ partition: Int32) -> Bool {
        Int(partition) < states.count && states[Int(partition)].heldAt >= 0
    }

    /// Records that the message at `offset` succeeded.
    @inline(__always)
    mutating func succeeded(_ partition: Int32, offset: Int64) {
        let index = Int(partition)
        if index >= states.count { self[partition] = State() }
        states[index].offsetToStore = offset + 1
        if states[index].failedOffset == offset {
            states[index].failedOffset = -1
            states[index].failures = 0
        }
    }

    /// Holds `partition` at the failed message at `offset` until `backoff` has passed; returns
    /// how many times in a row that message has failed and the delay chosen.
    mutating func hold(_ partition: Int32, at offset: Int64, now: UInt64, backoff: RetryBackoff) -> (failures: Int, delaySeconds: Double) {
        var state = self[partition]
        state.failures = state.failedOffset == offset ? state.failures + 1 : 1
        state.failedOffset = offset
        state.heldAt = offset
        let delay = backoff.delaySeconds(afterFailures: state.failures)
        state.retryDue = now + UInt64(delay * 1e9)
        self[partition] = state
        return (state.failures, delay)
    }

    /// Lets a held partition flow again (after it was sought back to the failed message).
    mutating func release(_ partition: Int32) {
        if Int(partition) < states.count { states[Int(partition)].heldAt = -1 }
    }

    /// Forgets a partition (revoked, or newly assigned).
    mutating func reset(_ partition: Int32) {
        if Int(partition) < states.count { states[Int(partition)] = State() }
    }

    /// Partitions whose stored offset moved during this fetch, with the offset; clears them.
    mutating func takeOffsetsToStore() -> [(partition: Int32, offset: Int64)] {
        var result: [(Int32, Int64)] = []
        for index in states.indices where states[index].offsetToStore >= 0 {
            result.append((Int32(index), states[index].offsetToStore))
            states[index].offsetToStore = -1
        }
        return result
    }

    /// Held partitions whose retry is due at `now`.
    func dueRetries(now: UInt64) -> [(partition: Int32, offset: Int64)] {
        states.indices.compactMap { index in
            let state = states[index]
            return state.isHeld && state.retryDue <= now ? (Int32(index), state.heldAt) : nil
        }
    }

    /// Nanoseconds until the earliest held partition is due, if any is held.
    func timeUntilNextRetry(now: UInt64) -> UInt64? {
        states.filter(\.isHeld).map { $0.retryDue > now ? $0.retryDue - now : 0 }.min()
    }
}
