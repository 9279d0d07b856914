import Foundation
import Testing
@testable import FunctionHost

/// The rows of the "Bad messages" table in docs/DELIVERY.md: what a function gets for records
/// that are unusual but legal. (Invalid UTF-8 for a string function is in DeliveryToFunctionTests.)
@Suite("Bad messages", .timeLimit(.minutes(10)))
struct BadMessagesTests {
    @Test("Tombstones, null keys, empty and repeated header names, and a record past the fetch limits arrive as they are")
    func unusualRecordsArriveAsTheyAre() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("odd")
        try broker.createTopic(topic, partitions: 1)
        let function = uniqueName("Odd")
        // Fetch limits far below the big record: librdkafka still fetches a record larger than
        // them (it is never stuck behind one), and the function gets all of it.
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "maxPartitionFetchBytes": 65536, "fetchMaxBytes": 1048576 } } }"#,
                                   functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))])
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])

        let big = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sent = [
            OutgoingMessage(topic: topic, key: Array("deleted".utf8), value: nil, partition: 0),                 // tombstone
            OutgoingMessage(topic: topic, key: nil, value: Array("no key".utf8), partition: 0),                 // null key
            OutgoingMessage(topic: topic, key: nil, value: Array("headers".utf8),
                            headers: [("", Array("empty name".utf8)), ("dup", Array("1".utf8)), ("dup", Array("2".utf8)), ("dup", nil)],
                            partition: 0),
            OutgoingMessage(topic: topic, key: Array("big".utf8), value: big, partition: 0),                     // 2 MB
        ]
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, sent)
        try waitUntil("all four records") { try recordedEvents(function).count >= 4 }
        let received = Dictionary(uniqueKeysWithValues: try recordedEvents(function).map { ($0.offset, $0) })
        #expect(received[placements[0].offset]?.value == nil)
        #expect(received[placements[0].offset]?.key == Array("deleted".utf8))
        #expect(received[placements[1].offset]?.key == nil)
        #expect(received[placements[1].offset]?.value == Array("no key".utf8))
        #expect(received[placements[2].offset]?.headers == [
            RecordedHeader(name: "", value: Array("empty name".utf8)), RecordedHeader(name: "dup", value: Array("1".utf8)),
            RecordedHeader(name: "dup", value: Array("2".utf8)), RecordedHeader(name: "dup", value: nil),
        ])
        #expect(received[placements[3].offset]?.value == big)
    }
}
