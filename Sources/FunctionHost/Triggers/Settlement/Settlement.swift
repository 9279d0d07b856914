import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Settlement: where a partition's messages stand once they have been handled, and what is
/// committed from that. The consuming loop reports to it — "everything of this partition before
/// this offset is settled", "this call's records are in flight" — and it keeps the
/// ``OffsetLedger``, the invocations awaiting their outputs' acknowledgements
/// (``AwaitingOutputs``), the settlement journal kept across a crash, the function's flush
/// (`SF_PENDING`), and commits through the ``OffsetCommitter`` (or the exactly-once transaction).
///
/// A partition held for a retry is not settled past its held messages: an offset that reaches
/// one only moves where it continues (``PartitionControl/handled(_:upTo:)``). A record that was
/// not delivered fails its invocation after all: its messages are handed to the loop
/// (``takeDeliveryFailures()``) and the partition is held at once, so nothing is settled past them.
///
/// Consuming thread only, except the ledger (the lanes settle into it) and the counters.
final class Settlement {
    let ledger: OffsetLedger
    let committer: OffsetCommitter
    let journal: SettlementJournal?
    /// ``journal``'s stores of a settled run (no reference taken per run).
    private let journalRecorder: SettlementJournal.Recorder?
    /// Ordering `partition` with output bindings: invocations settled once their records are
    /// acknowledged, while the thread goes on (nil without outputs, with lanes, or exactlyOnce).
    let awaiting: AwaitingOutputs?
    /// processingGuarantee exactlyOnce: the transaction outputs and offsets are committed in.
    let transaction: TransactionalOutputs?
    /// Messages settled in order by the consuming thread, its only writer (a load and a store:
    /// no locked instruction per message), for the health report.
    let settledInOrder = Atomic<Int>(0)
    /// An aborted transaction: the partitions go back to the committed offsets before the next fetch.
    private(set) var rewindNeeded = false
    /// The transactional producer cannot go on: the loop stops (the worker exits).
    private(set) var stopAfterFatalError = false
    /// A revoke's commit failed: what it carried stays in the settlement journal after a stop.
    var revokeCommitFailed = false

    private let function: FunctionConfiguration
    private let control: PartitionControl
    private let invoker: Invoker
    private let consumer: RDKafkaConsumer
    private let operations: ListenerOperations
    private let crashes: CrashLedger?
    private let flushFunction: FlushFunction?
    private let flushInterval: UInt64
    private var lastFlush = monotonicNanoseconds()
    private let logger: Logger
    /// The cluster is the embedded broker, which does not keep a transaction's offsets.
    private lazy var transactionalOffsetsDiscarded = MockClusterDetection.isMockCluster(function.trigger.connection)
    /// Invocations whose records were not delivered, by partition, until the loop holds them for a retry.
    private var deliveryFailures: [(partition: Int32, messages: HeldMessages)] = []

    init(function: FunctionConfiguration, control: PartitionControl, invoker: Invoker, consumer: RDKafkaConsumer,
         operations: ListenerOperations, ledger: OffsetLedger, committer: OffsetCommitter, journal: SettlementJournal?,
         awaiting: AwaitingOutputs?, transaction: TransactionalOutputs?, crashes: CrashLedger?, flushFunction: FlushFunction?, logger: Logger) {
        self.function = function
        self.control = control
        self.invoker = invoker
        self.consumer = consumer
        self.operations = operations
        self.ledger = ledger
        self.committer = committer
        self.journal = journal
        journalRecorder = journal?.recorder
        self.awaiting = awaiting
        self.transaction = transaction
        self.crashes = crashes
        self.flushFunction = flushFunction
        flushInterval = UInt64(function.flushIntervalSeconds * 1e9)
        self.logger = logger
    }

    // MARK: - Settling

    /// Everything of `partition` before `offset` is settled (pending: not durable until a flush);
    /// `messages` were settled by it (the count operators see). Behind invocations whose outputs
    /// are not acknowledged yet, it waits its turn.
    @inline(__always)
    func advance(_ partition: Int32, to offset: Int64, pending: Bool, messages: Int = 1) {
        if let awaiting, !awaiting.isEmpty {
            // Behind the open group: later calls must not join an entry queued before this one.
            sealOutputGroup()
            makeRoomForOutputs(messages: 0)
            if control.isHeld(partition, for: .retry) {
                control.handled(partition, upTo: offset)
                return
            }
            if !awaiting.isEmpty {
                awaiting.appendSettled(partition: partition, upTo: offset, pending: pending)
                return
            }
        }
        record(partition, settledUpTo: offset, pending: pending, messages: messages)
    }

