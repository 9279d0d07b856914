import Foundation
import Logging
import Synchronization

/// Runs the host in a child process and starts it again when it dies: a function that traps or
/// segfaults takes the process down with it, so `swiftfunc start` supervises a worker instead of
/// hosting functions itself. After a crash it counts one crash against every message the
/// worker's journals say was in flight (see ``CrashAccounting``) before restarting, so a message
/// that keeps crashing the host is dead-lettered instead of crash-looping. Each worker holds a
/// ``SupervisorLifeline``: it ends within moments of the supervisor's death, however that came.
public final class HostSupervisor: @unchecked Sendable {
    /// The worker exits with this status when it could not start at all (a configuration error):
    /// starting it again would not help. It is ArgumentParser's status for validation errors.
    public static let configurationErrorStatus: Int32 = 64

    private let executable: URL
    private let arguments: [String]
    private let stateDirectory: URL
    private let logger: Logger
    private let state = Mutex<(stopping: Bool, child: Int32?, reloading: Bool)>((false, nil, false))
    /// What the supervisor exits with, once ``superviseWorkers()`` returned (run as a service).
    public let exitStatus = Mutex<Int32>(0)

    public init(executable: URL, arguments: [String], stateDirectory: URL, logger: Logger) {
        self.executable = executable
        self.arguments = arguments
        self.stateDirectory = stateDirectory
        self.logger = logger
    }

    /// Runs workers until one exits after ``forward(_:)`` (or exits cleanly, or cannot start).
    /// - Returns: the exit status for the supervisor.
    public func superviseWorkers() -> Int32 {
        var quickCrashes = 0
        while true {
            let lifeline: SupervisorLifeline
            let process: SpawnedProcess
            do {
                lifeline = try SupervisorLifeline()
                process = try SpawnedProcess(executable, arguments, standardInput: .descriptor(lifeline.workerDescriptor))
            } catch {
                logger.critical("Could not start the host process \(executable.path): \(error)")
                return 1
            }
            lifeline.workerStarted()
            let startedAt = Date()
            let stopping = state.withLock { state in
                state.child = process.processIdentifier
                return state.stopping
            }
            if stopping { kill(process.processIdentifier, SIGTERM) }
            let termination = process.waitUntilExit()
            lifeline.workerExited()
            state.withLock { $0.child = nil }
            let (status, signaled): (Int32, Bool) = switch termination {
            case .exited(let status): (status, false)
            case .signaled(let signal): (signal, true)
            }
            if state.withLock({ $0.stopping }) { return signaled ? 128 + status : status }
            if state.withLock({ state in defer { state.reloading = false }; return state.reloading }) {
                logger.info("Reloading: the previous worker finished its invocations, committed and left its groups (exit \(status)); starting one with the new configuration and libraries")
                continue
            }
            if !signaled && status == Self.configurationErrorStatus {
                logger.critical("The host process could not start with this configuration (its error is above, naming the file and field); not restarting it. Fix it and start again.")
                return status
            }
            if !signaled && status == 0 { return status }

            let cause = signaled ? "was killed by signal \(status) (\(signalName(status)))"
                : status == FunctionTimeoutWatchdog.exitStatus ? "was stopped by the functionTimeout watchdog" : "exited with status \(status)"
            let inFlight = CrashAccounting.recordCrash(in: stateDirectory)
            RestartRecord.recordRestart(in: stateDirectory, crashedFunctions: inFlight.map(\.function))
            let details = inFlight.isEmpty ? "no invocation was in progress"
                : inFlight.map { "\($0) (crash \($0.crashes) of these messages)" }.joined(separator: "; ")
            quickCrashes = Date().timeIntervalSince(startedAt) < 10 ? quickCrashes + 1 : 0
            let delay = Backoff.workerRestart.delay(afterFailures: quickCrashes).seconds
            logger.critical("The host process \(cause): \(details). Restarting it in \(Int(delay)) s; messages in flight are delivered again, and a message that crashes the host too often goes to its function's dead-letter topic.")
            let restartAt = Date().addingTimeInterval(delay)
            while Date() < restartAt {
                if state.withLock({ $0.stopping }) { return 0 }
                usleep(50_000)
            }
        }
    }

    /// Replaces the worker: it is asked to stop gracefully (finish in flight, commit, leave its
    /// groups), and a new one starts at once with the accepted configuration
    /// (``AcceptedConfiguration``) and the libraries on disk now.
    public func reload() {
        let child = state.withLock { state -> Int32? in
            guard !state.stopping, let child = state.child else { return nil }
            state.reloading = true
            return child
        }
        if let child { kill(child, SIGTERM) }
    }

    /// The running worker's process id; nil while none runs (between a crash and the restart,
    /// during the restart backoff, or once stopped).
    public var workerProcessIdentifier: Int32? { state.withLock { $0.child } }

    /// True once ``forward(_:)`` was called: no more workers start.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Passes `signal` on to the worker and stops restarting it.
    public func forward(_ signal: Int32) {
        let child = state.withLock { state -> Int32? in
            state.stopping = true
            state.reloading = false
            return state.child
        }
        if let child { kill(child, signal) }
    }
}

private func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGSEGV: "SIGSEGV"
    case SIGILL: "SIGILL, a Swift trap"
    case SIGTRAP: "SIGTRAP, a Swift trap"
    case SIGABRT: "SIGABRT"
    case SIGBUS: "SIGBUS"
    case SIGFPE: "SIGFPE"
    case SIGKILL: "SIGKILL"
    case SIGTERM: "SIGTERM"
    default: "signal \(signal)"
    }
}
