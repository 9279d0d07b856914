import Foundation

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
/// so a test can wait for a line and send it signals.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
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
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        if let input {
            let inputFile = directory.appendingPathComponent("stdin")
            try input.write(to: inputFile)
            process.standardInput = try FileHandle(forReadingFrom: inputFile)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
    }

    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    func stop(signal: Int32 = SIGTERM, timeout: Double = 30) throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        try waitUntil("\(process.executableURL?.lastPathComponent ?? "child") to exit", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
