import FunctionABI
import Foundation
import Testing
@testable import FunctionHost

/// Every example function, run the way the README says it runs.
@Suite("Example functions", .timeLimit(.minutes(10)))
struct ExampleFunctionTests {
    /// Puts the example `name` into a script root: its functions/NAME/function.json from this
    /// repository, `library` copied in as the default libNAME.so, and BrokerList pointing at `broker`.
    private func example(_ name: String, library: URL, broker: EmbeddedBroker) -> (ScriptRoot) throws -> Void {
        { root in
            let folder = root.url.appendingPathComponent("functions/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: TestPaths.packageRoot.appendingPathComponent("functions/\(name)/function.json"),
                                             to: folder.appendingPathComponent("function.json"))
            try FileManager.default.copyItem(at: library, to: folder.appendingPathComponent("lib\(name).so"))
            try root.write("local.settings.json", #"{ "Values": { "BrokerList": "\#(broker.bootstrapServers)" } }"#)
        }
    }

    @Test("Greeter: its whole source is at most 15 lines, and it greets")
    func greeter() throws {
        let source = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Examples/Greeter/Greeter.swift"), encoding: .utf8)
        #expect(source.split(separator: "\n", omittingEmptySubsequences: false).count <= 15)
        let broker = try EmbeddedBroker()
        try broker.createTopic("greetings", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("Greeter", library: try TestPaths.library("Greeter"), broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: "greetings", value: "Swift")])
        try waitUntil("the greeting") { hosted.log.contains("info Hello, Swift!", "function=Greeter", "invocation=") }
    }

