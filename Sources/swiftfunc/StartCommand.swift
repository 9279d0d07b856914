import ArgumentParser
import Foundation
import FunctionHost
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the host: consume each function's topic and call the function.",
        discussion: """
            Reads host.json and functions/*/function.json in the script root, loads every function's \
            library and runs until SIGINT or SIGTERM. Then each function finishes the invocation in \
            progress, commits its offsets and leaves its consumer group. The functions run in a \
            worker process that is restarted when a function crashes it.
            """
    )

    @Option(name: .long, help: "The folder holding host.json and functions/ (default: the current folder).")
    var scriptRoot: String = "."

    @Flag(name: .long, help: "Start an in-process Kafka broker (librdkafka's mock cluster) and point every function at it.")
    var embeddedBroker = false

    @Option(name: .long, help: "With --embedded-broker: partitions of each topic it creates.")
    var partitions: Int = EmbeddedBroker.defaultPartitions

    @Flag(name: .long, help: "Host the functions in this process, without a supervisor to restart it after a crash.")
    var noSupervisor = false

    @Option(name: .long, help: "The HTTP endpoint's port (metrics, health, admin); 0 turns it off. Default: host.json swiftfunc.http.port, else 7071.")
    var port: Int?

    @Option(name: .long, help: "The address the HTTP endpoint listens on (0.0.0.0: every interface, as in a container; admin routes then need x-functions-key). Default: host.json swiftfunc.http.host, else 127.0.0.1.")
    var httpHost: String?

    @Flag(name: .long, help: "Reload when host.json, local.settings.json, a function.json or a function's library changes: a new worker replaces the running one gracefully; a change that does not load is refused and logged. Also host.json swiftfunc.watch.")
    var watch = false

    @Flag(name: .long, help: .hidden)
    var check = false

    /// Set by the supervisor: this process is its worker, and standard input is its lifeline.
    @Option(name: .long, help: .hidden)
    var workerStateDirectory: String?

    @Option(name: .long, help: .hidden)
    var brokerOverride: String?

    /// Set by the supervisor: read the configuration files from its accepted snapshot (and follow it).
    @Option(name: .long, help: .hidden)
    var configurationSnapshot: String?

    /// Set by the supervisor: it serves the endpoint's address and port, and forwards to this
    /// worker's endpoint on loopback.
    @Flag(name: .long, help: .hidden)
    var behindSupervisor = false

    func validate() throws {
        guard (1...1_000).contains(partitions) else { throw ValidationError("--partitions must be from 1 to 1000, not \(partitions)") }
        if let port, !(0...65_535).contains(port) { throw ValidationError("--port must be 0 (off) to 65535, not \(port)") }
    }

    func run() async throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        // The log format comes from host.json; a host.json that cannot be read is reported below.
        let format = (try? HostConfiguration.load(scriptRoot: root))?.operations.logFormat ?? .text
        let logger = Logger(label: "swiftfunc") { ConsoleLogHandler(label: $0, format: format) }
        let output = StartOutput(format: format)
        do {
            try await start(root: root, logger: logger, output: output)
        } catch let error where !(error is ExitCode) {
            // Said in the log's format (ArgumentParser would print plain text); exit 1 as it would.
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }

    private func start(root: URL, logger: Logger, output: StartOutput) async throws {
        if check {
            // What a reload would load, without consuming: one plain line per function that does
            // not load, or the error that stops them all (the watching supervisor quotes them).
            let host: FunctionAppHost
            do {
                host = try FunctionAppHost(scriptRoot: root, logger: logger, brokerOverride: brokerOverride,
                                           configurationSnapshot: configurationSnapshot.map { URL(fileURLWithPath: $0) })
                for failure in try host.check() { say("not loading '\(failure.name)': \(failure.error)") }
            } catch let error as ConfigurationError {
                say("\(error)")
                throw ExitCode(HostSupervisor.configurationErrorStatus)
            }
            return
        }
        if let workerStateDirectory {
            // Before anything else: a supervisor that already died is noticed here too.
            SupervisorLifeline.endWorkerWhenSupervisorDies(logger: logger)
            try await host(root: root, logger: logger, output: output, brokerOverride: brokerOverride,
                           crashProtection: URL(fileURLWithPath: workerStateDirectory))
            return
        }
        // A configuration every worker would refuse is refused here, before any worker starts.
        let configuration: HostConfiguration
        do {
            configuration = try HostConfiguration.load(scriptRoot: root)
            _ = try AppSettings.load(scriptRoot: root)
        } catch let error as ConfigurationError {
            throw output.refusal("\(error)", logger: logger)
        }
        var broker: EmbeddedBroker?
        if embeddedBroker {
            let started = try EmbeddedBroker()
            try started.createTopics(FunctionAppHost.topics(scriptRoot: root), partitions: partitions)
            broker = started
            output.say("Embedded broker: \(started.bootstrapServers)", ["bootstrapServers": "\(started.bootstrapServers)"])
            output.say(output.format == .json ? EmbeddedBroker.notice : "  \(EmbeddedBroker.notice)")
            EmbeddedBrokerFile.write(started.bootstrapServers, scriptRoot: root)
        }
        defer { if embeddedBroker { EmbeddedBrokerFile.remove(scriptRoot: root) } }
        if noSupervisor {
            try await host(root: root, logger: logger, output: output, brokerOverride: broker?.bootstrapServers, crashProtection: nil)
            return
        }
        let stateDirectory = root.appendingPathComponent(".swiftfunc/state")
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        // Every worker reads the configuration accepted last, not what is on disk at its start.
        let accepted = try AcceptedConfiguration(stateDirectory: stateDirectory, scriptRoot: root)
        var arguments = ["start", "--script-root", root.path, "--worker-state-directory", stateDirectory.path,
                         "--configuration-snapshot", accepted.current.path]
        if let broker { arguments += ["--broker-override", broker.bootstrapServers] }
        if let port { arguments += ["--port", "\(port)"] }
        if let httpHost { arguments += ["--http-host", httpHost] }
        RestartRecord.reset(in: stateDirectory)
        OperatorPauses.reset(in: stateDirectory)
        let httpPort = port ?? configuration.operations.httpPort
        if httpPort > 0 { arguments.append("--behind-supervisor") }
        let supervisor = HostSupervisor(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(), arguments: arguments,
            stateDirectory: stateDirectory, logger: logger)
        // The supervisor owns the port: it answers liveness while workers restart.
        var endpoint: SupervisorEndpoint?
        if httpPort > 0 {
            let started = SupervisorEndpoint(supervisor: supervisor, stateDirectory: stateDirectory,
                                             address: httpHost ?? configuration.operations.httpHost, port: httpPort, logger: logger)
            try await startEndpoint(output: output, logger: logger) { try started.start(setting: $0) }
            endpoint = started
        }
        defer { endpoint?.stop() }
        if watch || configuration.watch {
            ReloadOnChange(supervisor: supervisor, configuration: accepted,
                           executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
                           scriptRoot: root, extraArguments: broker.map { ["--broker-override", $0.bootstrapServers] } ?? [],
                           logger: logger).start()
        }
        // SIGTERM or SIGINT: the group's graceful shutdown passes it on to the worker.
        try await ServiceGroup.host([supervisor], logger: logger).run()
        let status = supervisor.exitStatus.withLock { $0 }
        if status != 0 { throw ExitCode(status) }
    }

    /// Starts an HTTP endpoint (the supervisor's or the worker's): a port in use is a start-up
    /// error naming the setting (exit 64, which the supervisor does not restart), not a crash.
    /// Starting waits for the bind: on a thread of its own, not Swift's cooperative pool (which
    /// the endpoint's own start-up may need).
    private func startEndpoint(output: StartOutput, logger: Logger,
                               _ start: @escaping @Sendable (_ setting: String) throws -> Void) async throws {
        let setting = port != nil ? "--port" : "host.json swiftfunc.http.port"
        let failure = await runOnOwnThread("swiftfunc-http-start") { () -> String? in
            do {
                try start(setting)
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let failure { throw output.refusal(failure, logger: logger) }
    }

    /// Hosts the functions in this process until SIGINT or SIGTERM.
    private func host(root: URL, logger: Logger, output: StartOutput, brokerOverride: String?, crashProtection: URL?) async throws {
        let host: FunctionAppHost
        do {
            // Before any library loads: functions read their settings from the environment.
            try AppSettings.load(scriptRoot: root).exportLocalValuesToEnvironment()
            host = try FunctionAppHost(scriptRoot: root, logger: logger, brokerOverride: brokerOverride,
                                       crashProtectionDirectory: crashProtection,
                                       configurationSnapshot: configurationSnapshot.map { URL(fileURLWithPath: $0) })
        } catch let error as ConfigurationError {
            throw output.refusal("\(error)", logger: logger)
        }
        // The endpoint binds before any function consumes: a port in use is a configuration error
        // (exit 64, which the supervisor does not restart), not a crash.
        var server: OperationsServer?
        let httpPort = port ?? host.configuration.operations.httpPort
        if httpPort > 0 {
            let publicAddress = httpHost ?? host.configuration.operations.httpHost
            // Behind a supervisor: loopback, a port the system picks, reported to the supervisor.
            let started = behindSupervisor
                ? OperationsServer(appHost: host, address: "127.0.0.1", port: 0, restarts: RestartRecord.read(in: crashProtection),
                                   behindSupervisor: (publicAddress, httpPort), logger: logger)
                : OperationsServer(appHost: host, address: publicAddress, port: httpPort,
                                   restarts: RestartRecord.read(in: crashProtection), logger: logger)
            try await startEndpoint(output: output, logger: logger) { try started.start(setting: $0) }
            if behindSupervisor, let crashProtection { SupervisorEndpoint.recordWorkerPort(started.listeningPort, in: crashProtection) }
            server = started
        }
        defer { server?.stop() }
        let reports: [FunctionAppHost.FunctionReport]
        do {
            reports = try host.start()
        } catch let error as ConfigurationError {
            throw output.refusal("\(error)", logger: logger)
        }
        output.say("swiftfunc \(swiftfuncVersion) host in \(root.path), librdkafka \(librdkafkaVersion)",
                   ["version": "\(swiftfuncVersion)", "librdkafka": "\(librdkafkaVersion)"])
        if let server {
            output.say("HTTP: \(server.url)  (GET /metrics, /health/live, /health/ready, /admin/functions)", ["url": "\(server.url)"])
        }
        for line in Banner.lines(reports, scriptRoot: root) { output.say(line.text, line.fields) }
        guard reports.contains(where: { $0.status == .running }) else {
            throw output.refusal(reports.isEmpty
                ? "no function found: add functions/NAME/function.json and the function's library"
                : "no function could start; fix the errors above", logger: logger)
        }
        if let brokerOverride {
            output.say("Send a message: swiftfunc produce TOPIC VALUE   (finds the embedded broker at \(brokerOverride) through .swiftfunc/embedded-broker)")
        }
        output.say("Running. Press Ctrl+C to stop.")
        // The endpoint first: a group stops its services in reverse order, so it reports while
        // the functions drain.
        let functions = FunctionsService(host: host) {
            output.say("Stopping: finishing invocations in progress, committing offsets, leaving consumer groups...")
        }
        do {
            try await ServiceGroup.host((server.map { [$0] } ?? []) + [functions], logger: logger).run()
        } catch let error as FunctionsService.StopTimedOut {
            logger.error("\(error)")
            throw ExitCode(1)
        }
        output.say("Stopped.")
    }
}

/// The start banner: one line per function, with the same as fields for the JSON format
/// (`function`, `state` as `swiftfunc_function_state` says it, `topic`).
enum Banner {
    static func lines(_ reports: [FunctionAppHost.FunctionReport], scriptRoot: URL) -> [(text: String, fields: Logger.Metadata)] {
        guard !reports.isEmpty else { return [("No functions.", [:])] }
        let width = reports.map(\.name.count).max() ?? 0
        return [("Functions:", [:])] + reports.map { report in
            let name = report.name.padding(toLength: width, withPad: " ", startingAt: 0)
            var fields: Logger.Metadata = ["function": "\(report.name)"]
            if let topic = report.configuration?.trigger.topic { fields["topic"] = "\(topic)" }
            switch report.status {
            case .failed(let reason):
                fields["state"] = "failed-to-load"
                return ("  \(name)  NOT RUNNING: \(reason)", fields)
            case .disabled:
                fields["state"] = "disabled"
                return ("  \(name)  disabled", fields)
            case .running:
                fields["state"] = "running"
                guard let function = report.configuration else { return ("  \(name)", fields) }
                let trigger = function.trigger
                var line = "  \(name)  topic=\(trigger.topic) group=\(trigger.consumerGroup) cardinality=\(trigger.cardinality.rawValue) dataType=\(trigger.dataType.rawValue) library=\(relative(function.libraryPath, to: scriptRoot))"
                if !function.outputs.isEmpty { line += " outputs=\(function.outputs.map(\.topic).joined(separator: ","))" }
                return (line, fields)
            }
        }
    }

    private static func relative(_ path: String, to root: URL) -> String {
        let prefix = root.path + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}
