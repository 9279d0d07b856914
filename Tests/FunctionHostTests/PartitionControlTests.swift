import CRdKafka
import Testing
@testable import FunctionHost

/// Partition control without a broker: every call it makes to the consumer is recorded.
@Suite("Partition control", .timeLimit(.minutes(10)))
struct PartitionControlTests {
    /// The consumer as partition control sees it: each call, in order, as text.
    final class RecordingConsumer: PartitionPositioning {
        var calls: [String] = []

        private func text(_ list: RDKafkaTopicPartitionList, offsets: Bool) -> String {
            list.elements.map { offsets ? "\($0.partition)@\($0.offset)" : "\($0.partition)" }.joined(separator: ",")
        }

        func pause(_ partitions: RDKafkaTopicPartitionList) { calls.append("pause \(text(partitions, offsets: false))") }
        func resume(_ partitions: RDKafkaTopicPartitionList) { calls.append("resume \(text(partitions, offsets: false))") }
        func seek(_ partitions: RDKafkaTopicPartitionList, timeoutMs: Int32) throws(KafkaError) {
            calls.append("seek \(text(partitions, offsets: true))")
        }
        func assign(_ partitions: RDKafkaTopicPartitionList) { calls.append("assign \(text(partitions, offsets: false))") }
        func unassign() { calls.append("unassign") }
        func incrementalAssign(_ partitions: RDKafkaTopicPartitionList) { calls.append("incrementalAssign \(text(partitions, offsets: false))") }
        func incrementalUnassign(_ partitions: RDKafkaTopicPartitionList) { calls.append("incrementalUnassign \(text(partitions, offsets: false))") }

        /// The calls since the last time they were taken.
        func take() -> [String] {
            defer { calls.removeAll() }
            return calls
        }
    }

    private func control(assigned partitions: [Int32], cooperative: Bool = false) -> (PartitionControl, RecordingConsumer) {
        let consumer = RecordingConsumer()
        let control = PartitionControl(consumer: consumer, topic: "orders", logger: LogCapture().logger())
        control.assign(RDKafkaTopicPartitionList(topic: "orders", partitions.map { ($0, -1001) }), cooperative: cooperative)
        _ = consumer.take()
        return (control, consumer)
    }

    @Test func aRetryPausesThePartitionAndItContinuesPastWhatWasHandled() {
        let (control, consumer) = control(assigned: [0, 1])
        control.hold(0, .retry)
        control.handled(0, upTo: 5)
        // Outputs acknowledged later settled messages after the failed one: it continues past them.
        control.handled(0, upTo: 7)
        control.handled(0, upTo: 6)
        #expect(consumer.take() == ["pause 0"])
        #expect(!control.handles(0) && control.handles(1))
        #expect(control.isHeld(0, for: .retry) && !control.isHeld(1))
        #expect(control.heldCount == 1)
        control.release(0, .retry)
        #expect(consumer.take() == ["resume 0", "seek 0@7"])
        #expect(control.handles(0) && control.heldCount == 0)
    }

    @Test func aPartitionFlowsOnlyWhenEveryReasonIsGone() {
        let (control, consumer) = control(assigned: [0, 1])
        control.hold(0, .retry)
        control.handled(0, upTo: 3)
        control.holdEverywhere(.operatorPause)
        #expect(consumer.take() == ["pause 0", "pause 1"])
        #expect(control.heldCount == 2)
        // The retry settles while the operator's pause holds: nothing moves yet.
        control.release(0, .retry)
        #expect(consumer.take() == [])
        #expect(control.continuation(of: 0) == 3)
        control.releaseEverywhere(.operatorPause)
        #expect(consumer.take() == ["resume 0,1", "seek 0@3"])
        #expect(control.heldCount == 0)
    }

    @Test func fullLanesHoldEveryPartitionEachContinuingAtItsFirstMessageNotHandedOver() {
        let (control, consumer) = control(assigned: [0, 1, 2])
        control.holdEverywhere(.backpressure)
        #expect(consumer.take() == ["pause 0,1,2"])
        #expect(!control.handles(0) && !control.handles(1) && !control.handles(2))
        control.continueAt(1, 40)
        control.continueAt(1, 41)
        control.continueAt(2, 9)
        control.releaseEverywhere(.backpressure)
        #expect(consumer.take() == ["resume 0,1,2", "seek 1@40,2@9"])
        #expect(control.handles(0) && control.handles(1) && control.handles(2))
    }

    @Test func unacknowledgedOutputsPauseWithoutDroppingWhatWasFetched() {
        let (control, consumer) = control(assigned: [0])
        control.holdEverywhere(.outputs)
        #expect(consumer.take() == ["pause 0"])
        // The carried messages are still called: nothing is fetched again.
        #expect(control.handles(0))
        control.releaseEverywhere(.outputs)
        #expect(consumer.take() == ["resume 0"])
    }

    @Test func aSchemaRegistryWaitContinuesAtTheMessageAndOutlastsFullLanes() {
        let (control, consumer) = control(assigned: [0, 1])
        control.hold(0, .schemaRegistry)
        control.continueAt(0, 12)
        control.holdEverywhere(.backpressure)
        #expect(consumer.take() == ["pause 0", "pause 1"])
        control.releaseEverywhere(.backpressure)
        #expect(consumer.take() == ["resume 1"])
        control.release(0, .schemaRegistry)
        #expect(consumer.take() == ["resume 0", "seek 0@12"])
    }

    @Test func partitionsAssignedWhileEverythingIsHeldStartHeld() {
        let (control, consumer) = control(assigned: [0])
        control.holdEverywhere(.operatorPause)
        _ = consumer.take()
        control.assign(RDKafkaTopicPartitionList(topic: "orders", [(1, -1001)]), cooperative: true)
        #expect(consumer.take() == ["incrementalAssign 1", "pause 1"])
        #expect(control.isHeld(1, for: .operatorPause))
        // Revoked: resumed first (librdkafka keeps a pause across assignments), then forgotten.
        control.revoke(RDKafkaTopicPartitionList(topic: "orders", [(1, -1001)]), cooperative: true)
        #expect(consumer.take() == ["resume 1", "incrementalUnassign 1"])
        #expect(!control.handles(1) && Array(control.assigned) == [0])
        // A partition that is not assigned is never paused, held or sought.
        control.hold(7, .retry)
        control.release(7, .retry)
        #expect(consumer.take() == [])
    }

    @Test func anAbortedTransactionRepositionsFlowingPartitionsNowAndHeldOnesWhenTheyFlow() {
        let (control, consumer) = control(assigned: [0, 1])
        control.hold(0, .retry)
        control.handled(0, upTo: 9)
        control.holdEverywhere(.operatorPause)
        control.releaseEverywhere(.operatorPause)
        _ = consumer.take()
        control.hold(1, .operatorPause)
        _ = consumer.take()
        control.reposition([(partition: 0, offset: 4), (partition: 1, offset: 6)])
        // Partition 0's retry is forgotten: it goes back to the committed offset at once; 1 waits.
        #expect(consumer.take() == ["resume 0", "seek 0@4"])
        control.release(1, .operatorPause)
        #expect(consumer.take() == ["resume 1", "seek 1@6"])
    }
}
