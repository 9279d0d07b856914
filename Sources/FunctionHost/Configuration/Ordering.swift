/// How a trigger's messages may run in parallel (`ordering` in the kafkaTrigger binding).
public enum Ordering: String, Sendable, CaseIterable {
    /// One invocation at a time, in order per partition (the default, and the fastest path for
    /// a function that does no waiting: no thread hand-off).
    case partition
    /// In order per key, up to `maxConcurrency` invocations at once across keys (beyond the
    /// partition count). Messages without a key keep their partition's order among themselves.
    case key
    /// Up to `maxConcurrency` invocations at once, in any order.
    case unordered

    /// `maxConcurrency` when the binding names none: enough lanes that a function waiting on a
    /// service for a millisecond keeps up with a few tens of thousands of messages a second.
    public static let defaultMaxConcurrency = 64
    /// `maxQueuedMessages` when the binding names none: a few fetches' worth, a few hundred
    /// kilobytes of 100-byte messages held in librdkafka's buffers.
    public static let defaultMaxQueuedMessages = 4096
    /// More lanes than this is more threads than any host should run per function.
    public static let maximumConcurrency = 1024

    static func parse(_ text: String, in binding: JSONObject) throws -> Ordering {
        guard let value = allCases.first(where: { $0.rawValue == normalizedEnumValue(text) }) else {
            throw binding.error("ordering", "unknown value '\(text)'; use partition (in order per partition, the default), key (in order per key, in parallel across keys) or unordered")
        }
        return value
    }
}
