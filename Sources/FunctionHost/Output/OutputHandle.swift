import CRdKafka
import FunctionABI
import Foundation

/// The `sf_output` a function gets for one `kafka` output binding. Records sent without asking
/// for their delivery join the invocation's tracker, which the listener waits on after the call.
final class OutputHandle: @unchecked Sendable {
    let binding: KafkaOutputBinding
    let pointer: UnsafeMutablePointer<sf_output>
    private let producer: KafkaProducer
    private let topic: OpaquePointer
    private let topicName: UnsafeMutablePointer<CChar>
    /// Records queued during the invocation in progress.
    let invocationTracker = DeliveryTracker()

    init(binding: KafkaOutputBinding, producer: KafkaProducer) throws {
        self.binding = binding
        self.producer = producer
        topic = try producer.topic(binding.topic)
        topicName = strdup(binding.topic)
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sf_output(topic: topicName, host_data: nil, send: sendCallback))
        pointer.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deallocate()
        free(topicName)
    }

    fileprivate func send(_ message: sf_message, delivery: UnsafeMutablePointer<sf_delivery>?) -> Int32 {
        guard let delivery else {
            producer.send(message, topic: topic, tracker: invocationTracker)
            return SF_OK
        }
        let tracker = DeliveryTracker()
        producer.send(message, topic: topic, tracker: tracker)
        let outcome = tracker.waitForAll()
        delivery.pointee.partition = outcome.partition
        delivery.pointee.offset = outcome.offset
        delivery.pointee.error_code = outcome.failures.isEmpty ? 0 : (outcome.errorCode == 0 ? -1 : outcome.errorCode)
        withUnsafeMutableBytes(of: &delivery.pointee.error_message) { buffer in
            let text = Array((outcome.failures.first ?? "").utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: text)
            buffer[text.count] = 0
        }
        return outcome.failures.isEmpty ? SF_OK : SF_ERROR
    }
}

private let sendCallback: @convention(c) (UnsafePointer<sf_output>?, UnsafePointer<sf_message>?, UnsafeMutablePointer<sf_delivery>?) -> Int32 = { output, message, delivery in
    guard let output, let message, let hostData = output.pointee.host_data else { return SF_ERROR }
    return Unmanaged<OutputHandle>.fromOpaque(hostData).takeUnretainedValue().send(message.pointee, delivery: delivery)
}
