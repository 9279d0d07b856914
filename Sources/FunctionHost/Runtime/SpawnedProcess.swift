import CSpawn
import Foundation
import Glibc
import Synchronization

/// A child process started with `posix_spawn`, the one way the host (and its tests) start one.
///
/// Why not Foundation's `Process`: on Linux, `Process.run()` in Swift 6.3.1's Foundation can
/// crash the process that calls it. To find which descriptors to close in the child it copies
/// every `/proc/self/fd` entry as a whole 256-byte `dirent` name, reading past the end of glibc's
/// buffer when an entry ends at a page boundary (swiftlang/swift-corelibs-foundation#5472, fixed
/// after 6.3.1). Seen here as a SIGSEGV in `memcpy` inside `Process.run()`, about once in a few
/// full test runs. The supervisor must never crash while it starts a worker; here the child
/// closes its inherited descriptors itself (`posix_spawn_file_actions_addclosefrom_np`).
public final class SpawnedProcess: Sendable {
    /// Where a standard stream of the child goes.
    public enum Stream: Sendable {
        /// The same file as ours.
        case inherit
        /// `/dev/null`.
        case nullDevice
        /// This descriptor of ours (duplicated; the caller still owns and closes it).
        case descriptor(Int32)
    }

    /// How a child ended.
    public enum Termination: Sendable, Equatable {
        case exited(status: Int32)
        case signaled(signal: Int32)
    }

    /// Why a child did not start.
    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    public let processIdentifier: Int32
    public let executableURL: URL
    private let termination = Mutex<Termination?>(nil)

    /// Starts `executable` with `arguments`.
    /// - Parameters:
    ///   - environment: the child's whole environment; nil: ours.
    ///   - currentDirectory: where the child starts; nil: our current directory.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil,
                standardInput: Stream = .inherit, standardOutput: Stream = .inherit, standardError: Stream = .inherit) throws {
        executableURL = executable
        let nullDevice = [standardInput, standardOutput, standardError].contains { if case .nullDevice = $0 { true } else { false } }
            ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1
        defer { if nullDevice >= 0 { close(nullDevice) } }
        func descriptor(_ stream: Stream) -> Int32 {
            switch stream {
            case .inherit: -1
            case .nullDevice: nullDevice
            case .descriptor(let descriptor): descriptor
            }
        }
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { argvBuffer in
            func spawn(_ envpPointer: UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
                sf_spawn(&pid, executable.path, argvBuffer.baseAddress, envpPointer ?? UnsafePointer(environ),
                         currentDirectory?.path, descriptor(standardInput), descriptor(standardOutput), descriptor(standardError))
            }
            guard let envp else { return spawn(nil) }
            return envp.withUnsafeBufferPointer { spawn($0.baseAddress) }
        }
        guard result == 0 else {
            throw SpawnError(description: "cannot start \(executable.path): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
    }

    /// How it ended; nil while it runs. Reaps it once it has ended.
    public var exitState: Termination? {
        termination.withLock { ended in
            if ended == nil {
                var status: Int32 = 0
                if waitpid(processIdentifier, &status, WNOHANG) == processIdentifier { ended = Self.termination(status) }
            }
            return ended
        }
    }

    public var isRunning: Bool { exitState == nil }

    /// Its exit status, or the signal that ended it (as Foundation's `Process` reports it); -1
    /// while it runs.
    public var terminationStatus: Int32 {
        switch exitState {
        case .exited(let status): status
        case .signaled(let signal): signal
        case nil: -1
        }
    }

    /// Blocks the calling thread until the child ends; reaps it.
    @discardableResult
    public func waitUntilExit() -> Termination {
        while true {
            if let ended = termination.withLock({ $0 }) { return ended }
            var status: Int32 = 0
            let waited = waitpid(processIdentifier, &status, 0)
            if waited == processIdentifier {
                let ended = Self.termination(status)
                termination.withLock { $0 = ended }
                return ended
            }
            // EINTR: wait again. ECHILD: `exitState` reaped it on another thread meanwhile and
            // recorded it under the lock (checked at the top); a short pause before looking again.
            if waited == -1 && errno != EINTR { usleep(1_000) }
        }
    }

    /// Sends `signal`, unless the child has already ended and was reaped (its number could
    /// belong to another process by now).
    public func send(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// `waitpid`'s status word, decoded (Swift does not import the `W...` macros).
    private static func termination(_ status: Int32) -> Termination {
        status & 0x7f == 0 ? .exited(status: (status >> 8) & 0xff) : .signaled(signal: status & 0x7f)
    }
}
