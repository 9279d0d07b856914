import CRdKafka

/// Messages of one partition that failed and wait for their next attempt. It owns them (taken
/// out of the fetch) until they are settled, succeeded or dead-lettered, or the partition goes.
final class HeldMessages {
    /// In offset order.
    var messages: RDKafkaMessages
    /// Failed attempts so far.
    var failures: Int
    var lastError: String
    /// Monotonic nanoseconds when the next attempt (or dead-letter send) is due.
    var due: UInt64
    /// Where the partition continues once these are settled: just past the last message of the
    /// partition the listener had handled when it held it.
    var resumeOffset: Int64
    /// Set once retries are exhausted (or retrying cannot help) and the dead-letter send failed:
    /// the next attempt sends to the dead-letter topic again instead of invoking.
    var deadLetterReason: DeadLetterReason?
    /// Held because the schema registry could not be asked about its first message: the next
    /// attempt asks again before calling (``failures`` counts those questions until it answers).
    var waitingForSchemaRegistry = false

    init(messages: consuming RDKafkaMessages, failures: Int, lastError: String, due: UInt64, resumeOffset: Int64) {
        self.messages = messages
        self.failures = failures
        self.lastError = lastError
        self.due = due
        self.resumeOffset = resumeOffset
    }

    var firstOffset: Int64 { messages.first?.pointee.offset ?? resumeOffset }

    func destroyMessages() {
        messages.releaseAll()
    }
}

/// Where each partition of a trigger's topic stands. The trigger has one topic, so partitions are
/// indexed by number.
struct PartitionProgress {
    struct State {
        /// The next offset to store (everything before it is settled), or -1 when it did not move.
        var offsetToStore: Int64 = -1
        /// Settled but not durable (the function returned SF_PENDING): committed after a flush.
        var pendingOffset: Int64 = -1
        /// Failed messages waiting for their next attempt; the partition is paused meanwhile.
        var held: HeldMessages?
        /// Everything before it was settled by this member since the partition was assigned. A
        /// message below it is a second copy (fetched again after a rebalance) and is skipped.
        var settledMark: Int64 = -1
    }

    private var states: [State] = []

    private mutating func withState<R>(_ partition: Int32, _ body: (inout State) -> R) -> R {
        let index = Int(partition)
        if index >= states.count { states.append(contentsOf: repeatElement(State(), count: index + 1 - states.count)) }
        return body(&states[index])
    }

    /// True for a message this member already settled (a copy fetched again).
    @inline(__always)
    func isSettled(_ partition: Int32, offset: Int64) -> Bool {
        Int(partition) < states.count && offset < states[Int(partition)].settledMark
    }

    @inline(__always)
    func isHeld(_ partition: Int32) -> Bool {
        Int(partition) < states.count && states[Int(partition)].held != nil
    }

    func held(_ partition: Int32) -> HeldMessages? {
        Int(partition) < states.count ? states[Int(partition)].held : nil
    }

    /// Everything of `partition` before `offset` is settled. `pending`: not durable yet; once a
    /// partition has pending records, later ones wait for the flush too.
    @inline(__always)
    mutating func advance(_ partition: Int32, to offset: Int64, pending: Bool) {
        withState(partition) { state in
            // Never backwards: a message settled without a call behind a batch (a filtered one)
            // may be reported after the batch past it.
            guard offset > state.settledMark else { return }
            state.settledMark = offset
            if pending || state.pendingOffset >= 0 {
                state.pendingOffset = offset
            } else {
                state.offsetToStore = offset
            }
        }
    }

    mutating func hold(_ partition: Int32, _ held: HeldMessages) {
        withState(partition) { $0.held = held }
    }

    /// Drops the held state of `partition` and returns it.
    mutating func release(_ partition: Int32) -> HeldMessages? {
        withState(partition) { state in
            defer { state.held = nil }
            return state.held
        }
    }

    /// Forgets a partition (revoked, or newly assigned): its held messages are destroyed.
    mutating func reset(_ partition: Int32) {
        guard Int(partition) < states.count else { return }
        states[Int(partition)].held?.destroyMessages()
        states[Int(partition)] = State()
    }

    mutating func resetAll() {
        for index in states.indices { reset(Int32(index)) }
    }

    /// Partitions whose offset to store moved, with the offset.
    var offsetsToStore: [(partition: Int32, offset: Int64)] {
        states.indices.filter { states[$0].offsetToStore >= 0 }.map { (Int32($0), states[$0].offsetToStore) }
    }

    /// Partitions whose offset to store moved, with the offset; clears them.
    mutating func takeOffsetsToStore() -> [(partition: Int32, offset: Int64)] {
        let result = offsetsToStore
        for entry in result { states[Int(entry.partition)].offsetToStore = -1 }
        return result
    }

    var hasPending: Bool { states.contains { $0.pendingOffset >= 0 } }

    /// The flush made pending records durable: they become offsets to store.
    mutating func pendingBecameDurable() {
        for index in states.indices where states[index].pendingOffset >= 0 {
            states[index].offsetToStore = states[index].pendingOffset
            states[index].pendingOffset = -1
        }
    }

    /// Held partitions whose next attempt is due at `now`.
    func dueHeld(now: UInt64) -> [Int32] {
        states.indices.compactMap { index in
            guard let held = states[index].held, held.due <= now else { return nil }
            return Int32(index)
        }
    }

    /// Nanoseconds until the earliest held partition is due, if any is held.
    func timeUntilNextAttempt(now: UInt64) -> UInt64? {
        states.compactMap(\.held).map { $0.due > now ? $0.due - now : 0 }.min()
    }
}
