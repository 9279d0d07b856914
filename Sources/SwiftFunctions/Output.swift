/// A `kafka` output binding: one entry-point parameter per binding, in function.json's order.
public typealias Output = UnsafePointer<sf_output>

extension UnsafePointer where Pointee == sf_output {
    public var topic: String { pointee.topic.map { String(cString: $0) } ?? "" }

    /// Queues a record. The host waits for its delivery after the function returns and fails the
    /// invocation if it was not delivered.
    /// - Throws: ``OutputError`` when the record cannot be queued.
    public func send(value: [UInt8]?, key: [UInt8]? = nil, headers: [(String, [UInt8])] = [], partition: Int32 = -1) throws {
        let code = withMessage(value: value, key: key, headers: headers, partition: partition) { message in
            pointee.send(self, message, nil)
        }
        if code != SF_OK { throw OutputError(topic: topic, code: 0, message: "the record could not be queued") }
    }

    /// Queues a text record (UTF-8); see ``send(value:key:headers:partition:)``.
    public func send(_ value: String?, key: String? = nil, headers: [(String, String)] = []) throws {
        try send(value: value.map { Array($0.utf8) }, key: key.map { Array($0.utf8) },
                 headers: headers.map { ($0.0, Array($0.1.utf8)) })
    }

    /// Sends a record and waits until the broker has it.
    /// - Returns: where the record landed: topic, partition and offset.
    /// - Throws: ``OutputError`` with the broker's error code and reason when it was not delivered.
    @discardableResult
    public func sendAndWait(value: [UInt8]?, key: [UInt8]? = nil, headers: [(String, [UInt8])] = [], partition: Int32 = -1) throws -> Delivery {
        var delivery = sf_delivery()
        let code = withMessage(value: value, key: key, headers: headers, partition: partition) { message in
            pointee.send(self, message, &delivery)
        }
        if code != SF_OK || delivery.error_code != 0 {
            let reason = withUnsafeBytes(of: delivery.error_message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw OutputError(topic: topic, code: delivery.error_code, message: reason.isEmpty ? "not delivered" : reason)
        }
        return Delivery(topic: topic, partition: delivery.partition, offset: delivery.offset)
    }

    /// Sends a text record (UTF-8) and waits; see ``sendAndWait(value:key:headers:partition:)``.
    @discardableResult
    public func sendAndWait(_ value: String?, key: String? = nil, headers: [(String, String)] = []) throws -> Delivery {
        try sendAndWait(value: value.map { Array($0.utf8) }, key: key.map { Array($0.utf8) },
                        headers: headers.map { ($0.0, Array($0.1.utf8)) })
    }

    private func withMessage(value: [UInt8]?, key: [UInt8]?, headers: [(String, [UInt8])], partition: Int32,
                             _ body: (UnsafePointer<sf_message>) -> Int32) -> Int32 {
        // The host copies every byte before send returns, so pointers into local storage suffice.
        // Header names and values are laid end to end in one array so that one pointer covers them.
        var headerBytes: [UInt8] = []
        var spans: [(name: Range<Int>, value: Range<Int>)] = []
        for (name, value) in headers {
            let nameStart = headerBytes.count
            headerBytes.append(contentsOf: name.utf8)
            let valueStart = headerBytes.count
            headerBytes.append(contentsOf: value)
            spans.append((nameStart..<valueStart, valueStart..<headerBytes.count))
        }
        headerBytes.append(0) // so that the base address is never null, even for empty headers
        return headerBytes.withUnsafeBufferPointer { storage in
            let base = storage.baseAddress!
            let rawHeaders = spans.map { span in
                sf_header(name: UnsafeRawPointer(base + span.name.lowerBound).assumingMemoryBound(to: CChar.self),
                          name_length: span.name.count, value: base + span.value.lowerBound, value_length: span.value.count)
            }
            return withOptionalBytes(value) { valuePointer, valueLength in
                withOptionalBytes(key) { keyPointer, keyLength in
                    rawHeaders.withUnsafeBufferPointer { headerBuffer in
                        var message = sf_message(key: keyPointer, key_length: keyLength, value: valuePointer,
                                                 value_length: valueLength, headers: headerBuffer.baseAddress,
                                                 header_count: headerBuffer.count, partition: partition)
                        return body(&message)
                    }
                }
            }
        }
    }
}

/// Calls `body` with a pointer to `bytes` (non-null even when empty) or a null pointer for `nil`.
private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<UInt8>?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    if bytes.isEmpty {
        var empty: UInt8 = 0
        return withUnsafePointer(to: &empty) { body($0, 0) }
    }
    return bytes.withUnsafeBufferPointer { body($0.baseAddress, $0.count) }
}

/// Where a record sent with `sendAndWait` landed.
public struct Delivery: Sendable, Equatable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
}

/// A record that could not be queued or delivered: the output topic, librdkafka's error code
/// (`rd_kafka_resp_err_t`, 0 when it was never queued) and the reason.
public struct OutputError: Error, CustomStringConvertible {
    public let topic: String
    public let code: Int32
    public let message: String
    public var description: String { "sending to '\(topic)' failed: \(message)" }
}
