import CRdKafka
import FunctionABI
import Glibc

/// Turns librdkafka messages into `sf_event_v1`s that point straight into librdkafka's buffers (no
/// byte is copied). Storage is allocated once and grown only when a batch needs more headers.
/// A trigger with a schema (``RecordDecoder``) gets decoded keys and values instead, kept in
/// ``decoded`` until the next fill.
package final class EventBuffer {
    package let events: UnsafeMutablePointer<sf_event_v1>
    package let capacity: Int
    private var headers: UnsafeMutablePointer<sf_header>
    private var headerCapacity: Int
    private var headerCount = 0
    private let decoder: RecordDecoder?
    /// The decoded keys and values of the last fill, one after the other (allocated here, so
    /// the events may point into it until the next fill).
    private var decoded = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var decodedCount = 0
    /// Where each event's decoded value and key start in ``decoded`` (-1: the message's own).
    private var decodedStarts: [(value: Int, key: Int)] = []

    init(capacity: Int, decoder: RecordDecoder? = nil) {
        self.capacity = capacity
        self.decoder = decoder
        events = .allocate(capacity: capacity)
        events.initialize(repeating: sf_event_v1(), count: capacity)
        headerCapacity = 64
        headers = .allocate(capacity: headerCapacity)
    }

    package convenience init(capacity: Int) {
        self.init(capacity: capacity, decoder: nil)
    }

    deinit {
        events.deallocate()
        headers.deallocate()
        decoded.deallocate()
    }

    /// Describes `messages` as events `0..<messages.count`. `withHeaders` (ABI version 1): asks
    /// librdkafka for each message's headers once; header pointers are set last, once the header
    /// storage has grown to what the batch needs and can no longer move. Without (version 2),
    /// the headers stay unparsed until the function asks (``HeadersOnDemand``).
    @inline(__always)
    package func fill(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, withHeaders: Bool) {
        headerCount = 0
        // One loop per case, so that each inlines the per-message fill with a constant: no
        // per-message branch on the version.
        if withHeaders {
            for index in messages.indices { fill(index, from: messages[index], withHeaders: true) }
        } else {
            for index in messages.indices { fill(index, from: messages[index], withHeaders: false) }
        }
        if let decoder { substituteDecoded(messages, decoder) }
        guard headerCount > 0 else { return }
        var next = 0
        for index in messages.indices where events[index].header_count > 0 {
            events[index].headers = UnsafePointer(headers + next)
            next += events[index].header_count
        }
    }

    @inline(__always)
    private func fill(_ index: Int, from message: UnsafeMutablePointer<rd_kafka_message_t>, withHeaders: Bool) {
        let raw = message.pointee
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let topic = rd_kafka_topic_name(raw.rkt)!
        let firstHeader = headerCount
        var headerHandle: OpaquePointer? = nil
        if withHeaders, rd_kafka_message_headers(message, &headerHandle) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerHandle {
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
        events[index] = sf_event_v1(
            topic: topic, topic_length: strlen(topic),
            partition: raw.partition, timestamp_type: Int32(timestampType.rawValue),
            offset: raw.offset, timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp,
            key: raw.key?.assumingMemoryBound(to: UInt8.self), key_length: raw.key_len,
            value: raw.payload?.assumingMemoryBound(to: UInt8.self), value_length: raw.len,
            headers: nil, // set by fill(_:) once the storage stops moving
            header_count: headerCount - firstHeader
        )
    }

    /// Points each event's value and key at its decoded form, once all are decoded (the storage
    /// no longer moves).
    private func substituteDecoded(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, _ decoder: RecordDecoder) {
        decodedCount = 0
        decodedStarts.removeAll(keepingCapacity: true)
        for (index, message) in messages.enumerated() {
            var starts = (value: -1, key: -1)
            let decoded = decoder.decoded(message)
            if let value = decoded.value {
                starts.value = keepDecoded(value)
                events[index].value_length = value.count
            }
            if let key = decoded.key {
                starts.key = keepDecoded(key)
                events[index].key_length = key.count
            }
            decodedStarts.append(starts)
        }
        guard let base = decoded.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        for (index, starts) in decodedStarts.enumerated() {
            if starts.value >= 0 { events[index].value = UnsafePointer(base + starts.value) }
            if starts.key >= 0 { events[index].key = UnsafePointer(base + starts.key) }
        }
    }

    /// Appends `bytes` to ``decoded`` (growing it) and returns where they start.
    private func keepDecoded(_ bytes: [UInt8]) -> Int {
        if decodedCount + bytes.count > decoded.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(decodedCount + bytes.count, 2 * decoded.count, 4096), alignment: 8)
            if decodedCount > 0 { grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: decoded[0..<decodedCount])) }
            decoded.deallocate()
            decoded = grown
        }
        let start = decodedCount
        if !bytes.isEmpty { bytes.withUnsafeBytes { decoded.baseAddress!.advanced(by: start).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        decodedCount += bytes.count
        return start
    }

    private func growHeaders(to needed: Int) {
        let grown = UnsafeMutablePointer<sf_header>.allocate(capacity: max(needed, headerCapacity * 2))
        grown.moveInitialize(from: headers, count: headerCount)
        headers.deallocate()
        headers = grown
        headerCapacity = max(needed, headerCapacity * 2)
    }
}
