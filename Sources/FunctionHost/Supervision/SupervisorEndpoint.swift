import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `swiftfunc start`'s HTTP endpoint when a supervisor runs the functions in a worker. The
/// supervisor owns the port, because it is what stays alive while a worker restarts (a crash,
/// the restart backoff of up to 30 s, a `--watch` reload): it forwards every request to the
/// worker's own endpoint (``OperationsServer`` on loopback, at a port the worker reports in the
/// state directory), which answers as it always did — metrics, readiness, the admin routes and
/// their key rule. While no worker answers:
/// - `/health/live` answers 200 itself (`"worker": "restarting"`): the supervisor is alive and
///   starts a new worker, so a liveness probe must not restart the container;
/// - `/health/ready` answers 503 with the reason "worker restarting";
/// - every other route answers 503 saying the worker is restarting.
/// A worker that runs but does not answer (it took the connection and gave no response within
/// the health timeout: hung, stopped, or starved) is not live: `/health/live` and
/// `/health/ready` answer 503 naming its process, other routes 504; the supervisor does not
/// restart it itself (its own stall check would, if it could run), so a failing liveness probe
/// is what restarts the host.
public final class SupervisorEndpoint: @unchecked Sendable {
    /// In the state directory: the running worker's process id and its endpoint's port.
    static let workerEndpointFile = "worker-endpoint"

    private let supervisor: HostSupervisor
    private let stateDirectory: URL
    private let listener: HTTPListener
    /// Since when (monotonic ns) the running worker has given no answer, and which worker that
    /// is; nil while it answers.
    private let silentSince = Mutex<(process: Int32, since: UInt64)?>(nil)

    public var address: String { listener.address }
    public var port: Int { listener.port }

    /// - Parameters:
    ///   - address: where clients reach the host (`--http-host`, host.json `swiftfunc.http.host`).
    ///   - port: its port (`--port`, host.json `swiftfunc.http.port`).
    public init(supervisor: HostSupervisor, stateDirectory: URL, address: String, port: Int, logger: Logger) {
        self.supervisor = supervisor
        self.stateDirectory = stateDirectory
        var logger = logger
        logger.logLevel = max(logger.logLevel, .warning)
        listener = HTTPListener(address: address, port: port, executor: nil, logger: logger)
    }

    /// Binds and starts serving; returns once the port is open (before any worker starts).
    /// - Throws: ``HTTPListener/StartError`` naming the address and `setting` (a port in use, say).
    public func start(setting: String) throws {
        try? FileManager.default.removeItem(at: stateDirectory.appendingPathComponent(Self.workerEndpointFile))
        try listener.start(CallbackResponder<BasicRequestContext> { [self] request, _ in await respond(to: request) }, setting: setting)
    }

    public func stop() { listener.stop() }

    /// Called by the worker once its endpoint listens on `port`.
    public static func recordWorkerPort(_ port: Int, in stateDirectory: URL) {
        let line = "\(getpid()) \(port)\n"
        try? Data(line.utf8).write(to: stateDirectory.appendingPathComponent(workerEndpointFile), options: .atomic)
    }

    /// How long a health probe's request waits for the worker: under the Kubernetes probes'
    /// `timeoutSeconds: 2` (deploy/kubernetes), so the probe gets this endpoint's answer.
    static let healthTimeout: TimeAmount = .milliseconds(1_500)
    /// How long a running worker must have given no answer at all before liveness says it is
    /// not live: one slow answer (a worker starting, a CPU shared with a busy neighbour) is not
    /// a hang; a worker silent this long is (and a probe every 10 s with failureThreshold 3
    /// restarts the container some 20 s later).
    static let silenceBeforeNotLive: UInt64 = 10_000_000_000

    /// The running worker and its endpoint port, once that worker reported it (a report of a
    /// worker that ended is not taken).
    private func workerEndpoint() -> (process: Int32, port: Int)? {
        guard let worker = supervisor.workerProcessIdentifier,
              let text = try? String(contentsOf: stateDirectory.appendingPathComponent(Self.workerEndpointFile), encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, Int32(fields[0]) == worker, let port = Int(fields[1]) else { return nil }
        return (worker, port)
    }

    /// Whether `process` runs: it exists and is not a zombie (a worker just killed, not reaped yet).
    private static func isRunning(_ process: Int32) -> Bool {
        guard kill(process, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(process)/stat", encoding: .utf8),
              let state = stat.split(separator: ")").last?.split(separator: " ").first else { return true }
        return state != "Z" && state != "X"
    }

    private func respond(to request: Request) async -> Response {
        let path = request.uri.path
        let health = path == "/health/live" || path == "/health/ready"
        let body = (try? await request.body.collect(upTo: 16 << 20)) ?? ByteBuffer()
        if let worker = workerEndpoint() {
            // Health answers quickly or not at all, and so does a read (metrics, the admin
            // listing); an admin invocation or a pause (it drains) may take functionTimeout.
            let timeout: TimeAmount = health ? Self.healthTimeout : request.method == .get ? .seconds(10) : .minutes(10)
            do {
                let response = try await WorkerConnection.forward(request, body: body, to: worker.port, timeout: timeout)
                silentSince.withLock { $0 = nil }
                return response
            } catch .noAnswer where supervisor.workerProcessIdentifier == worker.process && Self.isRunning(worker.process) {
                let now = monotonicNanoseconds()
                let since = silentSince.withLock { silent in
                    if silent?.process != worker.process { silent = (worker.process, now &- UInt64(timeout.nanoseconds)) }
                    return silent!.since
                }
                let silentMs = (now &- since) / 1_000_000
                let why = "worker process \(worker.process) runs but gave no answer for \(silentMs) ms (hung, stopped or starved of CPU)"
                switch path {
                case "/health/live":
                    if now &- since < Self.silenceBeforeNotLive {
                        return json(.ok, ["status": "live", "worker": why + "; not live once silent for \(Self.silenceBeforeNotLive / 1_000_000_000) s"])
                    }
                    return json(.serviceUnavailable, ["status": "not live", "reason": why])
                case "/health/ready": return json(.serviceUnavailable, ["status": "not ready", "reason": why])
                default: return json(.gatewayTimeout, ["error": why])
                }
            } catch {
                // Unreachable, or it ended meanwhile: a new worker is on its way.
            }
        }
        let why = supervisor.isStopping ? "the host is stopping" : "worker restarting: the supervisor starts a new worker process (after a crash, with backoff, or a --watch reload)"
        switch path {
        case "/health/live":
            return json(.ok, ["status": "live", "worker": why])
        case "/health/ready":
            return json(.serviceUnavailable, ["status": "not ready", "reason": why])
        default:
            return json(.serviceUnavailable, ["error": "\(why); try again in a few seconds"])
        }
    }
}
