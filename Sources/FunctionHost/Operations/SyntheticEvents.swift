import FunctionABI
import Foundation

/// A record to hand to code that takes `sf_event_v1`s, without a broker (an operator's invocation:
/// `POST /admin/functions/NAME`, `swiftfunc invoke`; and the tests): its bytes live as long as
/// the `SyntheticEvents` that holds it.
public struct SyntheticRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64? = nil
    public var timestampType: Int32 = SF_TIMESTAMP_CREATE_TIME
    public var key: [UInt8]? = nil
    public var value: [UInt8]?
    public var headers: [(String, [UInt8]?)] = []

    public init(topic: String, partition: Int32, offset: Int64, timestamp: Int64? = nil,
                timestampType: Int32 = SF_TIMESTAMP_CREATE_TIME, key: [UInt8]? = nil, value: [UInt8]?,
                headers: [(String, [UInt8]?)] = []) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Owns the memory of a run of `sf_event_v1`s built from ``SyntheticRecord``s.
final class SyntheticEvents: @unchecked Sendable {
    let events: UnsafeMutablePointer<sf_event_v1>
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
            events[index] = sf_event_v1(
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

