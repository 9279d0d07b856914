import Foundation
import Testing
@testable import FunctionHost

/// From an empty folder to an invoked function with nothing but the swiftfunc command:
/// init, new, build, start, produce.
@Suite("Scaffolding", .timeLimit(.minutes(10)))
struct ScaffoldingTests {
    @Test("init, new (ONE string; MANY binary with an output), build, start --embedded-broker, produce: both run")
    func initNewBuildStartProduce() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("scaffold"))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        func swiftfunc(_ arguments: String...) throws -> String {
            try runProcess(TestPaths.swiftfunc, arguments, currentDirectory: root).stdout
        }
        let initialized = try swiftfunc("init")
        #expect(initialized.contains("created  host.json") && initialized.contains("created  local.settings.json"))
        let settings = try String(contentsOf: root.appendingPathComponent("local.settings.json"), encoding: .utf8)
        #expect(settings.contains(#""BrokerList": "127.0.0.1:9092""#))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(".gitignore").path))

        let topic = uniqueName("hello"), copied = uniqueName("copied")
        _ = try swiftfunc("new", "Hello", "--topic", topic)
        _ = try swiftfunc("new", "Copier", "--cardinality", "many", "--data-type", "binary", "--topic", "\(topic)-bytes", "--output", copied)
        let helloJSON = try String(contentsOf: root.appendingPathComponent("functions/Hello/function.json"), encoding: .utf8)
        #expect(helloJSON.contains(#""brokerList": "%BrokerList%""#) && helloJSON.contains(#""cardinality": "ONE""#))
        let manifest = try String(contentsOf: root.appendingPathComponent("functions/Hello/Package.swift"), encoding: .utf8)
        #expect(manifest.contains(#".package(name: "swiftfunc", path: "\#(TestPaths.packageRoot.standardizedFileURL.path)")"#),
                "the SDK was found from the binary's checkout: \(manifest)")
        #expect { try swiftfunc("new", "Hello") } throws: { "\($0)".contains("functions/Hello exists already") }
        #expect { try swiftfunc("new", "9lives") } throws: { "\($0)".contains("must be a Swift identifier") }

        let built = try swiftfunc("build")
        #expect(built.contains("[1/2] Building Copier (debug)...") && built.contains("[2/2] Hello: functions/Hello/libHello.so"))
        #expect(built.contains("Built 2 functions."))
        // What `new` writes speaks ABI version 2 (headers on demand), as the host reads it at load.
        for name in ["Hello", "Copier"] {
            let function = try FunctionConfiguration.load(directory: root.appendingPathComponent("functions/\(name)"), scriptRoot: root,
                                                          settings: AppSettings(environment: ["BrokerList": "127.0.0.1:9092"]))
            #expect(try FunctionLibrary.load(function, scriptRoot: root).abiVersion == .v2, "\(name)")
        }

        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--embedded-broker", "--port", "0"], currentDirectory: root)
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("both functions to be assigned partitions", timeout: 60) {
            host.stderr.contains("'Hello' was assigned partitions") && host.stderr.contains("'Copier' was assigned partitions")
        }
        #expect(!host.stderr.contains("not checked"), "scaffolded functions describe their signature")
        _ = try swiftfunc("produce", topic, "World")
        try waitUntil("Hello to be invoked") { host.stderr.contains("[Hello] Hello got 'World' from \(topic)[") }

        _ = try swiftfunc("produce", "\(topic)-bytes", "raw bytes", "--key", "k")
        let broker = try String(contentsOf: root.appendingPathComponent(".swiftfunc/embedded-broker"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let forwarded = try IndependentClient.consume(broker: broker, topic: copied, partitions: 4, count: 1)
        #expect(forwarded.first?.value == Array("raw bytes".utf8) && forwarded.first?.key == Array("k".utf8))
        #expect(host.stderr.contains("[Copier] Copier got 9 bytes from \(topic)-bytes["))
        #expect(try host.stop(signal: SIGTERM) == 0)
    }
}
