import FunctionABI
import Foundation

/// A record to hand to code that takes `sf_event`s, without a broker: its bytes live as long as
/// the `SyntheticEvents` that holds it.
struct SyntheticRecord {
    var topic: String
    var partition: Int32
    var offset: Int64
    var timestamp: Int64? = nil
    var timestampType: Int32 = SF_TIMESTAMP_CREATE_TIME
    var key: [UInt8]? = nil
    var value: [UInt8]?
    var headers: [(String, [UInt8]?)] = []
}

/// Owns the memory of a run of `sf_event`s built from ``SyntheticRecord``s.
final class SyntheticEvents {
    let events: UnsafeMutablePointer<sf_event>
    let count: Int
    private var allocations: [UnsafeMutableRawPointer] = []

    init(_ records: [SyntheticRecord]) {
        count = records.count
        events = .allocate(capacity: max(1, records.count))
        for (index, record) in records.enumerated() {
            let headers = UnsafeMutablePointer<sf_header>.allocate(capacity: max(1, record.headers.count))
            allocations.append(UnsafeMutableRawPointer(headers))
            for (position, header) in record.headers.enumerated() {
                let name = copy(Array(header.0.utf8))
                headers[position] = sf_header(name: UnsafeRawPointer(name)?.assumingMemoryBound(to: CChar.self), name_length: header.0.utf8.count,
                                              value: header.1.flatMap { copy($0) }, value_length: header.1?.count ?? 0)
            }
            let topic = copy(Array(record.topic.utf8))
            events[index] = sf_event(
                topic: UnsafeRawPointer(topic)?.assumingMemoryBound(to: CChar.self), topic_length: record.topic.utf8.count,
                partition: record.partition, timestamp_type: record.timestamp == nil ? SF_TIMESTAMP_NOT_AVAILABLE : record.timestampType,
                offset: record.offset, timestamp: record.timestamp ?? -1,
                key: record.key.flatMap { copy($0) }, key_length: record.key?.count ?? 0,
                value: record.value.flatMap { copy($0) }, value_length: record.value?.count ?? 0,
                headers: record.headers.isEmpty ? nil : UnsafePointer(headers), header_count: record.headers.count)
        }
    }

    deinit {
        allocations.forEach { $0.deallocate() }
        events.deallocate()
    }

    /// A copy of `bytes` that lives as long as this object (non-null even when empty).
    private func copy(_ bytes: [UInt8]) -> UnsafePointer<UInt8>? {
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
        pointer.initialize(from: bytes, count: bytes.count)
        allocations.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }
}

/// Parses JSON text into Foundation objects for comparison.
func parseJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

func documentText(_ event: UnsafePointer<sf_event>) -> String {
    String(decoding: UnsafeRawBufferPointer(start: event.pointee.value, count: event.pointee.value_length), as: UTF8.self)
}
