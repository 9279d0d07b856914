import Logging

/// What becomes of messages whose attempt failed (for the ``AttemptEngine``): the retry policy's decision, and the one set of log
/// lines that says it. The caller carries the decision out (waits, or dead-letters).
struct FailurePolicy: Sendable {
    enum Decision: Equatable, Sendable {
        /// Try again after this long.
        case retry(after: Duration)
        /// No more attempts: send to the dead-letter topic.
        case deadLetter
    }

    let retry: RetryPolicy
    let functionName: String
    let deadLetterTopic: String
    let logger: Logger

    /// How long the caller waits before sending to the dead-letter topic again after that failed.
    static let deadLetterRetry = Duration.seconds(5)

    /// Decides after the `failures`-th failed attempt, and logs it.
    /// - Parameters:
    ///   - messages: "topic T partition P offset O" of what failed.
    ///   - fields: the same as log fields (``InvocationLogFields``), for the JSON log format.
    ///   - waiting: what waits meanwhile (the partition, or the messages of the same key).
    func decide(afterFailures failures: Int, messages: String, fields: Logger.Metadata = [:], error: String, waiting: String) -> Decision {
        guard retry.retries(afterFailures: failures) else {
            logger.error("Function '\(functionName)' failed at \(messages): \(error). Attempt \(failures) failed and the retry policy allows no more; sending to dead-letter topic \(deadLetterTopic).", metadata: fields)
            return .deadLetter
        }
        let delay = retry.delay(afterFailures: failures)
        logger.error("Function '\(functionName)' failed at \(messages): \(error). Attempt \(failures) failed; trying again in \(Self.seconds(delay.seconds)) (\(waiting) waits; nothing after it is committed before it is settled).", metadata: fields)
        return .retry(after: delay)
    }

    /// Messages that cannot be delivered at all (they crashed the host too often, or are not text).
    func refused(messages: String, fields: Logger.Metadata = [:], error: String) {
        logger.error("Function '\(functionName)' cannot take \(messages): \(error). Sending it to dead-letter topic \(deadLetterTopic).", metadata: fields)
    }

    /// The dead-letter send failed: nothing is skipped, it is tried again.
    func deadLetterFailed(messages: String, fields: Logger.Metadata = [:], failure: String) {
        logger.critical("Function '\(functionName)': sending \(messages) to dead-letter topic \(deadLetterTopic) FAILED: \(failure). Nothing is skipped: the offset does not move forward past it; trying again in \(Self.seconds(Self.deadLetterRetry.seconds)).", metadata: fields)
    }

    func deadLettered(messages: String, fields: Logger.Metadata = [:], reason: DeadLetterReason, attempts: Int) {
        logger.warning("Function '\(functionName)': sent \(messages) to dead-letter topic \(deadLetterTopic) (\(reason.rawValue) after \(attempts) attempt(s))", metadata: fields.merging(["reason": .string(reason.rawValue)]) { $1 })
    }

    static func seconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    /// "topic T partition P offset O[,O...]" for log lines.
    static func describe(topic: String, _ messages: [(partition: Int32, offset: Int64)]) -> String {
        let partitions = Dictionary(grouping: messages, by: \.partition)
        return partitions.keys.sorted().map { partition in
            "topic \(topic) partition \(partition) offset \(partitions[partition]!.map { "\($0.offset)" }.joined(separator: ","))"
        }.joined(separator: "; ")
    }
}
