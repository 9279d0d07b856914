import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// One librdkafka producer (an ``RDKafkaProducer``), shared by every output binding with the
/// same connection. A dedicated thread serves its delivery reports.
final class KafkaProducer: @unchecked Sendable {
    let connection: KafkaConnection
    /// The librdkafka producer (``TransactionalOutputs`` drives its transactions).
    let client: RDKafkaProducer
    private let running = Atomic<Bool>(true)
    private let pollThreadDone = DispatchSemaphore(value: 0)

    /// - Parameter transactionalID: makes it a transactional producer (exactlyOnce).
    init(connection: KafkaConnection, settings: ProducerSettings = ProducerSettings(), options: KafkaOptions,
         transactionalID: String? = nil) throws {
        self.connection = connection
        var properties = options.commonProperties
        properties += settings.librdkafkaProperties
        if let transactionalID { properties.append(("transactional.id", transactionalID)) }
        properties += connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        client = try RDKafkaProducer(properties: properties, origin: "producer for \(connection.brokerList)", deliveryReport: deliveryReport)
        let thread = Thread { [self] in
            while running.load(ordering: .relaxed) { client.poll(timeoutMs: 100) }
            pollThreadDone.signal()
        }
        thread.name = "swiftfunc-producer"
        thread.start()
    }

    /// The topic handle for `name`, created once.
    /// - Throws: ``KafkaError`` when librdkafka refuses the name.
    func topic(_ name: String) throws -> OpaquePointer {
        try client.topic(name)
    }

    /// Queues `message` for `topic`; `tracker` hears of its delivery. Every byte is copied.
    /// - Returns: why librdkafka did not queue it (nil: queued); see the other `send`.
    @discardableResult
    func send(_ message: sf_message, topic: OpaquePointer, tracker: DeliveryTracker, refusalIsFailure: Bool = true) -> String? {
        var headers: OpaquePointer? = nil
        if message.header_count > 0, let rawHeaders = message.headers {
            headers = rd_kafka_headers_new(message.header_count)
            for index in 0..<message.header_count {
                let header = rawHeaders[index]
                rd_kafka_header_add(headers, header.name, header.name_length,
                                    header.value, header.value == nil ? 0 : header.value_length)
            }
        }
        return send(topic: topic, partition: message.partition, key: message.key, keyLength: message.key_length,
                    value: message.value, valueLength: message.value_length, headers: headers, tracker: tracker,
                    refusalIsFailure: refusalIsFailure)
    }

    /// Queues a record; takes ownership of `headers` (an `rd_kafka_headers_t`). Every byte is copied.
    /// - Parameter refusalIsFailure: a record librdkafka refuses to queue counts as a failure of
    ///   `tracker` (else the caller handles the returned reason alone).
    /// - Returns: why librdkafka did not queue it (nil: queued).
    @discardableResult
    func send(topic: OpaquePointer, partition: Int32, key: UnsafeRawPointer?, keyLength: Int,
              value: UnsafeRawPointer?, valueLength: Int, headers: OpaquePointer?, tracker: DeliveryTracker,
              refusalIsFailure: Bool = true) -> String? {
        tracker.willSend(bytes: keyLength + valueLength)
        let opaque = Unmanaged.passRetained(tracker).toOpaque()
        while true {
            do {
                try client.produce(topic: topic, partition: partition, key: key, keyLength: keyLength,
                                   value: value, valueLength: valueLength, headers: headers, opaque: opaque)
                return nil
            } catch {
                if error.code == .queueFull && running.load(ordering: .relaxed) {
                    // The local queue drains as deliveries are reported; wait for room.
                    client.poll(timeoutMs: 10)
                    continue
                }
                if let headers { rd_kafka_headers_destroy(headers) }
                Unmanaged<DeliveryTracker>.fromOpaque(opaque).release()
                tracker.notQueued(refusalIsFailure ? error.message : nil, bytes: keyLength + valueLength)
                return error.message
            }
        }
    }

    /// Waits up to `timeoutMs` for queued records, then stops the poll thread and destroys the client.
    func shutdown(timeoutMs: Int32 = 10_000) -> Int32 {
        let left = client.flush(timeoutMs: timeoutMs)
        running.store(false, ordering: .relaxed)
        pollThreadDone.wait()
        client.close()
        return left
    }
}

/// librdkafka's delivery report: hands the outcome to the tracker the record was sent with.
private let deliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let tracker = Unmanaged<DeliveryTracker>.fromOpaque(opaque).takeRetainedValue()
    let error = message.pointee.err
    // The topic's name only for a failure: a delivered record costs no allocation.
    var failure: String?
    if error != RD_KAFKA_RESP_ERR_NO_ERROR {
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        failure = "delivery to '\(topic)' failed: \(String(cString: rd_kafka_err2str(error)))"
    }
    tracker.delivered(partition: message.pointee.partition, offset: message.pointee.offset, errorCode: error.rawValue, error: failure)
}
