import CRdKafka
import Foundation
import Logging
import Synchronization

/// Ordering `key` or `unordered`: hands each consumed message to one of `maxConcurrency` lanes
/// (by key, or round robin), tells the listener's ``OffsetLedger`` which offsets went out and
/// which are settled (a partition's offset is stored only past contiguous settled messages),
/// and tells the consuming thread when the lanes are full (it then pauses the partitions) and
/// when they have room again.
///
/// The consuming thread calls `dispatch`, `quiesce` and `shutdown`; the lanes call the rest.
final class ConcurrentDispatcher: @unchecked Sendable {
    let functionName: String
    let logger: Logger
    /// Why a message is refused (the dead letter's headers), asked by the lanes.
    let admission: Admission
    private let ordering: Ordering
    private let topic: String
    private let crashes: CrashLedger?
    /// The listener's offset ledger, settled out of order by the lanes.
    private let ledger: OffsetLedger
    private var lanes: [InvocationLane] = []
    private var nextLane = 0
    /// Called for every settled message (the listener counts them for the health report).
    private let onSettled: @Sendable () -> Void
    /// Called from a lane when the lanes have room again after `dispatch` found one full.
    private let onRoom: @Sendable () -> Void
    private let waitingForRoom = Atomic<Bool>(false)
    /// Partitions whose waiting messages are given up (revoked, or the host stops): a lane
    /// waiting to retry one of them drops it instead.
    private let givingUp = Mutex<Set<Int32>?>([])
    private let wakeWaiting = NSCondition()
    private let warnedAboutPending = Atomic<Bool>(false)
    /// How long a revocation or a stop waits for the lanes (the host's shutdownTimeout).
    private let drainTimeoutSeconds: Double

    /// Creates the lanes and starts their threads.
    init(function: FunctionConfiguration, library: FunctionLibrary, options: KafkaOptions, retry: RetryPolicy,
         producers: ProducerPool, deadLetters: DeadLetterWriter, admission: Admission, crashes: CrashLedger?, journalDirectory: URL?,
         ledger: OffsetLedger, drainTimeoutSeconds: Double, tracer: FunctionTracer? = nil, logger: Logger, onSettled: @escaping @Sendable () -> Void, onRoom: @escaping @Sendable () -> Void) throws {
        functionName = function.name
        topic = function.trigger.topic
        ordering = function.trigger.ordering
        self.admission = admission
        let failures = FailurePolicy(retry: retry, functionName: function.name, deadLetterTopic: function.deadLetterTopic, logger: logger)
        self.logger = logger
        self.crashes = crashes
        self.drainTimeoutSeconds = drainTimeoutSeconds
        self.onSettled = onSettled
        self.onRoom = onRoom
        self.ledger = ledger
        let count = function.trigger.maxConcurrency
        let batchLimit = function.trigger.cardinality == .many ? options.maxBatchSize : 1
        // The lanes share `maxQueuedMessages`: a bounded number of messages held per function.
        let capacity = max(1, function.trigger.maxQueuedMessages / count)
        for index in 0..<count {
            let subject = SettlementJournal.Subject(consumerGroup: function.trigger.consumerGroup, topic: function.trigger.topic)
            let journal = try journalDirectory.map { try InvocationJournal(directory: $0, function: function.name, lane: index, subject: subject) }
            let invoker = try Invoker(function: function, library: library, capacity: batchLimit, producers: producers,
                                      journal: journal, tracer: tracer, logger: logger)
            let engine = AttemptEngine(calls: invoker, failures: failures, deadLetters: deadLetters, function: function,
                                       waiting: "the lane, with the messages of the same key,")
            lanes.append(InvocationLane(index: index, capacity: capacity, batchLimit: batchLimit, invoker: invoker, engine: engine, dispatcher: self))
        }
        for lane in lanes { lane.start(name: "swiftfunc-\(function.name)-\(lane.index)") }
    }

    /// The lanes' journals, for the function-timeout watchdog.
    var journals: [InvocationJournal] { lanes.compactMap(\.journal) }
    /// The lanes' invocation counters, for the metrics endpoint.
    var statistics: [InvocationStatistics] { lanes.map(\.invoker.statistics) }

    // MARK: - The consuming thread

    /// How long the consuming thread waits for room in a full lane before it pauses the
    /// partitions. Waiting is the common case's backpressure (the function is simply slower than
    /// the stream) and costs nothing; pausing is for a lane that is stuck (a retry waiting) and
    /// keeps the consumer polling, but librdkafka 2.0.2 takes up to a second to fetch again after
    /// a resume.
    static let roomWait: Double = 0.2

    /// Queues `message` on its lane, waiting up to ``roomWait`` while that lane is full; the lane
    /// takes it over through `take`. False when the lane stayed full (the message is not taken).
    func dispatch(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ disposition: Disposition,
                  take: () -> RDKafkaMessage) -> Bool {
        let lane = lanes[laneIndex(message)]
        ledger.dispatched(message.pointee.partition, offset: message.pointee.offset)
        if lane.enqueue(disposition, roomWait: Self.roomWait, take: take) { return true }
        ledger.forgetLast(message.pointee.partition)
        waitingForRoom.store(true, ordering: .relaxed)
        return false
    }

    /// Whether every lane has room for at least half its queue again.
    var hasRoom: Bool { lanes.allSatisfy { $0.queued <= $0.capacity / 2 } }

    /// Messages taken by the lanes and not settled yet.
    var inFlight: Int { ledger.inFlight }

