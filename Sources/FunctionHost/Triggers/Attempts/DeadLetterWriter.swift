import CRdKafka
import Foundation

/// Why a message went to the dead-letter topic (the `swiftfunc.dlq.reason` header).
enum DeadLetterReason: String, CaseIterable {
    /// The function failed it on every attempt its retry policy allows.
    case failed
    /// The function's dataType is string and the value is not UTF-8: retrying cannot help.
    case invalidUTF8 = "invalid-utf8"
    /// It crashed (or timed out) the host `maxCrashesPerMessage` times.
    case crashed
    /// It was older than the trigger's `maxRecordAge` when it was consumed.
    case recordAge = "record-age"
    /// Its schema id is not in the schema registry.
    case schemaNotFound = "schema-not-found"
    /// It does not decode with its schema, or is not in the Confluent wire format.
    case deserializationError = "deserialization-error"

    /// The `swiftfunc.dlq.error` of a message dead-lettered for invalid UTF-8.
    static let invalidTextError = "the value is not valid UTF-8 and the function's dataType is string (use dataType binary to receive raw bytes); the function was not called"

    /// The `swiftfunc.dlq.error` of a message dead-lettered for crashing the host.
    static func crashedError(times: Int) -> String { "crashed or timed out the host \(times) times" }

    /// The `swiftfunc.dlq.error` of a message dead-lettered for its age.
    static func recordAgeError(_ message: UnsafeMutablePointer<rd_kafka_message_t>, maxSeconds: Double) -> String {
        let ageMs = RecordAge.nowMs() - rd_kafka_message_timestamp(message, nil)
        return "the record was \(ageMs / 1000) s old, older than the trigger's maxRecordAge (\(Int(maxSeconds)) s); the function was not called"
    }
}

/// Sends messages the function could not process to its dead-letter topic: the original key,
/// value and headers, plus headers saying where it came from, which function, how many
/// attempts, and the last error.
final class DeadLetterWriter {
    let topicName: String
    private let functionName: String
    private let producer: KafkaProducer
    private let topic: OpaquePointer
    /// Messages dead-lettered, by reason (for the metrics endpoint).
    let statistics = DeadLetterStatistics()

    init(function: FunctionConfiguration, producers: ProducerPool) throws {
        topicName = function.deadLetterTopic
        functionName = function.name
        producer = try producers.producer(for: function.trigger.connection)
        topic = try producer.topic(function.deadLetterTopic)
    }

    /// Sends `messages` and waits for their delivery.
    /// - Returns: nil when every one was delivered, else the first failure.
    /// - Parameter traceparent: the failed invocation's (a traced function): it replaces the
    ///   record's, so the dead letter continues the invocation's trace.
    func send(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int,
              traceparent: String? = nil) -> String? {
        let tracker = DeliveryTracker()
        let time = "\(Int64(Date().timeIntervalSince1970 * 1000))"
        for message in messages {
            var original: OpaquePointer? = nil
            let headers: OpaquePointer
            if rd_kafka_message_headers(message, &original) == RD_KAFKA_RESP_ERR_NO_ERROR, let original {
                headers = rd_kafka_headers_copy(original)
            } else {
                headers = rd_kafka_headers_new(8)
            }
            if let traceparent {
                rd_kafka_header_remove(headers, "traceparent")
                rd_kafka_header_add(headers, "traceparent", -1, traceparent, -1)
            }
            let topicOfMessage = String(cString: rd_kafka_topic_name(message.pointee.rkt))
            for (name, value) in [
                ("swiftfunc.dlq.topic", topicOfMessage),
                ("swiftfunc.dlq.partition", "\(message.pointee.partition)"),
                ("swiftfunc.dlq.offset", "\(message.pointee.offset)"),
                ("swiftfunc.dlq.function", functionName),
                ("swiftfunc.dlq.attempts", "\(attempts)"),
                ("swiftfunc.dlq.reason", reason.rawValue),
                ("swiftfunc.dlq.error", error),
                ("swiftfunc.dlq.time", time),
            ] {
                rd_kafka_header_add(headers, name, -1, value, -1)
            }
            producer.send(topic: topic, partition: -1, key: message.pointee.key, keyLength: message.pointee.key_len,
                          value: message.pointee.payload, valueLength: message.pointee.len, headers: headers, tracker: tracker)
        }
        let failure = tracker.waitForAll().failures.first
        if failure == nil { statistics.record(reason, count: messages.count) } else { statistics.recordWriteFailure(count: messages.count) }
        return failure
    }
}
