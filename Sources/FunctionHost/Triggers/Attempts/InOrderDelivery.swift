import CRdKafka
import Logging

/// Ordering `partition`: the consuming thread's calls, in partition order. Each fresh message
/// is admitted (``Admission``), the ones to call are called together (a batch for MANY, one
/// at a time for ONE) and settled (``Settlement``); a failed one holds its partition for a retry
/// (``PartitionRetries``), a refused one is dead-lettered, one the schema registry cannot be
/// asked about waits (``SchemaRegistryWaits``). Consuming thread only.
final class InOrderDelivery {
    private let function: FunctionConfiguration
    private let invoker: Invoker
    private let admission: Admission
    private let control: PartitionControl
    private let settlement: Settlement
    private let retries: PartitionRetries
    private let schemaWaits: SchemaRegistryWaits
    private let fetched: RDKafkaFetchBuffer
    private let crashes: CrashLedger?
    private let hasFlush: Bool
    private let logger: Logger
    private var warnedAboutMissingFlush = false

    init(function: FunctionConfiguration, invoker: Invoker, admission: Admission, control: PartitionControl, settlement: Settlement,
         retries: PartitionRetries, schemaWaits: SchemaRegistryWaits, fetched: RDKafkaFetchBuffer, crashes: CrashLedger?,
         hasFlush: Bool, logger: Logger) {
        self.function = function
        self.invoker = invoker
        self.admission = admission
        self.control = control
        self.settlement = settlement
        self.retries = retries
        self.schemaWaits = schemaWaits
        self.fetched = fetched
        self.crashes = crashes
        self.hasFlush = hasFlush
        self.logger = logger
    }

    /// How long a ONE function may work through one fetch before the consumer polls again
    /// (serving a rebalance, say); the rest of the fetch waits for the next round.
    static let oneFetchTimeBudget: UInt64 = 250_000_000

    /// ONE: one call per eligible message. A slow function must not keep the consumer from
    /// polling for long (a rebalance waits on that poll), and no call starts without room among
    /// the unacknowledged outputs: the rest of the fetch is then carried over to the next round.
    func deliverOneByOne(_ eligible: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>, count eligibleCount: Int,
                         stopRequested: () -> Bool) -> UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>> {
        let started = coarseMonotonicNanoseconds()
        for index in 0..<eligibleCount {
            if stopRequested() { break }
            if (index & 7 == 7 && coarseMonotonicNanoseconds() &- started > Self.oneFetchTimeBudget) || !settlement.roomForOutputs(messages: 1) {
                return UnsafeMutableBufferPointer(start: eligible + index, count: eligibleCount - index)
            }
            let message = eligible[index]
            // A partition held by an earlier message of this fetch gets it again after its seek.
            guard control.handles(message.pointee.partition) else { continue }
            let disposition = admission.disposition(message)
            if disposition == .invoke {
                invoke(UnsafeMutableBufferPointer(start: eligible + index, count: 1))
            } else {
                deliverFresh(UnsafeMutableBufferPointer(start: eligible + index, count: 1), first: disposition)
            }
        }
        return UnsafeMutableBufferPointer(start: eligible, count: 0)
    }

    // MARK: - Admitting

