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

    /// Describes `messages` as events `0..<messages.count`, asking librdkafka for each
    /// message's headers once. Header pointers are set last, once the header storage has grown
    /// to what the batch needs and can no longer move.
    @inline(__always)
    package func fill(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        headerCount = 0
        for index in messages.indices { fill(index, from: messages[index]) }
        guard headerCount > 0 else { return }
        var next = 0
        for index in messages.indices where events[index].header_count > 0 {
            events[index].headers = UnsafePointer(headers + next)
            next += events[index].header_count
        }
    }

    @inline(__always)
    private func fill(_ index: Int, from message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let topic = rd_kafka_topic_name(raw.rkt)!
        let firstHeader = headerCount
        var headerHandle: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &headerHandle) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerHandle {
            let count = rd_kafka_header_cnt(headerHandle)
            if headerCount + count > headerCapacity { growHeaders(to: headerCount + count) }
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            for position in 0..<count where rd_kafka_header_get_all(headerHandle, position, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers[headerCount] = sf_header(
                    name: name, name_length: name.map { strlen($0) } ?? 0,
                    value: value?.assumingMemoryBound(to: UInt8.self), value_length: value == nil ? 0 : size)
                headerCount += 1
            }
        }
        events[index] = sf_event(
            topic: topic, topic_length: strlen(topic),
            partition: raw.partition, timestamp_type: Int32(timestampType.rawValue),
            offset: raw.offset, timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp,
            key: raw.key?.assumingMemoryBound(to: UInt8.self), key_length: raw.key_len,
            value: raw.payload?.assumingMemoryBound(to: UInt8.self), value_length: raw.len,
            headers: nil, // set by fill(_:) once the storage stops moving
            header_count: headerCount - firstHeader
        )
    }

    private func growHeaders(to needed: Int) {
        let grown = UnsafeMutablePointer<sf_header>.allocate(capacity: max(needed, headerCapacity * 2))
        grown.moveInitialize(from: headers, count: headerCount)
        headers.deallocate()
        headers = grown
        headerCapacity = max(needed, headerCapacity * 2)
    }
}
