import CRdKafka
import FunctionABI
import Foundation
import Logging

/// Ordering `partition` with output bindings: an invocation's records are acknowledged after
/// the consuming thread has moved on (``AwaitingOutputs``); its messages are settled then, in
/// order, or fail together when a record was not delivered.
extension TriggerListener {
    /// Settles the waiting invocations at the front whose records are all acknowledged; with
    /// `waitingForAll`, waits for every waiting invocation's records first (a revocation, a stop,
    /// a failure or retry that must not overtake them).
    func settleAcknowledgedOutputs(waitingForAll: Bool = false) {
        guard let awaiting else { return }
        if waitingForAll { sealOutputGroup() }
        while !awaiting.isEmpty && (waitingForAll || awaiting.firstIsComplete) {
            settleFirstAwaiting(awaiting)
        }
    }

    /// Waits (settling the oldest invocations) until another call of `messages` messages fits
    /// within the bounds of unacknowledged output.
    func makeRoomForOutputs(messages: Int) {
        guard let awaiting else { return }
        while !awaiting.isEmpty && !awaiting.hasRoom(forMessages: messages) {
            settleFirstAwaiting(awaiting)
        }
    }

    /// Whether another call of `messages` messages fits within the bounds of unacknowledged
    /// output: waits up to `Self.outputRoomWait` for the oldest invocations' acknowledgements;
    /// when there is still no room, pauses the partitions (the consumer keeps polling, so the
    /// group keeps it) and says no: the caller carries the messages to the next round. The
    /// partitions resume once there is room.
    func roomForOutputs(messages: Int) -> Bool {
        guard let awaiting else { return true }
        var deadline: Date?
        while !awaiting.isEmpty && !awaiting.hasRoom(forMessages: messages) {
            if awaiting.count == 1 { sealOutputGroup() }
            if deadline == nil { deadline = Date().addingTimeInterval(Self.outputRoomWait) }
            guard awaiting.first?.deliveries?.waitUntilReported(deadline: deadline!) ?? true else {
                pauseForOutputs(awaiting)
                return false
            }
            settleFirstAwaiting(awaiting)
        }
        if pausedForOutputs {
            pausedForOutputs = false
            let resumable = assigned.filter { !holds.isHeld($0) }
            if operations.state == .running { consumer.resume(partitionList(resumable.map { ($0, -1) })) }
            logger.info("'\(function.name)' resumes consuming: its outputs are acknowledged again")
        }
        return true
    }

    /// How long a call waits for room among the unacknowledged outputs before the partitions pause.
    static var outputRoomWait: Double { 0.1 }

    private func pauseForOutputs(_ awaiting: AwaitingOutputs) {
        guard !pausedForOutputs else { return }
        pausedForOutputs = true
        consumer.pause(partitionList(assigned.map { ($0, -1) }))
        logger.warning("'\(function.name)' waits for the broker to acknowledge its outputs (\(awaiting.records) records, \(awaiting.bytes) bytes unacknowledged; bounds extensions.kafka.maxUnacknowledgedOutputRecords and maxUnacknowledgedOutputBytes): its partitions pause until there is room")
    }

    /// Closes the group of invocations sharing trackers: later calls start a new one.
    func sealOutputGroup() {
        guard let awaiting, awaiting.open != nil else { return }
        invoker.sealDeliveries()
        awaiting.seal()
    }

    private func settleFirstAwaiting(_ awaiting: AwaitingOutputs) {
        // The oldest is the open group only when it is the only one: sealed before it settles.
        if awaiting.count == 1 { sealOutputGroup() }
        let invocation = awaiting.removeFirst()
        if let mark = invocation.settledWithoutCall {
            settledInOrder(mark.partition, upTo: mark.offset, pending: invocation.pending)
            return
        }
        let failures = invocation.deliveries.map { invoker.settle($0) } ?? []
        guard !failures.isEmpty else {
            for index in 0..<invocation.messageCount {
                let message = awaiting.messages[index]
                settledInOrder(message.pointee.partition, upTo: message.pointee.offset + 1, pending: invocation.pending)
                forgetCrashes(message)
            }
            awaiting.messages.removeFirst(invocation.messageCount)
            return
        }
        // A record was not delivered: the invocation failed after all. Its messages are held
        // for the retry policy like a failed call's (and sent again when retried).
        let error = "output not delivered: " + failures.joined(separator: "; ")
        var newlyHeld: [Int32] = []
        awaiting.messages.handOverFirst(invocation.messageCount) { message in
            let partition = message.pointer.pointee.partition
            let next = message.pointer.pointee.offset + 1
            if let held = holds.held(partition) {
                held.messages.append(message)
                held.resumeOffset = max(held.resumeOffset, next)
            } else {
                var owned = RDKafkaMessages()
                owned.append(message)
                holds.hold(partition, HeldMessages(messages: owned, failures: 1, lastError: error, due: 0, resumeOffset: next))
                pause(partition)
                newlyHeld.append(partition)
            }
        }
        for partition in newlyHeld {
            if let held = holds.held(partition) { scheduleNextAttempt(partition, held) }
        }
    }

    /// A partition's messages before `offset` are settled, in order. A held partition (a later
    /// failure overtook them) only moves where it resumes.
    private func settledInOrder(_ partition: Int32, upTo offset: Int64, pending: Bool) {
        if let held = holds.held(partition) {
            held.resumeOffset = max(held.resumeOffset, offset)
        } else {
            record(partition, settledUpTo: offset, pending: pending)
        }
    }
}
