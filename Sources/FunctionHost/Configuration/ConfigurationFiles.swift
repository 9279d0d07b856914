import Foundation

/// Where a host reads its configuration files (host.json, local.settings.json, each
/// functions/NAME/function.json): the script root itself, or a snapshot of them with the same
/// layout — the supervisor's last accepted configuration (``AcceptedConfiguration``), so a worker
/// started after a crash runs what was accepted, not what is on disk now. Only the JSON bytes come
/// from the snapshot: every path inside them (a library, a certificate, a schema) still resolves
/// against the script root's folders, as it would without one.
public struct ConfigurationFiles: Sendable {
    public let scriptRoot: URL
    /// The folder the JSON files are read from (the script root, or a snapshot's generation).
    public let source: URL

    /// - Parameter snapshot: a snapshot folder, or a link to one (``AcceptedConfiguration/current``):
    ///   the link is followed once, here, so every file comes from the same generation.
    public init(scriptRoot: URL, snapshot: URL? = nil) {
        self.scriptRoot = scriptRoot.standardizedFileURL
        source = snapshot.map { $0.resolvingSymlinksInPath().standardizedFileURL } ?? self.scriptRoot
    }

    public var isSnapshot: Bool { source != scriptRoot }
    var hostJSON: URL { source.appendingPathComponent("host.json") }
    var localSettings: URL { source.appendingPathComponent("local.settings.json") }

    /// Where function `name`'s function.json is read.
    func definition(of name: String) -> URL {
        source.appendingPathComponent("functions/\(name)/function.json")
    }

    /// Where the library at `path` is loaded from: `path` itself, unless the snapshot kept the
    /// accepted file of it (``AcceptedConfiguration``) and the file at `path` is another one now
    /// (replaced since: a change `--watch` refused, or has not checked yet); then the kept file.
    /// - Returns: the path to load, and whether it is the kept file.
    func library(_ path: String) -> (path: String, kept: Bool) {
        guard isSnapshot,
              let data = try? Data(contentsOf: source.appendingPathComponent(AcceptedConfiguration.keptLibrariesFile)),
              let kept = (try? JSONSerialization.jsonObject(with: data) as? [String: String])?[path] else { return (path, false) }
        let keptPath = source.appendingPathComponent(kept).path
        let inode = { (file: String) in (try? FileManager.default.attributesOfItem(atPath: file))?[.systemFileNumber] as? NSNumber }
        guard let keptInode = inode(keptPath), inode(path) != keptInode else { return (path, false) }
        return (keptPath, true)
    }

    /// The functions' folders in the script root, for the functions the source holds a
    /// function.json of, in name order.
    /// - Throws: ``ConfigurationError`` when there is no `functions/` folder.
    func functionDirectories() throws -> [URL] {
        // The script root's own folder must exist: its absence is the error to report.
        let onDisk = try FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot)
        guard isSnapshot else { return onDisk }
        return try FunctionDiscovery.functionDirectories(scriptRoot: source).map {
            scriptRoot.appendingPathComponent("functions").appendingPathComponent($0.lastPathComponent)
        }
    }
}
