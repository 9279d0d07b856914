import Foundation
/// The records one invocation sent through its output bindings without waiting (one
/// ``DeliveryTracker`` per binding, in binding order). An invocation that succeeded while some
/// of them are unacknowledged is settled later, once they all are (``AwaitingOutputs``); the
/// object is then reset and reused for a later invocation, so settling costs no allocation.
final class InvocationDeliveries {
    let trackers: [DeliveryTracker]

    init(outputCount: Int) {
        trackers = (0..<outputCount).map { _ in DeliveryTracker() }
    }

    /// Every record sent has been reported (delivered or failed).
    var isComplete: Bool {
        for tracker in trackers where tracker.hasPending { return false }
        return true
    }

    /// Waits until every record is reported, or until `deadline`; true when they are.
    func waitUntilReported(deadline: Date) -> Bool {
        for tracker in trackers where !tracker.waitUntilReported(deadline: deadline) { return false }
        return true
    }

    /// Records queued so far, and their key and value bytes.
    var queued: (records: Int, bytes: Int) {
        trackers.reduce((0, 0)) { ($0.0 + $1.queuedRecords, $0.1 + $1.queuedBytes) }
    }

    /// Waits until every record is reported, then hands each binding's outcome to `body` (binding
    /// index, outcome) and starts afresh.
    func finish(_ body: (Int, DeliveryTracker.Outcome) -> Void) {
        for (index, tracker) in trackers.enumerated() { body(index, tracker.waitForAll()) }
    }
}
