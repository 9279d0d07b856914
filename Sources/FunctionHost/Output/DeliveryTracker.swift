import Foundation
import Synchronization

/// Counts the records an invocation has queued and waits until librdkafka has reported each
/// one's delivery. Delivery reports arrive on the producer's poll thread.
///
/// A delivered record costs two atomic operations and no lock: the lock is taken only for a
/// failure, when the last pending record is reported, and by a waiter.
final class DeliveryTracker: @unchecked Sendable {
    private let condition = NSCondition()
    private let pending = Atomic<Int>(0)
    private let deliveredCount = Atomic<Int>(0)
    /// Where the last reported record landed (one record sent with a delivery pointer).
    private let lastPartition = Atomic<Int32>(-1)
    private let lastOffset = Atomic<Int64>(-1)
    private let lastErrorCode = Atomic<Int32>(0)
    /// Under `condition`.
    private var failures: [String] = []
    /// Records (and their key and value bytes) queued since the last ``waitForAll()``; written and
    /// read by the sending thread only.
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
    var hasPending: Bool { pending.load(ordering: .acquiring) > 0 }

    func willSend(bytes: Int) {
        pending.wrappingAdd(1, ordering: .relaxed)
        queuedRecords += 1
        queuedBytes += bytes
    }

    /// The record could not be queued, so no delivery report will come for it. `reason` nil: the
    /// sender handles the refusal itself (it is neither a failure here nor queued).
    func notQueued(_ reason: String?, bytes: Int) {
        if let reason {
            condition.lock()
            failures.append(reason)
            condition.unlock()
        } else {
            queuedRecords -= 1
            queuedBytes -= bytes
        }
        reported()
    }

    func delivered(partition: Int32, offset: Int64, errorCode: Int32, error: String?) {
        lastPartition.store(partition, ordering: .relaxed)
        lastOffset.store(offset, ordering: .relaxed)
        lastErrorCode.store(errorCode, ordering: .relaxed)
        if let error {
            condition.lock()
            failures.append(error)
            condition.unlock()
        } else {
            deliveredCount.wrappingAdd(1, ordering: .relaxed)
        }
        reported()
    }

    /// One record is accounted for; the last one wakes a waiter (under the lock, so none misses it).
    private func reported() {
        if pending.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Waits until every queued record is reported, or until `deadline`; true when they are.
    func waitUntilReported(deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while pending.load(ordering: .acquiring) > 0 {
            if !condition.wait(until: deadline) { return pending.load(ordering: .acquiring) == 0 }
        }
        return true
    }

    /// Waits until every queued record is reported, then returns the outcome and starts afresh.
    func waitForAll() -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while pending.load(ordering: .acquiring) > 0 { condition.wait() }
        let outcome = Outcome(partition: lastPartition.load(ordering: .relaxed), offset: lastOffset.load(ordering: .relaxed),
                              errorCode: lastErrorCode.load(ordering: .relaxed), failures: failures,
                              delivered: deliveredCount.exchange(0, ordering: .relaxed))
        if !failures.isEmpty { failures.removeAll(keepingCapacity: true) }
        queuedRecords = 0
        queuedBytes = 0
        lastPartition.store(-1, ordering: .relaxed)
        lastOffset.store(-1, ordering: .relaxed)
        lastErrorCode.store(0, ordering: .relaxed)
        return outcome
    }
}
