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
    private let producers: ProducerPool
    private var listeners: [TriggerListener] = []
    public private(set) var reports: [FunctionReport] = []

    /// Reads `host.json` and `local.settings.json`.
    /// - Parameters:
    ///   - embeddedBroker: when given, every binding is pointed at it (auth options are dropped,
    ///     since the mock cluster speaks plaintext only) and their topics are created on it with
    ///     `topicPartitions` partitions.
    /// - Throws: ``ConfigurationError`` when either file is malformed: every function depends on them.
    public init(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger, embeddedBroker: EmbeddedBroker? = nil,
                topicPartitions: Int = EmbeddedBroker.defaultPartitions) throws {
        self.scriptRoot = scriptRoot.standardizedFileURL
        self.configuration = try HostConfiguration.load(scriptRoot: scriptRoot)
        self.settings = try AppSettings.load(scriptRoot: scriptRoot, environment: environment)
        var logger = logger
        logger.logLevel = configuration.logLevel
        self.logger = logger
        self.embeddedBroker = embeddedBroker
        self.topicPartitions = topicPartitions
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
                if let warning = library.uncheckedWarning { functionLogger.warning("\(warning)") }
                let listener = try TriggerListener(function: function, library: library, options: configuration.kafka,
                                                   producers: producers, logger: functionLogger)
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

    /// Stops every function (each finishes its invocation in progress, commits and leaves its
    /// group), then flushes the producers.
    public func stop() {
        // Listeners stop in parallel: each may be waiting out an invocation.
        let group = DispatchGroup()
        for listener in listeners {
            DispatchQueue.global().async(group: group) { listener.stop() }
        }
        group.wait()
        listeners.removeAll()
        let undelivered = producers.shutdown()
        if undelivered > 0 {
            logger.error("\(undelivered) output records were still undelivered at shutdown")
        }
    }

    private func point(_ function: FunctionConfiguration, at broker: EmbeddedBroker) throws -> FunctionConfiguration {
        var function = function
        if function.trigger.connection.isSecured || function.outputs.contains(where: \.connection.isSecured) {
            logger.warning("Function '\(function.name)': authentication and TLS options are ignored on the embedded broker (it speaks plaintext only)")
        }
        function.trigger.connection = KafkaConnection(brokerList: broker.bootstrapServers)
        try broker.createTopic(function.trigger.topic, partitions: topicPartitions)
        for index in function.outputs.indices {
            function.outputs[index].connection = KafkaConnection(brokerList: broker.bootstrapServers)
            try broker.createTopic(function.outputs[index].topic, partitions: topicPartitions)
        }
        return function
    }
}
