import Foundation
import Logging

/// `host.json`: settings for every function of the app.
public struct HostConfiguration: Sendable {
    /// `version`; "2.0", as Azure Functions requires.
    public var version: String = "2.0"
    /// `extensions.kafka`.
    public var kafka = KafkaOptions()
    /// `logging.logLevel.default`: Trace, Debug, Information, Warning, Error, Critical or None.
    public var logLevel: Logger.Level = .info
    /// `retry`: the retry policy of every function without one of its own.
    public var retry = RetryPolicy.default
    /// `functionTimeout` (hh:mm:ss; "-1" for none): an invocation running longer than this is
    /// treated like a crash of its messages: the host process is restarted and they are
    /// delivered again (and dead-lettered after `maxCrashesPerMessage`).
    public var functionTimeoutSeconds: Double? = 300
    /// `swiftfunc.maxCrashesPerMessage`: how many times a message may crash (or time out) the
    /// host before it is dead-lettered instead of delivered again.
    public var maxCrashesPerMessage = 3
    /// `swiftfunc.shutdownTimeout` (hh:mm:ss): how long a stopping host waits for invocations in
    /// progress before it exits anyway (their messages are delivered again later).
    public var shutdownTimeoutSeconds: Double = 30
    /// `swiftfunc.unreachableWarningAfter` (hh:mm:ss): how long a function's cluster may be
    /// unreachable before the host warns (and warns again at that interval).
    public var unreachableWarningSeconds: Double = 30

    public init() {}

    /// Reads `host.json` in `scriptRoot`; a missing file means all defaults.
    /// - Throws: ``ConfigurationError`` for malformed JSON or invalid values.
    public static func load(scriptRoot: URL) throws -> HostConfiguration {
        let url = scriptRoot.appendingPathComponent("host.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return HostConfiguration() }
        return try parse(JSONObject.load(url, displayName: "host.json"))
    }

    static func parse(_ json: JSONObject) throws -> HostConfiguration {
        var configuration = HostConfiguration()
        if let version = try json.string("version") {
            guard version == "2.0" else { throw json.error("version", "must be \"2.0\", not \"\(version)\"") }
            configuration.version = version
        }
        if let kafka = try json.object("extensions")?.object("kafka") {
            configuration.kafka = try KafkaOptions.parse(kafka)
        }
        if let retry = try json.object("retry") {
            configuration.retry = try RetryPolicy.parse(retry)
        }
        if let timeout = try json.string("functionTimeout") {
            if timeout.trimmingCharacters(in: .whitespaces) == "-1" {
                configuration.functionTimeoutSeconds = nil
            } else {
                guard let seconds = parseTimeSpan(timeout), seconds > 0 else {
                    throw json.error("functionTimeout", "'\(timeout)' is not a time span; write it as hh:mm:ss (e.g. \"00:05:00\"), or \"-1\" for none")
                }
                configuration.functionTimeoutSeconds = seconds
            }
        }
        if let own = try json.object("swiftfunc") {
            if let crashes = try own.int("maxCrashesPerMessage") {
                guard crashes >= 1 else { throw own.error("maxCrashesPerMessage", "must be at least 1, not \(crashes)") }
                configuration.maxCrashesPerMessage = crashes
            }
            if let text = try own.string("shutdownTimeout") {
                guard let seconds = parseTimeSpan(text) else {
                    throw own.error("shutdownTimeout", "'\(text)' is not a time span; write it as hh:mm:ss")
                }
                configuration.shutdownTimeoutSeconds = seconds
            }
            if let text = try own.string("unreachableWarningAfter") {
                guard let seconds = parseTimeSpan(text), seconds > 0 else {
                    throw own.error("unreachableWarningAfter", "'\(text)' is not a time span; write it as hh:mm:ss")
                }
                configuration.unreachableWarningSeconds = seconds
            }
        }
        if let level = try json.object("logging")?.object("logLevel")?.string("default") {
            guard let parsed = logLevels[normalizedEnumValue(level)] else {
                throw ConfigurationError(file: json.file, field: "logging.logLevel.default",
                                         "unknown level '\(level)'; use Trace, Debug, Information, Warning, Error, Critical or None")
            }
            configuration.logLevel = parsed
        }
        return configuration
    }
}

private let logLevels: [String: Logger.Level] = [
    "trace": .trace, "debug": .debug, "information": .info, "info": .info, "warning": .warning,
    "error": .error, "critical": .critical, "none": .critical,
]

/// `host.json` `extensions.kafka`: Azure's names and, where they apply, Azure's defaults.
public struct KafkaOptions: Sendable {
    /// Most events in one call of a MANY function.
    public var maxBatchSize = 64
    /// The longest the trigger blocks waiting when no message is there. Never waited out when
    /// messages are already available.
    public var subscriberIntervalInSeconds = 1
    /// How often stored offsets are committed (librdkafka `auto.commit.interval.ms`).
    public var autoCommitIntervalMs = 200
    /// Where a consumer group with no committed offset starts: earliest or latest.
    public var autoOffsetReset = "earliest"
    public var sessionTimeoutMs = 10_000
    public var heartbeatIntervalMs = 3_000
    public var maxPollIntervalMs = 300_000
    public var fetchMaxBytes = 52_428_800
    public var maxPartitionFetchBytes = 1_048_576
    public var metadataMaxAgeMs = 180_000
    public var socketKeepaliveEnable = true
    public var queuedMinMessages: Int?
    public var queuedMaxMessagesKbytes: Int?
    public var reconnectBackoffMs: Int?
    public var reconnectBackoffMaxMs: Int?
    public var statisticsIntervalMs: Int?
    /// librdkafka `debug` contexts, e.g. "consumer,cgrp".
    public var libkafkaDebug: String?
    /// Any other librdkafka property, passed through as written, for consumers and producers.
    public var librdkafka: [String: String] = [:]

