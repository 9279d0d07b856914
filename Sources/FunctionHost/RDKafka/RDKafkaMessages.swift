import CRdKafka

/// A fetched message (`rd_kafka_message_t*`, pointing into librdkafka's buffers) and the duty to
/// destroy it: exactly one value owns it, and it is destroyed when that value ends. Everything
/// else only reads it through ``pointer`` while the owner lives.
///
/// Messages are fetched into an ``RDKafkaFetchBuffer``, which owns them until they are taken out
/// (``RDKafkaFetchBuffer/take(_:)``, ``RDKafkaFetchBuffer/take(at:)``) for a held partition
/// (``RDKafkaMessages``) or a lane's ring.
struct RDKafkaMessage: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    fileprivate init(owning pointer: UnsafeMutablePointer<rd_kafka_message_t>) {
        self.pointer = pointer
    }

    deinit {
        rd_kafka_message_destroy(pointer)
    }

    /// Ends this value without destroying the message: its new owner (in this file) does.
    fileprivate consuming func relinquish() -> UnsafeMutablePointer<rd_kafka_message_t> {
        let pointer = pointer
        discard self
        return pointer
    }
}

/// Fetched messages owned together, in order (a held partition's, a lane's batch). Messages join
/// by a move (``append(_:)``) and leave as an ``RDKafkaMessage`` handed to a new owner
/// (``removeAll(_:)``, ``remove(where:_:)``), or are destroyed (``releaseAll()``, or with the
/// value). Reading them (``pointers``, ``withPointers(_:)``) lends them.
struct RDKafkaMessages: ~Copyable {
    private var storage: [UnsafeMutablePointer<rd_kafka_message_t>] = []

    init(reservingCapacity capacity: Int = 0) {
        storage.reserveCapacity(capacity)
    }

    deinit {
        storage.forEach { rd_kafka_message_destroy($0) }
    }

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }
    /// The messages, lent: valid while they are owned here.
    var pointers: [UnsafeMutablePointer<rd_kafka_message_t>] { storage }
    var first: UnsafeMutablePointer<rd_kafka_message_t>? { storage.first }

    subscript(index: Int) -> UnsafeMutablePointer<rd_kafka_message_t> { storage[index] }

    func withPointers<R>(_ body: (UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Takes ownership of `message`.
    mutating func append(_ message: consuming RDKafkaMessage) {
        storage.append(message.relinquish())
    }

    /// Hands over every message to `body` (in order), which owns it from then on; leaves this
    /// empty (keeping its capacity).
    mutating func removeAll(_ body: (consuming RDKafkaMessage) -> Void) {
        for message in storage { body(RDKafkaMessage(owning: message)) }
        storage.removeAll(keepingCapacity: true)
    }

    /// Hands over the messages at the indices `leaves` selects to `body` (in order), which owns
    /// them from then on; the others stay, in order.
    mutating func remove(where leaves: (Int) -> Bool, _ body: (consuming RDKafkaMessage) -> Void) {
        var kept = 0
        for index in storage.indices {
            let message = storage[index]
            if leaves(index) {
                body(RDKafkaMessage(owning: message))
            } else {
                storage[kept] = message
                kept += 1
            }
        }
        storage.removeSubrange(kept...)
    }

    /// Destroys every message.
    mutating func releaseAll() {
        storage.forEach { rd_kafka_message_destroy($0) }
        storage.removeAll(keepingCapacity: true)
    }
}

extension RDKafkaMessage {
    /// Moves the message into raw storage that owns it from then on (a lane's ring), which gives it
    /// back out only through ``init(movingOutOf:)``.
    consuming func move(into slot: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        slot.initialize(to: relinquish())
    }

    /// Takes the message back out of raw storage it was moved into with ``move(into:)``.
    init(movingOutOf slot: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        self.init(owning: slot.move())
    }
}

/// The consuming thread's fetch buffer: it owns every message fetched into it until the message
/// is taken out (``take(_:)``, ``take(at:)``), carried over to the next round (``endRound(carrying:)``)
/// or destroyed at the end of its round.
final class RDKafkaFetchBuffer {
    private let slots: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private let capacity: Int
    /// Messages of this round in slots[0..<count] (taken ones are nil or in `taken`).
    private(set) var count = 0
    /// Messages of this round taken out by pointer: not destroyed with the round.
    private var taken: Set<UnsafeMutablePointer<rd_kafka_message_t>> = []

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
    }

    deinit {
        releaseAll()
        slots.deallocate()
    }

    /// Messages carried over from the previous round (at the start of the buffer).
    private(set) var carried = 0

    /// Fetches up to `limit` messages after the carried ones (waiting up to `timeoutMs` when
    /// none is there, see ``RDKafkaConsumer/fetch(into:capacity:timeoutMs:)``).
    /// - Returns: how many messages were fetched (``count`` counts the carried ones too).
    func fetch(from consumer: RDKafkaConsumer, limit: Int, timeoutMs: Int32) -> Int {
        let fetched = consumer.fetch(into: slots + carried, capacity: min(limit, capacity - carried), timeoutMs: timeoutMs)
        count = carried + fetched
        carried = 0
        return fetched
    }

    /// The message in slot `index`, lent; nil when it was taken out by index.
    @inline(__always)
    subscript(index: Int) -> UnsafeMutablePointer<rd_kafka_message_t>? { slots[index] }

    /// Takes the message in slot `index` out of the buffer: the caller owns it.
    func take(at index: Int) -> RDKafkaMessage {
        let message = slots[index]!
        slots[index] = nil
        return RDKafkaMessage(owning: message)
    }

    /// Takes `message` (of this round) out of the buffer: the result owns it.
    func take(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> RDKafkaMessage {
        precondition(taken.insert(message).inserted, "a fetched message is taken out once")
        return RDKafkaMessage(owning: message)
    }

    /// Takes `messages` (of this round) out of the buffer: the result owns them.
    func take(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>]) -> RDKafkaMessages {
        var owned = RDKafkaMessages(reservingCapacity: messages.count)
        for message in messages where taken.insert(message).inserted {
            owned.append(RDKafkaMessage(owning: message))
        }
        return owned
    }

    /// Ends the round: destroys its messages except the ones taken out and `carry` (messages of
    /// this round), which move to the front of the buffer for the next round.
    func endRound(carrying carry: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        carry.forEach { taken.insert($0) }
        for index in 0..<count {
            guard let message = slots[index] else { continue }
            if taken.isEmpty || !taken.contains(message) { rd_kafka_message_destroy(message) }
        }
        for (index, message) in carry.enumerated() { slots[index] = message }
        carried = carry.count
        count = carried
        taken.removeAll(keepingCapacity: true)
    }

    /// Destroys every message the buffer holds (carried ones too).
    func releaseAll() {
        endRound(carrying: UnsafeMutableBufferPointer(start: nil, count: 0))
    }
}

