import Foundation

/// What `swiftfunc start --watch` watches: host.json, local.settings.json, every function's
/// function.json and the library it names. Polled (once a second is plenty for a file a person or
/// `swiftfunc build` just wrote), by identity and modification time, so a library replaced by a
/// new file (`swiftfunc build`, `cp --remove-destination`) counts as changed too.
public struct FunctionAppWatcher: Sendable {
    /// A file's identity and modification time: a new stamp means the file was written or replaced.
    public struct Stamp: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modified: Int64
    }

    public let scriptRoot: URL
    private var stamps: [String: Stamp] = [:]

    public init(scriptRoot: URL) {
        self.scriptRoot = scriptRoot.standardizedFileURL
        stamps = snapshot()
    }

    /// Files that appeared, changed or vanished since the last call, relative to the script root.
    public mutating func changes() -> [String] {
        let now = snapshot()
        let changed = Set(now.keys).union(stamps.keys).filter { now[$0] != stamps[$0] }
        stamps = now
        return changed.sorted().map(relative)
    }

    /// The libraries watched at the last call (every watched file but host.json,
    /// local.settings.json and the function.json files), relative to the script root.
    public var libraries: [String: Stamp] {
        var libraries: [String: Stamp] = [:]
        for (path, stamp) in stamps {
            let name = relative(path)
            if name != "host.json", name != "local.settings.json", !name.hasSuffix("/function.json") { libraries[name] = stamp }
        }
        return libraries
    }

    private func relative(_ path: String) -> String {
        let prefix = scriptRoot.path + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    private func snapshot() -> [String: Stamp] {
        var files = [scriptRoot.appendingPathComponent("host.json"), scriptRoot.appendingPathComponent("local.settings.json")]
        let functions = scriptRoot.appendingPathComponent("functions")
        for directory in (try? FileManager.default.contentsOfDirectory(at: functions, includingPropertiesForKeys: nil)) ?? [] {
            let json = directory.appendingPathComponent("function.json")
            files.append(json)
            // The library function.json names (scriptFile), else the one the host would look for.
            if let data = try? Data(contentsOf: json),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let scriptFile = object["scriptFile"] as? String {
                files.append(scriptFile.hasPrefix("/") ? URL(fileURLWithPath: scriptFile) : directory.appendingPathComponent(scriptFile))
            }
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where entry.hasSuffix(".so") {
                files.append(directory.appendingPathComponent(entry))
            }
        }
        var result: [String: Stamp] = [:]
        for file in files {
            let path = file.standardizedFileURL.path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
            result[path] = Stamp(inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
                                 size: (attributes[.size] as? NSNumber)?.int64Value ?? 0,
                                 modified: Int64(((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1e9))
        }
        return result
    }
}
