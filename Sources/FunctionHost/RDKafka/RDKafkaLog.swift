import CRdKafka
import Foundation
import Logging
import Synchronization

/// librdkafka's own log lines go through swift-log, once each: tagged with the function whose
/// client wrote them (by client.id) and the client's role (consumer or producer), at the level
/// librdkafka gave them — instead of raw `%4|...|FAIL|rdkafka#producer-1|...` lines on stderr.
enum RDKafkaLog {
    private static let loggers = Mutex<[String: Logger]>([:])
    private static let hostLogger = Mutex<Logger>(Logger(label: "swiftfunc.librdkafka"))

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
        logger[metadataKey: "kafka"] = "\(role)"
        logger.log(level: Self.level(level), "librdkafka \(facility): \(text)")
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
