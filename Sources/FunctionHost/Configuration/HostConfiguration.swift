import CRdKafka
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
    /// `swiftfunc.watch`: reload when a function's files change (as `swiftfunc start --watch`).
    /// Default: false.
    public var watch = false
    /// `swiftfunc.unreachableWarningAfter` (hh:mm:ss): how long a function's cluster may be
    /// unreachable before the host warns (and warns again at that interval).
    public var unreachableWarningSeconds: Double = 30
    /// Fields read past (unknown, or Azure's and not supported yet), for the log.
    public var warnings: [ConfigurationWarning] = []

    /// The longest `functionTimeout`: a day. A longer one is a typo (and `-1` says "none").
    static let maximumFunctionTimeoutSeconds: Double = 86_400
    /// The longest `swiftfunc.shutdownTimeout`: an hour (a supervisor stops waiting long before).
    static let maximumShutdownTimeoutSeconds: Double = 3_600

    /// `swiftfunc.http` and `logging.format` (Operations/OperationsConfiguration.swift).
    public var operations = OperationsConfiguration()
    /// `swiftfunc.tracing` (Tracing/TracingConfiguration.swift).
    public var tracing = TracingConfiguration()

    public init() {}

    /// Reads `host.json` in `scriptRoot`; a missing file means all defaults.
    /// - Parameter file: where host.json's bytes are read instead (``ConfigurationFiles``: the
    ///   supervisor's snapshot); relative paths in it still resolve against `scriptRoot`.
    /// - Throws: ``ConfigurationError`` for malformed JSON or invalid values.
    public static func load(scriptRoot: URL, file: URL? = nil) throws -> HostConfiguration {
        let url = file ?? scriptRoot.appendingPathComponent("host.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return HostConfiguration() }
        return try parse(JSONObject.load(url, displayName: "host.json"), scriptRoot: scriptRoot)
    }

    /// - Parameters:
    ///   - scriptRoot: what relative paths in `extensions.kafka.librdkafka` are resolved
    ///     against (and checked to exist); nil leaves them as written.
    ///   - version: the librdkafka (`rd_kafka_version()`) `extensions.kafka.groupProtocol` is checked against.
    static func parse(_ json: JSONObject, scriptRoot: URL? = nil, version: Int32 = rd_kafka_version()) throws -> HostConfiguration {
        var configuration = HostConfiguration()
        configuration.warnings = hostFields.warnings(for: json)
        if let version = try json.string("version") {
            guard version == "2.0" else { throw json.error("version", "must be \"2.0\", not \"\(version)\"") }
            configuration.version = version
        }
        if let kafka = try json.object("extensions")?.object("kafka") {
            configuration.kafka = try KafkaOptions.parse(kafka, scriptRoot: scriptRoot, version: version)
            configuration.warnings += KafkaOptions.fields.warnings(for: kafka)
        }
        if let retry = try json.object("retry") {
            configuration.retry = try RetryPolicy.parse(retry)
            configuration.warnings += RetryPolicy.fields.warnings(for: retry)
        }
        if let logging = try json.object("logging") {
            configuration.warnings += loggingFields.warnings(for: logging)
        }
        if let timeout = try json.string("functionTimeout") {
            if timeout.trimmingCharacters(in: .whitespaces) == "-1" {
                configuration.functionTimeoutSeconds = nil
            } else {
                guard let seconds = parseTimeSpan(timeout), seconds > 0 else {
                    throw json.error("functionTimeout", "'\(timeout)' is not a time span; write it as hh:mm:ss (e.g. \"00:05:00\"), or \"-1\" for none")
                }
                guard seconds <= maximumFunctionTimeoutSeconds else {
                    throw json.error("functionTimeout", "must be from 00:00:01 to 1.00:00:00 (a day), not '\(timeout)'; \"-1\" means none")
                }
                configuration.functionTimeoutSeconds = seconds
            }
        }
        if let own = try json.object("swiftfunc") {
            configuration.warnings += swiftfuncFields.warnings(for: own)
            if let crashes = try own.int("maxCrashesPerMessage", in: 1...1_000) {
                configuration.maxCrashesPerMessage = crashes
            }
            if let text = try own.string("shutdownTimeout") {
                guard let seconds = parseTimeSpan(text) else {
                    throw own.error("shutdownTimeout", "'\(text)' is not a time span; write it as hh:mm:ss")
                }
                guard seconds <= maximumShutdownTimeoutSeconds else {
                    throw own.error("shutdownTimeout", "must be from 00:00:00 to 01:00:00, not '\(text)'")
                }
                configuration.shutdownTimeoutSeconds = seconds
            }
            if let watch = try own.bool("watch") { configuration.watch = watch }
            if let text = try own.string("unreachableWarningAfter") {
                guard let seconds = parseTimeSpan(text), seconds > 0 else {
                    throw own.error("unreachableWarningAfter", "'\(text)' is not a time span; write it as hh:mm:ss")
                }
                guard seconds <= 86_400 else {
                    throw own.error("unreachableWarningAfter", "must be from 00:00:01 to 1.00:00:00 (a day), not '\(text)'")
                }
                configuration.unreachableWarningSeconds = seconds
            }
        }
        configuration.operations = try OperationsConfiguration.parse(json)
        configuration.tracing = try TracingConfiguration.parse(json)
        if let tracing = try json.object("swiftfunc")?.object("tracing") {
            configuration.warnings += TracingConfiguration.fields.warnings(for: tracing)
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

/// host.json's top level. Azure Functions' own sections mean nothing to swiftfunc and pass quietly.
private let hostFields = KnownFields(
    used: ["version", "logging", "extensions", "retry", "functionTimeout", "swiftfunc"],
    ignored: ["extensionBundle", "aggregator", "healthMonitor", "managedDependency", "functions", "watchDirectories",
              "watchFiles", "singleton", "concurrency", "customHandler", "telemetryMode", "languageWorkers", "$schema"])

private let loggingFields = KnownFields(
    used: ["logLevel", "format"], ignored: ["applicationInsights", "fileLoggingMode", "console", "logStream"])

private let swiftfuncFields = KnownFields(used: ["maxCrashesPerMessage", "shutdownTimeout", "unreachableWarningAfter", "http", "watch", "tracing"])

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
    /// Output records sent by invocations that are settled later (their records not yet
    /// acknowledged by the broker), and their bytes (keys and values), that a function may have
    /// outstanding; at either bound its consumer waits for acknowledgements before it calls the
    /// function again.
    public var maxUnacknowledgedOutputRecords = 100_000
    public var maxUnacknowledgedOutputBytes = 64 << 20
    /// librdkafka `debug` contexts, e.g. "consumer,cgrp".
    public var libkafkaDebug: String?
    /// Any other librdkafka property, passed through as written, for consumers and producers.
    public var librdkafka: [String: String] = [:]
    /// `groupProtocol`: the consumer group protocol of every trigger that sets none (``GroupProtocol``).
    public var groupProtocol: GroupProtocol = .classic
    /// `groupRemoteAssignor`: the broker's assignor under the consumer protocol; nil: the broker's default.
    public var groupRemoteAssignor: String?
    /// The fields of ``GroupProtocol/classicOnlyHostFields`` that host.json sets (the others are
    /// defaults, which the consumer protocol simply leaves out).
    var classicOnlyFieldsSet: Set<String> = []

    public init() {}

    /// librdkafka properties every consumer gets, before the connection's and `librdkafka`'s
    /// (`extensions.kafka.librdkafka` can set any of them differently).
    /// Under the consumer protocol the broker owns the session timeout and the heartbeat, and
    /// librdkafka refuses a consumer that sets them, so they are left out.
    var consumerProperties: [(String, String)] {
        var properties: [(String, String)] = [
            ("auto.commit.interval.ms", "\(autoCommitIntervalMs)"),
            ("auto.offset.reset", autoOffsetReset),
        ]
        switch groupProtocol {
        case .classic:
            // Not written as group.protocol=classic: librdkafka before 2.4 has no such property.
            properties += [("session.timeout.ms", "\(sessionTimeoutMs)"), ("heartbeat.interval.ms", "\(heartbeatIntervalMs)")]
        case .consumer:
            properties.append(("group.protocol", "consumer"))
            if let groupRemoteAssignor { properties.append(("group.remote.assignor", groupRemoteAssignor)) }
        }
        properties += [
            ("max.poll.interval.ms", "\(maxPollIntervalMs)"),
            ("fetch.max.bytes", "\(fetchMaxBytes)"),
            ("max.partition.fetch.bytes", "\(maxPartitionFetchBytes)"),
        ]
        // The fetch-queue stall's remedy for the running librdkafka (2.2 and later:
        // fetch.queue.backoff.ms 10; below, no property: the consumer's FetcherWakeup).
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

    /// `extensions.kafka`'s fields. Azure's channel settings are read past: see the README.
    static let fields = KnownFields(
        used: ["maxBatchSize", "subscriberIntervalInSeconds", "autoCommitIntervalMs", "autoOffsetReset", "sessionTimeoutMs",
               "heartbeatIntervalMs", "maxPollIntervalMs", "fetchMaxBytes", "maxPartitionFetchBytes", "metadataMaxAgeMs",
               "socketKeepaliveEnable", "queuedMinMessages", "queuedMaxMessagesKbytes", "reconnectBackoffMs",
               "reconnectBackoffMaxMs", "statisticsIntervalMs", "libkafkaDebug", "librdkafka",
               "maxUnacknowledgedOutputRecords", "maxUnacknowledgedOutputBytes", "groupProtocol", "groupRemoteAssignor"],
        ignored: ["executorChannelCapacity", "channelFullRetryIntervalInMs"])

    /// The most events in one call: every consumer and every lane keeps buffers for two
    /// batches, allocated at start (a billion would be tens of gigabytes before any message).
    public static let maximumBatchSize = 10_000

    /// The librdkafka properties whose values are file paths: a relative one is resolved
    /// against the script root, like Azure resolves them against the app's folder.
    static let pathProperties: Set<String> = [
        "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location",
        "ssl.crl.location", "sasl.kerberos.keytab", "ssl.engine.location",
    ]

    /// - Parameter version: the librdkafka `groupProtocol` consumer is checked against
    ///   (`rd_kafka_version()`: the loaded one).
    static func parse(_ json: JSONObject, scriptRoot: URL? = nil, version: Int32 = rd_kafka_version()) throws -> KafkaOptions {
        var options = KafkaOptions()
        // Each bound is librdkafka's own range for the property it maps to, or tighter where a
        // larger value only costs memory (documented in the README's host.json table).
        func read(_ key: String, _ range: ClosedRange<Int>, _ target: inout Int) throws {
            if let value = try json.int(key, in: range) { target = value }
        }
        try read("maxBatchSize", 1...maximumBatchSize, &options.maxBatchSize)
        try read("subscriberIntervalInSeconds", 1...300, &options.subscriberIntervalInSeconds)
        try read("autoCommitIntervalMs", 1...86_400_000, &options.autoCommitIntervalMs)
        try read("sessionTimeoutMs", 1...3_600_000, &options.sessionTimeoutMs)
        try read("heartbeatIntervalMs", 1...3_600_000, &options.heartbeatIntervalMs)
        try read("maxPollIntervalMs", 1...86_400_000, &options.maxPollIntervalMs)
        try read("fetchMaxBytes", 1...2_147_483_135, &options.fetchMaxBytes)
        try read("maxPartitionFetchBytes", 1...1_000_000_000, &options.maxPartitionFetchBytes)
        try read("metadataMaxAgeMs", 1...86_400_000, &options.metadataMaxAgeMs)
        try read("maxUnacknowledgedOutputRecords", 1...10_000_000, &options.maxUnacknowledgedOutputRecords)
        try read("maxUnacknowledgedOutputBytes", 1...2_147_483_647, &options.maxUnacknowledgedOutputBytes)
        options.queuedMinMessages = try json.int("queuedMinMessages", in: 1...10_000_000)
        options.queuedMaxMessagesKbytes = try json.int("queuedMaxMessagesKbytes", in: 1...2_097_151)
        options.reconnectBackoffMs = try json.int("reconnectBackoffMs", in: 0...3_600_000)
        options.reconnectBackoffMaxMs = try json.int("reconnectBackoffMaxMs", in: 0...3_600_000)
        options.statisticsIntervalMs = try json.int("statisticsIntervalMs", in: 0...86_400_000)
        options.groupProtocol = try GroupProtocol.parse(json, version: version) ?? .classic
        options.groupRemoteAssignor = try GroupProtocol.parseRemoteAssignor(json, protocol: options.groupProtocol)
        options.classicOnlyFieldsSet = Set(GroupProtocol.classicOnlyHostFields.map(\.field).filter { json.has($0) })
        guard options.heartbeatIntervalMs < options.sessionTimeoutMs else {
            throw json.error("heartbeatIntervalMs", "must be less than sessionTimeoutMs (\(options.sessionTimeoutMs)), not \(options.heartbeatIntervalMs)")
        }
        guard options.maxPollIntervalMs >= options.sessionTimeoutMs || options.groupProtocol == .consumer else {
            throw json.error("maxPollIntervalMs", "must be at least sessionTimeoutMs (\(options.sessionTimeoutMs)), not \(options.maxPollIntervalMs)")
        }
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
        try options.checkGroupProtocolSettings(json)
        if let scriptRoot {
            for (name, value) in options.librdkafka where pathProperties.contains(name) && !(name == "ssl.ca.location" && value == "probe") {
                options.librdkafka[name] = try resolvePath(value, against: scriptRoot, folderName: "the script root",
                                                           file: json.file, field: "\(json.fieldPath("librdkafka")).\(name)")
            }
        }
        return options
    }
}

// MARK: - The consumer group protocol

extension KafkaOptions {
    /// Refuses what cannot work with host.json's own `groupProtocol`: the group protocol set as a
    /// raw librdkafka property (the host would still send the classic-only settings), and, under
    /// `consumer`, the settings the broker owns (librdkafka refuses them at rd_kafka_new).
    fileprivate func checkGroupProtocolSettings(_ json: JSONObject) throws {
        for name in ["group.protocol", "group.remote.assignor"] where librdkafka[name] != nil {
            throw ConfigurationError(file: json.file, field: "\(json.fieldPath("librdkafka")).\(name)",
                "set it as \(name == "group.protocol" ? "groupProtocol" : "groupRemoteAssignor") (in extensions.kafka or on a kafkaTrigger), so the host leaves out the settings that protocol does not take")
        }
        guard groupProtocol == .consumer else { return }
        for (field, property) in GroupProtocol.classicOnlyHostFields where classicOnlyFieldsSet.contains(field) {
            let instead = GroupProtocol.classicOnlyProperties.first { $0.name == property }!.instead
            throw json.error(field, "does not apply under groupProtocol consumer (\(property)): \(instead); remove it, or use groupProtocol classic")
        }
        for (property, instead) in GroupProtocol.classicOnlyProperties where librdkafka[property] != nil {
            throw ConfigurationError(file: json.file, field: "\(json.fieldPath("librdkafka")).\(property)",
                "does not apply under groupProtocol consumer: \(instead); remove it, or use groupProtocol classic")
        }
    }

    /// The options `function`'s consumer runs with: its trigger's `groupProtocol` and
    /// `groupRemoteAssignor` over host.json's. A trigger that chooses the consumer protocol under
    /// a classic host leaves out the host's classic-only settings for its own consumer, with a
    /// warning naming each one host.json sets (the other functions keep them).
    /// - Returns: the options, and the warnings to log for this function.
    public func consumerOptions(for function: FunctionConfiguration) -> (options: KafkaOptions, warnings: [ConfigurationWarning]) {
        var options = self
        var warnings: [ConfigurationWarning] = []
        let trigger = function.trigger
        if let chosen = trigger.groupProtocol { options.groupProtocol = chosen }
        if let assignor = trigger.groupRemoteAssignor {
            if options.groupProtocol == .consumer {
                options.groupRemoteAssignor = assignor
            } else {
                warnings.append(ConfigurationWarning(file: function.file, field: "\(trigger.path).groupRemoteAssignor",
                    "applies only to groupProtocol consumer, and '\(function.name)' runs classic (host.json's groupProtocol); it is ignored"))
            }
        }
        if options.groupProtocol == .consumer && groupProtocol == .classic {
            let reason = "does not apply to '\(function.name)', whose kafkaTrigger sets groupProtocol consumer"
            for (field, property) in GroupProtocol.classicOnlyHostFields where classicOnlyFieldsSet.contains(field) {
                let instead = GroupProtocol.classicOnlyProperties.first { $0.name == property }!.instead
                warnings.append(ConfigurationWarning(file: "host.json", field: "extensions.kafka.\(field)",
                    "\(reason) (\(instead)); it is left out of that function's consumer"))
            }
            for (property, instead) in GroupProtocol.classicOnlyProperties where options.librdkafka[property] != nil {
                options.librdkafka[property] = nil
                warnings.append(ConfigurationWarning(file: "host.json", field: "extensions.kafka.librdkafka.\(property)",
                    "\(reason) (\(instead)); it is left out of that function's consumer"))
            }
        }
        return (options, warnings)
    }
}
