import FunctionABI
import Foundation
import Logging
import Synchronization

/// The `sf_context` of one function: allocated once, updated before each invocation. Its
/// callbacks (log, fail_item, is_cancelled) find their way back here through `host_data`.
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

    package init(functionName: String, logger: Logger) {
        self.logger = logger
        self.functionName = strdup(functionName)
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sf_context(
            abi_version: UInt32(SWIFTFUNC_ABI_VERSION), reserved: 0, function_name: self.functionName,
            invocation_id: 0, deadline: Int64.max, host_data: nil,
            log: logCallback, fail_item: failItemCallback, is_cancelled: isCancelledCallback
        ))
        pointer.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        pointer.deallocate()
        free(functionName)
    }

    /// Prepares the context for the next invocation.
    @inline(__always)
    package func begin(invocationID: UInt64) {
        pointer.pointee.invocation_id = invocationID
        if !failedItems.isEmpty { failedItems.removeAll(keepingCapacity: true) }
        lastLoggedError = nil
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    fileprivate func log(level: Int32, _ text: String) {
        if level >= SF_LOG_ERROR { lastLoggedError = text }
        logger.log(level: Self.level(level), "\(text)", metadata: ["invocation": "\(pointer.pointee.invocation_id)"])
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