    /// Records that everything of `partition` before `offset` is settled, now.
    @inline(__always)
    func record(_ partition: Int32, settledUpTo offset: Int64, pending: Bool, messages: Int = 1) {
        settledInOrder.store(settledInOrder.load(ordering: .relaxed) &+ messages, ordering: .relaxed)
        ledger.settle(partition, upTo: offset, pending: pending)
        if let journalRecorder, !pending { journalRecorder.recordSettled(partition: partition, settled: offset) }
    }

    /// A message fetched again after it was settled (a second copy) is not handled again.
    @inline(__always)
    func isSettled(_ partition: Int32, offset: Int64) -> Bool {
        ledger.isSettled(partition, offset: offset)
    }

    /// Messages whose invocation failed after all (a record not delivered), held by partition;
    /// their partitions are already held for a retry.
    func takeDeliveryFailures() -> [(partition: Int32, messages: HeldMessages)] {
        guard !deliveryFailures.isEmpty else { return [] }
        defer { deliveryFailures.removeAll() }
        return deliveryFailures
    }

    /// `partitions` are given up: their state is forgotten.
    func forget(_ partitions: [Int32]) {
        ledger.forget(partitions)
        deliveryFailures.removeAll { entry in
            guard partitions.contains(entry.partition) else { return false }
            entry.messages.destroyMessages()
            return true
        }
    }

    // MARK: - Awaiting outputs (ordering partition)

    /// `messages` were called and their records are in flight: they settle once acknowledged.
    func awaitOutputs(_ inFlight: InvocationDeliveries, pending: Bool, messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, from fetched: RDKafkaFetchBuffer) {
        guard let awaiting else { return }
        makeRoomForOutputs(messages: messages.count)
        awaiting.append(inFlight, pending: pending, messages: messages, from: fetched)
    }

    var isAwaitingOutputs: Bool { !(awaiting?.isEmpty ?? true) }

    /// Settles the waiting invocations at the front whose records are all acknowledged; with
    /// `waitingForAll`, waits for every waiting invocation's records first (a revocation, a stop,
    /// a failure or retry that must not overtake them).
    func settleAcknowledgedOutputs(waitingForAll: Bool = false) {
        guard let awaiting else { return }
        if waitingForAll { sealOutputGroup() }
        while !awaiting.isEmpty && (waitingForAll || awaiting.firstIsComplete) {
            settleFirstAwaiting(awaiting)
        }
    }

    /// A revocation of `partitions` (under incremental assignment, some of the partitions): waits
    /// for the waiting invocations up to the newest one with a message of those partitions and
    /// settles them. Later ones, all of partitions this member keeps, go on waiting while the
    /// thread goes on: a partition that stays is not held up by another one leaving.
    func settleOutputs(of partitions: Set<Int32>) {
        guard let awaiting, !awaiting.isEmpty else { return }
        sealOutputGroup()
        for _ in 0..<awaiting.countThroughLast(of: partitions) { settleFirstAwaiting(awaiting) }
    }

    /// Waits (settling the oldest invocations) until another call of `messages` messages fits
    /// within the bounds of unacknowledged output.
    func makeRoomForOutputs(messages: Int) {
        guard let awaiting else { return }
        while !awaiting.isEmpty && !awaiting.hasRoom(forMessages: messages) {
            settleFirstAwaiting(awaiting)
        }
    }

