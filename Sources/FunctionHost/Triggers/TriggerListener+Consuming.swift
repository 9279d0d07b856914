import CRdKafka
import Foundation
import Logging
import Synchronization

/// Ordering `partition`: the consuming thread's loop (fetch, filter, deliver, store) and the
/// polling it is built from.
extension TriggerListener {
    // MARK: - The consuming thread

    func run() {
        while !stopRequested.load(ordering: .relaxed) {
            if rewindAfterAbort { rewindToCommitted() }
            let carried = fetched.carried
            serviceOperations(carried: carried)
            if operations.state == .running { attemptDueHeldPartitions() }
            flushIfDue()
            // Messages carried over from the previous fetch come first; new ones join them
            // without waiting when some are already there.
            // The buffers hold two fetches' worth: new messages fill what the carried ones
            // leave (a round always handles some, so there is always room for one).
            let room = min(fetchCapacity, 2 * fetchCapacity - carried)
            fetch(limit: room, timeoutMs: carried > 0 ? 0 : pollTimeoutMs())
            let count = fetched.count
            // Nothing new: a retry, dead letter or acknowledged output settled meanwhile is
            // stored now, and settled offsets still go out on the commit interval.
            guard count > 0 else {
                sealOutputGroup()
                settleAcknowledgedOutputs()
                storeOffsets()
                continue
            }
            let eligibleCount = collectEligible(count)
            var carry = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>(start: eligible, count: 0)
            if eligibleCount > 0 {
                if function.trigger.cardinality == .one {
                    let started = monotonicNanoseconds()
                    for index in 0..<eligibleCount {
                        if stopRequested.load(ordering: .relaxed) { break }
                        // A slow function must not keep the consumer from polling for long: a
                        // rebalance waits on that poll. The rest of the fetch is carried over.
                        if index & 7 == 7, monotonicNanoseconds() - started > Self.oneFetchTimeBudget {
                            carry = UnsafeMutableBufferPointer(start: eligible + index, count: eligibleCount - index)
                            break
                        }
                        // No room among the unacknowledged outputs (the partitions paused): the
                        // rest is carried over too.
                        if !roomForOutputs(messages: 1) {
                            carry = UnsafeMutableBufferPointer(start: eligible + index, count: eligibleCount - index)
                            break
                        }
                        deliverFresh(UnsafeMutableBufferPointer(start: eligible + index, count: 1))
                    }
                } else if roomForOutputs(messages: eligibleCount) {
                    deliverFresh(UnsafeMutableBufferPointer(start: eligible, count: eligibleCount))
                } else {
                    carry = UnsafeMutableBufferPointer(start: eligible, count: eligibleCount)
                }
            }
            // The rest of the fetch is released; what is carried moves to the front.
            fetched.endRound(carrying: carry)
            // The round's calls form one group of trackers, settled together once acknowledged.
            sealOutputGroup()
            settleAcknowledgedOutputs()
            storeOffsets()
        }
        fetched.releaseAll()
        settleAcknowledgedOutputs(waitingForAll: true)
        flush(reason: "shutdown")
        close()
    }

    /// How long a ONE function may work through one fetch before the consumer polls again
    /// (serving a rebalance, say); the rest of the fetch waits for the next round.
    static let oneFetchTimeBudget: UInt64 = 250_000_000

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
        if let untilAttempt = holds.timeUntilNextAttempt(now: now) { wait = min(wait, untilAttempt) }
        if let untilCommit = committer.timeUntilNextCommit(now: now) { wait = min(wait, untilCommit) }
        // Invocations waiting for acknowledgements are settled soon after they arrive.
        if let awaiting, !awaiting.isEmpty { wait = min(wait, 5_000_000) }
        if flushFunction != nil && ledger.hasPending {
            let interval = UInt64(function.flushIntervalSeconds * 1e9)
            wait = min(wait, lastFlush + interval > now ? lastFlush + interval - now : 0)
        }
        return Int32(clamping: (wait + 999_999) / 1_000_000)
    }

    /// The messages of the fetch that are real records of partitions not held at a failure.
    /// Records of a held partition are dropped: they are fetched again after the seek.
    func collectEligible(_ count: Int) -> Int {
        // A transaction was aborted (on a revocation, inside this fetch): nothing is called
        // before the partitions are back at their committed offsets.
        if rewindAfterAbort { return 0 }
        var eligibleCount = 0
        for index in 0..<count {
            guard let message = fetched[index] else { continue }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                reportConsumeError(message)
                continue
            }
            let partition = message.pointee.partition
            if holds.isHeld(partition) || !assigned.contains(partition) || ledger.isSettled(partition, offset: message.pointee.offset) {
                continue
            }
            eligible[eligibleCount] = message
            eligibleCount += 1
        }
        return eligibleCount
    }
}
