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
    func failedFirstTime(partition: Int32, messages: [UnsafeMutablePointer<rd_kafka_message_t>], error: String, resumeOffset: Int64) {
        let held = HeldMessages(messages: messages, failures: 1, lastError: error, due: 0, resumeOffset: resumeOffset)
        progress.hold(partition, held)
        pause(partition)
        scheduleNextAttempt(partition, held)
    }

    /// After a failed attempt: log it, and either schedule a retry or dead-letter the messages.
    func scheduleNextAttempt(_ partition: Int32, _ held: HeldMessages) {
        switch failures.decide(afterFailures: held.failures, messages: describe(held.messages), error: held.lastError, waiting: "the partition") {
        case .retry(let delay):
            held.due = monotonicNanoseconds() + UInt64(delay * 1e9)
        case .deadLetter:
            held.deadLetterReason = .failed
            sendHeldToDeadLetters(partition, held)
        }
    }

    /// Gives held partitions whose time has come their next attempt.
    func attemptDueHeldPartitions() {
        for partition in progress.dueHeld(now: monotonicNanoseconds()) {
            if stopRequested.load(ordering: .relaxed) { return }
            guard let held = progress.held(partition) else { continue }
            if held.deadLetterReason != nil {
                sendHeldToDeadLetters(partition, held)
                continue
            }
            let messages = held.messages
            invoker.statistics.recordRetry()
            let outcome: InvocationOutcome = messages.withUnsafeBufferPointer { attempt($0) }
            var stillFailed: [UnsafeMutablePointer<rd_kafka_message_t>] = []
            for (index, message) in messages.enumerated() {
                if outcome.failed(index) {
                    stillFailed.append(message)
                } else {
                    forgetCrashes(message)
                    rd_kafka_message_destroy(message)
                }
            }
            if stillFailed.isEmpty {
                held.messages = []
                settle(partition, pending: outcome.pending)
            } else {
                held.messages = stillFailed
                held.failures += 1
                held.lastError = outcome.reason(for: messages.firstIndex(of: stillFailed[0])!)
                scheduleNextAttempt(partition, held)
            }
        }
    }

    /// Dead-letters a held partition's messages; settles it when that worked, else keeps trying.
    func sendHeldToDeadLetters(_ partition: Int32, _ held: HeldMessages) {
        let reason = held.deadLetterReason ?? .failed
        if let failure = deadLetters.send(held.messages, reason: reason, error: held.lastError, attempts: held.failures) {
            held.due = monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9)
            failures.deadLetterFailed(messages: describe(held.messages), failure: failure)
            return
        }
        failures.deadLettered(messages: describe(held.messages), reason: reason, attempts: held.failures)
        held.messages.forEach(forgetCrashes)
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
            let held = HeldMessages(messages: messages, failures: attempts, lastError: error,
                                    due: monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9), resumeOffset: offset + 1)
            held.deadLetterReason = reason
            messages.forEach { retainedThisFetch.insert($0) }
            progress.hold(partition, held)
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

    /// Everything of `partition` before `offset` is settled (pending: not durable until a flush).
    @inline(__always)
    func advance(_ partition: Int32, to offset: Int64, pending: Bool) {
        settledCount.wrappingAdd(1, ordering: .relaxed)
        progress.advance(partition, to: offset, pending: pending)
        if let settlement, !pending { settlement.recordSettled(partition: partition, settled: offset) }
    }

    /// A held partition's messages are settled: store past them, seek to where the partition
    /// left off and let it flow again.
    func settle(_ partition: Int32, pending: Bool) {
        guard let held = progress.release(partition) else { return }
        held.destroyMessages()
        advance(partition, to: held.resumeOffset, pending: pending)
        withPartitionList([(partition, held.resumeOffset)]) { list in
            // Resume first: librdkafka 2.0.2's resume does not wake the fetching broker thread
            // (it would fetch again only within a second), the seek does.
            _ = rd_kafka_resume_partitions(consumer, list)
            if let error = rd_kafka_seek_partitions(consumer, list, 5_000) {
                logger.warning("Seeking partition \(partition) to \(held.resumeOffset) failed: \(String(cString: rd_kafka_error_string(error)))")
                rd_kafka_error_destroy(error)
            }
        }
    }

    func pause(_ partition: Int32) {
        withPartitionList([(partition, -1)]) { list in
            _ = rd_kafka_pause_partitions(consumer, list)
        }
    }
}
