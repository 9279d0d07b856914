import Foundation
import Logging
import Synchronization

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
    let settings: AppSettings
    let logger: Logger
    private let brokerOverride: String?
    private let crashProtectionDirectory: URL?
    let producers: ProducerPool
    private var listeners: [TriggerListener] = []
    private var watchdog: FunctionTimeoutWatchdog?
    private var health: HealthMonitor?
    public private(set) var reports: [FunctionReport] = []
    /// One function as the operations endpoint sees it: its report, and its listener and
    /// library when it runs.
    struct HostedFunction: @unchecked Sendable {
        var report: FunctionReport
        var listener: TriggerListener?
        var library: FunctionLibrary?
    }
    /// What ``start()`` brought up, for the operations endpoint (which serves other threads).
    private let published = Mutex<(functions: [HostedFunction], health: HealthMonitor?)>(([], nil))
    var hostedFunctions: [HostedFunction] { published.withLock { $0.functions } }
    var healthMonitor: HealthMonitor? { published.withLock { $0.health } }

    /// Reads `host.json` and `local.settings.json`.
    /// - Parameters:
    ///   - brokerOverride: when given (the embedded broker's address), every binding is pointed
    ///     at it; authentication options are dropped, since the mock cluster speaks plaintext only.
    ///   - crashProtectionDirectory: where each function keeps its in-flight journal and crash
    ///     counts, when a supervisor restarts this process after a crash (`HostSupervisor`).
    ///     With it, a watchdog enforces `functionTimeout`.
    /// - Throws: ``ConfigurationError`` when either file is malformed: every function depends on them.
    public init(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger, brokerOverride: String? = nil, crashProtectionDirectory: URL? = nil) throws {
        self.scriptRoot = scriptRoot.standardizedFileURL
        self.configuration = try HostConfiguration.load(scriptRoot: scriptRoot)
        self.settings = try AppSettings.load(scriptRoot: scriptRoot, environment: environment)
        var logger = logger
        logger.logLevel = configuration.logLevel
        self.logger = logger
        RDKafkaLog.setHostLogger(logger)
        for warning in configuration.warnings { logger.warning("\(warning)") }
        self.brokerOverride = brokerOverride
        self.crashProtectionDirectory = crashProtectionDirectory
        self.producers = ProducerPool(options: configuration.kafka)
    }

    /// Every topic the functions under `scriptRoot` read or write (triggers, outputs, dead-letter
    /// topics), for creating them on an embedded broker. Functions that cannot be read are skipped.
    public static func topics(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        guard let settings = try? AppSettings.load(scriptRoot: scriptRoot, environment: environment),
              let directories = try? FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot) else { return [] }
        var topics: [String] = []
        for directory in directories {
            guard let function = try? FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings) else { continue }
            topics += [function.trigger.topic, function.deadLetterTopic] + function.outputs.map(\.topic)
        }
        var seen = Set<String>()
        return topics.filter { seen.insert($0).inserted }
    }

    /// Loads and starts every function; returns one report per function folder.
    /// - Throws: ``ConfigurationError`` when there is no `functions/` folder.
    @discardableResult
    public func start() throws -> [FunctionReport] {
        var hosted: [HostedFunction] = []
        for directory in try FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot) {
            let name = directory.lastPathComponent
            var report = FunctionReport(name: name, status: .running)
            var entry = HostedFunction(report: report)
            defer {
                entry.report = report
                hosted.append(entry)
            }
            do {
                var function = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings)
                for warning in function.warnings { logger.warning("\(warning)") }
                if let brokerOverride { function = point(function, at: brokerOverride) } else { try function.checkSupportedByLibrdkafka() }
                report.configuration = function
                if function.disabled {
                    report.status = .disabled
                    reports.append(report)
                    continue
                }
                let library = try FunctionLibrary.load(function, scriptRoot: scriptRoot)
                entry.library = library
                var functionLogger = logger
                functionLogger[metadataKey: "function"] = "\(name)"
                if let warning = library.uncheckedWarning { functionLogger.warning("\(warning)") }
                // The trigger's groupProtocol over host.json's (what that protocol does not take is left out).
                let consumer = configuration.kafka.consumerOptions(for: function)
                for warning in consumer.warnings { functionLogger.warning("\(warning)") }
                let listener = try TriggerListener(
                    function: function, library: library, options: consumer.options,
                    retry: function.retry ?? configuration.retry, producers: producers,
                    crashProtection: crashProtectionDirectory.map {
                        TriggerListener.CrashProtection(directory: $0, maxCrashesPerMessage: configuration.maxCrashesPerMessage)
                    },
                    drainTimeoutSeconds: configuration.shutdownTimeoutSeconds,
                    logger: functionLogger)
                listeners.append(listener)
                entry.listener = listener
            } catch {
                report.status = .failed("\(error)")
                logger.error("Function '\(name)' is not running: \(error)")
            }
            reports.append(report)
        }
        if let timeout = configuration.functionTimeoutSeconds, crashProtectionDirectory != nil {
            let journals = listeners.flatMap { listener in listener.journals.map { (listener.function.name, $0) } }
            watchdog = FunctionTimeoutWatchdog(journals: journals, timeoutSeconds: timeout, logger: logger)
        }
        for listener in listeners { listener.start() }
        health = HealthMonitor(listeners: listeners, file: scriptRoot.appendingPathComponent(".swiftfunc/health.json"),
                               warnAfterSeconds: configuration.unreachableWarningSeconds, logger: logger)
        published.withLock { $0 = (hosted, health) }
        return reports
    }

    /// Loads every function as ``start()`` does (configuration, library, ABI and signature
    /// checks) without consuming: what `swiftfunc start --check` reports before a reload.
    /// - Returns: each function that does not load, with why.
    public func check() throws -> [(name: String, error: String)] {
        var failures: [(name: String, error: String)] = []
        for directory in try FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot) {
            do {
                var function = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings)
                if let brokerOverride { function = point(function, at: brokerOverride) } else { try function.checkSupportedByLibrdkafka() }
                if function.disabled { continue }
                _ = try FunctionLibrary.load(function, scriptRoot: scriptRoot)
            } catch {
                failures.append((directory.lastPathComponent, "\(error)"))
            }
        }
        return failures
    }

    /// Stops every function: each finishes its invocation in progress, commits and leaves its
    /// group, all within `shutdownTimeout`; then the producers are flushed.
    /// - Returns: false when some function did not finish in time (its uncommitted messages
    ///   are delivered again later).
    @discardableResult
    public func stop() -> Bool {
        health?.stop()
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

    private func point(_ function: FunctionConfiguration, at broker: String) -> FunctionConfiguration {
        var function = function
        if function.trigger.connection.isSecured || function.outputs.contains(where: \.connection.isSecured) {
            logger.warning("Function '\(function.name)': authentication and TLS options are ignored on the embedded broker (it speaks plaintext only)")
        }
        function.trigger.connection = KafkaConnection(brokerList: broker)
        for index in function.outputs.indices {
            function.outputs[index].connection = KafkaConnection(brokerList: broker)
        }
        return function
    }
}
