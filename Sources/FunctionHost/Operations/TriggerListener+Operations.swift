import CRdKafka
import Foundation
import Logging
import Synchronization

/// What the consuming thread does for the operations endpoint, between fetches: keeps its
/// heartbeat and paused-partition count current, runs an operator's invocations, and drains
/// (pause) or resumes the function.
extension TriggerListener {
    /// Called by the consuming thread at the top of each round.
    /// - Parameter carried: messages fetched and not handled yet (ONE carries some over).
    func serviceOperations(carried: Int) {
        operations.slots.set(ListenerOperations.Slot.heartbeat.rawValue, Int(monotonicNanoseconds()))
        let paused = pausedForBackpressure || operations.state != .running
            ? assigned.count : assigned.reduce(0) { $0 + (holds.isHeld($1) ? 1 : 0) }
        operations.slots.set(ListenerOperations.Slot.pausedPartitions.rawValue, paused)
        guard operations.attention.load(ordering: .relaxed) else { return }
        let requests = operations.takeRequests()
        requests.invocations.forEach { $0() }
        if let pause = requests.pause { operations.wantsPause = pause }
        switch (operations.wantsPause, operations.state) {
        case (true, .running):
            consumer.pause(partitionList(assigned.map { ($0, -1) }))
            operations.state = .draining
            logger.info("'\(function.name)' is pausing: it fetches nothing more and finishes what it has")
            finishDrainIfDone(carried: carried)
        case (true, .draining):
            finishDrainIfDone(carried: carried)
        case (false, .draining), (false, .paused):
            // Held partitions stay paused until their retry settles them; with the lanes full,
            // the backpressure path resumes (and seeks) once they have room.
            let resumable = pausedForBackpressure || pausedForOutputs ? [] : assigned.filter { !holds.isHeld($0) }
            consumer.resume(partitionList(resumable.map { ($0, -1) }))
            operations.state = .running
            logger.info("'\(function.name)' resumes consuming")
        default:
            break
        }
        if operations.state == .draining { operations.attention.store(true, ordering: .relaxed) }
    }

    private func finishDrainIfDone(carried: Int) {
        guard carried == 0, (dispatcher?.inFlight ?? 0) == 0 else { return }
        settleAcknowledgedOutputs(waitingForAll: true)
        flush(reason: "paused")
        storeOffsets()
        if let commitError = commitSettledNow() {
            logger.warning("Committing '\(function.name)' before pausing failed: \(commitError.reason); it is committed again at the next interval")
        }
        operations.state = .paused
        logger.info("'\(function.name)' is paused: nothing in flight, offsets committed")
    }

    /// Runs `body` on the consuming thread between fetches (waking it when it waits for messages).
    func runOnConsumingThread(_ body: @escaping @Sendable () -> Void) {
        operations.enqueue(body)
        wakeConsumingThread()
    }

    /// Pauses (drains) or resumes the function; the consuming thread does it between fetches.
    func requestPause(_ pause: Bool) {
        operations.request(pause: pause)
        wakeConsumingThread()
    }

    private func wakeConsumingThread() {
        consumer?.wake()
    }

    /// Every invoker's counters: the consuming thread's and the lanes'.
    var invocationStatistics: [InvocationStatistics] {
        [invoker.statistics] + (dispatcher?.statistics ?? [])
    }

    /// Per assigned partition: the high watermark librdkafka last saw minus the next offset to
    /// store (before anything was stored: the committed offset, else the low watermark). A
    /// partition whose high watermark is not known yet is left out.
    func consumerLag() -> [(partition: Int32, lag: Int64)] {
        let partitions = operations.assignedPartitions
        let stored = operations.storedOffsets
        guard let consumer else { return [] }
        return consumer.whileOpen { () -> [(partition: Int32, lag: Int64)] in
            var marks: [Int32: (low: Int64, high: Int64)] = [:]
            for partition in partitions {
                if let known = consumer.cachedWatermarks(topic: function.trigger.topic, partition: partition), known.high >= 0 {
                    marks[partition] = known
                }
            }
            var next = stored.filter { marks[$0.key] != nil }
            let unknown = marks.keys.filter { next[$0] == nil }
            if !unknown.isEmpty {
                let list = partitionList(unknown.map { ($0, crdkafka_offset_invalid()) })
                if (try? consumer.committed(list, timeoutMs: 1_000)) != nil {
                    for element in list.elements where element.offset >= 0 { next[element.partition] = element.offset }
                }
                for partition in unknown where next[partition] == nil {
                    if let low = marks[partition]?.low, low >= 0 { next[partition] = low }
                }
            }
            return marks.keys.sorted().compactMap { partition in
                next[partition].map { (partition, max(0, marks[partition]!.high - $0)) }
            }
        } ?? []
    }
}
