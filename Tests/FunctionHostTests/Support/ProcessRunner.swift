import Foundation
import FunctionHost

/// Runs a command to completion with `input` on its standard input.
/// - Returns: its standard output and standard error.
/// - Throws: when it exits non-zero, with what it printed.
@discardableResult
func runProcess(_ executable: URL, _ arguments: [String], input: Data = Data(), environment: [String: String]? = nil,
                currentDirectory: URL? = nil) throws -> (stdout: String, stderr: String) {
    // Output goes to files, so a chatty child never blocks on a full pipe.
    let child = try ChildProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory, input: input)
    try waitUntil("\(executable.lastPathComponent) to finish", timeout: 120) { !child.process.isRunning }
    guard child.process.terminationStatus == 0 else {
        throw TestSetupError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) exited with \(child.process.terminationStatus): \(child.stderr)\(child.stdout)")
    }
    return (child.stdout, child.stderr)
}

/// A long-running child process (the `swiftfunc` binary) whose output is collected to files,
/// so a test can wait for a line and send it signals. Started as the host starts its children
/// (``SpawnedProcess``: Foundation's `Process.run()` can crash the test process).
final class ChildProcess: @unchecked Sendable {
    let process: SpawnedProcess
    let stdoutFile: URL
    let stderrFile: URL

    init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil,
         input: Data? = nil) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("child"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        stdoutFile = directory.appendingPathComponent("stdout")
        stderrFile = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let standardInput: FileHandle?
        if let input {
            let inputFile = directory.appendingPathComponent("stdin")
            try input.write(to: inputFile)
            standardInput = try FileHandle(forReadingFrom: inputFile)
        } else {
            standardInput = nil
        }
        let standardOutput = try FileHandle(forWritingTo: stdoutFile)
        let standardError = try FileHandle(forWritingTo: stderrFile)
        defer { [standardInput, standardOutput, standardError].forEach { try? $0?.close() } }
        process = try ProcessEnvironment.locked {
            try SpawnedProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory,
                               standardInput: standardInput.map { .descriptor($0.fileDescriptor) } ?? .nullDevice,
                               standardOutput: .descriptor(standardOutput.fileDescriptor),
                               standardError: .descriptor(standardError.fileDescriptor))
        }
    }

    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    func stop(signal: Int32 = SIGTERM, timeout: Double = 30) throws -> Int32 {
        process.send(signal)
        try waitUntil("\(process.executableURL.lastPathComponent) to exit", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }

    deinit {
        process.send(SIGKILL)
    }
}

/// The processes whose parent is `pid`, from /proc (the worker was spawned from one of the
/// supervisor's threads, so no single thread's `children` file lists it).
func children(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { processState($0)?.parent == pid }
}

/// True once `pid` exited: gone, or a zombie its new parent has not reaped yet.
func hasEnded(_ pid: Int32) -> Bool {
    guard let state = processState(pid) else { return true }
    return state.state == "Z" || state.state == "X"
}

func processState(_ pid: Int32) -> (state: Substring, parent: Int32)? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let nameEnd = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
    guard fields.count > 1, let parent = Int32(fields[1]) else { return nil }
    return (fields[0], parent)
}

/// A supervised host's worker: the child of `supervisor` started with `--worker-state-directory`
/// (the supervisor's `--watch` checks are short-lived children too).
func workerProcess(of supervisor: ChildProcess) -> Int32? {
    children(of: supervisor.process.processIdentifier).first { pid in
        let arguments = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return !hasEnded(pid) && String(decoding: arguments, as: UTF8.self).contains("--worker-state-directory")
    }
}

/// The test process's environment is shared by every test running in parallel: a child started
/// without an environment of its own gets a copy of `environ` while a test may `setenv`/`unsetenv`
/// (the Backup example reads its folder from the environment), and glibc's `environ` can move
/// under the copy. Both go through this lock. (The crash in memcpy inside Foundation's
/// `Process.run()` seen in `make test` was Foundation's own, swift-corelibs-foundation#5472:
/// children start with ``SpawnedProcess`` now.)
enum ProcessEnvironment {
    private static let lock = NSLock()

    static func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func set(_ name: String, _ value: String?) {
        locked {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
    }
}
