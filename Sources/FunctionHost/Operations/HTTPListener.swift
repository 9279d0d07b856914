import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Serves one Hummingbird responder on an address and port, in a service group of its own:
/// ``start(_:setting:)`` returns once the port is open, or throws an error naming the address
/// and the setting to change. The worker's ``OperationsServer`` and the supervisor's
/// ``SupervisorEndpoint`` both listen through it.
final class HTTPListener: @unchecked Sendable {
    /// Why the endpoint could not start: names the address and the setting to change.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let address: String
    /// The port it listens on (the one the system chose when asked for 0), once started.
    private(set) var port = 0
    private let requestedPort: Int
    private let logger: Logger
    private let executor: ThreadTaskExecutor?
    private var group: ServiceGroup?
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameter executor: threads of its own for the server's tasks (see ``OperationsServer``'s
    ///   `ownThreads`); nil: Swift's cooperative pool.
    init(address: String, port: Int, executor: ThreadTaskExecutor?, logger: Logger) {
        self.address = address
        requestedPort = port
        self.executor = executor
        self.logger = logger
    }

    /// Binds and starts serving `responder`; returns once the port is open.
    /// - Parameter setting: where the port came from, for the error (e.g. "host.json swiftfunc.http.port").
    /// - Throws: ``StartError`` when the address cannot be bound (a port in use, say).
    func start<Responder: HTTPResponder>(_ responder: Responder, setting: String) throws where Responder.Context == BasicRequestContext {
        let bound = Mutex<Result<Int, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let application = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(address, port: requestedPort), serverName: "swiftfunc"),
            onServerRunning: { channel in
                bound.withLock { $0 = .success(channel.localAddress?.port ?? 0) }
                ready.signal()
            },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [application], logger: logger))
        self.group = group
        let finished = finished
        Task.detached(executorPreference: executor) {
            do {
                try await group.run()
            } catch {
                bound.withLock { if $0 == nil { $0 = .failure(error) } }
                ready.signal()
            }
            finished.signal()
        }
        if ready.wait(timeout: .now() + 30) == .timedOut {
            throw StartError(description: "the HTTP endpoint did not start listening on \(address):\(requestedPort) within 30 s")
        }
        switch bound.withLock({ $0 })! {
        case .success(let port):
            self.port = port
        case .failure(let error):
            self.group = nil
            let inUse = "\(error)".contains("in use") || (error as? IOError)?.errnoCode == EADDRINUSE
            throw StartError(description: inUse
                ? "cannot serve the HTTP endpoint on \(address):\(requestedPort): the port is in use. "
                    + (setting == "--port" ? "Pass another --port, or --port 0 to turn the endpoint off."
                        : "Set another port in \(setting) (or start with --port N), or 0 to turn the endpoint off.")
                : "cannot serve the HTTP endpoint on \(address):\(requestedPort) (\(setting)): \(error)")
        }
    }

    /// Stops serving (requests in progress finish).
    func stop() {
        guard let group else { return }
        self.group = nil
        Task.detached(executorPreference: executor) { await group.triggerGracefulShutdown() }
        _ = finished.wait(timeout: .now() + 10)
    }
}
