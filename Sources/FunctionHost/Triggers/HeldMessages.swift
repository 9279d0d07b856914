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

/// The failed partitions of ordering `partition`, with their held messages (the offsets are in
/// the ``OffsetLedger``). The trigger has one topic, so partitions are indexed by number.
/// Consuming thread only.
struct HeldPartitions {
    private var held: [HeldMessages?] = []

    @inline(__always)
    func isHeld(_ partition: Int32) -> Bool {
        Int(partition) < held.count && held[Int(partition)] != nil
    }

    func held(_ partition: Int32) -> HeldMessages? {
        Int(partition) < held.count ? held[Int(partition)] : nil
    }

    /// The partition is paused meanwhile (by the caller).
    mutating func hold(_ partition: Int32, _ messages: HeldMessages) {
        let index = Int(partition)
        if index >= held.count { held.append(contentsOf: repeatElement(nil, count: index + 1 - held.count)) }
        held[index] = messages
    }

    /// Drops the held state of `partition` and returns it.
    mutating func release(_ partition: Int32) -> HeldMessages? {
        guard Int(partition) < held.count else { return nil }
        defer { held[Int(partition)] = nil }
        return held[Int(partition)]
    }

    /// Forgets a partition (revoked, or newly assigned): its held messages are destroyed.
    mutating func reset(_ partition: Int32) {
        release(partition)?.destroyMessages()
    }

    mutating func resetAll() {
        for index in held.indices { reset(Int32(index)) }
    }

    /// Held partitions whose next attempt is due at `now`.
    func dueHeld(now: UInt64) -> [Int32] {
        held.indices.compactMap { index in
            guard let messages = held[index], messages.due <= now else { return nil }
            return Int32(index)
        }
    }

    /// Nanoseconds until the earliest held partition is due, if any is held.
    func timeUntilNextAttempt(now: UInt64) -> UInt64? {
        held.compactMap { $0 }.map { $0.due > now ? $0.due - now : 0 }.min()
    }
}
