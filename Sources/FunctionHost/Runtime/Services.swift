import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The host's long-lived parts as swift-service-lifecycle services: `swiftfunc start` runs them in
/// one `ServiceGroup`, which turns SIGTERM and SIGINT into a graceful shutdown (services stop in
/// reverse order: the functions first, then the HTTP endpoint that reports on them). Their work
/// is blocking C (librdkafka, the functions themselves), so it runs on threads of its own, never
/// on Swift's cooperative pool.

/// Runs `body` on a thread of its own and waits for it without blocking the cooperative pool.
public func runOnOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}

/// The functions of a started ``FunctionAppHost``: they consume until the group shuts down, then
/// finish what is in flight, commit and leave their groups within `swiftfunc.shutdownTimeout`.
public struct FunctionsService: Service {
    /// Some function did not finish within `swiftfunc.shutdownTimeout`.
    public struct StopTimedOut: Error, CustomStringConvertible {
        public var description: String { "some function did not finish its invocation within swiftfunc.shutdownTimeout" }
    }

    let host: FunctionAppHost
    let onStopping: @Sendable () -> Void

    /// - Parameter onStopping: told when the shutdown begins (the command prints it).
    public init(host: FunctionAppHost, onStopping: @escaping @Sendable () -> Void = {}) {
        self.host = host
        self.onStopping = onStopping
    }

    public func run() async throws {
        // Returns at the shutdown; a cancelled group throws instead, and stops the same way.
        try? await gracefulShutdown()
        onStopping()
        let host = host
        guard await runOnOwnThread("swiftfunc-stop", { host.stop() }) else { throw StopTimedOut() }
    }
}

/// The HTTP endpoint, bound before the functions start (a port in use is a start-up error); it
/// stops after them, so it answers while they drain.
extension OperationsServer: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await runOnOwnThread("swiftfunc-http-stop") { self.stop() }
    }
}

/// Waits for the group's shutdown, nothing else (`swiftfunc broker` runs until SIGINT or SIGTERM).
public struct UntilShutdown: Service {
    public init() {}

    public func run() async throws {
        try? await gracefulShutdown()
    }
}

/// `swiftfunc start`'s supervisor: runs and restarts the worker until it exits; a graceful
/// shutdown (SIGTERM, SIGINT) is passed on to the worker, which then stops cleanly.
extension HostSupervisor: Service {
    public func run() async throws {
        let status = await withGracefulShutdownHandler {
            await runOnOwnThread("swiftfunc-supervisor") { self.superviseWorkers() }
        } onGracefulShutdown: {
            self.forward(SIGTERM)
        }
        exitStatus.withLock { $0 = status }
    }
}

extension ServiceGroup {
    /// A group of `services` that shuts down gracefully on SIGTERM and SIGINT. Its own log lines
    /// (starting, stopping) are kept to warnings and worse.
    public static func host(_ services: [any Service], logger: Logger) -> ServiceGroup {
        var quiet = logger
        quiet.logLevel = .warning
        return ServiceGroup(configuration: ServiceGroupConfiguration(
            // A service that returns (the supervisor once its worker exited) ends the group too.
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: quiet))
    }
}
