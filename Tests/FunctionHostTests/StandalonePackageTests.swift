import Foundation
import Testing
@testable import FunctionHost

/// A function written in its own package (depending on the SDK by path), built by SwiftPM
/// outside this package's build, loads and runs when dropped into functions/.
@Suite("Function built outside this package", .timeLimit(.minutes(10)))
struct StandalonePackageTests {
    @Test("Examples/Standalone builds on its own and runs when dropped into functions/")
    func standalonePackageRuns() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("standalone-build"))
        try runProcess(URL(fileURLWithPath: "/usr/bin/env"), [
            "swift", "build", "--package-path", TestPaths.packageRoot.appendingPathComponent("Examples/Standalone").path,
            "--scratch-path", scratch.path,
        ])
        let built = scratch.appendingPathComponent("debug/libStandalone.so")
        #expect(FileManager.default.fileExists(atPath: built.path))

        let broker = try EmbeddedBroker()
        let topic = uniqueName("standalone")
        try broker.createTopic(topic, partitions: 1)
        let hosted = try HostedApp(broker: broker, functions: [("Standalone", #"""
            { "bindings": [ { "type": "kafkaTrigger", "brokerList": "\#(broker.bootstrapServers)", "topic": "\#(topic)", "dataType": "string" } ] }
            """#)], prepare: { root in
            try FileManager.default.copyItem(at: built, to: root.url.appendingPathComponent("functions/Standalone/libStandalone.so"))
        })
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        let placement = try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: topic, value: "from outside")])[0]
        try waitUntil("the standalone function to log") {
            hosted.log.contains("Standalone got 'from outside' from \(topic)[0]@\(placement.offset)")
        }
    }
}
