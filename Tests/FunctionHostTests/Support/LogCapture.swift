import Logging
import Synchronization

/// Collects a host's log lines in memory so tests can assert on them.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    func contains(_ fragments: String...) -> Bool {
        lines.contains { line in fragments.allSatisfy { line.contains($0) } }
    }

    func logger() -> Logger {
        Logger(label: "swiftfunc-test") { _ in CapturingLogHandler(capture: self) }
    }

    fileprivate func append(_ line: String) {
        storage.withLock { $0.append(line) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let tags = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) \(event.message) \(tags)")
    }
}
