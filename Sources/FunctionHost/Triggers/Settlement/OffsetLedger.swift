import Foundation
import Synchronization

/// Where each partition of a trigger's topic stands: the one settlement engine of every ordering.
/// A message is settled when its invocation succeeded, it was dead-lettered, or (SF_PENDING) its
/// flush completed; a partition's offset may be stored only at its first unsettled message.
///
/// Two ways in, one bookkeeping:
/// - in order (ordering `partition`, the consuming thread): ``settle(_:upTo:pending:)`` says
///   everything before an offset is settled;
/// - out of order (ordering `key` or `unordered`, the lanes): ``dispatched(_:offset:)`` then
///   ``settled(_:offset:)`` or ``dropped(_:offset:)`` per message; the storable offset moves
///   past the contiguous settled prefix, however many after the first unsettled one are done.
///
/// The two ways never meet on one partition (a trigger has one ordering), so each keeps its own
/// state: the in-order state is the consuming thread's alone and takes no lock (the per-message
/// path of ordering `partition` runs without an atomic instruction); the out-of-order window,
/// which lanes settle on their own threads, is under a `Mutex`. Taking the offsets to store
/// (the consuming thread) reads both.
final class OffsetLedger: @unchecked Sendable {
    /// One partition's offsets settled in order. Consuming thread only.
    struct InOrder {
        /// Everything before it was settled in order by this member since the partition was
        /// assigned; a message below it is a second copy (fetched again after a rebalance) and
        /// is skipped.
        var mark: Int64 = -1
        /// Everything before it is settled and durable; -1 while nothing is.
        var storable: Int64 = -1
        /// `storable` moved since it was last taken.
        var moved = false
        /// Settled but not durable (the function returned SF_PENDING): storable after a flush.
        var pending: Int64 = -1
    }

    /// One partition's offsets settled out of order, under the lock.
    struct OutOfOrder {
        /// Everything before it is settled; -1 while nothing is.
        var storable: Int64 = -1
        /// `storable` moved since it was last taken.
        var moved = false
        /// The out-of-order window of dispatched offsets.
        var window = Window()
    }

    private var inOrder: [InOrder] = []
    private let outOfOrder = Mutex<[OutOfOrder]>([])
    /// Wakes ``waitUntilIdle(_:deadline:)`` when a partition has nothing in flight any more.
    private let idle = NSCondition()
    /// Told (under the lock, so in order) each time the out-of-order path moves a partition's
    /// storable offset: the crash journal records it at once, before a crash can follow the
    /// settled message. (The in-order path's caller records it itself, knowing `pending`.)
    private let onAdvance: (Int32, Int64) -> Void

    init(onAdvance: @escaping (Int32, Int64) -> Void = { _, _ in }) {
        self.onAdvance = onAdvance
    }

    @inline(__always)
    private func withPartition<R>(_ partition: Int32, _ body: (inout OutOfOrder) -> R) -> R {
        outOfOrder.withLock { states in
            let index = Int(partition)
            if index >= states.count { states.append(contentsOf: repeatElement(OutOfOrder(), count: index + 1 - states.count)) }
            return body(&states[index])
        }
    }

    // MARK: - In order (ordering partition, the consuming thread)

    /// True for a message this member already settled in order (a copy fetched again).
    @inline(__always)
    func isSettled(_ partition: Int32, offset: Int64) -> Bool {
        Int(partition) < inOrder.count && offset < inOrder[Int(partition)].mark
    }

    /// Everything of `partition` before `offset` is settled. `pending`: not durable until a
    /// flush; once a partition has pending records, later ones wait for the flush too. Never
    /// moves backwards: a message settled without a call behind a batch (a filtered one) may be
    /// reported after the batch past it. Returns whether the partition moved.
    @inline(__always)
    @discardableResult
    func settle(_ partition: Int32, upTo offset: Int64, pending: Bool) -> Bool {
        let index = Int(partition)
        if index >= inOrder.count { inOrder.append(contentsOf: repeatElement(InOrder(), count: index + 1 - inOrder.count)) }
        guard offset > inOrder[index].mark else { return false }
        inOrder[index].mark = offset
        if pending || inOrder[index].pending >= 0 {
            inOrder[index].pending = offset
        } else {
            inOrder[index].storable = offset
            inOrder[index].moved = true
        }
        return true
    }

    /// Whether a partition has records settled but not durable yet (waiting for a flush).
    var hasPending: Bool {
        inOrder.contains { $0.pending >= 0 }
    }

    /// The flush made pending records durable: they become storable. Returns those partitions
    /// with their new storable offset (for the settlement journal).
    @discardableResult
    func pendingBecameDurable() -> [(partition: Int32, offset: Int64)] {
        var durable: [(partition: Int32, offset: Int64)] = []
        for index in inOrder.indices where inOrder[index].pending >= 0 {
            inOrder[index].storable = inOrder[index].pending
            inOrder[index].moved = true
            inOrder[index].pending = -1
            durable.append((Int32(index), inOrder[index].storable))
        }
        return durable
    }

    // MARK: - Out of order (ordering key or unordered, the lanes)

    /// `offset` of `partition` goes to a lane. Offsets of a partition arrive in ascending order.
    func dispatched(_ partition: Int32, offset: Int64) {
        withPartition(partition) { $0.window.append(offset) }
    }

    /// Takes back the last `dispatched` offset of `partition`: its lane had no room for it.
    func forgetLast(_ partition: Int32) {
        withPartition(partition) { $0.window.removeLast() }
    }

