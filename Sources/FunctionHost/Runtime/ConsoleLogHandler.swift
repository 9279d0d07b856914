import CDispatch
import Foundation
import Logging

/// The host's log on standard error, one line per record, in host.json's `logging.format`:
/// - text: `2026-11-21T10:00:00.123Z info [Greeter] message key=value`. The function's name
///   comes first so that one function's lines are easy to pick out.
/// - json: one object per line: `time`, `level`, `function`, `invocation`, `partition`,
///   `offset`, `outcome`, `durationMs`, `message`, and any other metadata.
///
/// A message or metadata value longer than ``maximumValueLength`` characters is cut there, with
/// a note saying how much was left out (a function logging a whole large record stays readable).
public struct ConsoleLogHandler: LogHandler {
    /// The longest message or metadata value written whole.
    public static let maximumValueLength = 4_096

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: OperationsConfiguration.LogFormat

    public init(label: String, logLevel: Logger.Level = .info, format: OperationsConfiguration.LogFormat = .text) {
        self.label = label
        self.logLevel = logLevel
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line = format == .json ? jsonLine(event, all) : textLine(event, all)
        line.utf8CString.withUnsafeBufferPointer { buffer in
            // One write per line, so lines from several threads never interleave.
            _ = Glibc.write(2, buffer.baseAddress, buffer.count - 1)
        }
    }

    private func textLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        var all = metadata
        let function = all.removeValue(forKey: "function").map { " [\(Self.bounded("\($0)"))]" } ?? ""
        // An "Executed" line says its outcome, duration and place in its message.
        if all[InvocationLogFields.outcome] != nil { InvocationLogFields.inMessage.forEach { all.removeValue(forKey: $0) } }
        InvocationLogFields.alwaysInMessage.forEach { all.removeValue(forKey: $0) }
        let rest = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.bounded("\($0.value)"))" }.joined(separator: " ")
        return "\(Self.timestamp()) \(event.level)\(function) \(Self.bounded("\(event.message)"))\(rest)\n"
    }

    private func jsonLine(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        Self.jsonLine(level: event.level, message: "\(event.message)", metadata: metadata)
    }

    /// One line of the JSON format: what the host prints beside its log (the start banner, the
    /// stop lines) uses it too, so that with `logging.format: json` every line is one object.
    public static func jsonLine(level: Logger.Level, message: String, metadata: Logger.Metadata = [:]) -> String {
        var object: [String: Any] = ["time": Self.timestamp(), "level": "\(level)", "message": Self.bounded(message)]
        for (key, value) in metadata where object[key] == nil {
            let text = Self.bounded("\(value)")
            // Numbers stay numbers (partition, offset, attempt, invocation, durationMs).
            if InvocationLogFields.numeric.contains(key), let number = Double(text) {
                object[key] = number == number.rounded() && abs(number) < 1e15 ? Int64(number) as Any : number
            } else {
                object[key] = text
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"level\":\"error\",\"message\":\"unloggable line\"}\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// `text`, cut at ``maximumValueLength`` characters with a note.
    static func bounded(_ text: String) -> String {
        guard text.utf8.count > maximumValueLength, text.count > maximumValueLength else { return text }
        return String(text.prefix(maximumValueLength)) + "… [cut: \(text.count - maximumValueLength) more characters]"
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
