import CRdKafka
import Foundation
import Testing
@testable import FunctionHost

/// The kafkaTrigger's `startFrom`: earliest, latest or a time, for partitions the group has no
/// committed offset for.
@Suite("startFrom, configuration", .timeLimit(.minutes(10)))
struct StartFromConfigurationTests {
    private func parse(_ field: String) throws -> FunctionConfiguration {
        let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t"\#(field.isEmpty ? "" : ", " + field) } ] }"#
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                               directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
    }

    @Test("earliest, latest (any case) and ISO-8601 times with Z or an offset and optional fractional seconds")
    func acceptedForms() throws {
        #expect(try parse("").trigger.startFrom == nil)
        #expect(try parse(#""startFrom": "earliest""#).trigger.startFrom == .earliest)
        #expect(try parse(#""startFrom": "Latest""#).trigger.startFrom == .latest)
        // 2026-11-29T10:00:00Z is 1_795_946_400 s after the epoch.
        let base: Int64 = 1_795_946_400_000
        #expect(try parse(#""startFrom": "2026-11-29T10:00:00Z""#).trigger.startFrom == .timestamp(milliseconds: base))
        #expect(try parse(#""startFrom": "2026-11-29T11:00:00+01:00""#).trigger.startFrom == .timestamp(milliseconds: base))
        #expect(try parse(#""startFrom": "2026-11-29T05:30:00-04:30""#).trigger.startFrom == .timestamp(milliseconds: base))
        #expect(try parse(#""startFrom": "2026-11-29T10:00:00.25Z""#).trigger.startFrom == .timestamp(milliseconds: base + 250))
        #expect(try parse(#""startFrom": "2026-11-29T10:00:00.123456789+00:00""#).trigger.startFrom == .timestamp(milliseconds: base + 123))
        #expect(try parse(#""startFrom": "2028-02-29T00:00:00Z""#).trigger.startFrom == .timestamp(milliseconds: 1_835_395_200_000))
        #expect(try parse(#""startFrom": "1970-01-01T00:00:00Z""#).trigger.startFrom == .timestamp(milliseconds: 0))
        // A known field: no warning.
        #expect(try parse(#""startFrom": "latest""#).warnings.isEmpty)
    }

    @Test("A malformed startFrom is a load error naming the file and the field and showing the accepted forms", arguments: [
        "yesterday", "", "2026-11-29", "2026-11-29T10:00:00", "2026-11-29 10:00:00Z", "2026-11-29T10:00Z",
        "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2027-02-29T00:00:00Z", "2026-11-29T24:00:00Z",
        "2026-11-29T10:00:00+1:00", "2026-11-29T10:00:00+0100", "2026-11-29T10:00:00.Z", "2026-11-29T10:00:00Z junk",
        "1795946400000",
    ])
    func malformed(value: String) throws {
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].startFrom",
                                           "'\(value)' is not a starting position; use \"earliest\", \"latest\" or an ISO-8601 time with its offset from UTC, such as \"2026-11-29T10:00:00Z\", \"2026-11-29T11:00:00+01:00\" or \"2026-11-29T10:00:00.250Z\"")) {
            try parse(#""startFrom": "\#(value)""#)
        }
    }

    @Test("A startFrom that is not a string is refused naming the field")
    func notAString() throws {
        #expect { try parse(#""startFrom": 1795946400000"#) } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.field == "bindings[0].startFrom" && "\(error)".contains("must be a string")
        }
    }

    @Test("One decision for partitions without a committed offset: startFrom over autoOffsetReset; a time placed by the lookup's answer")
    func decision() throws {
        var latest = KafkaOptions()
        latest.autoOffsetReset = "latest"
        let earliest = KafkaOptions()
        #expect(StartWithoutCommit(trigger: try parse("").trigger, options: latest).position == .latest)
        #expect(StartWithoutCommit(trigger: try parse("").trigger, options: earliest).position == .earliest)
        #expect(StartWithoutCommit(trigger: try parse(#""startFrom": "earliest""#).trigger, options: latest).autoOffsetReset == "earliest")
        #expect(StartWithoutCommit(trigger: try parse(#""startFrom": "latest""#).trigger, options: earliest).autoOffsetReset == "latest")
        let time = StartWithoutCommit(trigger: try parse(#""startFrom": "2026-11-29T10:00:00Z""#).trigger, options: latest)
        #expect(time.autoOffsetReset == "earliest")
        #expect(time.timestamp == 1_795_946_400_000)

        let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING), end = Int64(RD_KAFKA_OFFSET_END)
        #expect(StartWithoutCommit(.earliest).placement(answer: nil) == .at(beginning))
        #expect(StartWithoutCommit(.latest).placement(answer: nil) == .at(end))
        // Kafka named the first offset at or after the time: assigned there, nothing skipped.
        #expect(time.placement(answer: (offset: 42, error: RD_KAFKA_RESP_ERR_NO_ERROR)) == .at(42))
        // -1 (no record at or after it; every answer of the mock cluster), an error, no answer: from the beginning, skipping.
        let skipping = StartWithoutCommit.Placement.fromBeginningSkippingBefore(milliseconds: 1_795_946_400_000)
        #expect(time.placement(answer: (offset: -1, error: RD_KAFKA_RESP_ERR_NO_ERROR)) == skipping)
        #expect(time.placement(answer: (offset: 42, error: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)) == skipping)
        #expect(time.placement(answer: nil) == skipping)
        #expect(skipping.offset == beginning)
        // The committer's first commit of such a partition: its end only for latest.
        #expect(StartWithoutCommit(.latest).startsAtEnd(crdkafka_offset_invalid()))
        #expect(!time.startsAtEnd(crdkafka_offset_invalid()))
        #expect(!time.startsAtEnd(beginning))
        #expect(StartWithoutCommit(.earliest).startsAtEnd(end))
    }
}