    /// `partitions` are being revoked: this returns once their messages already taken by the
    /// lanes are settled (a lane waiting to retry one gives it up instead), so everything that
    /// can be committed is before the listener forgets them (``OffsetLedger/forget(_:)``).
    /// Queued messages are invoked, not dropped: a message dropped ahead of one already settled
    /// would hold the commit back, and the new owner would get the settled one again.
    func quiesce(_ partitions: Set<Int32>) {
        finishTaken(partitions)
    }

    /// The host stops: queued messages are invoked, waiting retries given up (bounded by the
    /// host's shutdownTimeout); then the lanes' threads end.
    func shutdown() {
        finishTaken(nil)
        let deadline = DispatchTime.now() + 5
        lanes.forEach { $0.exit(deadline: deadline) }
    }

    /// Waits until no message of `partitions` (nil: any) is in flight, up to the drain timeout;
    /// retries waiting meanwhile are given up. Past the timeout (a function that hangs) the
    /// partitions are given up anyway: what was not settled is not committed, and whoever owns
    /// them next gets those messages again.
    private func finishTaken(_ partitions: Set<Int32>?) {
        givingUp.withLock { $0 = partitions }
        wakeWaiting.lock()
        wakeWaiting.broadcast()
        wakeWaiting.unlock()
        let what = partitions.map { "partitions \($0.sorted())" } ?? "its partitions"
        let deadline = Date().addingTimeInterval(drainTimeoutSeconds)
        var announced = false
        while !ledger.waitUntilIdle(partitions, deadline: min(deadline, Date().addingTimeInterval(5))) {
            if Date() >= deadline {
                logger.error("'\(functionName)' gave up waiting for \(ledger.inFlight) message(s) still in its lanes after \(drainTimeoutSeconds) s (shutdownTimeout) and lets go of \(what) of \(topic): they are not committed, and are delivered again")
                break
            }
            if !announced {
                logger.warning("'\(functionName)' is waiting for \(ledger.inFlight) message(s) taken by its lanes to be done before it lets go of \(what) of \(topic) (up to \(drainTimeoutSeconds) s)")
                announced = true
            }
        }
        if partitions != nil { givingUp.withLock { $0 = [] } }
    }

    private func laneIndex(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Int {
        switch ordering {
        case .partition, .unordered: // (ordering partition has no dispatcher)
            nextLane = nextLane + 1 == lanes.count ? 0 : nextLane + 1
            return nextLane
        case .key:
            return Self.lane(forKey: message.pointee.keyBytes, partition: message.pointee.partition, lanes: lanes.count)
        }
    }

    /// The lane of a key: FNV-1a of its bytes. Messages without a key (or with an empty one)
    /// share a lane per partition, so they keep their partition's order among themselves.
    static func lane(forKey key: UnsafeRawBufferPointer?, partition: Int32, lanes: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        if let key, !key.isEmpty {
            for byte in key { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        } else {
            hash = (hash ^ UInt64(UInt32(bitPattern: partition))) &* 0x100_0000_01b3
            hash = (hash ^ 0xff) &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(lanes))
    }

    // MARK: - The lanes

    /// A message succeeded or was dead-lettered: it is released.
    func settle(_ message: consuming RDKafkaMessage) {
        ledger.settled(message.pointer.pointee.partition, offset: message.pointer.pointee.offset)
        crashes?.forget(message.pointer)
        _ = consume message
        onSettled()
    }

    /// Settles a message no lane needs to see (it matched none of the trigger's filters, or came
    /// before its `startFrom` time), on
    /// the consuming thread, in its place among the partition's offsets.
    func settleWithoutInvocation(_ message: consuming RDKafkaMessage) {
        ledger.dispatched(message.pointer.pointee.partition, offset: message.pointer.pointee.offset)
        settle(message)
    }

    /// A message is given up unsettled (its offset is not stored past it): it is released.
    private func drop(_ message: consuming RDKafkaMessage) {
        ledger.dropped(message.pointer.pointee.partition, offset: message.pointer.pointee.offset)
    }

    func noteOutcome(_ outcome: InvocationOutcome) {
        if outcome.pending && !warnedAboutPending.exchange(true, ordering: .relaxed) {
            logger.error("Function '\(functionName)' returned SF_PENDING, which needs ordering partition (its flush must see the records in order); with ordering \(ordering.rawValue) the records count as done when the call returns")
        }
    }

    /// A lane took work off its queue: if the consuming thread is waiting for room and there
    /// is, wake it.
    func laneTookWork() {
        if waitingForRoom.load(ordering: .relaxed) && hasRoom && waitingForRoom.exchange(false, ordering: .relaxed) {
            onRoom()
        }
    }

    /// Waits `seconds` before a retry. Returns false, having dropped `messages` (left empty), when
    /// their partitions are given up meanwhile.
    func wait(until due: UInt64, unlessGivingUp messages: inout RDKafkaMessages) -> Bool {
        let now = monotonicNanoseconds()
        let deadline = Date().addingTimeInterval(due > now ? Double(due - now) / 1e9 : 0)
        wakeWaiting.lock()
        defer { wakeWaiting.unlock() }
        while true {
            let abandoned = givingUp.withLock { set in
                set == nil || messages.pointers.contains { set!.contains($0.pointee.partition) }
            }
            if abandoned {
                messages.removeAll { drop($0) }
                return false
            }
            if !wakeWaiting.wait(until: deadline) { return true }
        }
    }

}
