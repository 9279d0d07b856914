import CDispatch
import Foundation
import Glibc
import Logging

/// A worker never outlives its supervisor. The supervisor starts each worker with one end of a
/// connected socket pair (a pipe, in effect) as its standard input and keeps the other end, never
/// writing to it; the kernel closes that end when the supervisor process ends, however it ends
/// (SIGKILL, a crash, the OOM killer), and the worker, blocked reading its end, sees end-of-file
/// at once and exits.
///
/// Why a pipe and not `prctl(PR_SET_PDEATHSIG)`: the worker starts with `posix_spawn`
/// (``SpawnedProcess``), so no code runs between fork and exec; set in the worker's own start-up,
/// the signal would race a supervisor that died before it (a `getppid()` check has to cover that),
/// and it fires when the *thread* that spawned the worker ends, not the process — the supervisor
/// spawns from a thread of its own today, but a thread that ends while the supervisor lives would
/// then kill a healthy worker. A descriptor belongs to the process: it is open before the worker
/// exists (no race) and closes only when the supervisor's last copy of it does.
///
/// Both ends are made close-on-exec atomically with the pair (`SOCK_CLOEXEC`; Glibc's Swift
/// module has no `pipe2`), so no other child the supervisor starts from another thread (a
/// `--check` process) holds its end open; `posix_spawn` duplicates the worker's end onto the
/// worker's descriptor 0, which does not inherit the flag. One pair per worker: a new worker
/// always gets a lifeline whose other end is open.
public final class SupervisorLifeline {
    /// The exit status of a worker that stopped because its supervisor died. Nothing restarts it
    /// (the supervisor is gone); a supervisor that ever saw it would count a crash and restart
    /// with a new lifeline, so it cannot loop.
    public static let supervisorGoneStatus: Int32 = 69

    /// What the worker gets as its standard input (until ``workerStarted()``).
    public private(set) var workerDescriptor: Int32
    private var supervisorDescriptor: Int32

    /// - Throws: ``JournalError`` (the supervision folder's one error) when no pair can be made.
    public init() throws {
        var descriptors: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &descriptors) == 0 else {
            throw JournalError("cannot make the worker's lifeline: \(String(cString: strerror(errno)))")
        }
        workerDescriptor = descriptors[0]
        supervisorDescriptor = descriptors[1]
    }

    /// The worker started: only it holds its end now.
    public func workerStarted() {
        if workerDescriptor >= 0 { close(workerDescriptor) }
        workerDescriptor = -1
    }

    /// The worker exited: the lifeline is not needed any more. Called after the wait, so the
    /// supervisor's end stays open (and referenced) for the worker's whole life.
    public func workerExited() {
        workerStarted()
        if supervisorDescriptor >= 0 { close(supervisorDescriptor) }
        supervisorDescriptor = -1
    }

    deinit {
        workerExited()
    }

    /// In a worker, first thing: ends the process, finishing nothing, once the supervisor that
    /// started it is gone. Messages in flight are not settled, so their offsets are not
    /// committed; the next host delivers them again (at-least-once), and what was settled since
    /// the last commit is in the settlement journals for a host started in the same folder. Not a
    /// graceful stop: with `--embedded-broker` the broker died with the supervisor, and a
    /// commit or a group leave would wait on it.
    ///
    /// Standard input must be the lifeline (a socket); when it is not (the worker was started by
    /// hand), nothing is watched and a warning says so.
    public static func endWorkerWhenSupervisorDies(logger: Logger) {
        let supervisor = getppid()
        var status = stat()
        guard fstat(STDIN_FILENO, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else {
            logger.warning("This worker's standard input is not its supervisor's lifeline (was it started by hand?): it will not stop when its parent (pid \(supervisor)) dies")
            return
        }
        // The worker keeps the lifeline on a descriptor of its own and reads /dev/null as its
        // standard input, so nothing else in the process (a function) can read or close it.
        let lifeline = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard lifeline >= 0, devNull >= 0, dup2(devNull, STDIN_FILENO) == STDIN_FILENO else {
            logger.warning("Cannot watch the supervisor's lifeline (\(String(cString: strerror(errno)))): this worker will not stop when its supervisor (pid \(supervisor)) dies")
            return
        }
        close(devNull)
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(lifeline, &byte, 1)
                if count == 0 { break } // end-of-file: the supervisor's end is closed, so it is gone
                if count < 0 && errno != EINTR {
                    logger.warning("Lost the supervisor's lifeline (\(String(cString: strerror(errno)))): this worker will not stop when its supervisor (pid \(supervisor)) dies")
                    return
                }
            }
            logger.critical("The supervisor (pid \(supervisor)) is gone, so this worker stops now: a worker never outlives its supervisor (a host started again would find it still in its consumer groups). Invocations in progress are abandoned and their messages are delivered again to the next host.")
            _exit(supervisorGoneStatus)
        }
        thread.name = "swiftfunc-lifeline"
        thread.start()
    }
}
