/// The invocation in progress: its identity, the host's log, cancellation, and (for a batch)
/// how to report items that failed.
public struct Context {
    let raw: UnsafePointer<sf_context>

    init(_ raw: UnsafePointer<sf_context>) { self.raw = raw }

    public var functionName: String { String(cString: raw.pointee.function_name) }
    public var invocationID: UInt64 { raw.pointee.invocation_id }
    /// True once the host is shutting down and wants the function to return early.
    public var isCancelled: Bool { raw.pointee.is_cancelled(raw) != 0 }

    /// Writes a line to the host's log, tagged with this function and invocation.
    public func log(_ message: String, level: LogLevel = .info) {
        var message = message
        message.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                raw.pointee.log(raw, level.rawValue, chars.baseAddress, chars.count)
            }
        }
    }

    /// Marks item `index` of the batch as failed; the batch's other items still succeed.
    public func failItem(at index: Int, reason: String) {
        var reason = reason
        reason.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                raw.pointee.fail_item(raw, index, chars.baseAddress, chars.count)
            }
        }
    }
}

public enum LogLevel: Int32, Sendable {
    case trace = 0, debug, info, warning, error
}
