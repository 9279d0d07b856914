#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The invocation in progress: the last parameter of every entry point. Its identity, the host's
/// log, cancellation, the time left, and (for a batch) how to report items that failed.
public typealias Context = UnsafePointer<sf_context>

/// What an entry point returns: ``Status/ok``, ``Status/pending`` or ``Status/error``. Let
/// ``Swift/UnsafePointer/run(_:)`` compute it.
public typealias Status = Int32

extension Status {
    /// The invocation succeeded.
    public static var ok: Status { Status(SF_OK) }
    /// The invocation failed; its records are delivered again.
    public static var error: Status { Status(SF_ERROR) }
    /// The invocation succeeded, but its records must not be committed until the function's
    /// flush export returns ``ok`` (for a function that buffers what it writes).
    public static var pending: Status { Status(SF_PENDING) }
}

/// How a function's body ends when it may leave records uncommitted: see ``Status/pending``.
public enum Completion: Sendable {
    case done
    case pending
}

extension UnsafePointer where Pointee == sf_context {
    public var functionName: String { pointee.function_name.map { String(cString: $0) } ?? "" }
    /// Unique within the host process; the host's log lines of this invocation carry it.
    public var invocationID: UInt64 { pointee.invocation_id }
    /// True once the host is shutting down and wants the function to return early.
    public var isCancelled: Bool { pointee.is_cancelled(self) != 0 }
    /// Milliseconds since the Unix epoch the function should finish by; `nil` when there is no timeout.
    public var deadline: Int64? { pointee.deadline == Int64.max ? nil : pointee.deadline }
    /// Time left before the deadline (zero once it has passed); `nil` when there is no timeout.
    public var remainingTime: Duration? {
        guard let deadline else { return nil }
        return .milliseconds(max(0, deadline - currentMilliseconds()))
    }

    /// Writes lines to the host's log, tagged with the function's name and this invocation's id.
    public var logger: Logger { Logger(context: self) }

    /// Writes a line to the host's log, tagged with this function and invocation.
    public func log(_ message: String, level: LogLevel = .info) {
        withUTF8Text(message) { pointee.log(self, level.rawValue, $0, $1) }
    }

    /// Marks item `index` of the batch as failed; the batch's other items still succeed.
    public func failItem(at index: Int, reason: String) {
        withUTF8Text(reason) { pointee.fail_item(self, index, $0, $1) }
    }

    /// Runs the function's body: ``Status/ok`` when it returns, ``Status/error`` when it throws,
    /// with the error's description logged at error level (the host reports it as the reason).
    public func run(_ body: () throws -> Void) -> Status {
        run { () throws -> Completion in
            try body()
            return .done
        }
    }

    /// Runs a body that may leave its records pending: ``Status/pending`` when it returns
    /// `.pending`, ``Status/ok`` for `.done`, ``Status/error`` when it throws.
    @_disfavoredOverload
    public func run(_ body: () throws -> Completion) -> Status {
        do {
            switch try body() {
            case .done: return .ok
            case .pending: return .pending
            }
        } catch {
            log("\(error)", level: .error)
            return .error
        }
    }
}

public enum LogLevel: Int32, Sendable, Comparable {
    case trace = 0, debug, info, warning, error

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The host's log, as `context.logger`: lines carry the function's name and the invocation id.
/// The host decides which levels are written (host.json `logging.logLevel`). The last line an
/// invocation logs at error level becomes the reason of its failure.
public struct Logger {
    let context: Context

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) { context.log(message(), level: level) }
    public func trace(_ message: @autoclosure () -> String) { log(.trace, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}

func currentMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