    /// Whether another call of `messages` messages fits within the bounds of unacknowledged
    /// output: waits up to ``outputRoomWait`` for the oldest invocations' acknowledgements;
    /// when there is still no room, holds every partition (the consumer keeps polling, so the
    /// group keeps it) and says no: the caller carries the messages to the next round. The
    /// partitions flow again once there is room.
    func roomForOutputs(messages: Int) -> Bool {
        guard let awaiting else { return true }
        var deadline: Date?
        while !awaiting.isEmpty && !awaiting.hasRoom(forMessages: messages) {
            if awaiting.count == 1 { sealOutputGroup() }
            if deadline == nil { deadline = Date().addingTimeInterval(Self.outputRoomWait.seconds) }
            guard awaiting.first?.deliveries?.waitUntilReported(deadline: deadline!) ?? true else {
                if !control.heldEverywhere.contains(.outputs) {
                    control.holdEverywhere(.outputs)
                    logger.warning("'\(function.name)' waits for the broker to acknowledge its outputs (\(awaiting.records) records, \(awaiting.bytes) bytes unacknowledged; bounds extensions.kafka.maxUnacknowledgedOutputRecords and maxUnacknowledgedOutputBytes): its partitions pause until there is room")
                }
                return false
            }
            settleFirstAwaiting(awaiting)
        }
        if control.heldEverywhere.contains(.outputs) {
            control.releaseEverywhere(.outputs)
            logger.info("'\(function.name)' resumes consuming: its outputs are acknowledged again")
        }
        return true
    }

    /// How long a call waits for room among the unacknowledged outputs before the partitions pause.
    static let outputRoomWait = Duration.milliseconds(100)

    /// Closes the group of invocations sharing trackers: later calls start a new one.
    func sealOutputGroup() {
        guard let awaiting, awaiting.open != nil else { return }
        invoker.sealDeliveries()
        awaiting.seal()
    }

    /// A failed call's own group of trackers (no other call joined it): waited for and recycled.
    func discardOwnGroup(_ inFlight: InvocationDeliveries) {
        guard awaiting?.open !== inFlight else { return }
        invoker.sealDeliveries()
        _ = invoker.settle(inFlight)
    }

    private func settleFirstAwaiting(_ awaiting: AwaitingOutputs) {
        // The oldest is the open group only when it is the only one: sealed before it settles.
        if awaiting.count == 1 { sealOutputGroup() }
        let invocation = awaiting.removeFirst()
        if let mark = invocation.settledWithoutCall {
            settledInTurn(mark.partition, upTo: mark.offset, pending: invocation.pending)
            return
        }
        let failures = invocation.deliveries.map { invoker.settle($0) } ?? []
        guard !failures.isEmpty else {
            for index in 0..<invocation.messageCount {
                let message = awaiting.messages[index]
                settledInTurn(message.pointee.partition, upTo: message.pointee.offset + 1, pending: invocation.pending)
                crashes?.forget(message)
            }
            awaiting.messages.removeFirst(invocation.messageCount)
            return
        }
        // A record was not delivered: the invocation failed after all. Its messages are held
        // for the retry policy like a failed call's (and sent again when retried).
        let error = "output not delivered: " + failures.joined(separator: "; ")
        awaiting.messages.handOverFirst(invocation.messageCount) { message in
            let partition = message.pointer.pointee.partition
            let next = message.pointer.pointee.offset + 1
            control.hold(partition, .retry)
            control.handled(partition, upTo: next)
            if let entry = deliveryFailures.first(where: { $0.partition == partition }) {
                entry.messages.messages.append(message)
            } else {
                var owned = RDKafkaMessages()
                owned.append(message)
                let held = HeldMessages(messages: owned)
                held.failures = 1
                held.lastError = error
                deliveryFailures.append((partition, held))
            }
        }
    }

    /// A partition's messages before `offset` are settled, in turn. A held partition (a later
    /// failure overtook them) only moves where it continues.
    private func settledInTurn(_ partition: Int32, upTo offset: Int64, pending: Bool) {
        if control.isHeld(partition, for: .retry) {
            control.handled(partition, upTo: offset)
        } else {
            record(partition, settledUpTo: offset, pending: pending)
        }
    }

    // MARK: - Flushing (SF_PENDING)

    func flushIfDue() {
        guard flushFunction != nil, ledger.hasPending, monotonicNanoseconds() - lastFlush >= flushInterval else { return }
        flush(reason: "interval")
    }

