import Foundation
import Logging

/// The function host: reads `host.json` and every `functions/NAME/function.json` under a script
/// root, loads each function's library and runs one trigger listener per function. A function
/// that cannot be loaded is reported and left out; the others run.
public final class FunctionAppHost: @unchecked Sendable {
    /// What became of one function at start.
    public struct FunctionReport: Sendable {
        public enum Status: Sendable, Equatable {
            case running
            case disabled
            case failed(String)
        }
        public var name: String
        public var status: Status
        /// Set when function.json could be read.
        public var configuration: FunctionConfiguration?
    }

    public let scriptRoot: URL
    public let configuration: HostConfiguration
    private let settings: AppSettings
    private let logger: Logger
    private let embeddedBroker: EmbeddedBroker?
    private let topicPartitions: Int
    private let crashProtectionDirectory: URL?
    private let producers: ProducerPool
    private var listeners: [TriggerListener] = []
    public private(set) var reports: [FunctionReport] = []

    /// Reads `host.json` and `local.settings.json`.
    /// - Parameters:
    ///   - embeddedBroker: when given, every binding is pointed at it (auth options are dropped,
    ///     since the mock cluster speaks plaintext only) and their topics are created on it with
    ///     `topicPartitions` partitions.
    ///   - crashProtectionDirectory: where each function keeps its in-flight journal and crash
    ///     counts, when a supervisor restarts this process after a crash (see `HostSupervisor`).
    /// - Throws: ``ConfigurationError`` when either file is malformed: every function depends on them.
    public init(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger, embeddedBroker: EmbeddedBroker? = nil,
                topicPartitions: Int = EmbeddedBroker.defaultPartitions, crashProtectionDirectory: URL? = nil) throws {
        self.scriptRoot = scriptRoot.standardizedFileURL
        self.configuration = try HostConfiguration.load(scriptRoot: scriptRoot)
        self.settings = try AppSettings.load(scriptRoot: scriptRoot, environment: environment)
        var logger = logger
        logger.logLevel = configuration.logLevel
        self.logger = logger
        self.embeddedBroker = embeddedBroker
        self.topicPartitions = topicPartitions
        self.crashProtectionDirectory = crashProtectionDirectory
        self.producers = ProducerPool(options: configuration.kafka)
    }

    /// Loads and starts every function; returns one report per function folder.
    /// - Throws: ``ConfigurationError`` when there is no `functions/` folder.
    @discardableResult
    public func start() throws -> [FunctionReport] {
        for directory in try FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot) {
            let name = directory.lastPathComponent
            var report = FunctionReport(name: name, status: .running)
            do {
                var function = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings)
                report.configuration = function
                if function.disabled {
                    report.status = .disabled
                    reports.append(report)
                    continue
                }
                if let embeddedBroker { function = try point(function, at: embeddedBroker) }
                report.configuration = function
                let library = try FunctionLibrary.load(function, scriptRoot: scriptRoot)
                var functionLogger = logger
                functionLogger[metadataKey: "function"] = "\(name)"
                let listener = try TriggerListener(
                    function: function, library: library, options: configuration.kafka,
                    retry: function.retry ?? configuration.retry, producers: producers,
                    crashProtection: crashProtectionDirectory.map {
                        TriggerListener.CrashProtection(directory: $0, maxCrashesPerMessage: configuration.maxCrashesPerMessage)
                    },
                    logger: functionLogger)
                listeners.append(listener)
            } catch {
                report.status = .failed("\(error)")
                logger.error("Function '\(name)' is not running: \(error)")
            }
            reports.append(report)
        }
        for listener in listeners { listener.start() }
        return reports
    }

    /// Stops every function: each finishes its invocation in progress, commits and leaves its
    /// group, all within `shutdownTimeout`; then the producers are flushed.
    /// - Returns: false when some function did not finish in time (its uncommitted messages
    ///   are delivered again later).
    @discardableResult
    public func stop() -> Bool {
        listeners.forEach { $0.requestStop() }
        let deadline = Date().addingTimeInterval(configuration.shutdownTimeoutSeconds)
        var allStopped = true
        for listener in listeners where !listener.waitUntilStopped(timeout: max(0, deadline.timeIntervalSinceNow)) {
            allStopped = false
            logger.error("Function '\(listener.function.name)' did not finish its invocation within the shutdown timeout (\(configuration.shutdownTimeoutSeconds) s); stopping without it. Its uncommitted messages will be delivered again.")
        }
        guard allStopped else { return false }
        listeners.removeAll()
        let undelivered = producers.shutdown()
        if undelivered > 0 {
            logger.error("\(undelivered) output records were still undelivered at shutdown")
        }
        return true
    }

    private func point(_ function: FunctionConfiguration, at broker: EmbeddedBroker) throws -> FunctionConfiguration {
        var function = function
        if function.trigger.connection.isSecured || function.outputs.contains(where: \.connection.isSecured) {
            logger.warning("Function '\(function.name)': authentication and TLS options are ignored on the embedded broker (it speaks plaintext only)")
        }
        function.trigger.connection = KafkaConnection(brokerList: broker.bootstrapServers)
        try broker.createTopic(function.trigger.topic, partitions: topicPartitions)
        try broker.createTopic(function.deadLetterTopic, partitions: topicPartitions)
        for index in function.outputs.indices {
            function.outputs[index].connection = KafkaConnection(brokerList: broker.bootstrapServers)
            try broker.createTopic(function.outputs[index].topic, partitions: topicPartitions)
        }
        return function
    }
}
