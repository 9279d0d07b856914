import CRdKafka

/// Messages that are being attempted, or wait for their next attempt or their dead letter, with
/// where their attempts stand. It owns them until they are settled (succeeded or
/// dead-lettered) or given up. A lane reuses one for every call; the consuming thread holds one
/// per failed partition (``HeldPartitions``).
final class HeldMessages {
    /// In offset order.
    var messages: RDKafkaMessages
    /// Failed attempts so far.
    var failures = 0
    var lastError = ""
    /// Monotonic nanoseconds when the next attempt (or dead-letter send) is due.
    var due: UInt64 = 0
    /// Set once retries are exhausted (or retrying cannot help): the next step sends them to the
    /// dead-letter topic (again, when the send failed) instead of calling the function.
    var deadLetterReason: DeadLetterReason?
    /// A traced function: the `traceparent` of the attempt that failed last, which their dead
    /// letters carry (nil: they keep the record's).
    var traceparent: String?

    init(messages: consuming RDKafkaMessages) {
        self.messages = messages
    }

    convenience init(reservingCapacity capacity: Int) {
        self.init(messages: RDKafkaMessages(reservingCapacity: capacity))
    }

    /// Ready for new messages: nothing failed yet.
    func reset() {
        failures = 0
        lastError = ""
        due = 0
        traceparent = nil
        deadLetterReason = nil
    }

    func destroyMessages() {
        messages.releaseAll()
    }
}

/// The failed partitions of ordering `partition` and their held messages (the offsets are in the
/// ``OffsetLedger``, where each continues in ``PartitionControl``). The trigger has one topic, so
/// partitions are indexed by number. Consuming thread only.
struct HeldPartitions {
    private var held: [HeldMessages?] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    func held(_ partition: Int32) -> HeldMessages? {
        Int(partition) < held.count ? held[Int(partition)] : nil
    }

    mutating func hold(_ partition: Int32, _ messages: HeldMessages) {
        let index = Int(partition)
        if index >= held.count { held.append(contentsOf: repeatElement(nil, count: index + 1 - held.count)) }
        if held[index] == nil { count += 1 }
        held[index] = messages
    }

    /// Drops the held state of `partition` and returns it.
    mutating func release(_ partition: Int32) -> HeldMessages? {
        guard Int(partition) < held.count, let messages = held[Int(partition)] else { return nil }
        held[Int(partition)] = nil
        count -= 1
        return messages
    }

    /// Forgets a partition (revoked, newly assigned, or rewound): its held messages are destroyed.
    mutating func reset(_ partition: Int32) {
        release(partition)?.destroyMessages()
    }

    /// Forgets every partition (the consumer closed).
    mutating func resetAll() {
        for index in held.indices { reset(Int32(index)) }
    }

    /// Held partitions whose next step is due at `now`.
    func due(now: UInt64) -> [Int32] {
        guard count > 0 else { return [] }
        return held.indices.compactMap { index in
            guard let messages = held[index], messages.due <= now else { return nil }
            return Int32(index)
        }
    }

    /// Nanoseconds until the earliest held partition is due, if any is held.
    func timeUntilNextStep(now: UInt64) -> UInt64? {
        guard count > 0 else { return nil }
        return held.compactMap { $0 }.map { $0.due > now ? $0.due - now : 0 }.min()
    }
}
