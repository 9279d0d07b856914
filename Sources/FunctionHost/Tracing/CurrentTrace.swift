import FunctionABI
import Logging

/// The `traceparent` of the invocation in progress, where the function's context
/// (`sf_context.trace_context`) and its output bindings read it: bytes at a fixed address, written
/// by ``InvocationTracing`` before each traced call. Exists only for a function that traces.
final class CurrentTrace {
    static let traceparentLength = 55
    /// The 55 characters of `00-TRACEID-SPANID-FLAGS`, valid while ``isActive``.
    let traceparent = UnsafeMutablePointer<UInt8>.allocate(capacity: CurrentTrace.traceparentLength)
    /// A traced invocation is in progress.
    private(set) var isActive = false
    /// `trace_id` and `span_id` of the invocation in progress, for its log lines (fields that
    /// join a log line to its trace); made only when a line is written.
    var logFields: Logger.Metadata {
        guard let text else { return [:] }
        return ["trace_id": .string(String(text.dropFirst(3).prefix(32))), "span_id": .string(String(text.dropFirst(36).prefix(16)))]
    }

    deinit { traceparent.deallocate() }

    /// - Parameter spanContext: the invocation span's `traceparent`, as swift-otel's propagator wrote it.
    func begin(_ spanContext: String) {
        var text = spanContext
        isActive = text.withUTF8 { bytes in
            guard bytes.count == Self.traceparentLength else { return false }
            traceparent.update(from: bytes.baseAddress!, count: bytes.count)
            return true
        }
    }

    /// An invocation that records no span: its context is `trace` (a record's 32 hex digits) or a
    /// new trace, with a new span id, unsampled (``TraceRandom/writeUnsampledTraceparent(into:trace:)``).
    func beginUnsampled(trace: UnsafeRawBufferPointer?, random: inout TraceRandom) {
        random.writeUnsampledTraceparent(into: traceparent, trace: trace)
        isActive = true
    }

    func end() {
        isActive = false
    }

    /// The `traceparent` while active.
    var text: String? {
        isActive ? String(decoding: UnsafeBufferPointer(start: traceparent, count: Self.traceparentLength), as: UTF8.self) : nil
    }

    /// `message` with the invocation's `traceparent` in place of any the function set (a function
    /// that passes the record's headers on would otherwise hand on the producer's span and skip
    /// its own invocation), for `body` to send.
    func stamped(_ message: sf_message, _ body: (sf_message) -> Int32) -> Int32 {
        var headers: [sf_header] = []
        headers.reserveCapacity(message.header_count + 1)
        for index in 0..<message.header_count {
            guard let header = message.headers?[index] else { break }
            if !Self.isTraceparent(header) { headers.append(header) }
        }
        return Self.name.withUnsafeBufferPointer { name in
            headers.append(sf_header(name: name.baseAddress, name_length: name.count - 1,
                                     value: UnsafePointer(traceparent), value_length: Self.traceparentLength))
            return headers.withUnsafeBufferPointer { list in
                var stamped = message
                stamped.headers = list.baseAddress
                stamped.header_count = list.count
                return body(stamped)
            }
        }
    }

    private static let name: [CChar] = Array("traceparent".utf8CString)

    private static func isTraceparent(_ header: sf_header) -> Bool {
        guard header.name_length == 11, let name = header.name else { return false }
        return UnsafeRawBufferPointer(start: name, count: 11).elementsEqual("traceparent".utf8)
    }
}
