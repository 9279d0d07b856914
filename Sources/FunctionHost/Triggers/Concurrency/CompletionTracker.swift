import Foundation
import Synchronization

/// Which offsets of each partition were handed to lanes and which of them are settled, when
/// they settle out of order (ordering `key` or `unordered`). A partition's offset may be stored
/// only past the messages that are all settled: the first unsettled one holds it back, however
/// many after it are done.
final class CompletionTracker: @unchecked Sendable {
    private enum Mark: UInt8 {
        case inFlight
        case settled
        /// Given up without being settled (its partition was revoked, or the host stops): holds
        /// the partition's offset back for good, until the partition is forgotten.
        case dropped
    }

    /// One partition's dispatched offsets, ascending; `marks[i]` belongs to `offsets[i]`.
    private struct Window {
        var offsets: [Int64] = []
        var marks: [Mark] = []
        /// `offsets[..<start]` are settled and no longer needed.
        var start = 0
        /// Messages dispatched and neither settled nor dropped.
        var inFlight = 0
        /// Everything before it is settled; -1 while nothing is.
        var storable: Int64 = -1
        /// `storable` moved since it was last taken.
        var moved = false

        mutating func advance() {
            while start < offsets.count && marks[start] == .settled {
                storable = offsets[start] + 1
                moved = true
                start += 1
            }
            if start == offsets.count {
                offsets.removeAll(keepingCapacity: true)
                marks.removeAll(keepingCapacity: true)
                start = 0
            } else if start > 1024 && start * 2 > offsets.count {
                offsets.removeFirst(start)
                marks.removeFirst(start)
                start = 0
            }
        }

        /// Marks the in-flight `offset`. Nil when it is not in flight here; else the new
        /// storable offset when it moved, or .some(nil).
        mutating func mark(_ offset: Int64, as mark: Mark) -> Int64?? {
            guard let index = index(of: offset), marks[index] == .inFlight else { return nil }
            marks[index] = mark
            inFlight -= 1
            guard mark == .settled && index == start else { return .some(nil) }
            advance()
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

    private var windows: [Int32: Window] = [:]
    private let lock = NSCondition()
    /// Told (under the lock, so in order) each time a partition's storable offset moves: the
    /// crash journal records it at once, before a crash can follow the settled message.
    private let onAdvance: (Int32, Int64) -> Void

    init(onAdvance: @escaping (Int32, Int64) -> Void = { _, _ in }) {
        self.onAdvance = onAdvance
    }

    /// `offset` of `partition` goes to a lane. Offsets of a partition arrive in ascending order.
    func dispatched(partition: Int32, offset: Int64) {
        lock.lock()
        windows[partition, default: Window()].offsets.append(offset)
        windows[partition]!.marks.append(.inFlight)
        windows[partition]!.inFlight += 1
        lock.unlock()
    }

    /// Takes back the last `dispatched` offset of `partition`: its lane had no room for it.
    func forgetLast(partition: Int32) {
        lock.lock()
        if var window = windows.removeValue(forKey: partition), window.offsets.count > window.start {
            window.offsets.removeLast()
            window.marks.removeLast()
            window.inFlight -= 1
            windows[partition] = window
        }
        lock.unlock()
    }

    /// The message at `offset` succeeded or was dead-lettered.
    func settled(partition: Int32, offset: Int64) {
        mark(partition: partition, offset: offset, as: .settled)
    }

    /// The message at `offset` was given up without being settled; it is delivered again by
    /// whoever consumes the partition from its committed offset.
    func dropped(partition: Int32, offset: Int64) {
        mark(partition: partition, offset: offset, as: .dropped)
    }

    private func mark(partition: Int32, offset: Int64, as mark: Mark) {
        lock.lock()
        defer { lock.unlock() }
        // Mutated in place through the optional chain: one lookup, no copy of the arrays.
        guard let advancedTo = windows[partition]?.mark(offset, as: mark) else { return }
        if let advancedTo { onAdvance(partition, advancedTo) }
        if windows[partition]?.inFlight == 0 { lock.broadcast() }
    }

    /// Partitions whose storable offset moved since the last call, with that offset.
    func takeOffsetsToStore() -> [(partition: Int32, offset: Int64)] {
        lock.lock()
        defer { lock.unlock() }
        var result: [(partition: Int32, offset: Int64)] = []
        for (partition, window) in windows where window.moved {
            result.append((partition, window.storable))
            windows[partition]!.moved = false
        }
        return result
    }

    /// Messages dispatched and not yet settled or dropped, over all partitions.
    var inFlight: Int {
        lock.lock()
        defer { lock.unlock() }
        return windows.values.reduce(0) { $0 + $1.inFlight }
    }

    /// Waits until no message of `partitions` (nil: of any partition) is in flight, or until
    /// `deadline`. Returns false on the deadline.
    func waitUntilIdle(_ partitions: Set<Int32>?, deadline: Date) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        while windows.contains(where: { (partitions?.contains($0.key) ?? true) && $0.value.inFlight > 0 }) {
            if !lock.wait(until: deadline) { return false }
        }
        return true
    }

    /// Forgets `partitions` (revoked): what was not taken to be stored is not stored.
    func forget(_ partitions: Set<Int32>) {
        lock.lock()
        partitions.forEach { windows.removeValue(forKey: $0) }
        lock.unlock()
    }
}