extension RDKafkaFetchBuffer {
    /// Moves `messages` (of this round, in order) to the back of `ring`, which owns them from
    /// then on. No allocation once the buffer's bookkeeping has grown to a round's size.
    func take(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, into ring: RDKafkaMessageRing) {
        for message in messages where taken.insert(message).inserted {
            ring.append(RDKafkaMessage(owning: message))
        }
    }
}

/// Fetched messages owned in arrival order, a fixed number at most: the messages of
/// invocations whose outputs are not yet acknowledged (``AwaitingOutputs``). They join at the
/// back and are destroyed from the front, or handed over to a new owner.
final class RDKafkaMessageRing {
    private let slots: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    let capacity: Int
    private var start = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
    }

    deinit {
        removeFirst(count)
        slots.deallocate()
    }

    var room: Int { capacity - count }

    /// The message `index` places from the front, lent.
    subscript(index: Int) -> UnsafeMutablePointer<rd_kafka_message_t> {
        slots[(start + index) % capacity]
    }

    /// Takes ownership of `message` at the back. There must be room.
    func append(_ message: consuming RDKafkaMessage) {
        precondition(count < capacity, "RDKafkaMessageRing is full")
        message.move(into: slots + (start + count) % capacity)
        count += 1
    }

    /// Destroys the `n` messages at the front.
    func removeFirst(_ n: Int) {
        for _ in 0..<n { _ = RDKafkaMessage(movingOutOf: slots + start); advanceStart() }
    }

    /// Hands the `n` messages at the front over to `body`, in order, which owns each from then on.
    func handOverFirst(_ n: Int, _ body: (consuming RDKafkaMessage) -> Void) {
        for _ in 0..<n { body(RDKafkaMessage(movingOutOf: slots + start)); advanceStart() }
    }

    private func advanceStart() {
        start = (start + 1) % capacity
        count -= 1
    }
}

extension rd_kafka_message_t {
    /// The key's bytes in librdkafka's buffer; nil for a null key (an empty key is empty).
    var keyBytes: UnsafeRawBufferPointer? { key.map { UnsafeRawBufferPointer(start: $0, count: key_len) } }
    /// The value's bytes in librdkafka's buffer; nil for a null value (a tombstone).
    var valueBytes: UnsafeRawBufferPointer? { payload.map { UnsafeRawBufferPointer(start: $0, count: len) } }
}
