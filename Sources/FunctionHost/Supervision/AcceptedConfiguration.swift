import Foundation

/// The configuration the worker accepted last, kept by the supervisor in its state directory
/// (`.swiftfunc/state/configuration/`): a copy of host.json, local.settings.json and every
/// functions/NAME/function.json as they were when accepted, one folder per generation, and a
/// link `current` to the one in force. Every worker reads its configuration through that link
/// (``ConfigurationFiles``), so a worker started after a crash runs what was accepted: a change
/// `--watch` refused stays refused until it is fixed. Each library is kept too, as a hard link
/// (a copy across file systems) in the generation's `libraries/`, listed in `libraries.json`:
/// a worker loads a library from its own path while that is still the file accepted (the same
/// inode), and the kept one only when the file was replaced since (refused, or not checked yet);
/// loading from the library's own path keeps what `$ORIGIN` resolves to in the usual case.
public final class AcceptedConfiguration: @unchecked Sendable {
    /// The files a configuration is made of, by path relative to the script root.
    public typealias Files = [String: Data]

    /// In a generation: the change it brings needs a new worker (host.json, local.settings.json
    /// or a library changed), so the running worker does not reload functions from it.
    static let replacesWorkerMarker = "replaces-worker"
    /// In a generation: each library's path and where its accepted file is kept.
    static let keptLibrariesFile = "libraries.json"

    public let directory: URL
    private let scriptRoot: URL
    private var nextGeneration = 1

    /// The link to the generation in force: what workers are given (`--configuration-snapshot`).
    public var current: URL { directory.appendingPathComponent("current") }

    /// Forgets what an earlier `swiftfunc start` accepted and accepts what is on disk now.
    public init(stateDirectory: URL, scriptRoot: URL) throws {
        directory = stateDirectory.appendingPathComponent("configuration")
        self.scriptRoot = scriptRoot.standardizedFileURL
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try accept(stage(Self.read(scriptRoot: self.scriptRoot), libraries: Array(FunctionAppWatcher(scriptRoot: scriptRoot).libraries.keys)))
    }

    /// The configuration files under `scriptRoot` now (those that exist and can be read).
    public static func read(scriptRoot: URL) -> Files {
        var files: Files = [:]
        for name in ["host.json", "local.settings.json"] {
            files[name] = try? Data(contentsOf: scriptRoot.appendingPathComponent(name))
        }
        let functions = scriptRoot.appendingPathComponent("functions")
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: functions.path)) ?? [] {
            let path = "functions/\(entry)/function.json"
            files[path] = try? Data(contentsOf: scriptRoot.appendingPathComponent(path))
        }
        return files
    }

    /// The files of the generation in force.
    public var accepted: Files {
        Self.read(scriptRoot: current.resolvingSymlinksInPath())
    }

    /// Writes `files` as a new generation, not yet in force (`swiftfunc start --check` reads it),
    /// keeping each of `libraries` as it is on disk now.
    /// - Parameters:
    ///   - libraries: the libraries' paths, relative to the script root or absolute (``FunctionAppWatcher/libraries``).
    ///   - replacesWorker: the change needs a new worker (see ``replacesWorkerMarker``).
    /// - Returns: the generation's folder.
    public func stage(_ files: Files, libraries: [String], replacesWorker: Bool = false) throws -> URL {
        let generation = directory.appendingPathComponent("generation-\(nextGeneration)")
        nextGeneration += 1
        try FileManager.default.createDirectory(at: generation.appendingPathComponent("functions"), withIntermediateDirectories: true)
        for (path, data) in files {
            let url = generation.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        let keptFolder = generation.appendingPathComponent("libraries")
        try FileManager.default.createDirectory(at: keptFolder, withIntermediateDirectories: true)
        var kept: [String: String] = [:]
        for (index, library) in libraries.sorted().enumerated() {
            let source = library.hasPrefix("/") ? URL(fileURLWithPath: library) : scriptRoot.appendingPathComponent(library)
            let copy = keptFolder.appendingPathComponent("\(index).so")
            if link(source.path, copy.path) == 0 || (try? FileManager.default.copyItem(at: source, to: copy)) != nil {
                kept[source.standardizedFileURL.path] = "libraries/\(index).so"
            }
        }
        try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]).write(to: generation.appendingPathComponent(Self.keptLibrariesFile))
        if replacesWorker {
            try Data().write(to: generation.appendingPathComponent(Self.replacesWorkerMarker))
        }
        return generation
    }

    /// Puts `generation` in force (the link is replaced atomically: a worker reads one generation
    /// or the other, never a mix) and removes the generations before the one it replaced (a
    /// worker starting right now may still be reading that one).
    public func accept(_ generation: URL) throws {
        let link = directory.appendingPathComponent("current.new")
        try? FileManager.default.removeItem(at: link)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: generation.lastPathComponent)
        let previous = (try? FileManager.default.destinationOfSymbolicLink(atPath: current.path))
        guard rename(link.path, current.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: current.path])
        }
        let keep: Set<String> = [generation.lastPathComponent, previous ?? "", "current"]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where !keep.contains(entry) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry))
        }
    }

    /// Removes a generation that was not accepted.
    public func discard(_ generation: URL) {
        try? FileManager.default.removeItem(at: generation)
    }
}

/// What differs between two configurations: which files, and what that asks of the worker.
public struct ConfigurationChange: Sendable, Equatable {
    /// Paths relative to the script root, sorted: configuration files whose bytes differ, and
    /// libraries that were replaced.
    public var files: [String]
    /// Functions whose function.json appeared, changed or vanished.
    public var functions: [String]
    /// host.json, local.settings.json or a library changed: only a new worker takes that (a
    /// process never unloads a library; every function depends on host.json).
    public var replacesWorker: Bool

    public var isEmpty: Bool { files.isEmpty }

    /// - Parameter libraries: libraries that changed on disk (``FunctionAppWatcher``), relative to the script root.
    public init(from old: AcceptedConfiguration.Files, to new: AcceptedConfiguration.Files, libraries: [String] = []) {
        let changed = Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }
        files = (changed.union(libraries)).sorted()
        functions = changed.compactMap { path -> String? in
            guard path.hasPrefix("functions/") else { return nil }
            return path.split(separator: "/").dropFirst().first.map(String.init)
        }.sorted()
        replacesWorker = !libraries.isEmpty || changed.contains("host.json") || changed.contains("local.settings.json")
    }
}