    @Test("CGreeter: plain C on ABI version 2, built with cc -shared, runs like any other function and reads a header")
    func cGreeter() throws {
        let library = try CCompiler.sharedLibrary([TestPaths.packageRoot.appendingPathComponent("Examples/CGreeter/greeter.c")], named: "CGreeter")
        let broker = try EmbeddedBroker()
        try broker.createTopic("c-greetings", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("CGreeter", library: library, broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        #expect(!hosted.log.contains("not checked"), "the C library describes its signature")
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: "c-greetings", value: "World"),
            OutgoingMessage(topic: "c-greetings", key: nil, value: nil),
            OutgoingMessage(topic: "c-greetings", value: Array("Header".utf8), headers: [("other", nil), ("greeting", Array("Bonjour".utf8))]),
        ])
        try waitUntil("the three greetings") {
            hosted.log.contains("Hello from C, World!", "function=CGreeter") && hosted.log.contains("Hello from C, nobody!")
                && hosted.log.contains("Bonjour from C, Header!")
        }
    }

    @Test("BatchTotals: JSON amounts summed per key across batches; a value without an amount is a failed item")
    func batchTotals() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("amounts", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("BatchTotals", library: try TestPaths.library("BatchTotals"), broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        let values = [("apples", #"{"amount": 1}"#), ("pears", #"{"amount":2,"note":"x"}"#), ("apples", #"{ "amount" : 3.5 }"#),
                      ("apples", "not json")]
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, values.map { OutgoingMessage(topic: "amounts", key: $0.0, value: $0.1) })
        try waitUntil("the bad item to be reported") { hosted.log.contains("value has no number \"amount\": not json") }
        var totals: [String: Double] = [:]
        for line in hosted.log.lines where line.contains("batch of ") {
            let summary = line.split(separator: ":", maxSplits: 1)[1].split(separator: " ")
            for pair in summary where pair.contains("=") && !pair.hasPrefix("function=") && !pair.hasPrefix("invocation=") {
                let parts = pair.split(separator: "=")
                totals[String(parts[0]), default: 0] += Double(parts[1]) ?? 0
            }
        }
        #expect(totals["apples"] ?? 0 >= 4.5 && totals["pears"] ?? 0 >= 2, "\(totals)")
    }

    @Test("Router: forwards with the key to the output topic and logs where each record landed")
    func router() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("orders", partitions: 2)
        try broker.createTopic("orders-routed", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("Router", library: try TestPaths.library("Router"), broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: "orders", key: "order-7", value: "apple pie")])
        let routed = try IndependentClient.consume(broker: broker.bootstrapServers, topic: "orders-routed", partitions: 1, count: 1)
        let record = try #require(routed.first)
        #expect(record.key == Array("order-7".utf8) && record.value == Array("APPLE PIE".utf8))
        #expect(record.headers == [RecordedHeader(name: "routed-from", value: Array("orders".utf8))])
        try waitUntil("the delivery log line") {
            hosted.log.contains("routed 'APPLE PIE' to orders-routed [\(record.placement.partition)] @ \(record.placement.offset)")
        }
    }

    @Test("Backup: files per topic, partition and window; run returns SF_PENDING, run_flush syncs; through the host, offsets are committed after the flush")
    func backup() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("backup"))
        ProcessEnvironment.set("BACKUP_DIRECTORY", directory.path)
        ProcessEnvironment.set("BACKUP_WINDOW_SECONDS", "60")
        let call = try DirectCall(library: try TestPaths.library("Backup").path, functionName: "Backup")
        #expect(try call.signature("run") == "trigger=many outputs=0")
        let minute: Int64 = 1_700_000_040_000 // a window start: a whole minute
        let events = SyntheticEvents([
            SyntheticRecord(topic: "src", partition: 0, offset: 1, timestamp: minute + 1_000, value: Array("first".utf8)),
            SyntheticRecord(topic: "src", partition: 1, offset: 9, timestamp: minute + 2_000, value: Array("other partition".utf8)),
            SyntheticRecord(topic: "src", partition: 0, offset: 2, timestamp: minute + 61_000, value: Array("next window".utf8)),
            SyntheticRecord(topic: "src", partition: 0, offset: 3, timestamp: minute + 59_999, value: Array("late, same first window".utf8)),
        ])
        #expect(try call.callMany("run", events.events, count: events.count) == SF_PENDING)
        #expect(try call.flush("run") == SF_OK)
        func file(_ partition: Int, _ start: Int64) throws -> String {
            try String(contentsOf: directory.appendingPathComponent("ckafka-backup/src/\(partition)/\(start / 1000).log"), encoding: .utf8)
        }
        #expect(try file(0, minute) == "first\nlate, same first window\n")
        #expect(try file(0, minute + 60_000) == "next window\n")
        #expect(try file(1, minute) == "other partition\n")

        // Windows that ended were closed by the flush: the next record of that window reopens
        // (appends to) its file rather than writing to a stale descriptor.
        let again = SyntheticEvents([SyntheticRecord(topic: "src", partition: 0, offset: 4, timestamp: minute + 5, value: Array("reopened".utf8))])
        #expect(try call.callMany("run", again.events, count: 1) == SF_PENDING)
        #expect(try call.flush("run") == SF_OK)
        #expect(try file(0, minute) == "first\nlate, same first window\nreopened\n")

        ProcessEnvironment.set("BACKUP_DIRECTORY", nil)
        #expect(try call.callMany("run", again.events, count: 1) == SF_ERROR)
        #expect(call.log.contains("error BACKUP_DIRECTORY is not set"))

        // Through the host: offsets are committed only after run_flush made the files durable.
        let hosted = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("backup-hosted"))
        ProcessEnvironment.set("BACKUP_DIRECTORY", hosted.path)
        defer { ProcessEnvironment.set("BACKUP_DIRECTORY", nil) }
        let broker = try EmbeddedBroker()
        try broker.createTopic("backup-source", partitions: 2)
        let backupExample = example("Backup", library: try TestPaths.library("Backup"), broker: broker)
        let hostedBackup = try HostedApp(broker: broker, prepare: { root in
            try backupExample(root)
            let functionJSON = root.url.appendingPathComponent("functions/Backup/function.json")
            let enabled = try String(contentsOf: functionJSON, encoding: .utf8)
                .replacingOccurrences(of: #""disabled": true,"#, with: #""flushIntervalSeconds": 1,"#)
            try Data(enabled.utf8).write(to: functionJSON)
        })
        defer { hostedBackup.stop() }
        #expect(hostedBackup.reports.map(\.status) == [.running])
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: "backup-source", key: nil, value: Array("a".utf8), partition: 0, timestamp: minute),
            OutgoingMessage(topic: "backup-source", key: nil, value: Array("b".utf8), partition: 0, timestamp: minute + 1),
            OutgoingMessage(topic: "backup-source", key: nil, value: Array("c".utf8), partition: 1, timestamp: minute + 2),
        ])
        try waitUntil("the group to commit past every record, after a flush", timeout: 30) {
            let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: "backup", topic: "backup-source", partitions: 2)
            return committed[0] == placements[1].offset + 1 && committed[1] == placements[2].offset + 1
        }
        let hostedFile = hosted.appendingPathComponent("ckafka-backup/backup-source/0/\(minute / 1000).log")
        #expect(try String(contentsOf: hostedFile, encoding: .utf8) == "a\nb\n")
    }

    @Test("AvroOrders: `swiftfunc produce --avro-schema` sends Confluent-framed Avro; the function gets the order as JSON")
    func avroOrders() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("avro-orders", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("AvroOrders", library: try TestPaths.library("AvroOrders"), broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        let schema = TestPaths.packageRoot.appendingPathComponent("functions/AvroOrders/order.avsc").path
        let order = #"{"id": 7, "customer": "Cy", "items": ["tea", "cake"], "total": 12.5, "note": "window seat"}"#
        let sent = try runProcess(TestPaths.swiftfunc, ["produce", "avro-orders", order, "--avro-schema", schema, "--broker", broker.bootstrapServers])
        #expect(sent.stdout.contains("Delivered to avro-orders partition 0 offset 0"))
        try waitUntil("the order to be logged") { hosted.log.contains("Order 7 from Cy: 2 items, total 12.5 (window seat)", "function=AvroOrders") }
        let record = try #require(try IndependentClient.consume(broker: broker.bootstrapServers, topic: "avro-orders", partitions: 1, count: 1).first?.value)
        // Magic byte, schema id 0 (no registry), then Avro: id 7 as the zigzag varint 14, "Cy" ...
        #expect(Array(record.prefix(9)) == [0, 0, 0, 0, 0, 14, 4, 0x43, 0x79])
        do {
            _ = try runProcess(TestPaths.swiftfunc, ["produce", "avro-orders", #"{"id": "seven"}"#, "--avro-schema", schema, "--broker", broker.bootstrapServers])
            Issue.record("a value that does not fit the schema was sent")
        } catch {
            #expect("\(error)".contains("field 'id'"))
        }
    }

    @Test("ProtobufOrders: `swiftfunc produce --protobuf-schema` sends Confluent-framed Protobuf; the function gets the order as proto3 JSON")
    func protobufOrders() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("protobuf-orders", partitions: 1)
        let hosted = try HostedApp(broker: broker, prepare: example("ProtobufOrders", library: try TestPaths.library("ProtobufOrders"), broker: broker))
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])
        let schema = TestPaths.packageRoot.appendingPathComponent("functions/ProtobufOrders/order.proto").path
        let order = #"{"id": 7, "customer": "Cy", "items": ["tea", "cake"], "total": 12.5, "placed_at": "2026-12-07T09:30:00Z"}"#
        let sent = try runProcess(TestPaths.swiftfunc, ["produce", "protobuf-orders", order, "--protobuf-schema", schema, "--message", "shop.Order", "--broker", broker.bootstrapServers])
        #expect(sent.stdout.contains("Delivered to protobuf-orders partition 0 offset 0"))
        try waitUntil("the order to be logged") { hosted.log.contains("Order 7 from Cy: 2 items, total 12.5 placed 2026-12-07T09:30:00Z", "function=ProtobufOrders") }
        let record = try #require(try IndependentClient.consume(broker: broker.bootstrapServers, topic: "protobuf-orders", partitions: 1, count: 1).first?.value)
        // Magic byte, schema id 0 (no registry), message index byte 0 (the first message), then
        // Protobuf: field 1 (id) varint 7, field 2 (customer) "Cy" ...
        #expect(Array(record.prefix(10)) == [0, 0, 0, 0, 0, 0, 0x08, 7, 0x12, 2])
        do {
            _ = try runProcess(TestPaths.swiftfunc, ["produce", "protobuf-orders", #"{"id": "seven"}"#, "--protobuf-schema", schema, "--broker", broker.bootstrapServers])
            Issue.record("a value that does not fit the schema was sent")
        } catch {
            #expect("\(error)".contains("(id): invalid value"))
        }
    }

    @Test("AWSPort and TencentPort through the host: records produced to their topics arrive as their platform's JSON document")
    func portedFunctionsThroughTheHost() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("aws-orders", partitions: 2)
        try broker.createTopic("ckafka-messages", partitions: 2)
        // Two hosts on one broker, started side by side before either waits for its group.
        let aws = try HostedApp(broker: broker, prepare: example("AWSPort", library: try TestPaths.library("AWSPort"), broker: broker), start: .started)
        defer { aws.stop() }
        let tencent = try HostedApp(broker: broker, prepare: example("TencentPort", library: try TestPaths.library("TencentPort"), broker: broker), start: .started)
        defer { tencent.stop() }
        #expect(aws.reports.map(\.status) == [.running])
        #expect(tencent.reports.map(\.status) == [.running])
        try aws.waitForAssignment("AWSPort")
        try tencent.waitForAssignment("TencentPort")
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: "aws-orders", key: "order-1", value: #"{"total":3}"#, partition: 1),
            OutgoingMessage(topic: "ckafka-messages", key: "m-1", value: "hello ckafka", partition: 0),
        ])
        try waitUntil("the AWS-shaped record") {
            aws.log.contains(#"SelfManagedKafka aws-orders-1@\#(placements[0].offset) key=order-1: {"total":3}"#)
        }
        try waitUntil("the Tencent-shaped record") {
            tencent.log.contains("ckafka ckafka-messages[0]@\(placements[1].offset) key=m-1: hello ckafka")
        }
    }

    @Test("AWSPort and TencentPort: ported handlers parse the documents of their eventFormat, called directly")
    func portedFunctions() throws {
        let events = SyntheticEvents([
            SyntheticRecord(topic: "orders", partition: 0, offset: 15, timestamp: 1_545_084_650_987, key: Array("recordKey".utf8), value: Array(#"{"total":3}"#.utf8)),
            SyntheticRecord(topic: "orders", partition: 1, offset: 4, timestamp: 1_545_084_650_988, key: nil, value: Array("plain".utf8)),
        ])
        let aws = try DirectCall(library: try TestPaths.library("AWSPort").path, functionName: "AWSPort")
        #expect(try aws.signature("run") == "trigger=document outputs=0")
        let awsDocument = EventDocumentBuilder(format: .aws, cardinality: .many, bootstrapServers: "127.0.0.1:9092")
        #expect(try aws.callOne("run", awsDocument.build(events.events, count: 2)) == SF_OK)
        #expect(aws.log.contains(#"SelfManagedKafka orders-0@15 key=recordKey: {"total":3}"#))
        #expect(aws.log.contains("SelfManagedKafka orders-1@4 key=-: plain"))

        let tencent = try DirectCall(library: try TestPaths.library("TencentPort").path, functionName: "TencentPort")
        #expect(try tencent.signature("run") == "trigger=document outputs=0")
        let tencentDocument = EventDocumentBuilder(format: .tencent, cardinality: .many, bootstrapServers: "unused:1")
        #expect(try tencent.callOne("run", tencentDocument.build(events.events, count: 2)) == SF_OK)
        #expect(tencent.log.contains(#"ckafka orders[0]@15 key=recordKey: {"total":3}"#))
        #expect(tencent.log.contains("ckafka orders[1]@4 key=None: plain"))

        // Their function.json files bind them as documents, so the host's signature check passes.
        for name in ["AWSPort", "TencentPort"] {
            let root = try ScriptRoot()
            let folder = root.url.appendingPathComponent("functions/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: TestPaths.packageRoot.appendingPathComponent("functions/\(name)/function.json"),
                                             to: folder.appendingPathComponent("function.json"))
            let function = try FunctionConfiguration.load(directory: folder, scriptRoot: root.url,
                                                          settings: try AppSettings.load(scriptRoot: root.url, environment: ["BrokerList": "127.0.0.1:1"]))
            _ = try FunctionLibrary.load(FunctionConfiguration(copying: function, library: try TestPaths.library(name).path), scriptRoot: root.url)
        }
    }
}

extension FunctionConfiguration {
    init(copying function: FunctionConfiguration, library: String) {
        self = function
        libraryPath = library
    }
}
