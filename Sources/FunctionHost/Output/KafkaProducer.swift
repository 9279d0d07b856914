import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// One librdkafka producer, shared by every output binding with the same connection. A
/// dedicated thread serves its delivery reports.
final class KafkaProducer: @unchecked Sendable {
    let connection: KafkaConnection
    private let handle: OpaquePointer
    private let running = Atomic<Bool>(true)
    private let pollThreadDone = DispatchSemaphore(value: 0)
    private let topicsLock = Mutex<[String: OpaquePointer]>([:])

    init(connection: KafkaConnection, options: KafkaOptions) throws {
        self.connection = connection
        var properties = options.commonProperties
        // Sends are awaited within the invocation, so a lingering batch would only add latency.
        properties.append(("linger.ms", "0"))
        properties += connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let configuration = try KafkaClient.makeConfiguration(properties, origin: "producer for \(connection.brokerList)")
        rd_kafka_conf_set_dr_msg_cb(configuration, deliveryReport)
        handle = try KafkaClient.make(RD_KAFKA_PRODUCER, configuration: configuration)
        let thread = Thread { [self] in
            while running.load(ordering: .relaxed) { rd_kafka_poll(handle, 100) }
            pollThreadDone.signal()
        }
        thread.name = "swiftfunc-producer"
        thread.start()
    }

    /// The topic handle for `name`, created once.
    /// - Throws: ``KafkaError`` when librdkafka refuses the name.
    func topic(_ name: String) throws -> OpaquePointer {
        try topicsLock.withLock { topics in
            if let topic = topics[name] { return topic }
            guard let topic = rd_kafka_topic_new(handle, name, nil) else {
                throw KafkaError(rd_kafka_last_error(), while: "librdkafka refused topic name '\(name)'")
            }
            topics[name] = topic
            return topic
        }
    }

    /// Queues `message` for `topic`; `tracker` hears of its delivery. Every byte is copied.
    func send(_ message: sf_message, topic: OpaquePointer, tracker: DeliveryTracker) {
        var headers: OpaquePointer? = nil
        if message.header_count > 0, let rawHeaders = message.headers {
            headers = rd_kafka_headers_new(message.header_count)
            for index in 0..<message.header_count {
                let header = rawHeaders[index]
                rd_kafka_header_add(headers, header.name, header.name_length,
                                    header.value, header.value == nil ? 0 : header.value_length)
            }
        }
        send(topic: topic, partition: message.partition, key: message.key, keyLength: message.key_length,
             value: message.value, valueLength: message.value_length, headers: headers, tracker: tracker)
    }

    /// Queues a record; takes ownership of `headers` (an `rd_kafka_headers_t`). Every byte is copied.
    func send(topic: OpaquePointer, partition: Int32, key: UnsafeRawPointer?, keyLength: Int,
              value: UnsafeRawPointer?, valueLength: Int, headers: OpaquePointer?, tracker: DeliveryTracker) {
        tracker.willSend()
        let opaque = Unmanaged.passRetained(tracker).toOpaque()
        var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 7)
        values[0].vtype = RD_KAFKA_VTYPE_RKT
        values[0].u.rkt = topic
        values[1].vtype = RD_KAFKA_VTYPE_PARTITION
        values[1].u.i32 = partition
        values[2].vtype = RD_KAFKA_VTYPE_VALUE
        values[2].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: value), size: valueLength)
        values[3].vtype = RD_KAFKA_VTYPE_KEY
        values[3].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: key), size: keyLength)
        values[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS
        values[4].u.i = crdkafka_msg_f_copy()
        values[5].vtype = RD_KAFKA_VTYPE_OPAQUE
        values[5].u.ptr = opaque
        values[6].vtype = RD_KAFKA_VTYPE_HEADERS
        values[6].u.headers = headers
        let count = headers == nil ? 6 : 7
        while true {
            guard let error = rd_kafka_produceva(handle, values, count) else { return }
            let code = rd_kafka_error_code(error)
            let text = String(cString: rd_kafka_error_string(error))
            rd_kafka_error_destroy(error)
            if code == RD_KAFKA_RESP_ERR__QUEUE_FULL && running.load(ordering: .relaxed) {
                // The local queue drains as deliveries are reported; wait for room.
                rd_kafka_poll(handle, 10)
                continue
            }
            if let headers { rd_kafka_headers_destroy(headers) }
            Unmanaged<DeliveryTracker>.fromOpaque(opaque).release()
            tracker.notQueued("could not queue a record for '\(String(cString: rd_kafka_topic_name(topic)))': \(text)")
            return
        }
    }

    /// Waits up to `timeoutMs` for queued records, then stops the poll thread and destroys the client.
    func shutdown(timeoutMs: Int32 = 10_000) -> Int32 {
        let result = rd_kafka_flush(handle, timeoutMs)
        let left = rd_kafka_outq_len(handle)
        running.store(false, ordering: .relaxed)
        pollThreadDone.wait()
        topicsLock.withLock { topics in
            topics.values.forEach { rd_kafka_topic_destroy($0) }
            topics.removeAll()
        }
        rd_kafka_destroy(handle)
        return result == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : left
    }
}

/// librdkafka's delivery report: hands the outcome to the tracker the record was sent with.
private let deliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let tracker = Unmanaged<DeliveryTracker>.fromOpaque(opaque).takeRetainedValue()
    let error = message.pointee.err
    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
    tracker.delivered(
        partition: message.pointee.partition,
        offset: message.pointee.offset,
        errorCode: error.rawValue,
        error: error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : "delivery to '\(topic)' failed: \(String(cString: rd_kafka_err2str(error)))"
    )
}
