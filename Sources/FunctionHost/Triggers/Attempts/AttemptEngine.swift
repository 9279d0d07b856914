import CRdKafka
import Logging

/// What the engine calls: the function, through an ``Invoker`` (the tests script outcomes).
protocol FunctionCalling: AnyObject {
    /// Calls the function once with `messages`.
    func attemptOnce(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome
    /// An attempt is a retry (for the metrics).
    func countRetry()
    /// The policy decided about the last failed attempt (a traced function puts it on that
    /// attempt's span); returns the attempt's `traceparent`, for its dead letters.
    func traceDecision(_ decision: FailurePolicy.Decision, attempt: Int) -> String?
}

extension FunctionCalling {
    func traceDecision(_ decision: FailurePolicy.Decision, attempt: Int) -> String? { nil }
}

/// Where the engine sends what is given up: the dead-letter topic (``DeadLetterWriter``).
protocol DeadLetterSending: AnyObject {
    /// Sends `messages` and waits for their delivery; returns the first failure, nil when all were delivered.
    /// - Parameter traceparent: the failed invocation's, in place of the record's (nil: the record's headers as they are).
    func send(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int,
              traceparent: String?) -> String?
}

extension Invoker: FunctionCalling {
    func attemptOnce(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome {
        attempt(messages)
    }

    func countRetry() {
        statistics.recordRetry()
    }

    func traceDecision(_ decision: FailurePolicy.Decision, attempt: Int) -> String? {
        tracing?.decided(decision, attempt: attempt)
    }
}

extension DeadLetterWriter: DeadLetterSending {}

/// The one attempt engine: calls the function with held messages, settles the ones that
/// succeeded, and carries out the ``FailurePolicy``'s decision for the rest — a retry when its
/// backoff is over, or the dead letter (tried again every 5 s while the send fails, so nothing is
/// skipped). The consuming thread (ordering partition, its failed partitions held meanwhile) and
/// every lane (ordering key or unordered, waiting in place) step through the same code; only how
/// they wait for ``Progress/due(at:)`` differs.
final class AttemptEngine {
    /// Where held messages stand after a step.
    enum Progress: Equatable {
        /// Every message is settled (pending: durable only after the function's flush).
        case settled(pending: Bool)
        /// Some wait: the next step is due at this monotonic time (nanoseconds); the ones that
        /// succeeded before the first that waits returned SF_PENDING when `pending`.
        case due(at: UInt64, pending: Bool)
    }

    private let calls: any FunctionCalling
    let failures: FailurePolicy
    private let deadLetters: any DeadLetterSending
    /// Cardinality ONE: several held messages are called one at a time, in order.
    private let oneAtATime: Bool
    /// What waits while they do, for the log ("the partition", "the lane ...").
    private let waiting: String
    private let topic: String

    init(calls: any FunctionCalling, failures: FailurePolicy, deadLetters: any DeadLetterSending, function: FunctionConfiguration, waiting: String) {
        self.calls = calls
        self.failures = failures
        self.deadLetters = deadLetters
        oneAtATime = function.trigger.cardinality == .one
        self.waiting = waiting
        topic = function.trigger.topic
    }

    /// The next step for held messages whose time has come: the dead letter again, or a retry.
    func next(_ held: HeldMessages, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        if held.deadLetterReason != nil { return sendToDeadLetters(held, settled: settled) }
        calls.countRetry()
        return attempt(held, settled: settled)
    }

    /// Calls the function with the held messages: MANY as one batch; ONE one message at a time,
    /// in order, up to the first that fails (the ones after it count as failed, not yet
    /// attempted). Hands the ones that succeeded to `settled`; for the rest, the policy decides.
    func attempt(_ held: HeldMessages, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        let outcome = held.messages.withPointers { call($0) }
        return afterAttempt(held, outcome, settled: settled)
    }

    /// After a call of the held messages returned `outcome`.
    func afterAttempt(_ held: HeldMessages, _ outcome: InvocationOutcome, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        let firstFailed = (0..<held.messages.count).first { outcome.failed($0) }
        held.messages.remove(where: { !outcome.failed($0) }, settled)
        guard let firstFailed else { return .settled(pending: outcome.pending) }
        held.failures += 1
        held.lastError = outcome.reason(for: firstFailed)
        return decide(held, pending: outcome.pending, settled: settled)
    }

    /// The held messages failed `held.failures` times: wait for a retry, or dead-letter them.
    func decide(_ held: HeldMessages, pending: Bool = false, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        let decision = failures.decide(afterFailures: held.failures, messages: describe(held), fields: fields(held), error: held.lastError, waiting: waiting)
        if let traceparent = calls.traceDecision(decision, attempt: held.failures) { held.traceparent = traceparent }
        switch decision {
        case .retry(let delay):
            held.due = monotonicNanoseconds() + delay.nanoseconds
            return .due(at: held.due, pending: pending)
        case .deadLetter:
            held.deadLetterReason = .failed
            return sendToDeadLetters(held, pending: pending, settled: settled)
        }
    }

    /// Messages the function is not called with (``Admission``'s refusal): dead-lettered now.
    func refuse(_ held: HeldMessages, _ refusal: Refusal, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        held.deadLetterReason = refusal.reason
        held.lastError = refusal.error
        held.failures = refusal.attempts
        failures.refused(messages: describe(held), fields: fields(held), error: refusal.error)
        return sendToDeadLetters(held, settled: settled)
    }

    /// The one dead-letter write: on success the messages are settled; on failure they wait
    /// ``FailurePolicy/deadLetterRetry`` and are sent again (nothing after them is committed).
    private func sendToDeadLetters(_ held: HeldMessages, pending: Bool = false, settled: (consuming RDKafkaMessage) -> Void) -> Progress {
        let reason = held.deadLetterReason ?? .failed
        if let failure = deadLetters.send(held.messages.pointers, reason: reason, error: held.lastError, attempts: held.failures,
                                          traceparent: held.traceparent) {
            failures.deadLetterFailed(messages: describe(held), fields: fields(held), failure: failure)
            held.due = monotonicNanoseconds() + FailurePolicy.deadLetterRetry.nanoseconds
            return .due(at: held.due, pending: pending)
        }
        failures.deadLettered(messages: describe(held), fields: fields(held), reason: reason, attempts: held.failures)
        held.messages.removeAll(settled)
        return .settled(pending: pending)
    }

    private func call(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome {
        guard oneAtATime, messages.count > 1 else { return calls.attemptOnce(messages) }
        var combined = InvocationOutcome()
        for index in messages.indices {
            let outcome = calls.attemptOnce(UnsafeBufferPointer(rebasing: messages[index...index]))
            combined.pending = combined.pending || outcome.pending
            if let failure = outcome.failure ?? outcome.failedItems[0] {
                for later in index..<messages.count { combined.failedItems[later] = failure }
                break
            }
        }
        return combined
    }

    func describe(_ held: HeldMessages) -> String {
        FailurePolicy.describe(topic: topic, held.messages.pointers.map { ($0.pointee.partition, $0.pointee.offset) })
    }

    /// The same as log fields, with the attempt that failed last (none before the first call).
    func fields(_ held: HeldMessages) -> Logger.Metadata {
        InvocationLogFields.metadata(topic: topic, messages: held.messages.pointers.map { ($0.pointee.partition, $0.pointee.offset) },
                                     attempt: held.failures > 0 ? held.failures : nil)
    }
}
