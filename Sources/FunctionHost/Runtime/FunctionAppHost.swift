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
    /// Where the configuration files are read: the script root, or the supervisor's snapshot.
    public private(set) var files: ConfigurationFiles
    public let configuration: HostConfiguration
    let settings: AppSettings
    let logger: Logger
    private let brokerOverride: String?
    private let crashProtectionDirectory: URL?
    /// The supervisor's link to the accepted configuration, followed while running (nil: none).
    private let snapshotLink: URL?
    let producers: ProducerPool
    /// The functions' tracers when this worker traces (host.json `swiftfunc.tracing`, `OTEL_*`).
    let tracing: HostTracing?
    /// Functions an operator paused, kept in the supervisor's state directory (nil without one).
    let pauses: OperatorPauses?
    private var listeners: [TriggerListener] = []
    /// Each function's function.json as loaded, to tell which ones a new accepted
    /// configuration changes.
    private var definitions: [String: Data] = [:]
    private let watchdog: FunctionTimeoutWatchdog?
    private var health: HealthMonitor?
    /// Held by ``start()``, ``stop()`` and a reload of functions: one at a time.
    private let lifecycle = NSLock()
    private var stopping = false
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
    ///     With it, a watchdog enforces `functionTimeout`, and operator pauses are kept there.
    ///   - configurationSnapshot: the supervisor's ``AcceptedConfiguration/current``: the
    ///     configuration files are read from it instead of the script root, and the host follows
    ///     it (a function whose function.json changed there is reloaded alone). Nil: the script root.
    /// - Throws: ``ConfigurationError`` when either file is malformed: every function depends on them.
    public init(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger, brokerOverride: String? = nil, crashProtectionDirectory: URL? = nil,
                configurationSnapshot: URL? = nil) throws {
        self.scriptRoot = scriptRoot.standardizedFileURL
        let files = ConfigurationFiles(scriptRoot: scriptRoot, snapshot: configurationSnapshot)
        self.files = files
        self.configuration = try HostConfiguration.load(scriptRoot: scriptRoot, file: files.hostJSON)
        self.settings = try AppSettings.load(scriptRoot: scriptRoot, environment: environment, file: files.localSettings)
        var logger = logger
        logger.logLevel = configuration.logLevel
        self.logger = logger
        RDKafkaLog.setHostLogger(logger)
        for warning in configuration.warnings { logger.warning("\(warning)") }
        self.brokerOverride = brokerOverride
        self.crashProtectionDirectory = crashProtectionDirectory
        self.snapshotLink = configurationSnapshot
        self.pauses = crashProtectionDirectory.map(OperatorPauses.init)
        self.producers = ProducerPool(options: configuration.kafka)
        self.tracing = try HostTracing.make(configuration.tracing, environment: environment,
                                            stateDirectory: crashProtectionDirectory, logger: logger)
        if let timeout = configuration.functionTimeoutSeconds, crashProtectionDirectory != nil {
            watchdog = FunctionTimeoutWatchdog(timeoutSeconds: timeout, logger: logger)
        } else {
            watchdog = nil
        }
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
        lifecycle.lock()
        defer { lifecycle.unlock() }
        var hosted: [HostedFunction] = []
        for directory in try files.functionDirectories() {
            let entry = load(directory)
            hosted.append(entry)
            reports.append(entry.report)
        }
        begin(hosted.compactMap(\.listener))
        published.withLock { $0 = (hosted, health) }
        if let snapshotLink { followAcceptedConfiguration(snapshotLink) }
        return reports
    }

    /// Loads one function (its configuration, library and listener, not started yet); a
    /// function that cannot be loaded comes back with a failed report.
    private func load(_ directory: URL) -> HostedFunction {
        let name = directory.lastPathComponent
        let definition = files.definition(of: name)
        definitions[name] = try? Data(contentsOf: files.isSnapshot ? definition : directory.appendingPathComponent("function.json"))
        var entry = HostedFunction(report: FunctionReport(name: name, status: .running))
        do {
            var function = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings,
                                                          definition: files.isSnapshot ? definition : nil)
            for warning in function.warnings { logger.warning("\(warning)") }
            if let brokerOverride { function = point(function, at: brokerOverride) } else { try function.checkSupportedByLibrdkafka() }
            entry.report.configuration = function
            if function.disabled {
                entry.report.status = .disabled
                return entry
            }
            var functionLogger = logger
            functionLogger[metadataKey: "function"] = "\(name)"
            let library = try FunctionLibrary.load(acceptedLibrary(of: function, logger: functionLogger), scriptRoot: scriptRoot)
            entry.library = library
            if let warning = library.uncheckedWarning { functionLogger.warning("\(warning)") }
            // The trigger's groupProtocol over host.json's (what that protocol does not take is left out).
            let consumer = configuration.kafka.consumerOptions(for: function)
            for warning in consumer.warnings { functionLogger.warning("\(warning)") }
            entry.listener = try TriggerListener(
                function: function, library: library, options: consumer.options,
                retry: function.retry ?? configuration.retry, producers: producers,
                crashProtection: crashProtectionDirectory.map {
                    TriggerListener.CrashProtection(directory: $0, maxCrashesPerMessage: configuration.maxCrashesPerMessage)
                },
                drainTimeoutSeconds: configuration.shutdownTimeoutSeconds,
                tracer: try tracing?.tracer(for: name),
                logger: functionLogger)
        } catch {
            entry.report.status = .failed("\(error)")
            logger.error("Function '\(name)' is not running: \(error)")
        }
        return entry
    }

    /// `function` with the library the configuration accepted: a library replaced on disk since
    /// (a change `--watch` refused, or has not checked yet) is loaded from the kept file.
    private func acceptedLibrary(of function: FunctionConfiguration, logger: Logger) -> FunctionConfiguration {
        let library = files.library(function.libraryPath)
        guard library.kept else { return function }
        logger.warning("\(function.libraryPath) was replaced since the configuration was accepted (a change --watch refused, or has not checked yet): loading the accepted file, kept at \(library.path)")
        var function = function
        function.libraryPath = library.path
        return function
    }

    /// Starts `started` (paused first when an operator paused them: ``OperatorPauses``) and
    /// watches every running listener (watchdog, cluster health).
    private func begin(_ started: [TriggerListener]) {
        let paused = pauses?.names ?? []
        for listener in started {
            if paused.contains(listener.function.name) {
                listener.requestPause(true)
                logger.info("'\(listener.function.name)' starts paused: an operator paused it on this host (POST /admin/functions/\(listener.function.name)/resume resumes it)")
            }
            listener.start()
        }
        listeners += started
        watchdog?.watch(listeners.flatMap { listener in listener.journals.map { (listener.function.name, $0) } })
        health?.stop()
        health = HealthMonitor(listeners: listeners, file: scriptRoot.appendingPathComponent(".swiftfunc/health.json"),
                               warnAfterSeconds: configuration.unreachableWarningSeconds, logger: logger)
    }

    /// Checks the supervisor's accepted configuration once a second; when a new generation only
    /// changes functions (``AcceptedConfiguration/replacesWorkerMarker`` absent), reloads them.
    private func followAcceptedConfiguration(_ link: URL) {
        let thread = Thread { [self] in
            var seen = files.source.lastPathComponent
            while !lifecycle.withLock({ stopping }) {
                sleep(1)
                guard let now = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path), now != seen else { continue }
                seen = now
                let generation = link.deletingLastPathComponent().appendingPathComponent(now)
                // host.json, local.settings.json or a library changed: the supervisor replaces this worker.
                if FileManager.default.fileExists(atPath: generation.appendingPathComponent(AcceptedConfiguration.replacesWorkerMarker).path) { continue }
                reloadFunctions(from: ConfigurationFiles(scriptRoot: scriptRoot, snapshot: generation))
            }
        }
        thread.name = "swiftfunc-follow-configuration"
        thread.start()
    }

    /// Reloads the functions whose function.json in `newFiles` differs from the one loaded (or
    /// that appeared or vanished): each finishes its invocations, commits and leaves its group,
    /// and starts again from the new definition. The other functions are not touched: they keep
    /// their consumers and partitions. Their libraries stay loaded (a library is never unloaded;
    /// one that changed on disk makes the supervisor replace the worker instead).
    func reloadFunctions(from newFiles: ConfigurationFiles) {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        guard !stopping, let directories = try? newFiles.functionDirectories() else { return }
        files = newFiles
        let names = Set(directories.map(\.lastPathComponent))
        let changed = Set(definitions.keys).union(names).filter { name in
            definitions[name] != (try? Data(contentsOf: newFiles.definition(of: name)))
        }
        guard !changed.isEmpty else { return }
        for name in changed.sorted() {
            guard let listener = listeners.first(where: { $0.function.name == name }) else { continue }
            logger.info("Reloading '\(name)' (functions/\(name)/function.json changed): it finishes its invocations, commits and leaves its group first")
            listener.requestStop()
            if !listener.waitUntilStopped(timeout: configuration.shutdownTimeoutSeconds) {
                logger.error("Function '\(name)' did not finish its invocation within the shutdown timeout (\(configuration.shutdownTimeoutSeconds) s); reloading it without it. Its uncommitted messages will be delivered again.")
            }
            listeners.removeAll { $0 === listener }
        }
        var hosted = published.withLock { $0.functions }.filter { !changed.contains($0.report.name) }
        var loaded: [HostedFunction] = []
        for directory in directories where changed.contains(directory.lastPathComponent) {
            loaded.append(load(directory))
        }
        for name in changed where !names.contains(name) {
            definitions[name] = nil
            logger.info("Function '\(name)' was removed (functions/\(name)/function.json): it no longer runs")
        }
        begin(loaded.compactMap(\.listener))
        hosted = (hosted + loaded).sorted { $0.report.name < $1.report.name }
        reports = hosted.map(\.report)
        published.withLock { $0 = (hosted, health) }
        for entry in loaded where entry.report.status == .running {
            logger.info("Reloaded '\(entry.report.name)' from its changed function.json")
        }
    }

    /// Loads every function as ``start()`` does (configuration, library, ABI and signature
    /// checks) without consuming: what `swiftfunc start --check` reports before a reload.
    /// - Returns: each function that does not load, with why.
    public func check() throws -> [(name: String, error: String)] {
        var failures: [(name: String, error: String)] = []
        for directory in try files.functionDirectories() {
            do {
                var function = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings,
                                                              definition: files.isSnapshot ? files.definition(of: directory.lastPathComponent) : nil)
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
        lifecycle.lock()
        defer { lifecycle.unlock() }
        stopping = true
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
        tracing?.shutdown()
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
