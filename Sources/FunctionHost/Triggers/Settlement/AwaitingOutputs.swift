import CRdKafka

/// Ordering `partition`: invocations that succeeded while records they sent were still
/// unacknowledged, oldest first, each with the messages it was called with (owned here, so a
/// failed delivery can fail them like a failed call: retried, then dead-lettered).
///
/// The consuming thread goes on with the next messages meanwhile. An invocation's messages are
/// settled when the invocation is at the front and all its records are acknowledged; while any
/// invocation waits here, later ones that need no waiting queue behind it, so a partition's
/// offset never passes a message whose outputs are not acknowledged.
final class AwaitingOutputs {
    struct Invocation {
        /// nil for a message settled without a call (``settledWithoutCall``).
        var deliveries: InvocationDeliveries?
        /// How many messages of ``messages`` (from the front) it was called with.
        var messageCount: Int
        /// SF_PENDING: durable only after the function's next flush.
        var pending: Bool
        var records: Int
        var bytes: Int
        /// A message settled without a call (filtered out, dead-lettered) while invocations
        /// waited: its partition advances to this offset when its turn comes.
        var settledWithoutCall: (partition: Int32, offset: Int64)?
    }

    private var invocations: [Invocation?]
    private var start = 0
    private(set) var count = 0
    /// The messages of the waiting invocations, in the same order.
    let messages: RDKafkaMessageRing
    private let maxRecords: Int
    private let maxBytes: Int
    /// Output records (and bytes) of the waiting invocations.
    private(set) var records = 0
    private(set) var bytes = 0

    /// - Parameters:
    ///   - messageCapacity: the most messages that can wait (at least one call's worth).
    ///   - maxRecords, maxBytes: the unacknowledged output a function may have outstanding.
    init(invocationCapacity: Int, messageCapacity: Int, maxRecords: Int, maxBytes: Int) {
        invocations = Array(repeating: nil, count: invocationCapacity)
        messages = RDKafkaMessageRing(capacity: messageCapacity)
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
    }

    var isEmpty: Bool { count == 0 }

    /// Another invocation of `messageCount` messages can join without passing a bound.
    func hasRoom(forMessages messageCount: Int) -> Bool {
        count < invocations.count && messages.room >= messageCount && records < maxRecords && bytes < maxBytes
    }

    /// The oldest waiting invocation.
    var first: Invocation? { count > 0 ? invocations[start] : nil }

    /// True when the oldest invocation's records are all reported (or it had none to wait for).
    var firstIsComplete: Bool { first.map { $0.deliveries?.isComplete ?? true } ?? false }

    /// The newest waiting invocations share trackers that later calls still join (the Invoker
    /// has not sealed them): nil once sealed.
    private(set) var open: InvocationDeliveries?

    /// Adds an invocation and takes its messages out of `fetched`; an invocation tracked by the
    /// open group joins the newest entry. There must be room.
    func append(_ deliveries: InvocationDeliveries, pending: Bool,
                messages called: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, from fetched: RDKafkaFetchBuffer) {
        let before = messages.count
        fetched.take(called, into: messages)
        let queued = deliveries.queued
        if let open, open === deliveries {
            let last = (start + count - 1) % invocations.count
            var group = invocations[last]!
            records += queued.records - group.records
            bytes += queued.bytes - group.bytes
            group.messageCount += messages.count - before
            group.pending = group.pending || pending
            group.records = queued.records
            group.bytes = queued.bytes
            invocations[last] = group
            return
        }
        invocations[(start + count) % invocations.count] = Invocation(
            deliveries: deliveries, messageCount: messages.count - before, pending: pending, records: queued.records, bytes: queued.bytes)
        count += 1
        records += queued.records
        bytes += queued.bytes
        open = deliveries
    }

    /// The open group was sealed: no later call joins it.
    func seal() {
        open = nil
    }

    /// Queues a partition's advance past a message settled without a call behind the waiting
    /// invocations. There must be room.
    func appendSettled(partition: Int32, upTo offset: Int64, pending: Bool) {
        invocations[(start + count) % invocations.count] = Invocation(
            deliveries: nil, messageCount: 0, pending: pending, records: 0, bytes: 0, settledWithoutCall: (partition, offset))
        count += 1
    }

    /// How many waiting invocations, from the oldest, reach the newest one with a message of
    /// `partitions` (0: none of them waits for those partitions).
    func countThroughLast(of partitions: Set<Int32>) -> Int {
        var through = 0
        var messageIndex = 0
        for position in 0..<count {
            let invocation = invocations[(start + position) % invocations.count]!
            if let mark = invocation.settledWithoutCall {
                if partitions.contains(mark.partition) { through = position + 1 }
            } else if (messageIndex..<messageIndex + invocation.messageCount).contains(where: { partitions.contains(messages[$0].pointee.partition) }) {
                through = position + 1
            }
            messageIndex += invocation.messageCount
        }
        return through
    }

    /// Removes the oldest invocation (sealed first: see ``seal()``); its messages stay at the front of ``messages`` for the
    /// caller to settle and destroy (or hand over).
    func removeFirst() -> Invocation {
        let invocation = invocations[start]!
        invocations[start] = nil
        start = (start + 1) % invocations.count
        count -= 1
        records -= invocation.records
        bytes -= invocation.bytes
        return invocation
    }
}
