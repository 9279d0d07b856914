import Foundation
import Testing
@testable import FunctionHost

/// ABI versions 1 and 2 side by side: one host runs a version 1 C library, a version 2 C library
/// (both built with cc from Tests/Fixtures/CRecorder, written from docs/ABI.md alone) and the
/// Swift SDK's Recorder (version 2), each with its own consumer group on the same topic, and each
/// records exactly what it received: version 1 in the event, version 2 through the context.
@Suite("ABI versions", .timeLimit(.minutes(10)))
struct ABIVersionsTests {
    @Test("A v1 and a v2 library in one host get the same exact bytes and headers; v2 finds a header by name and the trace context")
    func versionsSideBySide() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("abi")
        try broker.createTopic(topic, partitions: 2)
        let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/CRecorder")
        let v1 = try CCompiler.sharedLibrary([fixtures.appendingPathComponent("record_v1.c")], named: "CRecorderV1").path
        let v2 = try CCompiler.sharedLibrary([fixtures.appendingPathComponent("record_v2.c")], named: "CRecorderV2").path
        let servers = broker.bootstrapServers
        let names = (c1One: uniqueName("CV1One"), c2One: uniqueName("CV2One"), c1Many: uniqueName("CV1Many"),
                     c2Many: uniqueName("CV2Many"), swiftOne: uniqueName("SwiftV2One"), swiftMany: uniqueName("SwiftV2Many"))
        func function(_ name: String, _ library: String?, many: Bool) throws -> (String, String) {
            (name, try ScriptRoot.recorderFunction(broker: servers, topic: topic, group: name, entryPoint: many ? "record_many" : "record_one",
                                                   cardinality: many ? "MANY" : "ONE", library: library))
        }
        let hosted = try HostedApp(broker: broker, functions: [
            try function(names.c1One, v1, many: false), try function(names.c2One, v2, many: false),
            try function(names.c1Many, v1, many: true), try function(names.c2Many, v2, many: true),
            try function(names.swiftOne, nil, many: false), try function(names.swiftMany, nil, many: true),
        ])
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == Array(repeating: .running, count: 6))

        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let messages = [
            OutgoingMessage(topic: topic, key: Array("k1".utf8), value: [0x00, 0xFF, 0x41, 0x0A],
                            headers: [("a", Array("1".utf8)), ("dup", Array("first".utf8)), ("dup", Array("second".utf8)),
                                      ("null", nil), ("empty", []), ("traceparent", Array(traceparent.utf8)), ("tracestate", Array("congo=t61rcWkgMzE".utf8))],
                            partition: 0, timestamp: 1_700_000_000_123),
            OutgoingMessage(topic: topic, key: nil, value: [], partition: 0),
            OutgoingMessage(topic: topic, key: [], value: nil, headers: [("dup", nil), ("traceparent", Array(traceparent.utf8))], partition: 1),
            OutgoingMessage(topic: topic, key: Array("k4".utf8), value: Array("plain".utf8), partition: 1),
        ]
        let placements = try IndependentClient.produce(broker: servers, messages)
        let all = [names.c1One, names.c2One, names.c1Many, names.c2Many, names.swiftOne, names.swiftMany]
        try waitUntil("every function to record 4 events", timeout: 60) { try all.allSatisfy { try recordedEvents($0).count >= 4 } }

        for name in all {
            let received = Dictionary(uniqueKeysWithValues: try recordedEvents(name).map { ($0.placement, $0) })
            #expect(received.count == 4, "\(name)")
            for (message, placement) in zip(messages, placements) {
                let event = try #require(received[placement], "\(name): no event for \(placement)")
                #expect(event.key == message.key, "\(name)")
                #expect(event.value == message.value, "\(name)")
                #expect(event.headers == (message.headers ?? []).map { RecordedHeader(name: $0.0, value: $0.1) }, "\(name)")
                if let timestamp = message.timestamp { #expect(event.timestamp == timestamp && event.timestampType == 1, "\(name)") }
            }
        }
        // What version 2's accessors found: the first "dup", and the W3C trace context.
        let parent = Array(traceparent.utf8)
        for name in [names.c2One, names.c2Many, names.swiftOne, names.swiftMany] {
            let lookups = try recordedLookups(name)
            let found = try placements.map { placement in try #require(lookups[placement], "\(name): no lookups for \(placement)") }
            #expect(found[0].dup == Array("first".utf8) && found[0].trace == [parent, Array("congo=t61rcWkgMzE".utf8)], "\(name)")
            #expect(found[1].dup == nil && found[1].trace == nil, "\(name): no headers")
            #expect(found[2].dup == nil && found[2].trace == [parent, nil], "\(name): a null dup; traceparent without tracestate")
            #expect(found[3].dup == nil && found[3].trace == nil, "\(name)")
        }
    }
}

/// What a version 2 recorder's accessors returned per event: "dup" (`nil`: no such header, or a
/// null value) and "trace" (traceparent, tracestate; `nil`: none).
private func recordedLookups(_ function: String) throws -> [Placement: (dup: [UInt8]?, trace: [[UInt8]?]?)] {
    let url = TestPaths.recordDirectory.appendingPathComponent("\(function).jsonl")
    let text = try String(contentsOf: url, encoding: .utf8)
    var lookups: [Placement: (dup: [UInt8]?, trace: [[UInt8]?]?)] = [:]
    for line in text.split(separator: "\n") {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for event in object["events"] as? [[String: Any]] ?? [] {
            let placement = Placement(topic: event["topic"] as! String, partition: Int32(event["partition"] as! Int), offset: Int64(event["offset"] as! Int))
            lookups[placement] = (unhex(event["dup"]), (event["trace"] as? [Any]).map { $0.map { unhex($0) } })
        }
    }
    return lookups
}
