import CRdKafka
import Logging

/// Ordering `partition`: failed messages hold their partition (``HoldReasons/retry``) while the
/// consuming thread goes on with the others; when their backoff is over the ``AttemptEngine``
/// takes its next step, and once they are settled the partition is settled up to where it
/// continues and flows again. Messages refused without a call whose dead letter could not be
/// sent wait here the same way. Consuming thread only.
final class PartitionRetries {
    private var holds = HeldPartitions()
    private let engine: AttemptEngine
    private let control: PartitionControl
    private let settlement: Settlement
    private let crashes: CrashLedger?

    init(engine: AttemptEngine, control: PartitionControl, settlement: Settlement, crashes: CrashLedger?) {
        self.engine = engine
        self.control = control
        self.settlement = settlement
        self.crashes = crashes
    }

    var isEmpty: Bool { holds.isEmpty }

    /// `messages` of `partition` failed their first attempt with `error` (taken out of the
    /// fetch: held here from now on); the partition continues past `handledUpTo` once they are
    /// settled. They join the messages already held for it, if any.
    func failed(_ partition: Int32, _ messages: consuming RDKafkaMessages, error: String, handledUpTo offset: Int64) {
        control.hold(partition, .retry)
        control.handled(partition, upTo: offset)
        if let held = holds.held(partition) {
            // Held just now by an earlier invocation's failed delivery: these join its messages.
            messages.removeAll { held.messages.append($0) }
            return
        }
        let held = HeldMessages(messages: messages)
        held.failures = 1
        held.lastError = error
        holds.hold(partition, held)
        after(partition, engine.decide(held, settled: forget))
    }

    /// Messages whose invocation failed after all (a record was not delivered); their
    /// partitions are already held (``Settlement/takeDeliveryFailures()``).
    func adopt(_ failures: [(partition: Int32, messages: HeldMessages)]) {
        for (partition, failed) in failures {
            if let held = holds.held(partition) {
                failed.messages.removeAll { held.messages.append($0) }
                continue
            }
            holds.hold(partition, failed)
            after(partition, engine.decide(failed, settled: forget))
        }
    }

    /// `message` is not to be called (``Admission``'s refusal): dead-lettered now; while the
    /// send fails, its partition waits at it.
    func refuse(_ message: consuming RDKafkaMessage, _ refusal: Refusal) {
        let partition = message.pointer.pointee.partition
        let offset = message.pointer.pointee.offset
        var owned = RDKafkaMessages(reservingCapacity: 1)
        owned.append(message)
        let held = HeldMessages(messages: owned)
        if case .settled = engine.refuse(held, refusal, settled: forget) {
            settlement.advance(partition, to: offset + 1, pending: false)
            return
        }
        control.hold(partition, .retry)
        control.handled(partition, upTo: offset + 1)
        holds.hold(partition, held)
    }

    /// Gives held partitions whose time has come their next step.
    func stepDue(stopRequested: () -> Bool) {
        let due = holds.due(now: monotonicNanoseconds())
        guard !due.isEmpty else { return }
        // Invocations still waiting for their outputs settle first: a partition settled past its
        // held messages continues after everything it had called, which must be known by then.
        settlement.settleAcknowledgedOutputs(waitingForAll: true)
        adopt(settlement.takeDeliveryFailures())
        for partition in due {
            if stopRequested() { return }
            guard let held = holds.held(partition) else { continue }
            after(partition, engine.next(held, settled: forget))
        }
    }

    /// Nanoseconds until the next held partition's step is due.
    func timeUntilNextStep(now: UInt64) -> UInt64? {
        holds.timeUntilNextStep(now: now)
    }

    /// Forgets `partitions` (revoked, assigned anew, or rewound): their held messages are destroyed.
    func reset(_ partitions: some Sequence<Int32>) {
        guard !holds.isEmpty else { return }
        for partition in partitions { holds.reset(partition) }
    }

    /// Forgets every held partition (the consumer closed).
    func resetAll() {
        holds.resetAll()
    }

    // MARK: - Private

    /// After a step: a partition whose held messages are all settled is settled up to where it
    /// continues and flows again; one that still waits is settled up to its first held message.
    private func after(_ partition: Int32, _ progress: AttemptEngine.Progress) {
        guard let held = holds.held(partition) else { return }
        switch progress {
        case .due(_, let pending):
            if let first = held.messages.first { settlement.record(partition, settledUpTo: first.pointee.offset, pending: pending) }
        case .settled(let pending):
            _ = holds.release(partition)
            held.destroyMessages()
            let continuation = control.continuation(of: partition)
            control.release(partition, .retry)
            if let continuation { settlement.advance(partition, to: continuation, pending: pending) }
        }
    }

    private func forget(_ message: consuming RDKafkaMessage) {
        crashes?.forget(message.pointer)
    }
}
