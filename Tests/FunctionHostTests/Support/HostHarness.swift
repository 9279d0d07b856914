import Foundation
@testable import FunctionHost

/// A host running in the test process against an embedded broker, with its log captured.
final class HostHarness {
    let broker: EmbeddedBroker
    let root: ScriptRoot
    let log = LogCapture()
    private(set) var host: FunctionAppHost?
    private(set) var reports: [FunctionAppHost.FunctionReport] = []

    init(root: ScriptRoot, broker: EmbeddedBroker) {
        _ = TestPaths.recordDirectory
        self.root = root
        self.broker = broker
    }

    @discardableResult
    func start(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [FunctionAppHost.FunctionReport] {
        let host = try FunctionAppHost(scriptRoot: root.url, environment: environment, logger: log.logger())
        self.host = host
        reports = try host.start()
        return reports
    }

    func report(_ name: String) -> FunctionAppHost.FunctionReport? {
        reports.first { $0.name == name }
    }

    /// Waits until the function named `function` was assigned partitions (the mock cluster takes
    /// about 3 s to form a new group).
    func waitForAssignment(_ function: String, timeout: Double = 30) throws {
        try waitUntil("\(function) to be assigned partitions", timeout: timeout) {
            log.contains("'\(function)' was assigned partitions")
        }
    }

    func stop() {
        host?.stop()
        host = nil
    }

    deinit { stop() }
}
