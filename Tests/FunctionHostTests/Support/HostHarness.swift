import Foundation
@testable import FunctionHost

/// A host running in the test process against an embedded broker, with its log captured.
final class HostHarness {
    let broker: EmbeddedBroker
    let root: ScriptRoot
    let log = LogCapture()
    private(set) var host: FunctionAppHost?
    private(set) var reports: [FunctionAppHost.FunctionReport] = []
    /// The operations endpoint, once ``serve(address:)`` started it.
    private(set) var server: OperationsServer?

    init(root: ScriptRoot, broker: EmbeddedBroker) {
        _ = TestPaths.recordDirectory
        // A broken transactional producer ends a worker; here it only stops its listener.
        TransactionalOutputs.onFatalError = { what in print("a transactional producer broke, its listener stopped: \(what)") }
        self.root = root
        self.broker = broker
    }

    @discardableResult
    /// - Parameter crashProtectionDirectory: as a supervised worker's (journals, the committer's
    ///   tagged first commit of each assignment); nil: none, as `--no-supervisor`.
    func start(environment: [String: String] = ProcessInfo.processInfo.environment,
               crashProtectionDirectory: URL? = nil) throws -> [FunctionAppHost.FunctionReport] {
        let host = try FunctionAppHost(scriptRoot: root.url, environment: environment, logger: log.logger(),
                                       crashProtectionDirectory: crashProtectionDirectory)
        self.host = host
        reports = try host.start()
        return reports
    }

    /// Starts the host's HTTP endpoint on a port the system picks (suites run side by side).
    @discardableResult
    func serve(address: String = "127.0.0.1") throws -> OperationsServer {
        guard let host else { throw TestSetupError("start the host before its endpoint") }
        let server = OperationsServer(appHost: host, address: address, port: 0, ownThreads: true, logger: log.logger())
        try server.start()
        self.server = server
        return server
    }

    func report(_ name: String) -> FunctionAppHost.FunctionReport? {
        reports.first { $0.name == name }
    }

    /// Waits until the function named `function` was assigned partitions (the mock cluster takes
    /// about 3 s to form a new group), asking its listener rather than reading the log.
    func waitForAssignment(_ function: String, timeout: Double = 30) throws {
        try waitUntil("\(function) to be assigned partitions", timeout: timeout) {
            !(assignedPartitions(function) ?? []).isEmpty
        }
    }

    /// The partitions `function`'s consumer owns now; nil when it is not running.
    func assignedPartitions(_ function: String) -> [Int32]? {
        host?.hostedFunctions.first { $0.report.name == function }?.listener?.operations.assignedPartitions
    }

    func stop() {
        server?.stop()
        server = nil
        host?.stop()
        host = nil
    }

    deinit { stop() }
}