    /// Delivers fresh messages (one for ONE, a batch for MANY) by their disposition: the ones
    /// to call are called together; the others are settled, refused or kept for the registry in
    /// order — the messages gathered for a call before one of them are called first, so no
    /// offset is stored before the messages ahead of it are settled.
    /// - Parameter first: the first message's disposition, when the caller asked already.
    func deliverFresh(_ batch: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, first: Disposition? = nil) {
        var kept = 0
        // Skipped messages behind one that is called are settled only once that call is (their
        // partition is not held after it): a stored offset never passes a failure.
        var skippedBehindCalls: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        for (index, message) in batch.enumerated() where control.handles(message.pointee.partition) {
            let disposition = index == 0 ? first ?? admission.disposition(message) : admission.disposition(message)
            if disposition.isCalled {
                batch[kept] = message
                kept += 1
                continue
            }
            if disposition.isSkipped {
                if kept == 0 {
                    settlement.advance(message.pointee.partition, to: message.pointee.offset + 1, pending: false)
                } else {
                    skippedBehindCalls.append(message)
                }
                continue
            }
            if kept > 0 {
                invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept]))
                kept = 0
                if !control.handles(message.pointee.partition) { continue }
            }
            if let refusal = admission.refusal(for: disposition, message, decoder: invoker.decoder) {
                retries.refuse(fetched.take(message), refusal)
            } else {
                schemaWaits.wait(at: fetched.take(message))
            }
        }
        if kept > 0 { invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept])) }
        for message in skippedBehindCalls where control.handles(message.pointee.partition)
            && !settlement.isSettled(message.pointee.partition, offset: message.pointee.offset) {
            settlement.advance(message.pointee.partition, to: message.pointee.offset + 1, pending: false)
        }
    }

    // MARK: - Attempting

    /// Calls the function with `ready` (fresh messages of partitions it handles, in order) and
    /// settles them, or holds the failed ones for a retry.
    func invoke(_ ready: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        // A batch holding a message that crashed the host before is delivered one message at a
        // time, so the next crash points at the culprit alone.
        if ready.count > 1, ready.contains(where: { admission.crashCount($0) > 0 }) {
            for index in ready.indices where control.handles(ready[index].pointee.partition) {
                invoke(UnsafeMutableBufferPointer(rebasing: ready[index...index]))
            }
            return
        }
        let outcome = invoker.attempt(UnsafeBufferPointer(ready), deferringOutputs: settlement.awaiting != nil)
        if outcome.pending && !hasFlush && !warnedAboutMissingFlush {
            warnedAboutMissingFlush = true
            logger.error("Function '\(function.name)' returned SF_PENDING but exports no \(function.entryPoint)_flush: its records are never committed and will be delivered again after a restart")
        }
        guard !outcome.succeeded else {
            // With output bindings: settled once its records are acknowledged, in turn (the
            // thread goes on with the next messages meanwhile).
            if let inFlight = outcome.outputsInFlight, settlement.awaiting != nil {
                settlement.awaitOutputs(inFlight, pending: outcome.pending, messages: UnsafeBufferPointer(ready), from: fetched)
                return
            }
            settleRuns(ready, pending: outcome.pending)
            return
        }
        // Earlier invocations still waiting for their outputs settle first, so a partition held
        // here continues after everything it called (a failed delivery may hold one right now).
        if let inFlight = outcome.outputsInFlight { settlement.discardOwnGroup(inFlight) }
        settlement.settleAcknowledgedOutputs(waitingForAll: true)
        retries.adopt(settlement.takeDeliveryFailures())
        // Walk in order: each partition advances up to its first failed message; its failed
        // messages are held for a retry; messages that succeeded after one are done but the
        // offset waits for the failed ones.
        var failedByPartition: [Int32: [UnsafeMutablePointer<rd_kafka_message_t>]] = [:]
        for (index, message) in ready.enumerated() {
            let partition = message.pointee.partition
            if outcome.failed(index) {
                failedByPartition[partition, default: []].append(message)
            } else if failedByPartition[partition] == nil {
                // Held just now by an earlier invocation's failed delivery: it continues past this one.
                if control.isHeld(partition, for: .retry) {
                    control.handled(partition, upTo: message.pointee.offset + 1)
                } else {
                    settlement.advance(partition, to: message.pointee.offset + 1, pending: outcome.pending)
                }
                crashes?.forget(message)
            }
        }
        for (partition, failed) in failedByPartition.sorted(by: { $0.key < $1.key }) {
            // ONE: later messages of the fetch are fetched again after the seek. MANY: the whole
            // batch was handled, so the partition continues after its last message in it.
            let last = function.trigger.cardinality == .one ? failed[0] : ready.last { $0.pointee.partition == partition }!
            let error = outcome.reason(for: ready.firstIndex(of: failed[0])!)
            retries.failed(partition, fetched.take(failed), error: error, handledUpTo: last.pointee.offset + 1)
        }
    }

    /// One advance (and one settlement-journal write) per run of a partition's messages: a fetch
    /// holds each partition's messages in order, in runs.
    @inline(__always)
    private func settleRuns(_ ready: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, pending: Bool) {
        guard let first = ready.first else { return }
        var run = (partition: first.pointee.partition, last: first.pointee.offset, count: 0)
        for message in ready {
            let partition = message.pointee.partition
            if partition != run.partition {
                settlement.advance(run.partition, to: run.last + 1, pending: pending, messages: run.count)
                run = (partition, message.pointee.offset, 0)
            }
            run.last = message.pointee.offset
            run.count += 1
            crashes?.forget(message)
        }
        settlement.advance(run.partition, to: run.last + 1, pending: pending, messages: run.count)
    }
}
