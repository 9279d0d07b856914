import CRdKafka
import Foundation
import Logging
import Synchronization

/// Ordering `key` or `unordered`: the consuming thread admits each message and hands it to a
/// lane, which attempts and settles it; while the lanes are full every partition is held
/// (``HoldReasons/backpressure``).
extension TriggerListener {
    func runConcurrent(_ dispatcher: ConcurrentDispatcher) {
        while !stopRequested.load(ordering: .relaxed) {
            serviceOperations(carried: 0)
            if control.heldEverywhere.contains(.backpressure) && dispatcher.hasRoom && operations.state == .running {
                control.releaseEverywhere(.backpressure)
                logger.debug("'\(function.name)' caught up: resuming its partitions")
            }
            schemaWaits.askAgainWhenDue()
            // While lanes work, poll often enough that their settled offsets are stored soon.
            let busy = control.heldEverywhere.contains(.backpressure) || dispatcher.inFlight > 0 || !schemaWaits.isEmpty
            fetch(limit: fetchCapacity, timeoutMs: busy ? 50 : pollTimeoutMs())
            for index in 0..<fetched.count {
                guard let message = fetched[index] else { continue }
                dispatchIfEligible(message, at: index, dispatcher)
            }
            // What the lanes did not take is released.
            fetched.endRound(carrying: UnsafeMutableBufferPointer(start: nil, count: 0))
            settlement.storeOffsets()
        }
        dispatcher.shutdown()
        close()
    }

    /// Hands `message` (slot `index` of ``fetched``) over to its lane, which then owns it; it is
    /// left in the fetch when it is not taken: an error, a partition this member does not
    /// handle now, a second copy, or the lanes are full.
    func dispatchIfEligible(_ message: UnsafeMutablePointer<rd_kafka_message_t>, at index: Int, _ dispatcher: ConcurrentDispatcher) {
        if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            reportConsumeError(message)
            return
        }
        let partition = message.pointee.partition
        let offset = message.pointee.offset
        guard offset >= nextToDispatch(partition) else { return }
        guard control.handles(partition) else {
            // Held while the lanes are full: it continues at its first message not handed over.
            if control.isHeld(partition, for: .backpressure) && !control.isHeld(partition, for: .schemaRegistry) {
                control.continueAt(partition, offset)
            }
            return
        }
        let disposition = admission.disposition(message)
        if disposition.isSkipped {
            dispatcher.settleWithoutInvocation(fetched.take(at: index))
            nextToDispatch[Int(partition)] = offset + 1
            return
        }
        if disposition == .waitForSchemaRegistry {
            schemaWaits.wait(at: fetched.take(at: index))
            return
        }
        if dispatcher.dispatch(message, disposition, take: { fetched.take(at: index) }) {
            nextToDispatch[Int(partition)] = offset + 1
            return
        }
        // A lane is full: the function is behind. Hold every partition (the consumer keeps
        // polling, so the group does not time it out) until the lanes have room again; what
        // was fetched meanwhile is fetched again from where each partition stopped.
        control.holdEverywhere(.backpressure)
        control.continueAt(partition, offset)
        logger.debug("'\(function.name)' is behind (\(dispatcher.inFlight) messages taken and not yet settled): pausing its partitions")
    }

    func nextToDispatch(_ partition: Int32) -> Int64 {
        let index = Int(partition)
        if index >= nextToDispatch.count { nextToDispatch += repeatElement(-1, count: index + 1 - nextToDispatch.count) }
        return nextToDispatch[index]
    }
}
