import Foundation
import Logging

/// `swiftfunc start --watch`: when host.json, local.settings.json, a function.json or a function's
/// library changes, the supervisor copies the configuration files as a new generation of
/// ``AcceptedConfiguration`` and checks it in a separate process (`swiftfunc start --check`: the
/// worker's own loading, with no consumer). Only what changed is reloaded:
/// - nothing, when the files hold the same bytes as the accepted ones (a no-op write);
/// - only the functions whose function.json changed, appeared or vanished, in the running worker
///   (it follows the accepted configuration: ``FunctionAppHost``), the other functions keeping
///   their consumers and partitions;
/// - the whole worker, replaced gracefully (``HostSupervisor/reload()``), when host.json,
///   local.settings.json or a library changed: every function depends on host.json, and a
///   process never unloads a library (see DESIGN: `dlclose` of Swift code is unsafe), so a
///   replaced library needs a new process.
/// A change that does not load — malformed JSON, a missing library or symbol, a signature
/// mismatch — is refused: the generation is discarded, the running worker goes on with what it
/// loaded, a worker restarted after a crash starts from the accepted generation too, and the log
/// says why, naming the file.
public final class ReloadOnChange: @unchecked Sendable {
    private let supervisor: HostSupervisor
    private let configuration: AcceptedConfiguration
    private let executable: URL
    private let scriptRoot: URL
    private let extraArguments: [String]
    private let logger: Logger

    /// - Parameter extraArguments: what the check shares with the worker (`--broker-override`).
    public init(supervisor: HostSupervisor, configuration: AcceptedConfiguration, executable: URL, scriptRoot: URL,
                extraArguments: [String], logger: Logger) {
        self.supervisor = supervisor
        self.configuration = configuration
        self.executable = executable
        self.scriptRoot = scriptRoot.standardizedFileURL
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
        var failing = check(configuration.current).failing ?? []
        // The libraries as they were when the configuration in force was accepted: one written
        // or replaced since (or one that appeared) needs a new worker. One that is no longer
        // named is not a change in itself (its function.json's change is).
        var acceptedLibraries = watcher.libraries
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
            let files = AcceptedConfiguration.read(scriptRoot: scriptRoot)
            let currentLibraries = watcher.libraries
            let libraries = currentLibraries.filter { acceptedLibraries[$0.key] != $0.value }.keys.sorted()
            let change = ConfigurationChange(from: configuration.accepted, to: files, libraries: libraries)
            guard !change.isEmpty else {
                logger.info("\(Set(changed).sorted().joined(separator: ", ")) written with the same content: nothing to reload")
                continue
            }
            let listed = change.files.joined(separator: ", ")
            let generation: URL
            do {
                generation = try configuration.stage(files, libraries: Array(currentLibraries.keys), replacesWorker: change.replacesWorker)
            } catch {
                logger.error("Not reloading after changes to \(listed): the configuration could not be copied to \(configuration.directory.path) (\(error)). The running worker goes on with what it loaded.")
                continue
            }
            let result = check(generation)
            guard let nowFailing = result.failing else {
                configuration.discard(generation)
                logger.error("Not reloading after changes to \(listed): \(Self.sentence(result.output)) The running worker goes on with what it loaded, and so does one restarted after a crash; fix it and save again.")
                continue
            }
            let broken = nowFailing.subtracting(failing)
            if !broken.isEmpty {
                configuration.discard(generation)
                let reasons = result.output.split(separator: "\n").filter { line in broken.contains { line.contains("'\($0)'") } }
                logger.error("Not reloading after changes to \(listed): \(Self.sentence(reasons.joined(separator: "; "))) The running worker goes on with what it loaded, and so does one restarted after a crash; fix it and save again.")
                continue
            }
            do {
                try configuration.accept(generation)
            } catch {
                configuration.discard(generation)
                logger.error("Not reloading after changes to \(listed): the new configuration could not be put in force (\(error)).")
                continue
            }
            failing = nowFailing
            acceptedLibraries = currentLibraries
            if change.replacesWorker {
                let why = libraries.isEmpty ? "host.json and local.settings.json apply to every function" : "a process never unloads a library it loaded"
                logger.info("\(listed) changed and loads: replacing the worker (\(why); it finishes its invocations, commits and leaves its groups first)")
                supervisor.reload()
            } else {
                let names = change.functions.map { "'\($0)'" }.joined(separator: ", ")
                logger.info("\(listed) changed and loads: the worker reloads \(names) only (it finishes that function's invocations, commits and leaves its group first); the other functions keep their consumers and partitions")
            }
        }
    }

    private static func sentence(_ text: String) -> String {
        text.hasSuffix(".") ? text : text + "."
    }

    /// Runs `swiftfunc start --check` on `generation`'s configuration: the names of functions that
    /// do not load, or nil when the app as a whole cannot (host.json or local.settings.json), with
    /// what it printed.
    private func check(_ generation: URL) -> (failing: Set<String>?, output: String) {
        let pipe = Pipe()
        let process: SpawnedProcess
        do {
            let descriptor = pipe.fileHandleForWriting.fileDescriptor
            process = try SpawnedProcess(executable, ["start", "--script-root", scriptRoot.path, "--check",
                                                      "--configuration-snapshot", generation.path] + extraArguments,
                                         standardOutput: .descriptor(descriptor), standardError: .descriptor(descriptor))
        } catch {
            return (nil, "could not run the check (\(error)).")
        }
        // Only the child writes now: the read below ends when it exits.
        try? pipe.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.waitUntilExit() == .exited(status: 0) else { return (nil, output) }
        let failing = output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("not loading '") else { return nil }
            return line.dropFirst("not loading '".count).split(separator: "'").first.map(String.init)
        }
        return (Set(failing), output)
    }
}
