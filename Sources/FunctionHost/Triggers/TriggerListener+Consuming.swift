import CRdKafka
import Foundation
import Logging
import Synchronization

/// Ordering `partition`: the consuming thread's loop — fetch, admit, attempt, settle, commit.
extension TriggerListener {
    func run() {
        while !stopRequested.load(ordering: .relaxed) && !settlement.stopAfterFatalError {
            if settlement.rewindNeeded { rewindToCommitted() }
            let carried = fetched.carried
            serviceOperations(carried: carried)
            if operations.state == .running {
                retries.stepDue { stopRequested.load(ordering: .relaxed) }
                schemaWaits.askAgainWhenDue()
            }
            settlement.flushIfDue()
            // Messages carried over from the previous fetch come first; new ones join them
            // without waiting when some are already there. The buffers hold two fetches' worth:
            // new messages fill what the carried ones leave (a round always handles some).
            let room = min(fetchCapacity, 2 * fetchCapacity - carried)
            fetch(limit: room, timeoutMs: carried > 0 ? 0 : pollTimeoutMs())
            let count = fetched.count
            var carry = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>(start: eligible, count: 0)
            let eligibleCount = count > 0 ? collectEligible(count) : 0
            if eligibleCount > 0 {
                if function.trigger.cardinality == .one {
                    carry = delivery.deliverOneByOne(eligible, count: eligibleCount) { stopRequested.load(ordering: .relaxed) }
                } else if settlement.roomForOutputs(messages: eligibleCount) {
                    delivery.deliverFresh(UnsafeMutableBufferPointer(start: eligible, count: eligibleCount))
                } else {
                    carry = UnsafeMutableBufferPointer(start: eligible, count: eligibleCount)
                }
            }
            // The rest of the fetch is released; what is carried moves to the front.
            if count > 0 { fetched.endRound(carrying: carry) }
            // The round's calls form one group of trackers, settled together once acknowledged.
            settlement.sealOutputGroup()
            settlement.settleAcknowledgedOutputs()
            retries.adopt(settlement.takeDeliveryFailures())
            settlement.storeOffsets()
        }
        fetched.releaseAll()
        settlement.settleAcknowledgedOutputs(waitingForAll: true)
        settlement.flush(reason: "shutdown")
        close()
    }

    /// Fetches up to `limit` messages into ``fetched`` (after the carried ones): what is already
    /// there without waiting; waits (up to `timeoutMs`) only when nothing is, for the first one.
    @discardableResult
    func fetch(limit: Int, timeoutMs: Int32) -> Int {
        let count = fetched.fetch(from: consumer, limit: limit, timeoutMs: timeoutMs)
        if count > 0 { operations.consumed(count) }
        return count
    }

    func pollTimeoutMs() -> Int32 {
        var wait = UInt64(options.subscriberIntervalInSeconds) * 1_000_000_000
        // Paused by the operator: retries wait too.
        if operations.state != .running { return Int32(clamping: wait / 1_000_000) }
        let now = monotonicNanoseconds()
        for due in [retries.timeUntilNextStep(now: now), schemaWaits.timeUntilNextQuestion(now: now), settlement.timeUntilDue(now: now)] {
            if let due { wait = min(wait, due) }
        }
        return Int32(clamping: (wait + 999_999) / 1_000_000)
    }

    /// The messages of the fetch that are real records of partitions this member handles now,
    /// not settled before. Records of a partition held to be fetched again are dropped.
    func collectEligible(_ count: Int) -> Int {
        // A transaction was aborted (on a revocation, inside this fetch): nothing is called
        // before the partitions are back at their committed offsets.
        if settlement.rewindNeeded { return 0 }
        var eligibleCount = 0
        for index in 0..<count {
            guard let message = fetched[index] else { continue }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                reportConsumeError(message)
                continue
            }
            let partition = message.pointee.partition
            if !control.handles(partition) || settlement.isSettled(partition, offset: message.pointee.offset) { continue }
            eligible[eligibleCount] = message
            eligibleCount += 1
        }
        return eligibleCount
    }
}
