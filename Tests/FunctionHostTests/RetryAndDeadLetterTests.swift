import Foundation
import Testing
@testable import FunctionHost

/// Retries follow the function's policy; after the last one the message goes to the dead-letter
/// topic with where it came from, and its partition moves on.
@Suite("Retries and dead letters", .timeLimit(.minutes(10)))
struct RetryAndDeadLetterTests {
    private func headerMap(_ message: ConsumedMessage) -> [String: String] {
        Dictionary(message.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 })
    }

    @Test("A message failing every attempt is tried 1 + maxRetryCount times, dead-lettered with its origin, and its partition moves on")
    func exhaustedRetriesGoToDeadLetters() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("poison")
        let function = uniqueName("Poison")
        let deadLetterTopic = uniqueName("dlq")
        try broker.createTopic(topic, partitions: 1)
        try broker.createTopic(deadLetterTopic, partitions: 1)
        var json = try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function)
        json = json.replacingOccurrences(of: #""entryPoint""#, with: #""deadLetterTopic": "\#(deadLetterTopic)", "retry": { "strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.2" }, "entryPoint""#)
        let hosted = try HostedApp(broker: broker, functions: [(function, json)])

        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, key: Array("k".utf8), value: Array("fail".utf8), headers: [("trace", Array("t-1".utf8))], partition: 0),
            OutgoingMessage(topic: topic, value: "next", partition: 0),
        ])
        try waitUntil("the message after the poison one") { try recordedEvents(function).contains { $0.valueText == "next" } }
        hosted.stop()

        #expect(try recordedEvents(function).filter { $0.valueText == "fail" }.count == 3, "first attempt + 2 retries")
        let deadLetters = try IndependentClient.consume(broker: broker.bootstrapServers, topic: deadLetterTopic, partitions: 1, count: 1)
        let letter = try #require(deadLetters.first)
        #expect(letter.key == Array("k".utf8))
        #expect(letter.value == Array("fail".utf8))
        #expect(letter.headers.first == RecordedHeader(name: "trace", value: Array("t-1".utf8)), "original headers first")
        let headers = headerMap(letter)
        #expect(headers["swiftfunc.dlq.topic"] == topic)
        #expect(headers["swiftfunc.dlq.partition"] == "0")
        #expect(headers["swiftfunc.dlq.offset"] == "\(placements[0].offset)")
        #expect(headers["swiftfunc.dlq.function"] == function)
        #expect(headers["swiftfunc.dlq.attempts"] == "3")
        #expect(headers["swiftfunc.dlq.reason"] == "failed")
        #expect(headers["swiftfunc.dlq.error"]?.contains("asked to fail at offset \(placements[0].offset)") == true)
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)
        #expect(committed[0] == placements[1].offset + 1, "committed past the dead-lettered message and the next one")
    }

    @Test("A batch's failed items alone are retried and dead-lettered; the rest of the batch is done once")
    func batchItemsRetriedAlone() throws {
        let hosted = try HostedFunction("items", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "exponentialBackoff", "maxRetryCount": 1, "minimumInterval": "00:00:00.1", "maximumInterval": "00:00:01" } }"#,
                                        entryPoint: "record_many", cardinality: "MANY")
        let (broker, topic, function) = (hosted.broker, hosted.topic, hosted.name)
        let values = ["a", "fail-item", "b", "c"]
        let placements = try hosted.produce(values.map { OutgoingMessage(topic: topic, value: $0, partition: 0) })
        let deadLetters = try IndependentClient.consume(broker: broker.bootstrapServers, topic: hosted.deadLetterTopic, partitions: 1, count: 1)
        // The consumer may fetch the four in more than one batch (librdkafka hands over what has
        // arrived), so "b" and "c" can be called after the dead letter: wait for both.
        try waitUntil("the dead letter and every other item called") {
            let called = Set(try recordedEvents(function).compactMap(\.valueText))
            return called.isSuperset(of: ["a", "b", "c"])
                && hosted.log.contains("sent topic \(topic) partition 0 offset \(placements[1].offset) to dead-letter topic")
        }
        hosted.stop()

        let delivered = try recordedEvents(function).compactMap(\.valueText)
        #expect(delivered.filter { $0 == "fail-item" }.count == 2, "first attempt + 1 retry")
        for value in ["a", "b", "c"] { #expect(delivered.filter { $0 == value }.count == 1, "\(value) delivered once") }
        #expect(deadLetters.map(\.value) == [Array("fail-item".utf8)])
        #expect(headerMap(deadLetters[0])["swiftfunc.dlq.error"]?.contains("asked to fail") == true)
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)
        #expect(committed[0] == placements[3].offset + 1)
    }

    @Test("A message dead-lettered without a call waits for the batch before it: a failure there keeps the offset before the failure")
    func deadLetterBehindAFailureDoesNotMoveTheOffset() throws {
        let hosted = try HostedFunction("behind", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:30" } }"#,
                                        entryPoint: "record_many", cardinality: "MANY", dataType: "string")
        let topic = hosted.topic
        // One batch: "fail-item" fails, and the invalid UTF-8 value behind it is dead-lettered without a call.
        let placements = try hosted.produce([
            OutgoingMessage(topic: topic, value: "a", partition: 0),
            OutgoingMessage(topic: topic, value: "fail-item", partition: 0),
            OutgoingMessage(topic: topic, value: [0x66, 0xFF, 0x66], partition: 0),
            OutgoingMessage(topic: topic, value: "b", partition: 0),
        ])
        try waitUntil("the failure to be held for a retry") { hosted.log.contains("Attempt 1 failed; trying again in 30 s") }
        hosted.stop()
        #expect(try hosted.committed()[0] == placements[1].offset, "the failed message is not settled: nothing past it is committed")
    }

    @Test("When the dead-letter send fails the partition does not move, and the host says so loudly")
    func failedDeadLetterHoldsPartition() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("stuck")
        let function = uniqueName("Stuck")
        try broker.createTopic(topic, partitions: 1)
        // Producers refuse records over 2000 bytes, so this message can never be dead-lettered.
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 0, "delayInterval": "00:00:00" }, "extensions": { "kafka": { "librdkafka": { "message.max.bytes": 2000 } } } }"#,
                                   functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))],
                                   endpointAddress: "127.0.0.1")
        let metricsURL = try #require(hosted.url) + "/metrics"
        // The Recorder fails on the value "fail"; the 3000-byte key makes the record too big to send on.
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, value: "first", partition: 0),
            OutgoingMessage(topic: topic, key: Array(repeating: 0x6B, count: 3000), value: Array("fail".utf8), partition: 0),
            OutgoingMessage(topic: topic, value: "behind", partition: 0),
        ])
        try waitUntil("the failed dead-letter send to be reported") {
            hosted.log.contains("critical", "dead-letter topic", "FAILED", "does not move forward")
        }
        // The operator sees it too: a write failure counted (again at each 5 s retry), nothing
        // counted as dead-lettered, the partition held.
        try waitUntil("the write failure in /metrics") {
            (try? HTTP.get(metricsURL).sample("swiftfunc_dead_letter_write_failures_total", ["function": function])) ?? 0 >= 1
        }
        let metrics = try HTTP.get(metricsURL)
        #expect(metrics.sample("swiftfunc_dead_lettered_total", ["function": function]) == 0)
        #expect(metrics.sample("swiftfunc_paused_partitions", ["function": function]) == 1)
        hosted.stop()
        #expect(!(try recordedEvents(function).contains { $0.valueText == "behind" }), "nothing behind it ran")
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)
        #expect(committed[0] == placements[1].offset, "still at the message that could not be dead-lettered")
    }
}
