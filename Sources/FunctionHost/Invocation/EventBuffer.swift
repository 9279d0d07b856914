import CRdKafka
import FunctionABI
import Glibc

/// Turns librdkafka messages into `sf_event`s that point straight into librdkafka's buffers (no
/// byte is copied). Storage is allocated once and grown only when a batch needs more headers.
package final class EventBuffer {
    package let events: UnsafeMutablePointer<sf_event>
    package let capacity: Int
    private var headers: UnsafeMutablePointer<sf_header>
    private var headerCapacity: Int
    private var headerCount = 0

    package init(capacity: Int) {
        self.capacity = capacity
        events = .allocate(capacity: capacity)
        events.initialize(repeating: sf_event(), count: capacity)
        headerCapacity = 64
        headers = .allocate(capacity: headerCapacity)
    }

    deinit {
        events.deallocate()
        headers.deallocate()
    }

    /// Makes room for the headers of `messages` (their pointers into header storage must not
    /// move while the batch is in use) and starts filling at the first event.
    package func reset(for messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        headerCount = 0
        var needed = 0
        for message in messages { needed += Self.headerCount(of: message) }
        if needed > headerCapacity {
            headers.deallocate()
            headerCapacity = max(needed, headerCapacity * 2)
            headers = .allocate(capacity: headerCapacity)
        }
    }

    /// Describes `message` as event `index`. Call ``reset(for:)`` first with every message the
    /// events will be used together with.
    @inline(__always)
    package func fill(_ index: Int, from message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let topic = rd_kafka_topic_name(raw.rkt)!
        let firstHeader = headerCount
        var headerHandle: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &headerHandle) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerHandle {
            var position = 0
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(headerHandle, position, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers[headerCount] = sf_header(
                    name: name, name_length: name.map { strlen($0) } ?? 0,
                    value: value?.assumingMemoryBound(to: UInt8.self), value_length: value == nil ? 0 : size)
                headerCount += 1
                position += 1
            }
        }
        events[index] = sf_event(
            topic: topic, topic_length: strlen(topic),
            partition: raw.partition, timestamp_type: Int32(timestampType.rawValue),
            offset: raw.offset, timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp,
            key: raw.key?.assumingMemoryBound(to: UInt8.self), key_length: raw.key_len,
            value: raw.payload?.assumingMemoryBound(to: UInt8.self), value_length: raw.len,
            headers: headerCount > firstHeader ? UnsafePointer(headers + firstHeader) : nil,
            header_count: headerCount - firstHeader
        )
    }

    private static func headerCount(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> Int {
        var headerHandle: OpaquePointer? = nil
        guard rd_kafka_message_headers(message, &headerHandle) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerHandle else { return 0 }
        return rd_kafka_header_cnt(headerHandle)
    }
}
