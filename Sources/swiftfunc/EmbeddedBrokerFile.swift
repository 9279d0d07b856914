import Foundation

/// `swiftfunc start --embedded-broker` writes the broker's address to
/// `.swiftfunc/embedded-broker` in the script root so that `swiftfunc produce` run in the same
/// folder finds it without flags.
enum EmbeddedBrokerFile {
    static func url(scriptRoot: URL) -> URL {
        scriptRoot.appendingPathComponent(".swiftfunc/embedded-broker")
    }

    static func write(_ address: String, scriptRoot: URL) {
        let file = url(scriptRoot: scriptRoot)
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? Data((address + "\n").utf8).write(to: file)
    }

    static func read(scriptRoot: URL) -> String? {
        guard let data = try? Data(contentsOf: url(scriptRoot: scriptRoot)) else { return nil }
        let address = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return address.isEmpty ? nil : address
    }

    static func remove(scriptRoot: URL) {
        try? FileManager.default.removeItem(at: url(scriptRoot: scriptRoot))
    }
}
