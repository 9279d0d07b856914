import Foundation

/// Resolves a file path read from a configuration file the way `scriptFile` is: an absolute path
/// as it is, a relative one against `directory` (the function's folder, or the script root for
/// host.json). The file must exist, so a wrong path is an error at load naming the field and the
/// path tried, not a TLS failure minutes later.
/// - Parameter folderName: how messages name `directory` (`functions/NAME/`).
/// - Throws: ``ConfigurationError`` when nothing is at the resolved path.
func resolvePath(_ value: String, against directory: URL, folderName: String, file: String, field: String) throws -> String {
    let relative = !value.hasPrefix("/")
    let path = (relative ? directory.appendingPathComponent(value) : URL(fileURLWithPath: value)).standardizedFileURL.path
    guard FileManager.default.fileExists(atPath: path) else {
        throw ConfigurationError(file: file, field: field,
            "'\(path)' does not exist" + (relative ? " (a relative path is resolved against \(folderName))" : ""))
    }
    return path
}
