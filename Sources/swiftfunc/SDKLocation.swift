import Foundation

/// Where the swiftfunc checkout (the package holding the SwiftFunctions SDK) is, so a new
/// function package can depend on it by path without flags.
enum SDKLocation {
    /// Walks up from the running binary's real path (`.build/debug/swiftfunc` in a checkout) to
    /// the first folder whose Package.swift declares the package "swiftfunc".
    static func find() -> URL? {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        while folder.path != "/" {
            if isCheckout(folder) { return folder }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }

    static func isCheckout(_ folder: URL) -> Bool {
        guard let manifest = try? String(contentsOf: folder.appendingPathComponent("Package.swift"), encoding: .utf8) else { return false }
        return manifest.contains(#"name: "swiftfunc""#) && FileManager.default.fileExists(
            atPath: folder.appendingPathComponent("Sources/SwiftFunctions").path)
    }
}
