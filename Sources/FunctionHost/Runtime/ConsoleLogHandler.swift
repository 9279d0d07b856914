import CDispatch
import Foundation
import Logging

/// The host's log format on standard error, one line per record:
/// `2026-11-21T10:00:00.123Z info [Greeter] message key=value`.
/// The function's name comes first so that one function's lines are easy to pick out.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, logLevel: Logger.Level = .info) {
        self.label = label
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let function = all.removeValue(forKey: "function").map { " [\($0)]" } ?? ""
        let rest = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(Self.timestamp()) \(event.level)\(function) \(event.message)\(rest)\n"
        line.utf8CString.withUnsafeBufferPointer { buffer in
            // One write per line, so lines from several threads never interleave.
            _ = Glibc.write(2, buffer.baseAddress, buffer.count - 1)
        }
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let millis = now.tv_nsec / 1_000_000
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + "." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + "\(millis)Z"
    }
}
