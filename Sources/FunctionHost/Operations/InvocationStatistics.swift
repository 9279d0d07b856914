import Foundation
import Synchronization

/// What one ``Invoker`` did, written only by the thread that calls the function through it
/// (the consuming thread, or one concurrency lane): outcomes, durations, batch sizes, retries
/// and output records per binding.
final class InvocationStatistics: @unchecked Sendable {
    enum Outcome: Int, CaseIterable {
        case succeeded, failed, partiallyFailed, pending
        /// The `outcome` label.
        var label: String {
            switch self {
            case .succeeded: "succeeded"
            case .failed: "failed"
            case .partiallyFailed: "partially-failed"
            case .pending: "pending"
            }
        }
        /// As the "Executed" log line says it.
        var logName: String {
            switch self {
            case .succeeded: "Succeeded"
            case .failed: "Failed"
            case .partiallyFailed: "PartiallyFailed"
            case .pending: "Pending"
            }
        }
    }

    /// Whether invocations are timed when the log would not need it: set while the metrics
    /// endpoint runs (two clock reads per invocation otherwise spared).
    static let timesInvocations = Atomic<Bool>(false)

    static let retriesSlot = Outcome.allCases.count
    /// 1 while the owning thread is inside the function, else 0.
    static let inFlightSlot = retriesSlot + 1
    static let durationBase = inFlightSlot + 1
    static let batchBase = durationBase + BucketLayout.durationNanoseconds.slotCount
    static let outputBase = batchBase + BucketLayout.batchSize.slotCount

    let slots: CounterSlots
    /// Output topics, in binding order: per binding two slots (delivered, failed).
    let outputTopics: [String]

    init(outputTopics: [String]) {
        self.outputTopics = outputTopics
        slots = CounterSlots(count: Self.outputBase + 2 * outputTopics.count)
    }

    @inline(__always)
    func recordInvocation(_ outcome: Outcome, nanoseconds: UInt64?, batchSize: Int?) {
        slots.add(outcome.rawValue)
        if let nanoseconds { BucketLayout.durationNanoseconds.record(Int(truncatingIfNeeded: nanoseconds), in: slots, at: Self.durationBase) }
        if let batchSize { BucketLayout.batchSize.record(batchSize, in: slots, at: Self.batchBase) }
    }

    /// Around the call itself: two plain stores per invocation.
    @inline(__always)
    func callStarted() { slots.set(Self.inFlightSlot, 1) }

    @inline(__always)
    func callEnded() { slots.set(Self.inFlightSlot, 0) }

    @inline(__always)
    func recordRetry() { slots.add(Self.retriesSlot) }

    @inline(__always)
    func recordOutput(_ binding: Int, delivered: Int, failed: Int) {
        if delivered > 0 { slots.add(Self.outputBase + 2 * binding, delivered) }
        if failed > 0 { slots.add(Self.outputBase + 2 * binding + 1, failed) }
    }
}

/// Dead letters of one function by reason; written by whichever thread dead-letters (the
/// consuming thread or a lane), so with a read-modify-write: dead letters are rare.
final class DeadLetterStatistics: @unchecked Sendable {
    /// Per reason, then one slot for messages whose dead-letter write failed.
    let slots = CounterSlots(count: DeadLetterReason.allCases.count + 1)
    private static let writeFailuresSlot = DeadLetterReason.allCases.count

    func record(_ reason: DeadLetterReason, count: Int) {
        slots.addShared(DeadLetterReason.allCases.firstIndex(of: reason)!, count)
    }

    /// `count` messages could not be written to the dead-letter topic (they are tried again).
    func recordWriteFailure(count: Int) {
        slots.addShared(Self.writeFailuresSlot, count)
    }

    func deadLettered(_ reason: DeadLetterReason) -> Int { slots.value(DeadLetterReason.allCases.firstIndex(of: reason)!) }
    var writeFailures: Int { slots.value(Self.writeFailuresSlot) }
}