/// `startFrom` against the embedded broker. Its lookups by time answer -1 for every partition
/// (librdkafka's mock cluster: "FIXME: by timestamp"), so a time is honoured by reading each
/// partition from its beginning and skipping the records before the time.
@Suite("startFrom, end to end", .timeLimit(.minutes(10)))
struct StartFromDeliveryTests {
    private static let hour: Int64 = 3_600_000

    /// `milliseconds` as ISO-8601 with an offset of +01:00 and milliseconds (the parser's other forms, in passing).
    private static func iso(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(secondsFromGMT: 3_600)
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000))
    }

    private static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    /// `partition+journal`: as a supervised worker, whose committer commits where each new
    /// partition starts (tagged) at its assignment.
    @Test("startFrom a time: exactly the records at or after it are called, committed past the skipped ones, on every path",
          arguments: ["partition", "key", "exactlyOnce", "partition+journal"])
    func fromTime(path: String) throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("startfrom")
        try broker.createTopic(topic, partitions: 2)
        let now = Self.nowMs()
        // 30 records an hour ago, then 30 from now on; alternating between the two partitions.
        let messages = (0..<60).map { index in
            let late = index >= 30
            let value = late ? Array("late-\(index)".utf8) + [0x00, 0xff, UInt8(index)] : Array("early-\(index)".utf8)
            return OutgoingMessage(topic: topic, value: value, partition: Int32(index % 2),
                                   timestamp: late ? now + Int64(index) : now - Self.hour + Int64(index))
        }
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        let startFrom = Self.iso(now - Self.hour / 2)

        let function = uniqueName("StartFrom")
        let fields = path == "exactlyOnce" ? #""processingGuarantee": "exactlyOnce""# : path == "key" ? #""ordering": "key""# : #""ordering": "partition""#
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function,
                                                                                                           triggerFields: #"\#(fields), "startFrom": "\#(startFrom)""#))],
                                   crashProtection: path == "partition+journal", start: .started)
        defer { hosted.stop() }
        let ends = Dictionary(grouping: placements, by: \.partition).mapValues { $0.map(\.offset).max()! + 1 }
        try waitUntil("offsets committed at the end of both partitions", timeout: 60) {
            try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2) == ends
        }
        hosted.stop()

        var expected: [Placement: [UInt8]] = [:]
        for index in 30..<60 { expected[placements[index]] = messages[index].value! }
        let recorded = try recordedEvents(function)
        #expect(recorded.count == 30, "each later record called once")
        #expect(Dictionary(recorded.map { ($0.placement, $0.value ?? []) }, uniquingKeysWith: { first, _ in first }) == expected)
        #expect(hosted.log.contains("skipped 30 message(s) from before its startFrom time"))
        #expect(hosted.log.contains("has no committed offset and the cluster named no offset at"))
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2)
        #expect(committed == [0: 30, 1: 30])
    }

    @Test("earliest and latest override host.json's autoOffsetReset for the function, on a topic holding records already")
    func earliestAndLatest() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("startfrom-el")
        try broker.createTopic(topic, partitions: 1)
        let before = (0..<10).map { "before-\($0)" }
        try IndependentClient.produce(broker: broker.bootstrapServers, before.map { OutgoingMessage(topic: topic, value: $0, partition: 0) })

        // host.json says Latest; the function says earliest: it gets what was there.
        let fromEarliest = uniqueName("Earliest")
        let earliestHost = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "autoOffsetReset": "Latest" } } }"#,
                                         functions: [(fromEarliest, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: fromEarliest,
                                                                                                     triggerFields: #""startFrom": "earliest""#))],
                                         start: .started)
        defer { earliestHost.stop() }
        // host.json says Earliest (the default); the function says latest: it gets only what comes after it joined.
        let fromLatest = uniqueName("Latest")
        let latestHost = try HostedApp(broker: broker, functions: [(fromLatest, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: fromLatest,
                                                                                                                 triggerFields: #""startFrom": "latest""#))],
                                       start: .started)
        defer { latestHost.stop() }
        try earliestHost.waitForAssignment(fromEarliest)
        try latestHost.waitForAssignment(fromLatest)

        // The latest consumer's position is resolved asynchronously after its assignment: a record
        // produced before that is behind it. Produce one at a time until one arrives.
        var after: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while try !recordedEvents(fromLatest).contains(where: { event in event.valueText.map { after.contains($0) } == true }) {
            guard Date() < deadline else { throw TestSetupError("no record produced after the latest consumer joined reached it") }
            let value = "after-\(after.count)"
            after.append(value)
            try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: topic, value: value, partition: 0)])
            try? waitUntil("\(value) to reach \(fromLatest)", timeout: 2) {
                try recordedEvents(fromLatest).contains { $0.valueText == value }
            }
        }
        let total = Int64(before.count + after.count)
        try waitUntil("both groups committed past every record") {
            try IndependentClient.committed(broker: broker.bootstrapServers, group: fromEarliest, topic: topic, partitions: 1)[0] == total
                && IndependentClient.committed(broker: broker.bootstrapServers, group: fromLatest, topic: topic, partitions: 1)[0] == total
        }
        earliestHost.stop()
        latestHost.stop()
        #expect(try recordedEvents(fromEarliest).compactMap(\.valueText) == before + after)
        let latestValues = try recordedEvents(fromLatest).compactMap(\.valueText)
        #expect(!latestValues.isEmpty && latestValues.allSatisfy { after.contains($0) }, "nothing from before it joined: \(latestValues)")
        #expect(latestValues.last == after.last)
    }

    @Test("On a second start the committed offset wins over startFrom: records after it are called even when older than the time")
    func committedOffsetWins() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("startfrom-again")
        try broker.createTopic(topic, partitions: 1)
        let now = Self.nowMs()
        let first = (0..<20).map { index in
            OutgoingMessage(topic: topic, value: Array("first-\(index)".utf8), partition: 0,
                            timestamp: index < 10 ? now - Self.hour : now)
        }
        try IndependentClient.produce(broker: broker.bootstrapServers, first)
        let function = uniqueName("StartAgain")
        let committed = { try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)[0] }

        let firstHost = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function,
                                                                                                           triggerFields: #""startFrom": "\#(Self.iso(now - Self.hour / 2))""#))],
                                      start: .started)
        defer { firstHost.stop() }
        try waitUntil("the first start committed past every record") { try committed() == 20 }
        firstHost.stop()
        #expect(try recordedEvents(function).compactMap(\.valueText) == (10..<20).map { "first-\($0)" })

        // Older than startFrom, but after the committed offset: the second start calls them.
        try IndependentClient.produce(broker: broker.bootstrapServers, (0..<5).map {
            OutgoingMessage(topic: topic, value: Array("second-\($0)".utf8), partition: 0, timestamp: now - Self.hour)
        })
        let secondHost = try firstHost.restarted()
        defer { secondHost.stop() }
        try waitUntil("the second start committed past the new records") { try committed() == 25 }
        secondHost.stop()
        #expect(try recordedEvents(function).compactMap(\.valueText) == (10..<20).map { "first-\($0)" } + (0..<5).map { "second-\($0)" })
        #expect(!secondHost.log.contains("from before its startFrom time"), "nothing skipped on a partition with a committed offset")
        #expect(!secondHost.log.contains("has no committed offset"))
    }
}
