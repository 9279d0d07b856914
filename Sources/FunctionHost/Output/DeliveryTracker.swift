import Foundation

/// Counts the records an invocation has queued and waits until librdkafka has reported each
/// one's delivery. Delivery reports arrive on the producer's poll thread.
final class DeliveryTracker: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending = 0
    private var failures: [String] = []
    private var lastPartition: Int32 = -1
    private var lastOffset: Int64 = -1
    private var lastErrorCode: Int32 = 0
    private var deliveredCount = 0
    /// Records (and their key and value bytes) queued since the last ``waitForAll()``.
    private(set) var queuedRecords = 0
    private(set) var queuedBytes = 0

    struct Outcome {
        var partition: Int32
        var offset: Int64
        var errorCode: Int32
        var failures: [String]
        /// Records delivered without an error (for the metrics endpoint).
        var delivered = 0
    }

    /// Some queued record has not been reported yet.
    var hasPending: Bool {
        condition.lock()
        defer { condition.unlock() }
        return pending > 0
    }

    func willSend(bytes: Int) {
        condition.lock()
        pending += 1
        queuedRecords += 1
        queuedBytes += bytes
        condition.unlock()
    }

    /// The record could not be queued, so no delivery report will come for it.
    func notQueued(_ reason: String) {
        condition.lock()
        pending -= 1
        failures.append(reason)
        condition.broadcast()
        condition.unlock()
    }

    func delivered(partition: Int32, offset: Int64, errorCode: Int32, error: String?) {
        condition.lock()
        pending -= 1
        lastPartition = partition
        lastOffset = offset
        lastErrorCode = errorCode
        if let error { failures.append(error) } else { deliveredCount += 1 }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every queued record is reported, then returns the outcome and starts afresh.
    func waitForAll() -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while pending > 0 { condition.wait() }
        let outcome = Outcome(partition: lastPartition, offset: lastOffset, errorCode: lastErrorCode, failures: failures,
                              delivered: deliveredCount)
        failures.removeAll(keepingCapacity: true)
        deliveredCount = 0
        queuedRecords = 0
        queuedBytes = 0
        lastPartition = -1
        lastOffset = -1
        lastErrorCode = 0
        return outcome
    }
}
