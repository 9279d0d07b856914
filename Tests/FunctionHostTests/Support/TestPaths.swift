import Foundation

/// Where the tests find what `swift build --build-tests` built: the fixture libraries, the
/// example functions and the `swiftfunc` binary sit next to the test bundle.
enum TestPaths {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binDirectory: URL = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // Swift Testing may run from inside the .xctest bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("swiftfunc").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    /// `lib<name>.so` as SwiftPM built it.
    static func library(_ name: String) throws -> URL {
        let url = binDirectory.appendingPathComponent("lib\(name).so")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestSetupError("\(url.path) is missing: run `make test` (it builds every product before testing)")
        }
        return url
    }

    static var swiftfunc: URL { binDirectory.appendingPathComponent("swiftfunc") }
    static var kafkaClient: URL { packageRoot.appendingPathComponent("Tests/Support/kafka_client.py") }

    /// The folder the Recorder fixture writes to (`SWIFTFUNC_RECORD_DIR`), set once per process
    /// before any host starts; each test uses function names of its own inside it.
    static let recordDirectory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftfunc-records-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        setenv("SWIFTFUNC_RECORD_DIR", url.path, 1)
        return url
    }()
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` seconds pass (then throws, naming `what`).
func waitUntil(_ what: String, timeout: Double = 30, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    if try condition() { return }
    throw TestSetupError("timed out after \(Int(timeout)) s waiting for \(what)")
}

/// A unique name for this test's topics, groups and functions.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}
