import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Flushing `SF_PENDING` records, handing settled offsets to the committer, and closing.
extension TriggerListener {
    // MARK: - Flushing and offsets

    func flushIfDue() {
        guard flushFunction != nil, ledger.hasPending,
              monotonicNanoseconds() - lastFlush >= UInt64(function.flushIntervalSeconds * 1e9) else { return }
        flush(reason: "interval")
    }

    /// Asks the function to make its pending records durable; on success they can be committed.
    func flush(reason: String) {
        lastFlush = monotonicNanoseconds()
        guard let flushFunction, ledger.hasPending else { return }
        context.begin(invocationID: Invoker.nextInvocationID())
        // Under the function-timeout watchdog like any invocation (no messages: a crash in the
        // flush is not pinned on any).
        journal?.begin(UnsafeBufferPointer(start: nil, count: 0), startedAtMs: wallClockMilliseconds())
        let result = flushFunction(context.pointer)
        journal?.end()
        if result == SF_OK {
            let durable = ledger.pendingBecameDurable()
            if let settlement { durable.forEach { settlement.recordSettled(partition: $0.partition, settled: $0.offset) } }
            storeOffsets()
            logger.debug("Flushed '\(function.name)' (\(reason))")
        } else {
            logger.error("Function '\(function.name)': \(function.entryPoint)_flush failed (\(context.lastLoggedError ?? "returned \(result)")) at \(reason); its pending records stay uncommitted and are delivered again if the host stops before a flush succeeds")
        }
    }

    func storeOffsets() {
        // One ledger for every ordering: in order from this thread, out of order from the lanes.
        let offsets = ledger.takeOffsetsToStore()
        if !offsets.isEmpty { operations.stored(offsets) }
        for entry in offsets { committer.settled(entry.partition, upTo: entry.offset) }
        if transaction != nil {
            commitTransaction(now: false)
        } else {
            committer.commitIfDue(consumer)
        }
    }

    /// Commits everything settled now (a revocation, a pause, a stop): in the transaction
    /// (exactlyOnce), else directly. Returns the failure.
    func commitSettledNow(only partitions: Set<Int32>? = nil) -> KafkaError? {
        guard transaction != nil else { return committer.commitNow(consumer, only: partitions) }
        return commitTransaction(now: true) ? nil : KafkaError("the transaction was aborted")
    }

    /// A list of the trigger's topic with `entries`.
    func partitionList(_ entries: [(partition: Int32, offset: Int64)]) -> RDKafkaTopicPartitionList {
        RDKafkaTopicPartitionList(topic: function.trigger.topic, entries)
    }

    /// Asks the cluster for metadata through this consumer: true when a broker answered within
    /// `timeoutMs`. Safe from any thread while the listener runs.
    func probeCluster(timeoutMs: Int32) -> Bool {
        consumer?.probeMetadata(timeoutMs: timeoutMs) ?? false
    }

    /// Commits what is stored, leaves the group and frees the consumer.
    func close() {
        guard let consumer, consumer.isOpen else { return }
        storeOffsets()
        let commitError = commitSettledNow()
        if let commitError {
            logger.warning("Final commit of '\(function.name)' failed: \(commitError.reason); the settlement journal keeps what was settled for the next start")
        }
        do {
            try consumer.close()
        } catch {
            logger.warning("Leaving the consumer group of '\(function.name)' failed: \(error.reason)")
        }
        // After leaving: the revocation while leaving commits in the transaction too.
        transaction?.close()
        holds.resetAll()
        ledger.forgetAll()
        let filtered = filteredCount.load(ordering: .relaxed)
        if filtered > 0 { logger.info("'\(function.name)' left out \(filtered) message(s) that matched none of its filters (settled without a call)") }
        let skipped = skippedCount.load(ordering: .relaxed)
        if skipped > 0 { logger.info("'\(function.name)' skipped \(skipped) message(s) from before its startFrom time (settled without a call)") }
        // Everything settled is committed: a clean stop leaves nothing to recover.
        if commitError == nil && !revokeCommitFailed { settlement?.remove() }
    }
}
