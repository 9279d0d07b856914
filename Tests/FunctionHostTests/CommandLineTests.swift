import Foundation
import Testing
@testable import FunctionHost

/// The `swiftfunc` binary as a user runs it: separate processes, real signals, TCP in between.
@Suite("Command line", .timeLimit(.minutes(10)))
struct CommandLineTests {
    @Test("broker, start, produce and SIGTERM: records arrive exactly, and offsets are committed on a clean stop")
    func brokerStartProduceStop() throws {
        _ = TestPaths.recordDirectory
        let topic = uniqueName("cli")
        let broker = try ChildProcess(TestPaths.swiftfunc, ["broker", "--partitions", "2", "--topic", topic])
        defer { _ = try? broker.stop() }
        try waitUntil("the broker's address") { broker.stdout.contains("\n") }
        let address = String(broker.stdout.split(separator: "\n")[0])
        #expect(address.hasPrefix("127.0.0.1:"))
        #expect(broker.stderr.contains("keeps only about 5 MB per partition"))

        // The function is dropped in as functions/NAME/libNAME.so, the default scriptFile.
        let function = uniqueName("Cli")
        let root = try ScriptRoot()
        try FileManager.default.createDirectory(at: root.url.appendingPathComponent("functions/\(function)"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try TestPaths.library("Recorder"),
                                         to: root.url.appendingPathComponent("functions/\(function)/lib\(function).so"))
        try root.write("local.settings.json", #"{ "Values": { "BrokerList": "\#(address)" } }"#)
        try root.addFunction(function, #"""
            { "entryPoint": "record_one", "bindings": [ { "type": "kafkaTrigger", "direction": "in", "brokerList": "BrokerList",
              "topic": "\#(topic)", "consumerGroup": "\#(function)", "cardinality": "One", "dataType": "String" } ] }
            """#)
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--port", "0"])
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("the host to be assigned partitions") { host.stderr.contains("was assigned partitions") }
        #expect(host.stdout.contains("\(function)  topic=\(topic) group=\(function) cardinality=ONE dataType=string library=functions/\(function)/lib\(function).so"))

        let produced = try runProcess(TestPaths.swiftfunc, ["produce", topic, "héllo", "--key", "k1", "--header", "trace=abc", "--header", "empty=", "--broker", address])
        #expect(produced.stdout.contains("Delivered to \(topic) partition"))
        try runProcess(TestPaths.swiftfunc, ["produce", topic, "--broker", address, "--partition", "1"], input: Data("line one\nline two\nline three\n".utf8))
        try waitUntil("4 recorded events") { try recordedEvents(function).count >= 4 }

        let events = try recordedEvents(function)
        let first = try #require(events.first { $0.valueText == "héllo" })
        #expect(first.key == Array("k1".utf8))
        #expect(first.headers == [RecordedHeader(name: "trace", value: Array("abc".utf8)), RecordedHeader(name: "empty", value: [])])
        #expect(events.filter { $0.partition == 1 && $0.key == nil }.map(\.valueText) == ["line one", "line two", "line three"])
        try waitUntil("invocation log lines") { host.stderr.contains("Executed '\(function)' partition=\(first.partition) offset=\(first.offset) (Succeeded") }

        #expect(try host.stop(signal: SIGTERM) == 0)
        #expect(host.stdout.contains("Stopped."))
        let committed = try IndependentClient.committed(broker: address, group: function, topic: topic, partitions: 2)
        let expected = Dictionary(grouping: events, by: \.partition).mapValues { $0.map(\.offset).max()! + 1 }
        for (partition, offset) in expected { #expect(committed[partition] == offset, "partition \(partition)") }
    }

    @Test("The README's flow: start --embedded-broker with the Greeter, produce a name, see the greeting")
    func readmeFlow() throws {
        let root = try ScriptRoot()
        try FileManager.default.createDirectory(at: root.url.appendingPathComponent("functions/Greeter"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try TestPaths.library("Greeter"), to: root.url.appendingPathComponent("functions/Greeter/libGreeter.so"))
        try FileManager.default.copyItem(at: TestPaths.packageRoot.appendingPathComponent("functions/Greeter/function.json"),
                                         to: root.url.appendingPathComponent("functions/Greeter/function.json"))
        try FileManager.default.copyItem(at: TestPaths.packageRoot.appendingPathComponent("local.settings.json"),
                                         to: root.url.appendingPathComponent("local.settings.json"))
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--embedded-broker", "--port", "0"], currentDirectory: root.url)
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("the Greeter to be assigned partitions") { host.stderr.contains("'Greeter' was assigned partitions") }
        #expect(host.stdout.contains("keeps only about 5 MB per partition"))

        try runProcess(TestPaths.swiftfunc, ["produce", "greetings", "World"], currentDirectory: root.url)
        try waitUntil("the greeting") { host.stderr.contains("[Greeter] Hello, World!") }
        #expect(try host.stop(signal: SIGINT) == 0)
    }

    @Test("produce without a broker says how to name one")
    func produceWithoutBroker() throws {
        let root = try ScriptRoot()
        #expect {
            try runProcess(TestPaths.swiftfunc, ["produce", "t", "v"], environment: [:], currentDirectory: root.url)
        } throws: { error in
            "\(error)".contains("no broker to send to: pass --broker HOST:PORT")
        }
    }
}
