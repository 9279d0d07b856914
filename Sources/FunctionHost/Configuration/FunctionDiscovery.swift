import Foundation

/// Finds the function folders under `functions/`: every folder holding a `function.json`.
enum FunctionDiscovery {
    /// - Throws: ``ConfigurationError`` when the script root has no `functions/` folder.
    static func functionDirectories(scriptRoot: URL) throws -> [URL] {
        let functions = scriptRoot.appendingPathComponent("functions")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: functions.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError(file: "functions/", "there is no functions/ folder in \(scriptRoot.path); put each function in functions/NAME/ with a function.json and its library")
        }
        let entries: [URL]
        do {
            entries = try FileManager.default.contentsOfDirectory(at: functions, includingPropertiesForKeys: nil)
        } catch {
            throw ConfigurationError(file: "functions/", "cannot be listed: \(error.localizedDescription)")
        }
        return entries
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("function.json").path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
