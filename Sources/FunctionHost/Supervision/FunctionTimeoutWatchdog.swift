import Foundation
import Glibc
import Logging
import Synchronization

/// Watches every function's invocation in progress. One that runs past `functionTimeout` cannot
/// be interrupted (it runs in-process), so the watchdog marks its journal "timed out" and ends
/// the process; the supervisor counts it like a crash of those messages and restarts the host.
final class FunctionTimeoutWatchdog: @unchecked Sendable {
    /// The exit status of a worker ended by the watchdog.
    static let exitStatus: Int32 = 75

    /// The journals of the functions running now (replaced when functions are reloaded).
    private let journals = Mutex<[(function: String, journal: InvocationJournal)]>([])

    init(timeoutSeconds: Double, logger: Logger) {
        // The watchdog lives as long as the process: the thread may keep it.
        let thread = Thread { [self] in
            let limitMs = Int64(timeoutSeconds * 1000)
            while true {
                usleep(100_000)
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                for (function, journal) in journals.withLock({ $0 }) {
                    guard let started = journal.invocationStartedAtMs, now - started > limitMs else { continue }
                    journal.markTimedOut()
                    logger.critical("Function '\(function)' has run for \(Double(now - started) / 1000) s, past functionTimeout (\(timeoutSeconds) s). A function runs in-process and cannot be interrupted: the host restarts, and the messages in flight are delivered again (dead-lettered after repeated timeouts).")
                    _exit(Self.exitStatus)
                }
            }
        }
        thread.name = "swiftfunc-watchdog"
        thread.start()
    }

    /// Watches `journals` from now on, instead of the ones before.
    func watch(_ journals: [(function: String, journal: InvocationJournal)]) {
        self.journals.withLock { $0 = journals }
    }
}
