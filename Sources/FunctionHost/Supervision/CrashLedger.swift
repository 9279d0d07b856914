import CRdKafka
import Synchronization

/// A worker's view of its function's ``CrashRecords``, safe to use from the consuming thread and
/// from concurrency lanes at once. Nearly always empty: then every question is one atomic load.
final class CrashLedger: Sendable {
    private let records: Mutex<CrashRecords>
    private let hasRecords: Atomic<Bool>

    init(_ records: CrashRecords) {
        hasRecords = Atomic(!records.isEmpty)
        self.records = Mutex(records)
    }

    /// How many times the message at `offset` of `partition` crashed the host before.
    @inline(__always)
    func count(partition: Int32, offset: Int64) -> Int {
        guard hasRecords.load(ordering: .relaxed) else { return 0 }
        return records.withLock { $0.count(partition: partition, offset: offset) }
    }

    /// Forgets a settled message (it succeeded or was dead-lettered), on disk too.
    @inline(__always)
    func forget(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        guard hasRecords.load(ordering: .relaxed) else { return }
        records.withLock { records in
            guard records.forget(partition: message.pointee.partition, offset: message.pointee.offset) else { return }
            try? records.save()
            if records.isEmpty { hasRecords.store(false, ordering: .relaxed) }
        }
    }
}
