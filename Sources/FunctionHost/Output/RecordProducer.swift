import CRdKafka
import FunctionABI

/// Sends records to one topic and reports where they landed: what `swiftfunc produce` uses.
public final class RecordProducer {
    public struct Outcome: Sendable {
        public var partition: Int32
        public var offset: Int64
        public var failures: [String]
    }

    private let producer: KafkaProducer
    private let topic: OpaquePointer
    private let tracker = DeliveryTracker()

    /// - Throws: ``KafkaError`` when librdkafka refuses the broker list.
    public init(brokerList: String, topic: String) throws {
        producer = try KafkaProducer(connection: KafkaConnection(brokerList: brokerList), options: KafkaOptions())
        self.topic = try producer.topic(topic)
    }

    /// Queues one record (`nil` value or key: null, as opposed to empty).
    public func send(value: [UInt8]?, key: [UInt8]? = nil, headers: [(name: String, value: [UInt8])] = [], partition: Int32 = -1) {
        let names = headers.map { Array($0.name.utf8) + [0] }
        withNullableBytes(value) { valuePointer in
            withNullableBytes(key) { keyPointer in
                withHeaderPointers(names: names, values: headers.map(\.value)) { rawHeaders in
                    let message = sf_message(
                        key: keyPointer, key_length: key?.count ?? 0, value: valuePointer, value_length: value?.count ?? 0,
                        headers: rawHeaders.baseAddress, header_count: rawHeaders.count, partition: partition)
                    producer.send(message, topic: topic, tracker: tracker)
                }
            }
        }
    }

    /// Waits until every queued record is delivered or has failed.
    public func waitForDeliveries() -> Outcome {
        let outcome = tracker.waitForAll()
        return Outcome(partition: outcome.partition, offset: outcome.offset, failures: outcome.failures)
    }

    deinit {
        _ = producer.shutdown()
    }
}

/// A pointer to `bytes` that is non-null even when they are empty, or null for `nil`.
private func withNullableBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<UInt8>?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return (bytes.isEmpty ? [0] : bytes).withUnsafeBufferPointer { body($0.baseAddress) }
}

private func withHeaderPointers<R>(names: [[UInt8]], values: [[UInt8]], _ body: (UnsafeBufferPointer<sf_header>) -> R) -> R {
    var headers: [sf_header] = []
    func nest(_ index: Int) -> R {
        guard index < names.count else { return headers.withUnsafeBufferPointer(body) }
        return names[index].withUnsafeBufferPointer { name in
            withNullableBytes(values[index]) { value in
                headers.append(sf_header(
                    name: UnsafeRawPointer(name.baseAddress!).assumingMemoryBound(to: CChar.self), name_length: name.count - 1,
                    value: value, value_length: values[index].count))
                return nest(index + 1)
            }
        }
    }
    return nest(0)
}