    /// Asks the function to make its pending records durable; on success they can be committed.
    func flush(reason: String) {
        lastFlush = monotonicNanoseconds()
        guard let flushFunction, ledger.hasPending else { return }
        let context = invoker.context
        context.begin(invocationID: Invoker.nextInvocationID())
        // Under the function-timeout watchdog like any invocation (no messages: a crash in the
        // flush is not pinned on any).
        invoker.journal?.begin(UnsafeBufferPointer(start: nil, count: 0), startedAtMs: wallClockMilliseconds())
        let result = flushFunction(context.pointer)
        invoker.journal?.end()
        if result == SF_OK {
            let durable = ledger.pendingBecameDurable()
            if let journal { durable.forEach { journal.recordSettled(partition: $0.partition, settled: $0.offset) } }
            storeOffsets()
            logger.debug("Flushed '\(function.name)' (\(reason))")
        } else {
            logger.error("Function '\(function.name)': \(function.entryPoint)_flush failed (\(context.lastLoggedError ?? "returned \(result)")) at \(reason); its pending records stay uncommitted and are delivered again if the host stops before a flush succeeds")
        }
    }

    // MARK: - Storing and committing

    /// Hands the offsets that moved to the committer, and commits when the interval is over.
    func storeOffsets() {
        // One ledger for every ordering: in order from this thread, out of order from the lanes.
        let offsets = ledger.takeOffsetsToStore()
        if !offsets.isEmpty { operations.stored(offsets) }
        for entry in offsets { committer.settled(entry.partition, upTo: entry.offset) }
        if transaction != nil {
            commitTransaction(now: false)
        } else {
            committer.commitIfDue(consumer)
        }
    }

    /// Commits everything settled now (a revocation, a pause, a stop): in the transaction
    /// (exactlyOnce), else directly. Returns the failure.
    func commitSettledNow(only partitions: Set<Int32>? = nil) -> KafkaError? {
        guard transaction != nil else { return committer.commitNow(consumer, only: partitions) }
        return commitTransaction(now: true) ? nil : KafkaError("the transaction was aborted")
    }

    /// How long the loop may wait for messages before settlement has something to do.
    func timeUntilDue(now: UInt64) -> UInt64? {
        var wait = committer.timeUntilNextCommit(now: now)
        // Invocations waiting for acknowledgements are settled soon after they arrive.
        if isAwaitingOutputs { wait = min(wait ?? .max, 5_000_000) }
        if flushFunction != nil && ledger.hasPending {
            wait = min(wait ?? .max, lastFlush + flushInterval > now ? lastFlush + flushInterval - now : 0)
        }
        return wait
    }

    /// The rewind after an abort is done.
    func rewound() {
        rewindNeeded = false
    }

    /// Commits the open transaction with the offsets settled since the last one, when the commit
    /// interval has passed (or `now`).
    /// - Returns: false when the transaction was aborted (the partitions go back to the committed
    ///   offsets before the next fetch).
    @discardableResult
    func commitTransaction(now: Bool) -> Bool {
        guard let transaction, let offsets = committer.takeForTransaction(force: now) else { return true }
        let list = RDKafkaTopicPartitionList(topic: function.trigger.topic, offsets)
        let outcome = transaction.commit(list, consumer: consumer)
        let failures = invoker.collectTransactionOutputs()
        switch outcome {
        case .committed:
            committer.committedInTransaction(offsets)
            // The embedded broker (librdkafka's mock cluster) discards a transaction's offsets:
            // there the same offsets are committed outside it too (asynchronously). Never on
            // Kafka: such a commit bypasses KIP-447's fencing and, arriving after a later
            // transaction's offsets, could move the group back (duplicates after a restart).
            if !offsets.isEmpty && transactionalOffsetsDiscarded { try? consumer.commit(list, async: true) }
            return true
        case .aborted(let error):
            let detail = failures.isEmpty ? "" : "; " + failures.prefix(3).joined(separator: "; ")
            logger.error("'\(function.name)': transaction \(transaction.transactionalID) was aborted (\(error.reason)\(detail)); its outputs are discarded and its messages are consumed and called again from the committed offsets")
            committer.rollBack()
            rewindNeeded = true
            return false
        case .fatal(let error):
            logger.critical("'\(function.name)': the transactional producer \(transaction.transactionalID) cannot go on (\(error.reason)). The worker stops; the supervisor starts a new one, whose producer aborts what this one left open")
            stopAfterFatalError = true
            TransactionalOutputs.onFatalError("'\(function.name)': \(error.message)")
            return false
        }
    }
}
