import Logging

/// The metadata of an invocation's "Executed" log line: what the JSON log format writes as
/// fields (the text format has them in the message already).
enum InvocationLogFields {
    static let outcome = "outcome"
    static let duration = "durationMs"
    static let partition = "partition"
    static let offset = "offset"
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

    /// Keys the text format leaves out of an "Executed" line (its message says them).
    static let inMessage: Set<String> = [outcome, duration, partition, offset, invocation]
}
