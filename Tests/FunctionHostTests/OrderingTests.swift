import Foundation
import Testing
@testable import FunctionHost

/// Ordering `key` and `unordered`: invocations side by side on lanes, in order per key,
/// offsets committed only past contiguous settled messages, and partitions paused while the
/// lanes are full.
@Suite("Ordering and concurrency", .timeLimit(.minutes(10)))
struct OrderingTests {
    /// One line of the `record_timed` fixture.
    struct TimedCall {
        var key: String
        var value: String
        var partition: Int32
        var offset: Int64
        var start: UInt64
        var end: UInt64

        func overlaps(_ other: TimedCall) -> Bool { start < other.end && other.start < end }
    }

    private func timedCalls(_ function: String) -> [TimedCall] {
        let url = TestPaths.recordDirectory.appendingPathComponent("\(function).timed")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 6, let partition = Int32(fields[2]), let offset = Int64(fields[3]),
                  let start = UInt64(fields[4]), let end = UInt64(fields[5]) else { return nil }
            return TimedCall(key: fields[0], value: fields[1], partition: partition, offset: offset, start: start, end: end)
        }
    }

    /// Each key's calls, by start time, carry the sequence numbers 0, 1, 2, ... and none starts
    /// before the previous one of its key ended.
    private func expectInOrderPerKey(_ calls: [TimedCall]) {
        for (key, ofKey) in Dictionary(grouping: calls, by: \.key) {
            let sorted = ofKey.sorted { $0.start < $1.start }
            let sequence = sorted.map { Int($0.value.split(separator: "-").last ?? "") ?? -1 }
            #expect(sequence == Array(0..<sorted.count), "key \(key) in order")
            for (earlier, later) in zip(sorted, sorted.dropFirst()) {
                #expect(later.start >= earlier.end, "key \(key): offset \(later.offset) started before offset \(earlier.offset) ended")
            }
        }
    }

    private func start(_ function: String, topic: String, partitions: Int, triggerFields: String,
                       hostJSON: String = #"{ "version": "2.0" }"#, extraTopics: [String] = []) throws -> (EmbeddedBroker, HostedApp) {
        let broker = try EmbeddedBroker()
        try broker.createTopic(topic, partitions: partitions)
        for extra in extraTopics { try broker.createTopic(extra, partitions: 1) }
        let hosted = try HostedApp(broker: broker, hostJSON: hostJSON, functions: [(function, try ScriptRoot.recorderFunction(
            broker: broker.bootstrapServers, topic: topic, group: function, entryPoint: "record_timed", triggerFields: triggerFields))])
        return (broker, hosted)
    }

    private func expectCommittedToEnd(_ broker: EmbeddedBroker, group: String, topic: String, partitions: Int, _ placements: [Placement]) throws {
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: group, topic: topic, partitions: partitions)
        for partition in 0..<Int32(partitions) {
            let last = placements.filter { $0.partition == partition }.map(\.offset).max()
            #expect(committed[partition] == last.map { $0 + 1 }, "partition \(partition) committed past its last message")
        }
    }

    @Test("Ordering partition: a function slower than the fetch budget works through a backlog of several fetches, each message once, in order")
    func slowFunctionWithBacklog() throws {
        let topic = uniqueName("backlog")
        let function = uniqueName("Backlog")
        let broker = try EmbeddedBroker()
        try broker.createTopic(topic, partitions: 1)
        // More than two fetches (512 each for ONE) wait while each call takes 1 ms, so the
        // listener carries part of every fetch into the next round (it polls every 250 ms).
        let count = 1_600
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers,
                                                       (0..<count).map { OutgoingMessage(topic: topic, value: "brief:\($0)", partition: 0) })
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))],
                                   start: .started)
        try waitUntil("every message to be handled", timeout: 60) { try recordedEvents(function).count >= count }
        hosted.stop()

        let values = try recordedEvents(function).compactMap(\.valueText)
        #expect(values == (0..<count).map { "brief:\($0)" }, "each message once, in order")
        try expectCommittedToEnd(broker, group: function, topic: topic, partitions: 1, placements)
    }

    @Test("Keys run side by side, each key in order and one at a time (key); or in any order (unordered); every offset committed",
          arguments: ["key", "unordered"])
    func keysSideBySide(ordering: String) throws {
        let topic = uniqueName("keyed")
        let function = uniqueName("Keyed")
        let (broker, hosted) = try start(function, topic: topic, partitions: 2, triggerFields: #""ordering": "\#(ordering)""#)
        let keys = (0..<8).map { "k\($0)" }
        let messages = (0..<6).flatMap { sequence in keys.map { OutgoingMessage(topic: topic, key: $0, value: "slow:\($0)-\(sequence)") } }
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        try waitUntil("every message to be handled") { timedCalls(function).count >= messages.count }
        hosted.stop()

        let calls = timedCalls(function)
        #expect(calls.count == messages.count, "each message handled once")
        #expect(Set(calls.map { Placement(topic: topic, partition: $0.partition, offset: $0.offset) }) == Set(placements))
        if ordering == "key" { expectInOrderPerKey(calls) }
        let sideBySide = calls.contains { call in calls.contains { $0.key != call.key && $0.overlaps(call) } }
        #expect(sideBySide, "calls of different keys overlapped in time")
        try expectCommittedToEnd(broker, group: function, topic: topic, partitions: 2, placements)
    }

    @Test("A failing message holds back its own key only: the other keys go on; it is retried, dead-lettered, and then committed past")
    func failureHoldsItsKeyOnly() throws {
        let topic = uniqueName("keyfail")
        let function = uniqueName("KeyFail")
        let deadLetterTopic = "\(topic).\(function).dlq"
        // Two keys on different lanes of two.
        let keys = (0..<50).map { "key\($0)" }
        let held = keys[0]
        let lane = { (key: String) in Array(key.utf8).withUnsafeBytes { ConcurrentDispatcher.lane(forKey: $0, partition: 0, lanes: 2) } }
        let other = try #require(keys.first { lane($0) != lane(held) })
        let (broker, hosted) = try start(
            function, topic: topic, partitions: 1, triggerFields: #""ordering": "key", "maxConcurrency": 2"#,
            hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:01" } }"#,
            extraTopics: [deadLetterTopic])
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, key: held, value: "fail:\(held)-0", partition: 0),
            OutgoingMessage(topic: topic, key: held, value: "\(held)-1", partition: 0),
            OutgoingMessage(topic: topic, key: other, value: "\(other)-0", partition: 0),
            OutgoingMessage(topic: topic, key: other, value: "\(other)-1", partition: 0),
        ])
        let deadLetters = try IndependentClient.consume(broker: broker.bootstrapServers, topic: deadLetterTopic, partitions: 1, count: 1)
        try waitUntil("the held key's next message") { timedCalls(function).contains { $0.value == "\(held)-1" } }
        try waitUntil("the offset to be committed past the dead-lettered message") {
            let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)
            return committed[0] == placements[3].offset + 1
        }
        hosted.stop()

        let calls = timedCalls(function)
        let failures = calls.filter { $0.value == "fail:\(held)-0" }.sorted { $0.start < $1.start }
        #expect(failures.count == 2, "first attempt + 1 retry")
        let next = try #require(calls.first { $0.value == "\(held)-1" })
        #expect(next.start >= failures.last!.end, "the held key's next message waited for the retries")
        for value in ["\(other)-0", "\(other)-1"] {
            let call = try #require(calls.first { $0.value == value })
            #expect(call.end <= failures.last!.start, "\(value) did not wait for the other key's retry")
        }
        #expect(deadLetters.map(\.value) == [Array("fail:\(held)-0".utf8)])
    }

    @Test("When the lanes are full the consumer waits, and pauses the partitions while a lane is stuck in a retry: nothing lost, nothing twice, each key in order")
    func backpressurePausesAndResumes() throws {
        let topic = uniqueName("pressure")
        let function = uniqueName("Pressure")
        let (broker, hosted) = try start(
            function, topic: topic, partitions: 2,
            triggerFields: #""ordering": "key", "maxConcurrency": 2, "maxQueuedMessages": 4"#,
            hostJSON: #"{ "version": "2.0", "logging": { "logLevel": { "default": "Debug" } }, "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:01" } }"#)
        let keys = (0..<12).map { "p\($0)" }
        // The first message fails once: its lane waits a second for the retry, longer than the
        // consumer waits for room, so the partitions pause.
        let messages = (0..<10).flatMap { sequence in keys.map { key in
            OutgoingMessage(topic: topic, key: key, value: (key == keys[0] && sequence == 0 ? "fail-once" : "slow") + ":\(key)-\(sequence)")
        } }
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        try waitUntil("every message to be handled", timeout: 60) { timedCalls(function).count >= messages.count + 1 }
        try waitUntil("every offset to be committed") {
            let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2)
            return (0..<Int32(2)).allSatisfy { partition in
                committed[partition] == placements.filter { $0.partition == partition }.map(\.offset).max().map { $0 + 1 }
            }
        }
        hosted.stop()

        let allCalls = timedCalls(function)
        #expect(allCalls.count == messages.count + 1, "each message handled once, the failing one twice")
        // The last call of each message is the one that settled it.
        let calls = Dictionary(grouping: allCalls, by: { Placement(topic: topic, partition: $0.partition, offset: $0.offset) })
            .values.map { $0.max { $0.start < $1.start }! }
        #expect(Set(calls.map { Placement(topic: topic, partition: $0.partition, offset: $0.offset) }) == Set(placements))
        expectInOrderPerKey(calls)
        #expect(hosted.log.contains("pausing its partitions"))
        #expect(hosted.log.contains("resuming its partitions"))
    }
}
