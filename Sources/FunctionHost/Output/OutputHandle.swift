import CRdKafka
import FunctionABI
import Foundation

/// The `sf_output` a function gets for one `kafka` output binding. Records sent without asking
/// for their delivery join the invocation's tracker (``tracker``, set by the ``Invoker`` for
/// each call): send returns at once, and whoever settles the invocation waits on it.
final class OutputHandle: @unchecked Sendable {
    let binding: KafkaOutputBinding
    let pointer: UnsafeMutablePointer<sf_output>
    /// nil: records are only captured (`swiftfunc invoke`), never produced.
    private let producer: KafkaProducer?
    private let topic: OpaquePointer?
    /// Keeps a copy of every record sent (an operator's invocation shows what it sent).
    private let capture: OutputCapture?
    private let topicName: UnsafeMutablePointer<CChar>
    /// Records queued during the invocation in progress (the Invoker swaps in a fresh one when
    /// an invocation is settled later, with its records still unacknowledged).
    var tracker = DeliveryTracker()
    /// exactlyOnce: records sent without a delivery pointer wait here until the invocation
    /// returns (``releaseStaged()``, ``discardStaged()``); nil: they are queued at once.
    let staged: StagedRecords?
    /// Records librdkafka refused to queue during the invocation in progress, and the first
    /// reason: the send returned SF_ERROR, and the invocation fails whatever the function does.
    private var refused = (count: 0, reason: nil as String?)
    /// Records sent with a delivery pointer during the invocation in progress (delivered,
    /// failed); the invoking thread takes them after the call.
    private var awaited = (delivered: 0, failed: 0)
    /// An output with a schema: what the function sends (JSON) is encoded before it is produced.
    private let encoder: RecordEncoder?
    /// A traced function's invocation span: every record sent carries its `traceparent` (nil:
    /// records go out with the function's headers only).
    var trace: CurrentTrace?

    /// - Parameter staging: hold records back until the invocation returns (exactlyOnce).
    init(binding: KafkaOutputBinding, producer: KafkaProducer?, capture: OutputCapture? = nil, staging: Bool = false) throws {
        self.binding = binding
        staged = staging ? StagedRecords() : nil
        self.producer = producer
        self.capture = capture
        topic = try producer?.topic(binding.topic)
        topicName = strdup(binding.topic)
        encoder = binding.schemas.map { RecordEncoder(settings: $0, topic: binding.topic) }
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sf_output(topic: topicName, host_data: nil, send: sendCallback))
        pointer.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deallocate()
        free(topicName)
    }

    /// The records refused since the last call (their count, the first reason).
    func takeRefused() -> (count: Int, reason: String?) {
        defer { refused = (0, nil) }
        return refused
    }

    /// The counts of records sent with a delivery pointer since the last call.
    func takeAwaited() -> (delivered: Int, failed: Int) {
        defer { awaited = (0, 0) }
        return awaited
    }

    /// The invocation succeeded: its staged records go to the producer (its transaction).
    /// - Returns: why librdkafka refused one (the invocation fails after all; the records queued
    ///   before it stay in the transaction).
    func releaseStaged() -> String? {
        guard let staged, !staged.isEmpty, let producer, let topic else { return nil }
        return staged.release(to: producer, topic: topic, tracker: tracker)
    }

    /// The invocation failed: its staged records are dropped.
    func discardStaged() {
        staged?.discard()
    }

    fileprivate func send(_ message: sf_message, delivery: UnsafeMutablePointer<sf_delivery>?, traced: Bool = false) -> Int32 {
        if !traced, let trace, trace.isActive { return trace.stamped(message) { send($0, delivery: delivery, traced: true) } }
        capture?.record(message, topic: binding.topic)
        guard let producer, let topic else {
            // Captured only: nothing was written anywhere.
            delivery?.pointee = sf_delivery(partition: -1, error_code: 0, offset: -1, error_message: sf_delivery().error_message)
            return SF_OK
        }
        guard let encoder, let value = message.value else {
            return send(message, producer: producer, topic: topic, delivery: delivery)
        }
        switch encoder.encode(UnsafeRawBufferPointer(start: value, count: message.value_length)) {
        case .success(let encoded):
            return encoded.withUnsafeBufferPointer { bytes in
                var framed = message
                framed.value = bytes.baseAddress
                framed.value_length = bytes.count
                return send(framed, producer: producer, topic: topic, delivery: delivery)
            }
        case .failure(let error):
            if let delivery {
                awaited.failed += 1
                report(delivery, partition: -1, offset: -1, errorCode: -1, error: error.message)
            } else {
                refused.count += 1
                refused.reason = refused.reason ?? error.message
            }
            return SF_ERROR
        }
    }

    private func send(_ message: sf_message, producer: KafkaProducer, topic: OpaquePointer, delivery: UnsafeMutablePointer<sf_delivery>?) -> Int32 {
        guard let delivery else {
            if let staged {
                staged.stage(message)
            } else if let reason = producer.send(message, topic: topic, tracker: tracker, refusalIsFailure: false) {
                refused.count += 1
                refused.reason = refused.reason ?? reason
                return SF_ERROR
            }
            return SF_OK
        }
        let tracker = DeliveryTracker()
        producer.send(message, topic: topic, tracker: tracker)
        let outcome = tracker.waitForAll()
        if outcome.failures.isEmpty { awaited.delivered += 1 } else { awaited.failed += 1 }
        report(delivery, partition: outcome.partition, offset: outcome.offset,
               errorCode: outcome.failures.isEmpty ? 0 : (outcome.errorCode == 0 ? -1 : outcome.errorCode), error: outcome.failures.first ?? "")
        return outcome.failures.isEmpty ? SF_OK : SF_ERROR
    }

    /// Fills the function's `sf_delivery` (the message truncated to its buffer).
    private func report(_ delivery: UnsafeMutablePointer<sf_delivery>, partition: Int32, offset: Int64, errorCode: Int32, error: String) {
        delivery.pointee.partition = partition
        delivery.pointee.offset = offset
        delivery.pointee.error_code = errorCode
        withUnsafeMutableBytes(of: &delivery.pointee.error_message) { buffer in
            let text = Array(error.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: text)
            buffer[text.count] = 0
        }
    }
}

private let sendCallback: @convention(c) (UnsafePointer<sf_output>?, UnsafePointer<sf_message>?, UnsafeMutablePointer<sf_delivery>?) -> Int32 = { output, message, delivery in
    guard let output, let message, let hostData = output.pointee.host_data else { return SF_ERROR }
    return Unmanaged<OutputHandle>.fromOpaque(hostData).takeUnretainedValue().send(message.pointee, delivery: delivery)
}
