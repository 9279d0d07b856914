import Foundation
import Synchronization

/// A trigger listener's side of the operations endpoint: counters its consuming thread keeps
/// (plain stores, see ``CounterSlots``), the partitions it owns and the offsets it stored
/// (updated per rebalance and per fetch, never per message), and an operator's requests —
/// pause, resume, invoke once — which the consuming thread serves between fetches.
final class ListenerOperations: @unchecked Sendable {
    enum Slot: Int, CaseIterable {
        case consumed, rebalances, pausedPartitions, heartbeat, assignments, state
    }

    /// Where an operator's pause stands.
    enum State: Int, Sendable {
        /// Consuming.
        case running
        /// Partitions paused; finishing what was fetched and what the lanes hold.
        case draining
        /// Nothing in flight and the offsets committed.
        case paused

        var label: String {
            switch self {
            case .running: "running"
            case .draining: "draining"
            case .paused: "paused"
            }
        }
    }

    let slots = CounterSlots(count: Slot.allCases.count)
    private let partitions = Mutex<(assigned: Set<Int32>, stored: [Int32: Int64])>(([], [:]))
    private let requests = Mutex<(pause: Bool?, invocations: [@Sendable () -> Void])>((nil, []))
    /// Set when the consuming thread has something to do for the operator.
    let attention = Atomic<Bool>(false)
    /// What the operator asked for last (consuming thread only).
    var wantsPause = false
    /// The consumer's place in its group (``GroupMembership``): nil before it first joined.
    let membership = Mutex<GroupMembership?>(nil)
    /// When the consuming thread last read it (consuming thread only).
    var membershipReadAt: UInt64 = 0

    // MARK: The consuming thread

    @inline(__always)
    func consumed(_ count: Int) { slots.add(Slot.consumed.rawValue, count) }

    func rebalanced(assigned: Bool, partitions numbers: [Int32]) {
        slots.add(Slot.rebalances.rawValue)
        if assigned { slots.add(Slot.assignments.rawValue) }
        partitions.withLock { state in
            if assigned {
                state.assigned.formUnion(numbers)
            } else {
                state.assigned.subtract(numbers)
                numbers.forEach { state.stored.removeValue(forKey: $0) }
            }
        }
    }

    func stored(_ offsets: [(partition: Int32, offset: Int64)]) {
        partitions.withLock { state in
            for entry in offsets { state.stored[entry.partition] = entry.offset }
        }
    }

    var state: State {
        get { State(rawValue: slots.value(Slot.state.rawValue)) ?? .running }
        set { slots.set(Slot.state.rawValue, newValue.rawValue) }
    }

    /// Takes the operator's requests; attention stays set while a drain is in progress.
    func takeRequests() -> (pause: Bool?, invocations: [@Sendable () -> Void]) {
        requests.withLock { requests in
            defer { requests = (nil, []) }
            attention.store(false, ordering: .relaxed)
            return requests
        }
    }

    // MARK: Any thread

    func request(pause: Bool) {
        requests.withLock { requests in
            requests.pause = pause
            attention.store(true, ordering: .relaxed)
        }
    }

    /// Queues `invocation` to run on the consuming thread between fetches.
    func enqueue(_ invocation: @escaping @Sendable () -> Void) {
        requests.withLock { requests in
            requests.invocations.append(invocation)
            attention.store(true, ordering: .relaxed)
        }
    }

    var assignedPartitions: [Int32] { partitions.withLock { $0.assigned.sorted() } }
    var storedOffsets: [Int32: Int64] { partitions.withLock { $0.stored } }
    var consumedCount: Int { slots.value(Slot.consumed.rawValue) }
    var rebalanceCount: Int { slots.value(Slot.rebalances.rawValue) }
    var pausedPartitionCount: Int { slots.value(Slot.pausedPartitions.rawValue) }
    /// Whether the group gave this member an assignment (possibly empty) since it started.
    var hasJoined: Bool { slots.value(Slot.assignments.rawValue) > 0 }
    /// Monotonic nanoseconds of the consuming thread's last round (0: not started).
    var lastTurn: UInt64 { UInt64(slots.value(Slot.heartbeat.rawValue)) }
}
