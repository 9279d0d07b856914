import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Flushing `SF_PENDING` records, handing settled offsets to the committer, and closing.
extension TriggerListener {
    // MARK: - Flushing and offsets

    func flushIfDue() {
        guard flushFunction != nil, progress.hasPending,
              monotonicNanoseconds() - lastFlush >= UInt64(function.flushIntervalSeconds * 1e9) else { return }
        flush(reason: "interval")
    }

    /// Asks the function to make its pending records durable; on success they can be committed.
    func flush(reason: String) {
        lastFlush = monotonicNanoseconds()
        guard let flushFunction, progress.hasPending else { return }
        context.begin(invocationID: Invoker.nextInvocationID())
        // Under the function-timeout watchdog like any invocation (no messages: a crash in the
        // flush is not pinned on any).
        journal?.begin(UnsafeBufferPointer(start: nil, count: 0), startedAtMs: wallClockMilliseconds())
        let result = flushFunction(context.pointer)
        journal?.end()
        if result == SF_OK {
            progress.pendingBecameDurable()
            if let settlement { progress.offsetsToStore.forEach { settlement.recordSettled(partition: $0.partition, settled: $0.offset) } }
            storeOffsets()
            logger.debug("Flushed '\(function.name)' (\(reason))")
        } else {
            logger.error("Function '\(function.name)': \(function.entryPoint)_flush failed (\(context.lastLoggedError ?? "returned \(result)")) at \(reason); its pending records stay uncommitted and are delivered again if the host stops before a flush succeeds")
        }
    }

    func storeOffsets() {
        let offsets: [(partition: Int32, offset: Int64)]
        if let dispatcher {
            offsets = dispatcher.takeOffsetsToStore()
        } else {
            offsets = progress.takeOffsetsToStore()
        }
        if !offsets.isEmpty { operations.stored(offsets) }
        for entry in offsets { committer.settled(entry.partition, upTo: entry.offset) }
        committer.commitIfDue(consumer)
    }

    func withPartitionList<R>(_ entries: [(partition: Int32, offset: Int64)], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> R) -> R {
        RDKafkaTopicPartitionList(topic: function.trigger.topic, entries).withListPointer(body)
    }

    /// Asks the cluster for metadata through this consumer: true when a broker answered within
    /// `timeoutMs`. Safe from any thread while the listener runs.
    func probeCluster(timeoutMs: Int32) -> Bool {
        handleLock.withLock { open in
            guard open, let consumer else { return false }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let result = rd_kafka_metadata(consumer, 0, nil, &metadata, timeoutMs)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return result == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Commits what is stored, leaves the group and frees the consumer.
    func close() {
        guard let consumer else { return }
        handleLock.withLock { $0 = false }
        storeOffsets()
        let commitError = committer.commitNow(consumer)
        if let commitError {
            logger.warning("Final commit of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(commitError))); the settlement journal keeps what was settled for the next start")
        }
        let closed = rd_kafka_consumer_close(consumer)
        if closed != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Leaving the consumer group of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(closed)))")
        }
        progress.resetAll()
        let filtered = filteredCount.load(ordering: .relaxed)
        if filtered > 0 { logger.info("'\(function.name)' left out \(filtered) message(s) that matched none of its filters (settled without a call)") }
        // Everything settled is committed: a clean stop leaves nothing to recover.
        if commitError == nil && !revokeCommitFailed { settlement?.remove() }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(consumer)
        self.consumer = nil
        self.queue = nil
    }
}
