import CRdKafka
import Foundation
import Logging
import Synchronization

/// What the consuming thread does for the operations endpoint, between fetches: keeps its
/// heartbeat and held-partition count current, runs an operator's invocations, and drains
/// (pause) or resumes the function (``HoldReasons/operatorPause``).
extension TriggerListener {
    /// Called by the consuming thread at the top of each round.
    /// - Parameter carried: messages fetched and not handled yet (ONE carries some over).
    func serviceOperations(carried: Int) {
        operations.slots.set(ListenerOperations.Slot.heartbeat.rawValue, Int(monotonicNanoseconds()))
        operations.slots.set(ListenerOperations.Slot.pausedPartitions.rawValue, control.heldCount)
        refreshGroupMembership()
        guard operations.attention.load(ordering: .relaxed) else { return }
        let requests = operations.takeRequests()
        requests.invocations.forEach { $0() }
        if let pause = requests.pause { operations.wantsPause = pause }
        switch (operations.wantsPause, operations.state) {
        case (true, .running):
            control.holdEverywhere(.operatorPause)
            operations.state = .draining
            logger.info("'\(function.name)' is pausing: it fetches nothing more and finishes what it has")
            finishDrainIfDone(carried: carried)
        case (true, .draining):
            finishDrainIfDone(carried: carried)
        case (false, .draining), (false, .paused):
            // Partitions held for other reasons (a retry, full lanes) stay held until those end.
            control.releaseEverywhere(.operatorPause)
            operations.state = .running
            logger.info("'\(function.name)' resumes consuming")
        default:
            break
        }
        if operations.state == .draining { operations.attention.store(true, ordering: .relaxed) }
    }

    private func finishDrainIfDone(carried: Int) {
        guard carried == 0, (dispatcher?.inFlight ?? 0) == 0 else { return }
        settlement.settleAcknowledgedOutputs(waitingForAll: true)
        retries.adopt(settlement.takeDeliveryFailures())
        settlement.flush(reason: "paused")
        settlement.storeOffsets()
        if let commitError = settlement.commitSettledNow() {
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
}
