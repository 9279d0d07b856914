import Foundation
@testable import FunctionHost

/// The one way an integration test builds a host in this process: a script root (host.json,
/// each function's function.json, any other files), a host over an embedded broker with its log
/// captured, and, when asked, a crash-protection directory and the HTTP endpoint. Topics are the
/// test's to create on `broker` before; ``HostedFunction`` is the common case built on this.
struct HostedApp {
    /// How far `init` (and ``restarted()``) go before returning.
    enum Start {
        /// Until every function of the host owns partitions (the mock cluster takes about 3 s to
        /// form a new group); a function that is not running is an error.
        case assigned
        /// Right after the host started: for tests that look at the start itself (readiness,
        /// refused functions), consume a backlog from the first fetch, or start several hosts
        /// side by side before waiting with ``waitForAssignment()``.
        case started
    }

    let broker: EmbeddedBroker
    let root: ScriptRoot
    let harness: HostHarness
    /// Journals and the committer's tagged commits, as a supervised worker keeps them; nil
    /// without crash protection (as `--no-supervisor`).
    let stateDirectory: URL?
    /// Where the HTTP endpoint answers (`http://127.0.0.1:PORT`), when `endpointAddress` was given.
    let url: String?
    private let environment: [String: String]
    private let endpointAddress: String?
    private let start: Start

    var log: LogCapture { harness.log }
    /// What the host said of each function when it started, in its order.
    var reports: [FunctionAppHost.FunctionReport] { harness.reports }
    func report(_ name: String) -> FunctionAppHost.FunctionReport? { harness.report(name) }

    /// Writes the script root and starts the host.
    /// - Parameters:
    ///   - broker: the cluster the host's functions name (several hosts may share one).
    ///   - functions: each function's name and function.json (e.g. ``ScriptRoot/recorderFunction``), in order.
    ///   - prepare: writes anything else into the script root before the host starts (a library,
    ///     local.settings.json, a changed function.json).
    ///   - environment: the host's app settings.
    ///   - crashProtection: keep journals in `.swiftfunc/state` of the script root, as a supervised worker does.
    ///   - endpointAddress: serve the HTTP endpoint on this address, on a port the system picks (hosts
    ///     and suites running side by side never share one); nil: no endpoint.
    init(broker: EmbeddedBroker, hostJSON: String = #"{ "version": "2.0" }"#, functions: [(name: String, json: String)] = [],
         prepare: (ScriptRoot) throws -> Void = { _ in }, environment: [String: String] = ProcessInfo.processInfo.environment,
         crashProtection: Bool = false, endpointAddress: String? = nil, start: Start = .assigned) throws {
        let root = try ScriptRoot(hostJSON: hostJSON)
        for function in functions { try root.addFunction(function.name, function.json) }
        try prepare(root)
        var stateDirectory: URL?
        if crashProtection {
            stateDirectory = root.url.appendingPathComponent(".swiftfunc/state")
            try FileManager.default.createDirectory(at: stateDirectory!, withIntermediateDirectories: true)
        }
        try self.init(broker: broker, root: root, stateDirectory: stateDirectory, environment: environment, endpointAddress: endpointAddress, start: start)
    }

    private init(broker: EmbeddedBroker, root: ScriptRoot, stateDirectory: URL?, environment: [String: String],
                 endpointAddress: String?, start: Start) throws {
        self.broker = broker
        self.root = root
        self.stateDirectory = stateDirectory
        self.environment = environment
        self.endpointAddress = endpointAddress
        self.start = start
        let harness = HostHarness(root: root, broker: broker)
        self.harness = harness
        try harness.start(environment: environment, crashProtectionDirectory: stateDirectory)
        url = try endpointAddress.map { "http://127.0.0.1:\(try harness.serve(address: $0).port)" }
        if start == .assigned { try waitForAssignment() }
    }

    /// Stops this host and starts another over the same broker, script root and state directory,
    /// as this one was started, with a log of its own (what it logs is about the second start only).
    func restarted() throws -> HostedApp {
        stop()
        return try HostedApp(broker: broker, root: root, stateDirectory: stateDirectory, environment: environment,
                             endpointAddress: endpointAddress, start: start)
    }

    /// Waits until every function of the host owns partitions, each within
    /// ``HostHarness/waitForAssignment(_:timeout:)``'s deadline; throws for one that is not running.
    func waitForAssignment() throws {
        for report in harness.reports {
            guard report.status == .running else { throw TestSetupError("\(report.name) is not running: \(report.status)") }
            try harness.waitForAssignment(report.name)
        }
    }

    /// Waits until `function` owns partitions (when others of the host need not, or not yet).
    func waitForAssignment(_ function: String) throws { try harness.waitForAssignment(function) }

    func stop() { harness.stop() }
}
