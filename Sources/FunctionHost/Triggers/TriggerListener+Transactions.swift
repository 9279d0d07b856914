import CRdKafka
import Foundation
import Glibc
import Logging
import Synchronization

/// processingGuarantee exactlyOnce: the function's outputs and its consumed offsets are committed
/// in one Kafka transaction (``TransactionalOutputs``) on the commit interval and on revoke,
/// pause and stop. An aborted transaction sends every partition back to the group's committed
/// offsets: what it covered is consumed and called again, into the next transaction.
extension TriggerListener {
    /// Commits the open transaction with the offsets settled since the last one, when the commit
    /// interval has passed (or `now`).
    /// - Returns: false when the transaction was aborted (the partitions go back to the committed
    ///   offsets before the next fetch).
    @discardableResult
    func commitTransaction(now: Bool) -> Bool {
        guard let transaction, let offsets = committer.takeForTransaction(force: now) else { return true }
        let outcome = transaction.commit(partitionList(offsets), consumer: consumer)
        let failures = invoker.collectTransactionOutputs()
        switch outcome {
        case .committed:
            committer.committedInTransaction(offsets)
            // The same offsets outside the transaction too (asynchronously): for tools that read a
            // group's committed offsets, and for brokers that do not keep a transaction's offsets
            // (librdkafka's mock cluster). They equal what the transaction committed.
            if !offsets.isEmpty { try? consumer.commit(partitionList(offsets), async: true) }
            return true
        case .aborted(let error):
            let detail = failures.isEmpty ? "" : "; " + failures.prefix(3).joined(separator: "; ")
            logger.error("'\(function.name)': transaction \(transaction.transactionalID) was aborted (\(error.reason)\(detail)); its outputs are discarded and its messages are consumed and called again from the committed offsets")
            committer.rollBack()
            rewindAfterAbort = true
            return false
        case .fatal(let error):
            logger.critical("'\(function.name)': the transactional producer \(transaction.transactionalID) cannot go on (\(error.reason)). The worker stops; the supervisor starts a new one, whose producer aborts what this one left open")
            stopRequested.store(true, ordering: .relaxed)
            TransactionalOutputs.onFatalError("'\(function.name)': \(error.message)")
            return false
        }
    }

    /// After an abort, between fetches: every assigned partition goes back to the group's
    /// committed offset (where none is committed, to where ``StartWithoutCommit`` says: the
    /// trigger's startFrom, else the reset policy), dropping what was fetched and held.
    func rewindToCommitted() {
        rewindAfterAbort = false
        fetched.releaseAll()
        let partitions = assigned.sorted()
        partitions.forEach { holds.reset($0) }
        ledger.forget(partitions)
        guard !partitions.isEmpty else { return }
        let list = partitionList(partitions.map { ($0, crdkafka_offset_invalid()) })
        do {
            try consumer.committed(list, timeoutMs: 10_000)
        } catch {
            logger.warning("'\(function.name)': reading the committed offsets after an abort failed (\(error.reason)); partitions restart where the reset policy says")
        }
        partitions.forEach { skipBefore.removeValue(forKey: $0) }
        let committed = list.elements.filter { $0.offset >= 0 }.map { (partition: $0.partition, offset: $0.offset) }
        let starts = placeWithoutCommit(list.elements.filter { $0.offset < 0 }.map(\.partition))
        let rewound = partitionList(committed + starts)
        if operations.state == .running { consumer.resume(rewound) }
        do {
            try consumer.seek(rewound, timeoutMs: 5_000)
        } catch {
            logger.warning("'\(function.name)': seeking back to the committed offsets failed (\(error.reason))")
        }
    }
}

extension TransactionalOutputs {
    /// A worker whose transactional producer was fenced or broke exits with this status: the
    /// supervisor starts it again (it is not a configuration error).
    static let fatalExitStatus: Int32 = 75

    /// What a broken transactional producer does to the process (told the function and the
    /// error): the worker exits (the supervisor starts a new one); a test process replaces it.
    nonisolated(unsafe) static var onFatalError: (String) -> Void = { _ in exit(fatalExitStatus) }

    /// Tells this worker's transactional producer apart from other hosts' (the host name) and
    /// keeps it across restarts (the state folder), so a restarted worker fences its predecessor.
    static func instanceID(stateDirectory: URL?) -> String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(cString: name)
        let place = stateDirectory?.standardizedFileURL.path ?? "pid-\(getpid())"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in place.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "\(host)-\(String(hash, radix: 16))"
    }
}
