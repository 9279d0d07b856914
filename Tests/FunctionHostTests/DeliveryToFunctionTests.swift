import Foundation
import Testing
@testable import FunctionHost

/// Messages produced by an independent client reach the function exactly as produced.
@Suite("Delivery to functions", .timeLimit(.minutes(10)))
struct DeliveryToFunctionTests {
    @Test("The embedded broker is recognised, so consumers shorten its fetch wait; an unknown cluster keeps librdkafka's")
    func mockClusterFetchWait() throws {
        let broker = try EmbeddedBroker()
        let embedded = MockClusterDetection.consumerProperties(for: KafkaConnection(brokerList: broker.bootstrapServers))
        #expect(embedded.map { "\($0.0)=\($0.1)" } == ["fetch.wait.max.ms=5"])
        // Nothing listens on port 1: no cluster id within the probe's 2 s, so nothing is changed.
        #expect(MockClusterDetection.consumerProperties(for: KafkaConnection(brokerList: "127.0.0.1:1")).isEmpty)
    }

    @Test("A ONE function gets each record's exact key, value, headers, partition, offset and timestamp")
    func oneFunctionGetsExactRecords() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("exact")
        try broker.createTopic(topic, partitions: 3)
        let function = uniqueName("ExactOne")
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))])
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])

        let messages = [
            OutgoingMessage(topic: topic, key: Array("k1".utf8), value: Array("hello".utf8),
                            headers: [("h1", Array("v1".utf8)), ("h1", Array("again".utf8)), ("empty", []), ("null", nil)],
                            partition: 0, timestamp: 1_700_000_000_123),
            OutgoingMessage(topic: topic, key: nil, value: [0x00, 0xFF, 0xFE, 0x80, 0x0A], partition: 1, timestamp: 1_700_000_000_456),
            OutgoingMessage(topic: topic, key: [], value: [], partition: 2),
            OutgoingMessage(topic: topic, key: Array("tomb".utf8), value: nil, partition: 2),
        ]
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        try waitUntil("4 recorded events") { try recordedEvents(function).count >= 4 }

        let received = Dictionary(uniqueKeysWithValues: try recordedEvents(function).map { ($0.placement, $0) })
        #expect(received.count == 4)
        for (message, placement) in zip(messages, placements) {
            let event = try #require(received[placement], "no event for \(placement)")
            #expect(event.topic == topic)
            #expect(event.partition == message.partition)
            #expect(event.key == message.key)
            #expect(event.value == message.value)
            #expect(event.headers == (message.headers ?? []).map { RecordedHeader(name: $0.0, value: $0.1) })
            if let timestamp = message.timestamp {
                #expect(event.timestamp == timestamp)
                #expect(event.timestampType == 1) // CreateTime
            } else {
                #expect(event.timestamp > 0)
            }
        }
        // A null key/value stays distinguishable from an empty one.
        #expect(received[placements[1]]?.key == nil)
        #expect(received[placements[2]]?.key == [])
        #expect(received[placements[2]]?.value == [])
        #expect(received[placements[3]]?.value == nil)
        #expect(hosted.log.contains("Executed '\(function)' partition=\(placements[0].partition) offset=\(placements[0].offset) (Succeeded"))
    }

    @Test("A MANY function gets every record once, in batches of at most maxBatchSize, in order per partition")
    func manyFunctionGetsBatches() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("batches")
        let partitions = 4
        try broker.createTopic(topic, partitions: partitions)
        let function = uniqueName("Batches")
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "MaxBatchSize": 25 } } }"#,
                                   functions: [(function, try ScriptRoot.recorderFunction(
                                       broker: broker.bootstrapServers, topic: topic, group: function, entryPoint: "record_many", cardinality: "many"))])
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])

        let messages = (0..<300).map { OutgoingMessage(topic: topic, key: "key-\($0 % 7)", value: "value-\($0)") }
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        try waitUntil("300 recorded events") { try recordedEvents(function).count >= 300 }

        let batches = try recordedInvocations(function)
        let events = batches.flatMap { $0 }
        #expect(events.count == 300, "every record exactly once")
        #expect(Set(events.map(\.placement)) == Set(placements))
        #expect(batches.allSatisfy { $0.count <= 25 })
        #expect(batches.contains { $0.count > 1 }, "records already fetched are handed over together")
        let valueByPlacement = Dictionary(uniqueKeysWithValues: zip(placements, messages.map(\.value)))
        #expect(events.allSatisfy { valueByPlacement[$0.placement] == $0.value })
        for partition in 0..<Int32(partitions) {
            let offsets = events.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == offsets.sorted(), "partition \(partition) in order")
        }
        #expect(hosted.log.contains("Executed '\(function)'", "events partition="))
    }

    @Test("dataType string hands over UTF-8 text and dead-letters invalid text; binary hands bytes untouched")
    func stringAndBinary() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("text")
        try broker.createTopic(topic, partitions: 2)
        let stringFunction = uniqueName("Text")
        let binaryFunction = uniqueName("Bytes")
        try broker.createTopic("\(topic).\(stringFunction).dlq", partitions: 1)
        let hosted = try HostedApp(broker: broker, functions: [
            (stringFunction, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: stringFunction, dataType: "String")),
            (binaryFunction, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: binaryFunction, dataType: "binary")),
        ])
        defer { hosted.stop() }

        let invalid: [UInt8] = [0x68, 0x69, 0xC3, 0x28] // "hi" then a broken two-byte sequence
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, key: nil, value: Array("grüße 👋".utf8), partition: 0),
            OutgoingMessage(topic: topic, key: Array("bad".utf8), value: invalid, partition: 1),
            OutgoingMessage(topic: topic, key: nil, value: Array("after".utf8), partition: 1),
        ])
        try waitUntil("the binary function to get all 3") { try recordedEvents(binaryFunction).count >= 3 }
        try waitUntil("the string function to get the valid text") { try recordedEvents(stringFunction).count >= 2 }

        let binaryValues = Set(try recordedEvents(binaryFunction).compactMap(\.value))
        #expect(binaryValues == [Array("grüße 👋".utf8), invalid, Array("after".utf8)])
        // The string function never sees the invalid bytes: they go to its dead-letter topic
        // with the reason (retrying cannot help), and the partition flows on.
        #expect(try recordedEvents(stringFunction).compactMap(\.valueText).sorted() == ["after", "grüße 👋"])
        #expect(hosted.log.contains("cannot take topic \(topic) partition 1 offset \(placements[1].offset)", "not valid UTF-8"))
        let deadLetters = try IndependentClient.consume(broker: broker.bootstrapServers, topic: "\(topic).\(stringFunction).dlq", partitions: 1, count: 1)
        #expect(deadLetters.map(\.value) == [invalid])
        #expect(deadLetters.first?.key == Array("bad".utf8))
        let headers = Dictionary(deadLetters.first?.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) } ?? [], uniquingKeysWith: { $1 })
        #expect(headers["swiftfunc.dlq.reason"] == "invalid-utf8")
        #expect(headers["swiftfunc.dlq.partition"] == "1")
        #expect(headers["swiftfunc.dlq.offset"] == "\(placements[1].offset)")
        #expect(headers["swiftfunc.dlq.function"] == stringFunction)
    }
}
