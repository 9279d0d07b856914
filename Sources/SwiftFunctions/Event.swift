/// One Kafka record delivered to a function: the `Event` parameter of an entry point.
///
/// It reads the host's buffers in place: no byte is copied until you ask for a `String` or an
/// `Array`. Valid only until the entry point returns; copy what you keep.
public typealias Event = UnsafePointer<sf_event>

extension UnsafePointer where Pointee == sf_event {
    public var topic: String { decodeText(pointee.topic, pointee.topic_length) }
    public var partition: Int32 { pointee.partition }
    public var offset: Int64 { pointee.offset }
    /// Milliseconds since the Unix epoch, or `nil` when the record carries none.
    public var timestamp: Int64? { pointee.timestamp_type == SF_TIMESTAMP_NOT_AVAILABLE ? nil : pointee.timestamp }
    public var timestampType: TimestampType { TimestampType(rawValue: pointee.timestamp_type) ?? .notAvailable }

    /// The key's bytes; `nil` for a null key (an empty key is an empty buffer).
    public var key: UnsafeRawBufferPointer? { optionalBuffer(pointee.key, pointee.key_length) }
    /// The value's bytes; `nil` for a null value (a tombstone).
    public var value: UnsafeRawBufferPointer? { optionalBuffer(pointee.value, pointee.value_length) }
    /// The key decoded as UTF-8 (invalid sequences become U+FFFD), each time you ask: keep it in a `let`.
    public var keyString: String? { decodeUTF8(key) }
    /// The value as text, decoded each time you ask. For `dataType: string` the host has already
    /// checked it is UTF-8.
    public var valueString: String? { decodeUTF8(value) }

    public var headers: Headers { Headers(base: pointee.headers, count: pointee.header_count) }
}

public enum TimestampType: Int32, Sendable {
    case notAvailable = 0
    case createTime = 1
    case logAppendTime = 2
}

/// A record's headers, in the order the producer wrote them (names may repeat). No copies.
public struct Headers: RandomAccessCollection {
    let base: UnsafePointer<sf_header>?
    public let count: Int

    init(base: UnsafePointer<sf_header>?, count: Int) {
        self.base = base
        self.count = base == nil ? 0 : count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Header {
        precondition(position >= 0 && position < count, "header index out of range")
        return base! + position
    }

    /// The value of the first header called `name`, as bytes (`nil` when absent or null).
    public func first(named name: String) -> UnsafeRawBufferPointer? {
        first { $0.name == name }?.value
    }
}

/// One record header.
public typealias Header = UnsafePointer<sf_header>

extension UnsafePointer where Pointee == sf_header {
    public var name: String { decodeText(pointee.name, pointee.name_length) }
    public var value: UnsafeRawBufferPointer? { optionalBuffer(pointee.value, pointee.value_length) }
    public var valueString: String? { decodeUTF8(value) }
}
