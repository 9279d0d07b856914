import Foundation

/// What `swiftfunc start --watch` watches: host.json, local.settings.json, every function's
/// function.json and the library it names. Polled (once a second is plenty for a file a person or
/// `swiftfunc build` just wrote), by identity and modification time, so a library replaced by a
/// new file (`swiftfunc build`, `cp --remove-destination`) counts as changed too.
public struct FunctionAppWatcher: Sendable {
    private struct Stamp: Equatable {
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
        let prefix = scriptRoot.path + "/"
        return changed.sorted().map { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : $0 }
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
