import Foundation

/// host.json's settings for operating the host: its HTTP endpoint (`swiftfunc.http`) and its log
/// format (`logging.format`).
public struct OperationsConfiguration: Sendable {
    /// How log lines are written.
    public struct LogFormat: Sendable, Equatable, CustomStringConvertible {
        let name: String
        /// `2026-11-21T10:00:00.123Z info [Greeter] message key=value` (the default).
        public static let text = LogFormat(name: "text")
        /// One JSON object per line: time, level, function, invocation, partition, offset,
        /// outcome, durationMs, message and any other metadata.
        public static let json = LogFormat(name: "json")
        public var description: String { name }
    }

    /// Azure Functions Core Tools' port.
    public static let defaultPort = 7071

    /// `swiftfunc.http.port`: where the metrics, health and admin endpoint listens; 0 turns it
    /// off. Default: 7071. `swiftfunc start --port N` overrides it.
    public var httpPort = OperationsConfiguration.defaultPort
    /// `swiftfunc.http.host`: the address it listens on. Default: 127.0.0.1 (loopback only; admin
    /// routes need no key there). Any other address makes admin routes ask for `x-functions-key`.
    public var httpHost = "127.0.0.1"
    /// `logging.format`: text or json. Default: text.
    public var logFormat = LogFormat.text

    public init() {}

    static func parse(_ json: JSONObject) throws -> OperationsConfiguration {
        var configuration = OperationsConfiguration()
        if let http = try json.object("swiftfunc")?.object("http") {
            if let port = try http.int("port") {
                guard (0...65_535).contains(port) else {
                    throw http.error("port", "\(port) is not a TCP port; use 1 to 65535, or 0 to turn the HTTP endpoint off")
                }
                configuration.httpPort = port
            }
            if let host = try http.string("host") {
                guard !host.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw http.error("host", "is empty; write an address to listen on, e.g. \"127.0.0.1\" or \"0.0.0.0\"")
                }
                configuration.httpHost = host
            }
        }
        if let format = try json.object("logging")?.string("format") {
            switch normalizedEnumValue(format) {
            case "text": configuration.logFormat = .text
            case "json": configuration.logFormat = .json
            default:
                throw ConfigurationError(file: json.file, field: "logging.format", "unknown format '\(format)'; use text or json")
            }
        }
        return configuration
    }
}
