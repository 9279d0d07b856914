import Foundation
import Logging
import Synchronization

/// Checks every few seconds that each function's consumer can reach its Kafka cluster, and
/// writes what it finds to `.swiftfunc/health.json` in the script root. A function that has not
/// been able to reach its cluster for `warnAfterSeconds` (host.json
/// `swiftfunc.unreachableWarningAfter`) says so in the log, and again at that interval, instead of
/// going quiet; librdkafka keeps reconnecting with backoff, and
/// the function resumes from its committed offsets when the cluster is back.
final class HealthMonitor: @unchecked Sendable {
    static let intervalSeconds: UInt32 = 5
    private let warnAfterSeconds: Double

    private struct FunctionHealth {
        var reachable = true
        var since = Date()
        var lastWarning: Date?
    }

    /// What the last probe found for one function: the health file and the operations
    /// endpoint's readiness both say this.
    struct ClusterHealth: Sendable {
        var reachable: Bool
        var since: Date
        var lastError: String?
    }
    private let latest = Mutex<[String: ClusterHealth]>([:])
    /// The last probe's findings by function name (empty until the first probe ends).
    var clusterHealth: [String: ClusterHealth] { latest.withLock { $0 } }

    private let running = Atomic<Bool>(true)
    private let done = DispatchSemaphore(value: 0)

    init(listeners: [TriggerListener], file: URL, warnAfterSeconds: Double, logger: Logger) {
        self.warnAfterSeconds = warnAfterSeconds
        let thread = Thread { [self] in
            run(listeners: listeners, file: file, logger: logger)
            done.signal()
        }
        thread.name = "swiftfunc-health"
        thread.start()
    }

    private func run(listeners: [TriggerListener], file: URL, logger: Logger) {
        var states = [FunctionHealth](repeating: FunctionHealth(), count: listeners.count)
        while running.load(ordering: .relaxed) {
            var entries: [[String: Any]] = []
            var found: [String: ClusterHealth] = [:]
            for (index, listener) in listeners.enumerated() {
                let reachable = listener.probeCluster(timeoutMs: 2_000)
                let now = Date()
                let name = listener.function.name
                let lastError = listener.lastClientError.withLock { $0 }
                if reachable != states[index].reachable {
                    if reachable {
                        logger.info("Function '\(name)' reaches its Kafka cluster again after \(Int(now.timeIntervalSince(states[index].since))) s", metadata: ["function": "\(name)"])
                    }
                    states[index] = FunctionHealth(reachable: reachable, since: now)
                } else if !reachable, now.timeIntervalSince(states[index].since) >= warnAfterSeconds,
                          now.timeIntervalSince(states[index].lastWarning ?? .distantPast) >= warnAfterSeconds {
                    states[index].lastWarning = now
                    logger.warning("Function '\(name)' has not been able to reach its Kafka cluster (\(listener.function.trigger.connection.brokerList)) for \(Int(now.timeIntervalSince(states[index].since))) s; last error: \(lastError ?? "none"). It keeps retrying and resumes where it left off.", metadata: ["function": "\(name)"])
                }
                found[name] = ClusterHealth(reachable: reachable, since: states[index].since, lastError: lastError)
                var entry: [String: Any] = [
                    "function": name,
                    "state": reachable ? "consuming" : "cluster-unreachable",
                    "since": ISO8601DateFormatter().string(from: states[index].since),
                    "settledMessages": listener.settledCount,
                    "filteredMessages": listener.admission.filteredCount.load(ordering: .relaxed),
                    "skippedBeforeStartFrom": listener.admission.skippedCount.load(ordering: .relaxed),
                ]
                if let lastError { entry["lastError"] = lastError }
                entries.append(entry)
            }
            latest.withLock { $0 = found }
            let report: [String: Any] = ["updated": ISO8601DateFormatter().string(from: Date()), "functions": entries]
            if let data = try? JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]) {
                try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try? data.write(to: file, options: .atomic)
            }
            for _ in 0..<(Self.intervalSeconds * 10) where running.load(ordering: .relaxed) { usleep(100_000) }
        }
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        done.wait()
    }
}
