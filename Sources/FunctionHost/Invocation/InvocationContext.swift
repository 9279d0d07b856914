import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// The `sf_context` of one function: allocated once, updated before each invocation. Its
/// callbacks (log, fail_item, is_cancelled, and version 2's headers, header, trace_context) find
/// their way back here through `host_data`.
package final class InvocationContext: @unchecked Sendable {
    package let pointer: UnsafeMutablePointer<sf_context>
    let logger: Logger
    private let functionName: UnsafeMutablePointer<CChar>
    private let cancelled = Atomic<Bool>(false)
    /// Items of the current batch the function reported as failed, with its reasons.
    private(set) var failedItems: [(index: Int, reason: String)] = []
    /// The last error the function logged during the current invocation: the SDK logs a thrown
    /// error this way before it returns failure, so it becomes the failure's reason.
    private(set) var lastLoggedError: String?
    /// The current invocation's headers, parsed when the function asks (version 2's accessors).
    let headers = HeadersOnDemand()
    /// A traced function's invocation span (Tracing/): what `trace_context` reports while one is open.
    var currentTrace: CurrentTrace?

    /// - Parameter abiVersion: the version the function's library speaks, which the context
    ///   reports as `abi_version` (version 1 libraries see what they always saw).
    package init(functionName: String, abiVersion: FunctionABIVersion = .v2, logger: Logger) {
        self.logger = logger
        self.functionName = strdup(functionName)
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sf_context(
            abi_version: abiVersion.rawValue, size: abiVersion == .v1 ? 0 : UInt32(MemoryLayout<sf_context>.size),
            function_name: self.functionName, invocation_id: 0, deadline: Int64.max, host_data: nil,
            log: logCallback, fail_item: failItemCallback, is_cancelled: isCancelledCallback,
            headers: headersCallback, header: headerCallback, trace_context: traceContextCallback
        ))
        pointer.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deallocate()
        free(functionName)
    }

    /// Prepares the context for the next invocation, of `count` `events` (whose headers come
    /// from `messages` when the function asks; without messages, the events carry them).
    @inline(__always)
    package func begin(invocationID: UInt64, events: UnsafeMutablePointer<sf_event_v1>? = nil, count: Int = 0,
                       messages: UnsafePointer<UnsafeMutablePointer<rd_kafka_message_t>>? = nil) {
        pointer.pointee.invocation_id = invocationID
        headers.begin(events: events, count: count, messages: messages)
        if !failedItems.isEmpty { failedItems.removeAll(keepingCapacity: true) }
        lastLoggedError = nil
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    fileprivate func log(level: Int32, _ text: String) {
        if level >= SF_LOG_ERROR { lastLoggedError = text }
        var metadata: Logger.Metadata = ["invocation": "\(pointer.pointee.invocation_id)"]
        if let currentTrace, currentTrace.isActive { metadata.merge(currentTrace.logFields) { $1 } }
        logger.log(level: Self.level(level), "\(text)", metadata: metadata)
    }

    fileprivate func failItem(_ index: Int, reason: String) {
        failedItems.append((index, reason))
    }

    private static func level(_ level: Int32) -> Logger.Level {
        switch level {
        case SF_LOG_TRACE: .trace
        case SF_LOG_DEBUG: .debug
        case SF_LOG_WARNING: .warning
        case SF_LOG_ERROR: .error
        default: .info
        }
    }
}

private func context(_ raw: UnsafePointer<sf_context>?) -> InvocationContext? {
    guard let hostData = raw?.pointee.host_data else { return nil }
    return Unmanaged<InvocationContext>.fromOpaque(hostData).takeUnretainedValue()
}

private func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
    guard let pointer else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
}

private let logCallback: @convention(c) (UnsafePointer<sf_context>?, Int32, UnsafePointer<CChar>?, Int) -> Void = { raw, level, message, length in
    context(raw)?.log(level: level, text(message, length))
}

private let failItemCallback: @convention(c) (UnsafePointer<sf_context>?, Int, UnsafePointer<CChar>?, Int) -> Void = { raw, index, reason, length in
    context(raw)?.failItem(index, reason: text(reason, length))
}

private let isCancelledCallback: @convention(c) (UnsafePointer<sf_context>?) -> Int32 = { raw in
    (context(raw)?.isCancelled ?? false) ? 1 : 0
}

private let headersCallback: @convention(c) (UnsafePointer<sf_context>?, UnsafePointer<sf_event_v2>?, UnsafeMutablePointer<UnsafePointer<sf_header>?>?) -> Int = { raw, event, list in
    let headers = context(raw)?.headers.headers(of: event) ?? UnsafeBufferPointer(start: nil, count: 0)
    list?.pointee = headers.count == 0 ? nil : headers.baseAddress
    return headers.count
}

private let headerCallback: @convention(c) (UnsafePointer<sf_context>?, UnsafePointer<sf_event_v2>?, UnsafePointer<CChar>?, Int) -> UnsafePointer<sf_header>? = { raw, event, name, length in
    guard length == 0 || name != nil else { return nil }
    return context(raw)?.headers.header(of: event, named: UnsafeRawBufferPointer(start: name, count: length))
}

/// The invocation span's context when the function traces (its tracestate is the record's, which
/// the span continues); otherwise the record's own W3C trace context headers.
private let traceContextCallback: @convention(c) (UnsafePointer<sf_context>?, UnsafePointer<sf_event_v2>?, UnsafeMutablePointer<sf_trace_context>?) -> Int32 = { raw, event, trace in
    guard let trace else { return 0 }
    trace.pointee = sf_trace_context()
    guard let invocation = context(raw) else { return 0 }
    let headers = invocation.headers
    if let current = invocation.currentTrace, current.isActive {
        trace.pointee.traceparent = UnsafeRawPointer(current.traceparent).assumingMemoryBound(to: CChar.self)
        trace.pointee.traceparent_length = CurrentTrace.traceparentLength
    } else {
        guard let parent = headers.header(of: event, named: UnsafeRawBufferPointer(staticText: "traceparent")),
              let parentValue = parent.pointee.value, parent.pointee.value_length > 0 else { return 0 }
        trace.pointee.traceparent = UnsafeRawPointer(parentValue).assumingMemoryBound(to: CChar.self)
        trace.pointee.traceparent_length = parent.pointee.value_length
    }
    if let state = headers.header(of: event, named: UnsafeRawBufferPointer(staticText: "tracestate")), let stateValue = state.pointee.value {
        trace.pointee.tracestate = UnsafeRawPointer(stateValue).assumingMemoryBound(to: CChar.self)
        trace.pointee.tracestate_length = state.pointee.value_length
    }
    return 1
}

extension UnsafeRawBufferPointer {
    /// The UTF-8 bytes of `text`, kept for the life of the process.
    init(staticText text: StaticString) {
        self.init(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }
}
