import Foundation
import Logging

/// `swiftfunc start --watch`: when host.json, local.settings.json, a function.json or a function's
/// library changes, the supervisor checks the new state in a separate process (`swiftfunc start
/// --check`: the worker's own loading, with no consumer) and, when it loads, replaces the worker
/// gracefully (``HostSupervisor/reload()``). A change that does not load — malformed JSON, a
/// missing library or symbol, a signature mismatch — leaves the running worker as it is, and the
/// log says why, naming the file. Libraries are loaded by the new worker process only: a process
/// never unloads a library (see DESIGN: `dlclose` of Swift code is unsafe).
public final class ReloadOnChange: @unchecked Sendable {
    private let supervisor: HostSupervisor
    private let executable: URL
    private let scriptRoot: URL
    private let extraArguments: [String]
    private let logger: Logger

    /// - Parameter extraArguments: what the check shares with the worker (`--broker-override`).
    public init(supervisor: HostSupervisor, executable: URL, scriptRoot: URL, extraArguments: [String], logger: Logger) {
        self.supervisor = supervisor
        self.executable = executable
        self.scriptRoot = scriptRoot
        self.extraArguments = extraArguments
        self.logger = logger
    }

    /// Watches on a thread of its own until the supervisor stops.
    public func start() {
        let thread = Thread { [self] in watch() }
        thread.name = "swiftfunc-watch"
        thread.start()
    }

    private func watch() {
        var watcher = FunctionAppWatcher(scriptRoot: scriptRoot)
        // Functions that do not load now: a change is refused only for failures it brings.
        var failing = check().failing ?? []
        logger.info("Watching host.json, local.settings.json and every function's function.json and library for changes")
        while !supervisor.isStopping {
            sleep(1)
            var changed = watcher.changes()
            guard !changed.isEmpty else { continue }
            // A build writes several files: wait until a poll finds nothing new.
            while true {
                sleep(1)
                let more = watcher.changes()
                if more.isEmpty { break }
                changed += more
            }
            let files = Array(Set(changed)).sorted().joined(separator: ", ")
            let result = check()
            guard let nowFailing = result.failing else {
                logger.error("Not reloading after changes to \(files): \(Self.sentence(result.output)) The running worker goes on with what it loaded; fix it and save again.")
                continue
            }
            let broken = nowFailing.subtracting(failing)
            if !broken.isEmpty {
                let reasons = result.output.split(separator: "\n").filter { line in broken.contains { line.contains("'\($0)'") } }
                logger.error("Not reloading after changes to \(files): \(Self.sentence(reasons.joined(separator: "; "))) The running worker goes on with what it loaded; fix it and save again.")
                continue
            }
            failing = nowFailing
            logger.info("\(files) changed and loads: replacing the worker (it finishes its invocations, commits and leaves its groups first)")
            supervisor.reload()
        }
    }

    private static func sentence(_ text: String) -> String {
        text.hasSuffix(".") ? text : text + "."
    }

    /// Runs `swiftfunc start --check`: the names of functions that do not load, or nil when the
    /// app as a whole cannot (host.json or local.settings.json), with what it printed.
    private func check() -> (failing: Set<String>?, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["start", "--script-root", scriptRoot.path, "--check"] + extraArguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (nil, "could not run the check (\(error)).")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else { return (nil, output) }
        let failing = output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("not loading '") else { return nil }
            return line.dropFirst("not loading '".count).split(separator: "'").first.map(String.init)
        }
        return (Set(failing), output)
    }
}
