import Foundation
import Testing
@testable import FunctionHost

/// `maxRecordAge`: records older than it when consumed are dead-lettered without a call.
@Suite("Record age", .timeLimit(.minutes(10)))
struct RecordAgeTests {
    @Test("maxRecordAge is a time span from 1 s to 365 days")
    func parsing() throws {
        func parse(_ value: String) throws -> FunctionConfiguration {
            let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "maxRecordAge": "\#(value)" } ] }"#
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            return try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                                   directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
        }
        #expect(try parse("01:30:00").trigger.maxRecordAgeSeconds == 5_400)
        #expect(try parse("7.00:00:00").trigger.maxRecordAgeSeconds == 604_800)
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].maxRecordAge", "must be from 00:00:01 to 365.00:00:00, not '400.00:00:00'")) {
            try parse("400.00:00:00")
        }
        #expect(throws: ConfigurationError(file: "functions/Fn/function.json", field: "bindings[0].maxRecordAge", "'3600' is not a time span; write it as hh:mm:ss or d.hh:mm:ss (e.g. \"01:00:00\")")) {
            try parse("3600")
        }
    }

    @Test("Older records go to the dead-letter topic with reason record-age; newer ones are invoked; offsets pass both",
          arguments: ["partition", "key"])
    func oldRecordsDeadLettered(ordering: String) throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("aged")
        let deadLetterTopic = "\(topic).dlq"
        try broker.createTopics([topic, deadLetterTopic], partitions: 1)
        let function = uniqueName("Aged")
        var json = try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function,
                                                   triggerFields: #""ordering": "\#(ordering)", "maxRecordAge": "00:10:00""#)
        json = json.replacingOccurrences(of: #""entryPoint""#, with: #""deadLetterTopic": "\#(deadLetterTopic)", "entryPoint""#)
        let hosted = try HostedApp(broker: broker, functions: [(function, json)])

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, [
            OutgoingMessage(topic: topic, value: Array("fresh-1".utf8), partition: 0, timestamp: now - 60_000),
            OutgoingMessage(topic: topic, value: Array("stale".utf8), partition: 0, timestamp: now - 3_600_000),
            OutgoingMessage(topic: topic, value: Array("fresh-2".utf8), partition: 0),
        ])
        try waitUntil("offsets committed past all three") {
            try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)[0] == placements[2].offset + 1
        }
        hosted.stop()
        #expect(try recordedEvents(function).compactMap(\.valueText) == ["fresh-1", "fresh-2"])
        let letter = try #require(try IndependentClient.consume(broker: broker.bootstrapServers, topic: deadLetterTopic, partitions: 1, count: 1).first)
        #expect(letter.value == Array("stale".utf8))
        let headers = Dictionary(letter.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 })
        #expect(headers["swiftfunc.dlq.reason"] == "record-age")
        #expect(headers["swiftfunc.dlq.offset"] == "\(placements[1].offset)")
        #expect(headers["swiftfunc.dlq.error"]?.contains("older than the trigger's maxRecordAge (600 s); the function was not called") == true)
    }
}