    public init() {}

    /// librdkafka properties every consumer gets, before the connection's and `librdkafka`'s
    /// (`extensions.kafka.librdkafka` can set any of them differently).
    var consumerProperties: [(String, String)] {
        var properties: [(String, String)] = [
            ("auto.commit.interval.ms", "\(autoCommitIntervalMs)"),
            ("auto.offset.reset", autoOffsetReset),
            ("session.timeout.ms", "\(sessionTimeoutMs)"),
            ("heartbeat.interval.ms", "\(heartbeatIntervalMs)"),
            ("max.poll.interval.ms", "\(maxPollIntervalMs)"),
            ("fetch.max.bytes", "\(fetchMaxBytes)"),
            ("max.partition.fetch.bytes", "\(maxPartitionFetchBytes)"),
        ]
        // The fetch-queue stall's remedy for the running librdkafka (2.0.2: a metadata refresh
        // every 50 ms; 2.2 and later: fetch.queue.backoff.ms 10).
        properties += LibrdkafkaVersion.consumerProperties()
        properties += commonProperties
        if let queuedMinMessages { properties.append(("queued.min.messages", "\(queuedMinMessages)")) }
        if let queuedMaxMessagesKbytes { properties.append(("queued.max.messages.kbytes", "\(queuedMaxMessagesKbytes)")) }
        return properties
    }

    /// librdkafka properties shared by consumers and producers.
    var commonProperties: [(String, String)] {
        var properties: [(String, String)] = [
            ("metadata.max.age.ms", "\(metadataMaxAgeMs)"),
            ("socket.keepalive.enable", socketKeepaliveEnable ? "true" : "false"),
        ]
        if let reconnectBackoffMs { properties.append(("reconnect.backoff.ms", "\(reconnectBackoffMs)")) }
        if let reconnectBackoffMaxMs { properties.append(("reconnect.backoff.max.ms", "\(reconnectBackoffMaxMs)")) }
        if let statisticsIntervalMs { properties.append(("statistics.interval.ms", "\(statisticsIntervalMs)")) }
        if let libkafkaDebug { properties.append(("debug", libkafkaDebug)) }
        return properties
    }

    static func parse(_ json: JSONObject) throws -> KafkaOptions {
        var options = KafkaOptions()
        func positive(_ key: String, _ target: inout Int) throws {
            guard let value = try json.int(key) else { return }
            guard value > 0 else { throw json.error(key, "must be greater than 0, not \(value)") }
            target = value
        }
        func optionalPositive(_ key: String) throws -> Int? {
            guard let value = try json.int(key) else { return nil }
            guard value >= 0 else { throw json.error(key, "must not be negative, not \(value)") }
            return value
        }
        try positive("maxBatchSize", &options.maxBatchSize)
        try positive("subscriberIntervalInSeconds", &options.subscriberIntervalInSeconds)
        try positive("autoCommitIntervalMs", &options.autoCommitIntervalMs)
        try positive("sessionTimeoutMs", &options.sessionTimeoutMs)
        try positive("heartbeatIntervalMs", &options.heartbeatIntervalMs)
        try positive("maxPollIntervalMs", &options.maxPollIntervalMs)
        try positive("fetchMaxBytes", &options.fetchMaxBytes)
        try positive("maxPartitionFetchBytes", &options.maxPartitionFetchBytes)
        try positive("metadataMaxAgeMs", &options.metadataMaxAgeMs)
        options.queuedMinMessages = try optionalPositive("queuedMinMessages")
        options.queuedMaxMessagesKbytes = try optionalPositive("queuedMaxMessagesKbytes")
        options.reconnectBackoffMs = try optionalPositive("reconnectBackoffMs")
        options.reconnectBackoffMaxMs = try optionalPositive("reconnectBackoffMaxMs")
        options.statisticsIntervalMs = try optionalPositive("statisticsIntervalMs")
        if let keepalive = try json.bool("socketKeepaliveEnable") { options.socketKeepaliveEnable = keepalive }
        if let reset = try json.string("autoOffsetReset") {
            switch normalizedEnumValue(reset) {
            case "earliest", "smallest", "beginning": options.autoOffsetReset = "earliest"
            case "latest", "largest", "end": options.autoOffsetReset = "latest"
            default: throw json.error("autoOffsetReset", "unknown value '\(reset)'; use Earliest or Latest")
            }
        }
        options.libkafkaDebug = try json.string("libkafkaDebug")
        options.librdkafka = try json.stringMap("librdkafka")
        return options
    }
}
