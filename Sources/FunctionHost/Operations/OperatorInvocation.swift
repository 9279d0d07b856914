import FunctionABI
import Foundation
import Logging
import Synchronization

/// What one operator's invocation came to: `POST /admin/functions/NAME` or `swiftfunc invoke`.
public struct OperatorInvocationResult: Sendable {
    /// Succeeded, Failed, PartiallyFailed or Pending, as the "Executed" log line says it.
    public var outcome: String
    /// Why it failed (thrown error, non-zero return, undelivered output).
    public var failure: String?
    /// Items of a batch the function failed, by index.
    public var failedItems: [Int: String]
    /// What the function (and the host about the call) logged during the invocation.
    public var logs: [LoggedLine]
    /// The records its output bindings sent, in order.
    public var records: [CapturedRecord]
    /// Whether those records were produced to their topics (admin route) or only captured
    /// (`swiftfunc invoke`).
    public var produced: Bool

    public var succeeded: Bool { failure == nil && failedItems.isEmpty }
}

public struct LoggedLine: Sendable {
    public var level: Logger.Level
    public var message: String
}

/// Calls a loaded function once with synthetic events, outside its consumer.
final class OperatorInvocation: @unchecked Sendable {
    private let invoker: Invoker
    private let capture = OutputCapture()
    private let lines = LoggedLines()
    private let produces: Bool

    /// - Parameter producers: where output records go; nil captures them without producing.
    init(function: FunctionConfiguration, library: FunctionLibrary, producers: ProducerPool?, logger: Logger) throws {
        produces = producers != nil
        let capture = capture
        let outputs = try function.outputs.map { binding in
            try OutputHandle(binding: binding, producer: try producers?.producer(for: binding.connection, settings: binding.producer), capture: capture)
        }
        let lines = lines
        let logging = Logger(label: logger.label) { _ in
            MultiplexLogHandler([logger.handler, LineCapture(lines: lines)])
        }
        invoker = try Invoker(function: function, library: library, capacity: 1, outputs: outputs, journal: nil, logger: logging)
    }

    /// Calls the function once with `records` (one event for ONE; a batch for MANY).
    func run(_ records: [SyntheticRecord]) -> OperatorInvocationResult {
        let events = SyntheticEvents(records)
        let outcome = invoker.attempt(events: events.events, count: events.count)
        let kind: InvocationStatistics.Outcome = outcome.failure != nil ? .failed
            : !outcome.failedItems.isEmpty ? .partiallyFailed : outcome.pending ? .pending : .succeeded
        return OperatorInvocationResult(outcome: kind.logName, failure: outcome.failure, failedItems: outcome.failedItems,
                                        logs: lines.all, records: capture.records, produced: produces)
    }
}

/// The lines of one operator's invocation.
private final class LoggedLines: Sendable {
    private let storage = Mutex<[LoggedLine]>([])
    var all: [LoggedLine] { storage.withLock { $0 } }
    func append(_ line: LoggedLine) { storage.withLock { $0.append(line) } }
}

private struct LineCapture: LogHandler {
    let lines: LoggedLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append(LoggedLine(level: event.level, message: "\(event.message)"))
    }
}
