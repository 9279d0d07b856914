import Foundation
import Testing
@testable import FunctionHost

@Suite("Offsets and output bindings", .timeLimit(.minutes(10)))
struct OffsetsAndOutputTests {
    @Test("After a clean stop the group's committed offsets are just past every processed record")
    func committedAfterCleanStop() throws {
        let hosted = try HostedFunction("commits", partitions: 3)
        let (broker, topic, function, harness) = (hosted.broker, hosted.topic, hosted.name, hosted.harness)

        let placements = try IndependentClient.produce(broker: broker.bootstrapServers,
                                                       (0..<30).map { OutgoingMessage(topic: topic, value: "m\($0)", partition: Int32($0 % 3)) })
        try waitUntil("30 recorded events") { try recordedEvents(function).count >= 30 }
        harness.stop()

        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 3)
        for partition in Int32(0)..<3 {
            let last = placements.filter { $0.partition == partition }.map(\.offset).max()!
            #expect(committed[partition] == last + 1, "partition \(partition)")
        }
    }

    @Test("A failed message holds its partition: nothing after it is committed, and it is delivered again")
    func failureHoldsPartition() throws {
        let hosted = try HostedFunction("failures", partitions: 2)
        let (broker, topic, function, harness) = (hosted.broker, hosted.topic, hosted.name, hosted.harness)

        // Partition 0: ok, poison (fails every time), after. Partition 1: ok, fail-once, after.
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, value: "ok-0", partition: 0),
            OutgoingMessage(topic: topic, value: "fail", partition: 0),
            OutgoingMessage(topic: topic, value: "after-0", partition: 0),
            OutgoingMessage(topic: topic, value: "ok-1", partition: 1),
            OutgoingMessage(topic: topic, value: "fail-once", partition: 1),
            OutgoingMessage(topic: topic, value: "after-1", partition: 1),
        ])
        // fail-once is retried after the 1 s backoff, then everything behind it flows.
        try waitUntil("partition 1 to get past its failure") {
            try recordedEvents(function).contains { $0.valueText == "after-1" }
        }
        // The poison message has failed at least twice (delivered again after the backoff).
        try waitUntil("the poison message to be delivered again") {
            try recordedEvents(function).filter { $0.valueText == "fail" }.count >= 2
        }
        harness.stop()

        let values = try recordedEvents(function).compactMap(\.valueText)
        #expect(values.filter { $0 == "fail-once" }.count == 2, "failed once, then succeeded")
        #expect(!values.contains("after-0"), "nothing behind the poison message ran")
        #expect(values.filter { $0 == "ok-0" }.count == 1)
        #expect(harness.log.contains("failed at topic \(topic) partition 0 offset \(placements[1].offset)", "asked to fail"))

        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2)
        #expect(committed[0] == placements[1].offset, "partition 0 committed up to the poison message, not past it")
        #expect(committed[1] == placements[5].offset + 1, "partition 1 committed past the retried message")
    }

    @Test("Records a function sends reach the output topic with their key, value and headers")
    func outputReachesTopic() throws {
        let broker = try EmbeddedBroker()
        let input = uniqueName("in")
        let output = uniqueName("out")
        try broker.createTopic(input, partitions: 2)
        try broker.createTopic(output, partitions: 1)
        let function = uniqueName("Forward")
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: input, group: function, entryPoint: "forward", outputs: [output])),
        ])
        defer { hosted.stop() }
        #expect(hosted.reports.map(\.status) == [.running])

        let sent = [
            OutgoingMessage(topic: input, key: Array("order-1".utf8), value: Array("{\"total\":3}".utf8), headers: [("trace", Array("abc".utf8))], partition: 0),
            OutgoingMessage(topic: input, key: nil, value: [0x01, 0x02], partition: 1),
            OutgoingMessage(topic: input, key: Array("gone".utf8), value: nil, partition: 1),
        ]
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, sent)
        let received = try IndependentClient.consume(broker: broker.bootstrapServers, topic: output, partitions: 1, count: 3)
        #expect(received.count == 3)
        for message in sent {
            let match = received.first { $0.key == message.key && $0.value == message.value }
            let forwarded = try #require(match, "output for key \(String(describing: message.key))")
            #expect(forwarded.headers == (message.headers ?? []).map { RecordedHeader(name: $0.0, value: $0.1) }
                + [RecordedHeader(name: "forwarded-by", value: Array(function.utf8))])
        }
    }

    @Test("An output record that cannot be delivered fails the invocation, which holds its partition")
    func failedDeliveryFailsInvocation() throws {
        let broker = try EmbeddedBroker()
        let input = uniqueName("in")
        let output = uniqueName("out")
        try broker.createTopic(input, partitions: 1)
        try broker.createTopic(output, partitions: 1)
        let function = uniqueName("TooBig")
        // Producers refuse records over 2000 bytes: a send of a bigger one cannot succeed.
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "librdkafka": { "message.max.bytes": 2000 } } } }"#,
                                   functions: [(function, try ScriptRoot.recorderFunction(
                                       broker: broker.bootstrapServers, topic: input, group: function, entryPoint: "forward", outputs: [output]))])

        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: input, value: "small", partition: 0),
            OutgoingMessage(topic: input, key: nil, value: Array(repeating: 0x61, count: 1500) + Array(repeating: 0x62, count: 1500), partition: 0),
        ])
        try waitUntil("the failed delivery to be reported") {
            hosted.log.contains("failed at topic \(input) partition 0 offset \(placements[1].offset)", "output")
        }
        hosted.stop()
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: input, partitions: 1)
        #expect(committed[0] == placements[1].offset, "committed up to the record whose output failed")
    }
}
