import Logging

/// The metadata of the log lines about an invocation and its messages — the "Executed" line, and
/// the lines saying a message failed, is retried or dead-lettered — which the JSON log format
/// writes as fields (`function` comes from the function's logger). The text format has them in
/// the message already and leaves them out.
enum InvocationLogFields {
    static let outcome = "outcome"
    static let duration = "durationMs"
    static let topic = "topic"
    static let partition = "partition"
    static let offset = "offset"
    static let attempt = "attempt"
    static let invocation = "invocation"

    static func metadata(outcome: String, nanoseconds: UInt64, partition: Int32, offset: Int64, invocation: UInt64) -> Logger.Metadata {
        [
            Self.invocation: .stringConvertible(invocation),
            Self.outcome: .string(outcome),
            duration: .stringConvertible(Double(nanoseconds / 1_000) / 1_000),
            Self.partition: .stringConvertible(partition),
            Self.offset: .stringConvertible(offset),
        ]
    }

    /// Where failed messages are: their topic, and the partition and offset of the first of them
    /// (`messages` more when several: a batch), with the attempt that failed when there was one.
    static func metadata(topic: String, messages: [(partition: Int32, offset: Int64)], attempt: Int?) -> Logger.Metadata {
        var fields: Logger.Metadata = [Self.topic: .string(topic)]
        if let first = messages.first {
            fields[partition] = .stringConvertible(first.partition)
            fields[offset] = .stringConvertible(first.offset)
        }
        if messages.count > 1 { fields["messages"] = .stringConvertible(messages.count) }
        if let attempt { fields[Self.attempt] = .stringConvertible(attempt) }
        return fields
    }

    /// Where a line about one partition is (its topic when known, the partition, the offset).
    static func place(topic: String? = nil, partition: Int32, offset: Int64? = nil) -> Logger.Metadata {
        var fields: Logger.Metadata = [Self.partition: .stringConvertible(partition)]
        if let topic { fields[Self.topic] = .string(topic) }
        if let offset { fields[Self.offset] = .stringConvertible(offset) }
        return fields
    }

    /// Keys the text format leaves out of an "Executed" line (its message says them).
    static let inMessage: Set<String> = [outcome, duration, partition, offset, invocation]
    /// Keys the text format leaves out of any line (the lines that set them say them in words).
    static let alwaysInMessage: Set<String> = [topic, partition, offset, attempt, "messages", "reason", "repeated"]
    /// Keys the JSON format writes as numbers.
    static let numeric: Set<String> = [partition, offset, attempt, invocation, duration, "messages", "repeated"]
}
