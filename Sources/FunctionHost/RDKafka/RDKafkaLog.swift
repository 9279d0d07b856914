import CRdKafka
import Foundation
import Logging
import Synchronization

/// librdkafka's own log lines go through swift-log, once each: tagged with the function whose
/// client wrote them (by client.id) and the client's role (consumer or producer), at the level
/// librdkafka gave them — instead of raw `%4|...|FAIL|rdkafka#producer-1|...` lines on stderr.
///
/// A line that repeats (the same text from any client: every function's consumer failing to
/// reach one dead broker says the same) is written the first time, then held back for
/// ``repeatWindowSeconds``; the next one after that says how many were held back ("repeated N
/// times in the last 30 s", and a `repeated` field) and starts a new window. One dead broker and 8
/// functions wrote 84 error lines a minute without it.
enum RDKafkaLog {
    private static let loggers = Mutex<[String: Logger]>([:])
    private static let hostLogger = Mutex<Logger>(Logger(label: "swiftfunc.librdkafka"))

    static let repeatWindowSeconds: UInt64 = 30
    private struct Repeats {
        var windowStart: UInt64
        var held = 0
        var clients = Set<String>()
    }
    /// By ``repeatKey(level:facility:text:)``.
    private static let repeats = Mutex<[String: Repeats]>([:])

    /// Lines of clients whose client.id is `clientID` go to `logger`.
    static func register(clientID: String, logger: Logger) {
        loggers.withLock { $0[clientID] = logger }
    }

    /// Lines of clients nobody registered (shared producers, probes) go to `logger`.
    static func setHostLogger(_ logger: Logger) {
        hostLogger.withLock { $0 = logger }
    }

    /// Routes the log of clients made from `configuration` here.
    static func install(on configuration: OpaquePointer) {
        rd_kafka_conf_set_log_cb(configuration, logCallback)
    }

    fileprivate static func log(name: String, level: Int32, facility: String, text: String) {
        // librdkafka names a client "CLIENTID#ROLE-N".
        let parts = name.split(separator: "#", maxSplits: 1)
        let clientID = parts.first.map(String.init) ?? name
        let role = parts.count > 1 ? String(parts[1].prefix { $0 != "-" }) : "client"
        var logger = loggers.withLock { $0[clientID] } ?? hostLogger.withLock { $0 }
        let swiftLevel = Self.level(level)
        guard swiftLevel >= logger.logLevel else { return }
        logger[metadataKey: "kafka"] = "\(role)"
        switch admit(key: repeatKey(level: level, facility: facility, text: text), client: clientID, now: monotonicNanoseconds()) {
        case .write:
            logger.log(level: swiftLevel, "librdkafka \(facility): \(text)")
        case .summarize(let held, let clients):
            let by = clients > 1 ? " by \(clients) clients" : ""
            logger.log(level: swiftLevel, "librdkafka \(facility): \(text) (repeated \(held) times\(by) in the last \(repeatWindowSeconds) s)",
                       metadata: ["repeated": "\(held)"])
        case .hold:
            break
        }
    }

    enum Admission: Equatable {
        case write
        /// Write it, saying `held` like it were held back (from `clients` clients).
        case summarize(held: Int, clients: Int)
        case hold
    }

    /// Whether a line with `key` is written now.
    static func admit(key: String, client: String, now: UInt64) -> Admission {
        let window = repeatWindowSeconds * 1_000_000_000
        return repeats.withLock { repeats in
            guard var entry = repeats[key] else {
                // Forget lines not seen for a window, so that the table stays small.
                if repeats.count >= 256 { repeats = repeats.filter { now - $0.value.windowStart < window } }
                repeats[key] = Repeats(windowStart: now)
                return .write
            }
            guard now - entry.windowStart >= window else {
                entry.held += 1
                entry.clients.insert(client)
                repeats[key] = entry
                return .hold
            }
            repeats[key] = Repeats(windowStart: now)
            return entry.held > 0 ? .summarize(held: entry.held, clients: entry.clients.count) : .write
        }
    }

    /// Lines that differ only in which thread or client wrote them ("[thrd:app]: ",
    /// "rdkafka#producer-1: ") or in librdkafka's own counters ("after 12ms in state CONNECT",
    /// "3 identical error(s) suppressed") are the same line. So are one event's two reports (a
    /// broker thread's FAIL and the application thread's ERROR): the facility is left out.
    static func repeatKey(level: Int32, facility: String, text: String) -> String {
        var rest = Substring(text)
        if rest.hasPrefix("[thrd:"), let end = rest.range(of: "]: ") { rest = rest[end.upperBound...] }
        if let colon = rest.range(of: ": "), rest[..<colon.lowerBound].contains("#"), !rest[..<colon.lowerBound].contains(" "),
           rest[..<colon.lowerBound].contains(where: { $0 == "-" }) {
            rest = rest[colon.upperBound...]
        }
        if let cut = rest.range(of: " (after ") { rest = rest[..<cut.lowerBound] }
        return "\(level)|" + rest
    }

    /// Syslog levels, as librdkafka uses them, to swift-log's.
    static func level(_ syslog: Int32) -> Logger.Level {
        switch syslog {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }
}

private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { client, level, facility, text in
    let name = client.flatMap { rd_kafka_name($0) }.map { String(cString: $0) } ?? "librdkafka"
    RDKafkaLog.log(name: name, level: level, facility: facility.map { String(cString: $0) } ?? "", text: text.map { String(cString: $0) } ?? "")
}
