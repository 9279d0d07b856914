import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The worker's HTTP endpoint (Hummingbird): `/metrics` (Prometheus), `/health/live`,
/// `/health/ready` and Azure's admin routes (`/admin/functions...`). It serves from the process
/// that runs the functions, so it reports what actually runs. Requests are served on
/// SwiftNIO's event loops; nothing here blocks them for long (work for a function's consuming
/// thread is handed to it).
public final class OperationsServer: @unchecked Sendable {
    /// The address clients reach the endpoint at: what the admin key rule looks at, and what
    /// ``url`` shows. Behind a supervisor (``SupervisorEndpoint``) that is the supervisor's
    /// address, while this server listens on loopback.
    public let address: String
    /// The port clients reach (the supervisor's, behind one); ``listeningPort`` is this server's own.
    public private(set) var port = 0
    /// The port this server listens on (the one the system chose when asked for 0).
    public var listeningPort: Int { listener.port }
    public var url: String { "http://\(address.contains(":") ? "[\(address)]" : address):\(port)" }

    let appHost: FunctionAppHost
    let metrics: MetricsPublisher
    private let listener: HTTPListener
    private let publicPort: Int?
    /// Threads of its own for the endpoint's tasks, when asked for (see ``init``); otherwise
    /// they run on Swift's cooperative pool.
    private let executor: ThreadTaskExecutor?

    /// - Parameters:
    ///   - port: 0 lets the system choose one (tests); `swiftfunc start` never passes 0 (it means off there).
    ///   - restarts: what the supervisor recorded before starting this worker (metrics).
    ///   - behindSupervisor: the address and port the supervisor serves clients on: this server
    ///     then listens on `address` and `port` (loopback, port 0) for the supervisor only, and
    ///     applies the admin key rule of the supervisor's address.
    ///   - ownThreads: serve on two threads of its own instead of Swift's cooperative pool. Only
    ///     for a process that blocks the pool (a test process does, in its synchronous waits); the
    ///     worker never does. Not the default because swift-async-algorithms' `merge` (inside
    ///     every ServiceGroup) holds a lock across `withUnsafeThrowingContinuation`, which, in a
    ///     task with an executor preference, consults the task's status under the status lock:
    ///     a group cancelled at that moment (a port in use, under load) deadlocks both threads.
    public init(appHost: FunctionAppHost, address: String, port: Int, restarts: RestartRecord = RestartRecord(),
                behindSupervisor: (address: String, port: Int)? = nil, ownThreads: Bool = false, logger: Logger) {
        executor = ownThreads ? ThreadTaskExecutor(name: "swiftfunc-http", threads: 2) : nil
        self.appHost = appHost
        self.address = behindSupervisor?.address ?? address
        publicPort = behindSupervisor?.port
        metrics = MetricsPublisher(host: appHost, restarts: restarts)
        var logger = logger
        logger.logLevel = max(logger.logLevel, .warning)
        listener = HTTPListener(address: address, port: port, executor: executor, logger: logger)
    }

    /// Binds and starts serving; returns once the port is open.
    /// - Parameter setting: where the port came from, for the error (e.g. "host.json swiftfunc.http.port").
    /// - Throws: ``HTTPListener/StartError`` when the address cannot be bound (a port in use, say).
    public func start(setting: String = "host.json swiftfunc.http.port") throws {
        try listener.start(makeRouter().buildResponder(), setting: setting)
        port = publicPort ?? listener.port
        InvocationStatistics.timesInvocations.store(true, ordering: .relaxed)
    }

    /// Stops serving (requests in progress finish).
    public func stop() {
        listener.stop()
        executor?.shutdown()
    }

    deinit { executor?.shutdown() }

    // MARK: - Routes

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("metrics") { [self] _, _ in
            // Reading the lag asks librdkafka, which may block: off the endpoint's threads.
            let text = await offPool { [metrics] in metrics.scrape() }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("health/live") { [self] _, _ in
            let stalled = stalledFunctions()
            return stalled.isEmpty
                ? json(.ok, ["status": "live"])
                : json(.serviceUnavailable, ["status": "not live", "stalled": stalled])
        }
        router.get("health/ready") { [self] _, _ in
            let functions = readiness()
            let ready = !functions.isEmpty && functions.allSatisfy { $0["ready"] as? Bool == true }
            let body: [String: Any] = ["status": ready ? "ready" : "not ready", "functions": functions]
            return json(ready ? .ok : .serviceUnavailable, body)
        }
        let admin = AdminRoutes(server: self)
        router.get("admin/functions") { request, _ in try await admin.list(request) }
        router.get("admin/functions/:name") { request, context in try await admin.describe(request, context) }
        router.post("admin/functions/:name") { request, context in try await admin.invoke(request, context) }
        router.post("admin/functions/:name/pause") { request, context in try await admin.pause(request, context, true) }
        router.post("admin/functions/:name/resume") { request, context in try await admin.pause(request, context, false) }
        return router
    }

    /// Functions whose consuming thread has not turned for longer than an invocation may take
    /// (functionTimeout, else 5 min) plus 30 s.
    private func stalledFunctions() -> [String] {
        let limit = UInt64(((appHost.configuration.functionTimeoutSeconds ?? 300) + 30) * 1e9)
        let now = monotonicNanoseconds()
        return appHost.hostedFunctions.compactMap { hosted in
            guard let listener = hosted.listener else { return nil }
            let turn = listener.operations.lastTurn
            return turn != 0 && now > turn && now - turn > limit ? hosted.report.name : nil
        }
    }

    /// Per enabled function: ready once the group gave it an assignment and its cluster answers.
    private func readiness() -> [[String: Any]] {
        let clusters = appHost.healthMonitor?.clusterHealth ?? [:]
        return appHost.hostedFunctions.compactMap { hosted -> [String: Any]? in
            let name = hosted.report.name
            switch hosted.report.status {
            case .disabled:
                return nil
            case .failed(let reason):
                return ["name": name, "ready": false, "reason": "not running: \(reason)"]
            case .running:
                guard let listener = hosted.listener else { return nil }
                if let cluster = clusters[name], !cluster.reachable {
                    let brokers = listener.function.trigger.connection.brokerList
                    return ["name": name, "ready": false,
                            "reason": "its Kafka cluster (\(brokers)) is unreachable" + (cluster.lastError.map { "; last error: \($0)" } ?? "")]
                }
                guard listener.operations.hasJoined else {
                    return ["name": name, "ready": false,
                            "reason": "waiting for consumer group \(listener.function.trigger.consumerGroup) to assign partitions of \(listener.function.trigger.topic)"]
                }
                return ["name": name, "ready": true]
            }
        }
    }
}

/// A JSON response.
func json(_ status: HTTPResponse.Status, _ object: Any) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
}