    /// The message at `offset` succeeded or was dead-lettered.
    func settled(_ partition: Int32, offset: Int64) {
        mark(partition, offset, as: .settled)
    }

    /// The message at `offset` was given up without being settled; it is delivered again by
    /// whoever consumes the partition from its committed offset. It holds the partition back
    /// until the partition is forgotten.
    func dropped(_ partition: Int32, offset: Int64) {
        mark(partition, offset, as: .dropped)
    }

    private func mark(_ partition: Int32, _ offset: Int64, as mark: Window.Mark) {
        let nowIdle: Bool = outOfOrder.withLock { states in
            // Not yet known (forgotten meanwhile): nothing to mark.
            guard Int(partition) < states.count,
                  let advancedTo = states[Int(partition)].window.mark(offset, as: mark) else { return false }
            if let advancedTo {
                states[Int(partition)].storable = advancedTo
                states[Int(partition)].moved = true
                onAdvance(partition, advancedTo)
            }
            return states[Int(partition)].window.inFlight == 0
        }
        // Under the condition's lock: a waiter checks and waits while holding it, so it cannot
        // miss this between its check and its wait.
        if nowIdle {
            idle.lock()
            idle.broadcast()
            idle.unlock()
        }
    }

    /// Messages dispatched and not yet settled or dropped, over all partitions.
    var inFlight: Int {
        outOfOrder.withLock { $0.reduce(0) { $0 + $1.window.inFlight } }
    }

    /// Waits until no message of `partitions` (nil: of any partition) is in flight, or until
    /// `deadline`. Returns false on the deadline.
    func waitUntilIdle(_ only: Set<Int32>?, deadline: Date) -> Bool {
        idle.lock()
        defer { idle.unlock() }
        while outOfOrder.withLock({ states in
            states.indices.contains { (only?.contains(Int32($0)) ?? true) && states[$0].window.inFlight > 0 }
        }) {
            if !idle.wait(until: deadline) { return false }
        }
        return true
    }

    // MARK: - Both

    /// Partitions whose storable offset moved since the last call, with that offset.
    /// Consuming thread.
    func takeOffsetsToStore() -> [(partition: Int32, offset: Int64)] {
        var result: [(partition: Int32, offset: Int64)] = []
        for index in inOrder.indices where inOrder[index].moved {
            result.append((Int32(index), inOrder[index].storable))
            inOrder[index].moved = false
        }
        outOfOrder.withLock { states in
            for index in states.indices where states[index].moved {
                result.append((Int32(index), states[index].storable))
                states[index].moved = false
            }
        }
        return result
    }

    /// Forgets `partitions` (revoked, newly assigned, or rewound after an abort): what was not
    /// taken to be stored is not stored, and a message settled before is no second copy any
    /// more. Consuming thread.
    func forget(_ forgotten: some Sequence<Int32>) {
        outOfOrder.withLock { states in
            for partition in forgotten where Int(partition) < states.count { states[Int(partition)] = OutOfOrder() }
        }
        for partition in forgotten where Int(partition) < inOrder.count { inOrder[Int(partition)] = InOrder() }
    }

    /// Forgets every partition (the consumer closed).
    func forgetAll() {
        outOfOrder.withLock { $0.removeAll() }
        inOrder.removeAll()
    }
}

extension OffsetLedger {
    /// One partition's offsets dispatched out of order, ascending; `marks[i]` belongs to
    /// `offsets[i]`.
    struct Window {
        enum Mark: UInt8 {
            case inFlight
            case settled
            /// Given up without being settled (its partition was revoked, or the host stops):
            /// holds the partition's offset back for good, until the partition is forgotten.
            case dropped
        }

        var offsets: [Int64] = []
        var marks: [Mark] = []
        /// `offsets[..<start]` are settled and no longer needed.
        var start = 0
        /// Messages dispatched and neither settled nor dropped.
        var inFlight = 0

        mutating func append(_ offset: Int64) {
            offsets.append(offset)
            marks.append(.inFlight)
            inFlight += 1
        }

        mutating func removeLast() {
            guard offsets.count > start else { return }
            offsets.removeLast()
            marks.removeLast()
            inFlight -= 1
        }

        /// Marks the in-flight `offset`. Nil when it is not in flight here; else the new
        /// storable offset when the settled prefix grew, or .some(nil).
        mutating func mark(_ offset: Int64, as mark: Mark) -> Int64?? {
            guard let index = index(of: offset), marks[index] == .inFlight else { return nil }
            marks[index] = mark
            inFlight -= 1
            guard mark == .settled && index == start else { return .some(nil) }
            var storable = offset + 1
            while start < offsets.count && marks[start] == .settled {
                storable = offsets[start] + 1
                start += 1
            }
            // Settled offsets are dropped once all are, or once they are most of a long window.
            if start == offsets.count {
                offsets.removeAll(keepingCapacity: true)
                marks.removeAll(keepingCapacity: true)
                start = 0
            } else if start > 1024 && start * 2 > offsets.count {
                offsets.removeFirst(start)
                marks.removeFirst(start)
                start = 0
            }
            return .some(storable)
        }

        func index(of offset: Int64) -> Int? {
            var low = start, high = offsets.count
            while low < high {
                let middle = (low + high) / 2
                if offsets[middle] < offset { low = middle + 1 } else { high = middle }
            }
            return low < offsets.count && offsets[low] == offset ? low : nil
        }
    }
}
