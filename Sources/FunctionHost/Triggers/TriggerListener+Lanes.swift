import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Ordering `key` or `unordered`: the consuming thread hands messages to the lanes, and pauses
/// every partition while the lanes are full (backpressure).
extension TriggerListener {
    // MARK: - Ordering key or unordered: the consuming thread feeds the lanes

    func runConcurrent(_ dispatcher: ConcurrentDispatcher) {
        while !stopRequested.load(ordering: .relaxed) {
            serviceOperations(carried: 0)
            if pausedForBackpressure && dispatcher.hasRoom && operations.state == .running { resumeAfterBackpressure() }
            // While lanes work, poll often enough that their settled offsets are stored soon.
            let busy = pausedForBackpressure || dispatcher.inFlight > 0
            let count = fetch(into: fetched, capacity: fetchCapacity, timeoutMs: busy ? 50 : pollTimeoutMs())
            for index in 0..<count {
                guard let message = fetched[index] else { continue }
                if !dispatchIfEligible(message, dispatcher) { rd_kafka_message_destroy(message) }
            }
            storeOffsets()
        }
        dispatcher.shutdown()
        close()
    }

    /// Hands `message` to its lane; false when it is not taken (and must be destroyed): an
    /// error, a partition this member no longer owns, a second copy, or the lanes are full.
    func dispatchIfEligible(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ dispatcher: ConcurrentDispatcher) -> Bool {
        if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            reportConsumeError(message)
            return false
        }
        let partition = message.pointee.partition
        let offset = message.pointee.offset
        guard assigned.contains(partition), offset >= nextToDispatch(partition) else { return false }
        if pausedForBackpressure {
            if resumeAt[partition] == nil { resumeAt[partition] = offset }
            return false
        }
        let disposition = disposition(message)
        if disposition == .filteredOut {
            filteredCount.wrappingAdd(1, ordering: .relaxed)
            dispatcher.settleWithoutInvocation(message)
            nextToDispatch[Int(partition)] = offset + 1
            return true
        }
        if dispatcher.dispatch(message, disposition) {
            nextToDispatch[Int(partition)] = offset + 1
            return true
        }
        // A lane is full: the function is behind. Pause every partition (the consumer keeps
        // polling, so the group does not time it out) until the lanes have room again; what
        // was fetched meanwhile is fetched again from `resumeAt`.
        pausedForBackpressure = true
        resumeAt[partition] = offset
        withPartitionList(assigned.map { ($0, -1) }) { list in _ = rd_kafka_pause_partitions(consumer, list) }
        logger.debug("'\(function.name)' is behind (\(dispatcher.inFlight) messages taken and not yet settled): pausing its partitions")
        return false
    }

    func nextToDispatch(_ partition: Int32) -> Int64 {
        let index = Int(partition)
        if index >= nextToDispatch.count { nextToDispatch += repeatElement(-1, count: index + 1 - nextToDispatch.count) }
        return nextToDispatch[index]
    }

    /// The lanes have room again: continue each partition where it stopped.
    func resumeAfterBackpressure() {
        let seeks = resumeAt.filter { assigned.contains($0.key) }.map { (partition: $0.key, offset: $0.value) }
        // Resume first, then seek: the seek wakes librdkafka's fetching thread, a resume does not.
        withPartitionList(assigned.map { ($0, -1) }) { list in _ = rd_kafka_resume_partitions(consumer, list) }
        if !seeks.isEmpty {
            withPartitionList(seeks) { list in
                if let error = rd_kafka_seek_partitions(consumer, list, 5_000) {
                    logger.warning("Seeking after a pause failed: \(String(cString: rd_kafka_error_string(error)))")
                    rd_kafka_error_destroy(error)
                }
            }
        }
        resumeAt.removeAll()
        pausedForBackpressure = false
        logger.debug("'\(function.name)' caught up: resuming its partitions")
    }
}
