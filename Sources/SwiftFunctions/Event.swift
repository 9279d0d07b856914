/// One Kafka record delivered to a function. It reads the host's buffers in place: no byte is
/// copied until you ask for a `String` or an `Array`. Valid only during the invocation.
public struct Event {
    @usableFromInline let raw: UnsafePointer<sf_event>

    @inlinable init(_ raw: UnsafePointer<sf_event>) { self.raw = raw }

    public var topic: String {
        String(decoding: UnsafeRawBufferPointer(start: raw.pointee.topic, count: raw.pointee.topic_length), as: UTF8.self)
    }
    public var partition: Int32 { raw.pointee.partition }
    public var offset: Int64 { raw.pointee.offset }
    /// Milliseconds since the Unix epoch, or `nil` when the record carries none.
    public var timestamp: Int64? { raw.pointee.timestamp_type == SF_TIMESTAMP_NOT_AVAILABLE ? nil : raw.pointee.timestamp }
    public var timestampType: TimestampType { TimestampType(rawValue: raw.pointee.timestamp_type) ?? .notAvailable }

    /// The key's bytes; `nil` for a null key (an empty key is an empty buffer).
    public var key: UnsafeRawBufferPointer? { optionalBuffer(raw.pointee.key, raw.pointee.key_length) }
    /// The value's bytes; `nil` for a null value (a tombstone).
    public var value: UnsafeRawBufferPointer? { optionalBuffer(raw.pointee.value, raw.pointee.value_length) }
    /// The key decoded as UTF-8 (invalid sequences become U+FFFD).
    public var keyString: String? { decodeUTF8(key) }
    /// The value as text. For `dataType: string` the host has already checked it is UTF-8.
    public var valueString: String? { decodeUTF8(value) }

    public var headers: Headers { Headers(base: raw.pointee.headers, count: raw.pointee.header_count) }
}

public enum TimestampType: Int32, Sendable {
    case notAvailable = 0
    case createTime = 1
    case logAppendTime = 2
}

/// A record's headers, in the order the producer wrote them (names may repeat).
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
        return Header(raw: base! + position)
    }

    /// The value of the first header called `name`, as bytes (`nil` when absent or null).
    public func first(named name: String) -> UnsafeRawBufferPointer? {
        first { $0.name == name }?.value
    }
}

public struct Header {
    let raw: UnsafePointer<sf_header>
    public var name: String {
        String(decoding: UnsafeRawBufferPointer(start: raw.pointee.name, count: raw.pointee.name_length), as: UTF8.self)
    }
    public var value: UnsafeRawBufferPointer? { optionalBuffer(raw.pointee.value, raw.pointee.value_length) }
    public var valueString: String? { decodeUTF8(value) }
}
