#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One Kafka record delivered to a function: the `Event` parameter of an entry point.
///
/// It reads the host's buffers in place. ``key``, ``value`` and header values are views
/// (`RawSpan`) that live only as long as the event parameter: keeping one past the call (in a
/// global, a property, an escaping closure) does not compile. To keep something, copy it:
/// ``valueString``, ``valueBytes``, ``valueData``, ``decodeValue(_:using:)`` (and the key's).
/// Headers are parsed only if the function asks for them (``headers(in:)``, ``header(_:in:)``).
public typealias Event = UnsafePointer<sf_event>

extension UnsafePointer where Pointee == sf_event {
    public var topic: String { decodeText(pointee.topic, pointee.topic_length) }
    public var partition: Int32 { pointee.partition }
    public var offset: Int64 { pointee.offset }
    /// Milliseconds since the Unix epoch, or `nil` when the record carries none.
    public var timestamp: Int64? { pointee.timestamp_type == SF_TIMESTAMP_NOT_AVAILABLE ? nil : pointee.timestamp }
    public var timestampType: TimestampType { TimestampType(rawValue: pointee.timestamp_type) ?? .notAvailable }

    /// The key's bytes, in place; `nil` for a null key (an empty key is an empty view).
    public var key: RawSpan? {
        @_lifetime(borrow self)
        get { view(pointee.key, pointee.key_length, borrowing: self) }
    }

    /// The value's bytes, in place; `nil` for a null value (a tombstone).
    public var value: RawSpan? {
        @_lifetime(borrow self)
        get { view(pointee.value, pointee.value_length, borrowing: self) }
    }

    /// A copy of the key decoded as UTF-8 (invalid sequences become U+FFFD).
    public var keyString: String? { decodeUTF8(pointee.key, pointee.key_length) }
    /// A copy of the value as text. For `dataType: string` the host has checked it is UTF-8.
    public var valueString: String? { decodeUTF8(pointee.value, pointee.value_length) }
    /// A copy of the key's bytes.
    public var keyBytes: [UInt8]? { copyBytes(pointee.key, pointee.key_length) }
    /// A copy of the value's bytes.
    public var valueBytes: [UInt8]? { copyBytes(pointee.value, pointee.value_length) }
    /// A copy of the key's bytes as `Data`.
    public var keyData: Data? { copyData(pointee.key, pointee.key_length) }
    /// A copy of the value's bytes as `Data`.
    public var valueData: Data? { copyData(pointee.value, pointee.value_length) }

    /// Decodes the value as JSON into a new `T`.
    /// - Throws: ``EventDecodingError`` for a null value, else what the decoder throws.
    public func decodeValue<T: Decodable>(_ type: T.Type = T.self, using decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let bytes = pointee.value else { throw EventDecodingError(topic: topic, partition: partition, offset: offset) }
        return try decoder.decode(type, from: Data(bytes: bytes, count: pointee.value_length))
    }

    /// The record's headers, in the order the producer wrote them (names may repeat). The host
    /// parses them the first time a function asks, once per record.
    public func headers(in context: Context) -> Headers {
        var list: UnsafePointer<sf_header>? = nil
        let count = context.pointee.headers(context, self, &list)
        return Headers(base: list, count: count)
    }

    /// The first header called `name`, or `nil` when the record has none.
    public func header(_ name: String, in context: Context) -> Header? {
        withUTF8Text(name) { context.pointee.header(context, self, $0, $1) }
    }

    /// The W3C trace context processing this record continues (its `traceparent` and
    /// `tracestate` headers, until the host traces invocations itself), copied; `nil` when none.
    public func traceContext(in context: Context) -> TraceContext? {
        var trace = sf_trace_context()
        guard context.pointee.trace_context(context, self, &trace) != 0 else { return nil }
        return TraceContext(traceparent: decodeText(trace.traceparent, trace.traceparent_length),
                            tracestate: trace.tracestate == nil ? nil : decodeText(trace.tracestate, trace.tracestate_length))
    }
}

public enum TimestampType: Int32, Sendable {
    case notAvailable = 0
    case createTime = 1
    case logAppendTime = 2
}

/// A W3C trace context (https://www.w3.org/TR/trace-context/), as ``Swift/UnsafePointer/traceContext(in:)`` returns it.
public struct TraceContext: Sendable, Equatable {
    public let traceparent: String
    public let tracestate: String?
}

/// ``Swift/UnsafePointer/decodeValue(_:using:)`` on a record without a value.
public struct EventDecodingError: Error, CustomStringConvertible {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public var description: String { "the record \(topic)[\(partition)]@\(offset) has a null value, nothing to decode" }
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

    /// The first header called `name`, or `nil`.
    public func first(named name: String) -> Header? {
        first { $0.name == name }
    }
}

/// One record header.
public typealias Header = UnsafePointer<sf_header>

extension UnsafePointer where Pointee == sf_header {
    /// A copy of the name.
    public var name: String { decodeText(pointee.name, pointee.name_length) }
    /// The value's bytes, in place; `nil` for a null value. Like an event's value, it cannot be
    /// kept past the call: copy it with ``valueString`` or ``valueBytes``.
    public var value: RawSpan? {
        @_lifetime(borrow self)
        get { view(pointee.value, pointee.value_length, borrowing: self) }
    }
    /// A copy of the value decoded as UTF-8.
    public var valueString: String? { decodeUTF8(pointee.value, pointee.value_length) }
    /// A copy of the value's bytes.
    public var valueBytes: [UInt8]? { copyBytes(pointee.value, pointee.value_length) }
}
