import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Ordering `partition`: failed messages hold their partition; the failure policy's decisions
/// are carried out here (retry when due, dead-letter), and a settled partition resumes.
extension TriggerListener {
    /// The first failure of `messages` (of one partition): hold them for a retry, or dead-letter
    /// them at once when the policy allows no retry.
    /// - Parameter messages: taken out of the fetch: the held partition owns them from now on.
    func failedFirstTime(partition: Int32, messages: consuming RDKafkaMessages, error: String, resumeOffset: Int64) {
        let held = HeldMessages(messages: messages, failures: 1, lastError: error, due: 0, resumeOffset: resumeOffset)
        holds.hold(partition, held)
        pause(partition)
        scheduleNextAttempt(partition, held)
    }

    /// After a failed attempt: log it, and either schedule a retry or dead-letter the messages.
    func scheduleNextAttempt(_ partition: Int32, _ held: HeldMessages) {
        switch failures.decide(afterFailures: held.failures, messages: describe(held.messages.pointers), error: held.lastError, waiting: "the partition") {
        case .retry(let delay):
            held.due = monotonicNanoseconds() + UInt64(delay * 1e9)
        case .deadLetter:
            held.deadLetterReason = .failed
            sendHeldToDeadLetters(partition, held)
        }
    }

    /// Gives held partitions whose time has come their next attempt.
    func attemptDueHeldPartitions() {
        let due = holds.dueHeld(now: monotonicNanoseconds())
        // Invocations still waiting for their outputs settle first: a partition settled past its
        // held messages resumes after everything it had called, which must be known by then.
        if !due.isEmpty { settleAcknowledgedOutputs(waitingForAll: true) }
        for partition in due {
            if stopRequested.load(ordering: .relaxed) { return }
            guard let held = holds.held(partition) else { continue }
            if held.deadLetterReason != nil {
                sendHeldToDeadLetters(partition, held)
                continue
            }
            if held.waitingForSchemaRegistry {
                guard askSchemaRegistryAgain(partition, held) else { continue }
            } else {
                invoker.statistics.recordRetry()
            }
            let outcome: InvocationOutcome = held.messages.withPointers { attemptHeld($0) }
            let firstFailed = (0..<held.messages.count).first { outcome.failed($0) }
            // The ones that succeeded are released; the failed ones stay held.
            held.messages.remove(where: { !outcome.failed($0) }) { forgetCrashes($0.pointer) }
            // Everything before the first message still held is settled now.
            if let first = held.messages.first, firstFailed != nil {
                record(partition, settledUpTo: first.pointee.offset, pending: outcome.pending)
            }
            if let firstFailed {
                held.failures += 1
                held.lastError = outcome.reason(for: firstFailed)
                scheduleNextAttempt(partition, held)
            } else {
                settle(partition, pending: outcome.pending)
            }
        }
    }

    /// Calls the function with a held partition's messages: MANY as one batch; ONE one message
    /// at a time, in order, up to the first that fails (the ones after it count as failed, not
    /// yet attempted). Several are held for ONE when a failed delivery failed the invocations
    /// that followed too.
    private func attemptHeld(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome {
        guard function.trigger.cardinality == .one, messages.count > 1 else { return attempt(messages) }
        var combined = InvocationOutcome()
        for index in messages.indices {
            let outcome = attempt(UnsafeBufferPointer(rebasing: messages[index...index]))
            combined.pending = combined.pending || outcome.pending
            if let failure = outcome.failure ?? outcome.failedItems[0] {
                for later in index..<messages.count { combined.failedItems[later] = failure }
                break
            }
        }
        return combined
    }

    /// Dead-letters a held partition's messages; settles it when that worked, else keeps trying.
    func sendHeldToDeadLetters(_ partition: Int32, _ held: HeldMessages) {
        let reason = held.deadLetterReason ?? .failed
        if let failure = deadLetters.send(held.messages.pointers, reason: reason, error: held.lastError, attempts: held.failures) {
            held.due = monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9)
            failures.deadLetterFailed(messages: describe(held.messages.pointers), failure: failure)
            return
        }
        failures.deadLettered(messages: describe(held.messages.pointers), reason: reason, attempts: held.failures)
        held.messages.pointers.forEach(forgetCrashes)
        held.destroyMessages()
        settle(partition, pending: false)
    }

    /// Dead-letters messages that cannot be delivered at all, right away. When the send fails,
    /// their partition holds at them until it succeeds.
    func deadLetter(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int) {
        let partition = messages[0].pointee.partition
        let offset = messages[0].pointee.offset
        failures.refused(messages: describe(messages), error: error)
        if let failure = deadLetters.send(messages, reason: reason, error: error, attempts: attempts) {
            // Taken out of the fetch: the held partition owns them until the send succeeds.
            let held = HeldMessages(messages: fetched.take(messages), failures: attempts, lastError: error,
                                    due: monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9), resumeOffset: offset + 1)
            held.deadLetterReason = reason
            holds.hold(partition, held)
            pause(partition)
            failures.deadLetterFailed(messages: describe(messages), failure: failure)
            return
        }
        messages.forEach(forgetCrashes)
        advance(partition, to: offset + 1, pending: false)
    }

    func describe(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>]) -> String {
        FailurePolicy.describe(topic: function.trigger.topic, messages.map { ($0.pointee.partition, $0.pointee.offset) })
    }

    /// Everything of `partition` before `offset` is settled (pending: not durable until a flush);
    /// `messages` were settled by it (the count operators see). Behind invocations whose outputs
    /// are not acknowledged yet, it waits its turn.
    @inline(__always)
    func advance(_ partition: Int32, to offset: Int64, pending: Bool, messages: Int = 1) {
        if let awaiting, !awaiting.isEmpty {
            // Behind the open group: later calls must not join an entry queued before this one.
            sealOutputGroup()
            makeRoomForOutputs(messages: 0)
            if let held = holds.held(partition) {
                held.resumeOffset = max(held.resumeOffset, offset)
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
        if let settlement, !pending { settlement.recordSettled(partition: partition, settled: offset) }
    }

    /// A held partition's messages are settled: store past them, seek to where the partition
    /// left off and let it flow again.
    func settle(_ partition: Int32, pending: Bool) {
        guard let held = holds.release(partition) else { return }
        held.destroyMessages()
        advance(partition, to: held.resumeOffset, pending: pending)
        let list = partitionList([(partition, held.resumeOffset)])
        // Resume first: librdkafka 2.0.2's resume does not wake the fetching broker thread
        // (it would fetch again only within a second), the seek does.
        consumer.resume(list)
        do {
            try consumer.seek(list, timeoutMs: 5_000)
        } catch {
            logger.warning("Seeking partition \(partition) to \(held.resumeOffset) failed: \(error.reason)")
        }
    }

    func pause(_ partition: Int32) {
        consumer.pause(partitionList([(partition, -1)]))
    }
}
