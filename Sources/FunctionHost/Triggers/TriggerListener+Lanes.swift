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
            askSchemaRegistryAgainForWaitingPartitions()
            // While lanes work, poll often enough that their settled offsets are stored soon.
            let busy = pausedForBackpressure || dispatcher.inFlight > 0 || !schemaRegistryWaits.isEmpty
            fetch(limit: fetchCapacity, timeoutMs: busy ? 50 : pollTimeoutMs())
            for index in 0..<fetched.count {
                guard let message = fetched[index] else { continue }
                dispatchIfEligible(message, at: index, dispatcher)
            }
            // What the lanes did not take is released.
            fetched.endRound(carrying: UnsafeMutableBufferPointer(start: nil, count: 0))
            storeOffsets()
        }
        dispatcher.shutdown()
        close()
    }

    /// Hands `message` (slot `index` of ``fetched``) over to its lane, which then owns it; it is
    /// left in the fetch when it is not taken: an error, a partition this member no longer owns,
    /// a second copy, or the lanes are full.
    func dispatchIfEligible(_ message: UnsafeMutablePointer<rd_kafka_message_t>, at index: Int, _ dispatcher: ConcurrentDispatcher) {
        if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            reportConsumeError(message)
            return
        }
        let partition = message.pointee.partition
        let offset = message.pointee.offset
        guard assigned.contains(partition), offset >= nextToDispatch(partition) else { return }
        // Waiting for the schema registry at an earlier message: fetched again once it answers.
        if schemaRegistryWaits[partition] != nil { return }
        if pausedForBackpressure {
            if resumeAt[partition] == nil { resumeAt[partition] = offset }
            return
        }
        let disposition = disposition(message)
        if disposition == .filteredOut || disposition == .beforeStartFrom {
            if disposition == .beforeStartFrom { countSkipped() } else { filteredCount.wrappingAdd(1, ordering: .relaxed) }
            dispatcher.settleWithoutInvocation(fetched.take(at: index))
            nextToDispatch[Int(partition)] = offset + 1
            return
        }
        if disposition == .waitForSchemaRegistry {
            waitForSchemaRegistry(message, at: index)
            return
        }
        if dispatcher.dispatch(message, disposition, take: { fetched.take(at: index) }) {
            nextToDispatch[Int(partition)] = offset + 1
            return
        }
        // A lane is full: the function is behind. Pause every partition (the consumer keeps
        // polling, so the group does not time it out) until the lanes have room again; what
        // was fetched meanwhile is fetched again from `resumeAt`.
        pausedForBackpressure = true
        resumeAt[partition] = offset
        consumer.pause(partitionList(assigned.map { ($0, -1) }))
        logger.debug("'\(function.name)' is behind (\(dispatcher.inFlight) messages taken and not yet settled): pausing its partitions")
    }

    func nextToDispatch(_ partition: Int32) -> Int64 {
        let index = Int(partition)
        if index >= nextToDispatch.count { nextToDispatch += repeatElement(-1, count: index + 1 - nextToDispatch.count) }
        return nextToDispatch[index]
    }

    /// The lanes have room again: continue each partition where it stopped.
    func resumeAfterBackpressure() {
        // Partitions waiting for the schema registry stay paused (askSchemaRegistryAgainForWaitingPartitions).
        let flowing = assigned.filter { schemaRegistryWaits[$0] == nil }
        let seeks = resumeAt.filter { flowing.contains($0.key) }.map { (partition: $0.key, offset: $0.value) }
        // Resume first, then seek: the seek wakes librdkafka's fetching thread, a resume does not.
        consumer.resume(partitionList(flowing.map { ($0, -1) }))
        if !seeks.isEmpty {
            do {
                try consumer.seek(partitionList(seeks), timeoutMs: 5_000)
            } catch {
                logger.warning("Seeking after a pause failed: \(error.reason)")
            }
        }
        resumeAt.removeAll()
        pausedForBackpressure = false
        logger.debug("'\(function.name)' caught up: resuming its partitions")
    }
}
