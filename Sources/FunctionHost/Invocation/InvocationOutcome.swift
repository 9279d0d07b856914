/// What one call of a function came to.
struct InvocationOutcome {
    /// The whole invocation failed (thrown error, non-zero return, undelivered output).
    var failure: String?
    /// Items the function reported as failed (MANY).
    var failedItems: [Int: String] = [:]
    /// SF_PENDING: succeeded, durable after the next flush.
    var pending = false
    /// Succeeded, but records it sent are not acknowledged yet: its messages are settled once
    /// they are (``Invoker/settle(_:)``), or fail if one is not delivered.
    var outputsInFlight: InvocationDeliveries?

    var succeeded: Bool { failure == nil && failedItems.isEmpty }
    func failed(_ index: Int) -> Bool { failure != nil || failedItems[index] != nil }
    func reason(for index: Int) -> String { failure ?? failedItems[index].map { "item \(index) failed: \($0)" } ?? "failed" }
}
