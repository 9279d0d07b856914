import FunctionABI
import Foundation
import Testing
@testable import FunctionHost

/// Each platform shape, checked field by field against the example event the platform documents:
/// the same record is built as `sf_event_v1`s, serialized, parsed back and compared.
@Suite("Event formats", .timeLimit(.minutes(10)))
struct EventFormatTests {
    /// AWS's documented self-managed Kafka event (Lambda developer guide, "Example event"; the
    /// Powertools parser documents the same with a decodable key: "recordKey", {"key":"value"}).
    static let awsDocumented = #"""
        {
           "eventSource": "SelfManagedKafka",
           "bootstrapServers": "b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092",
           "records": {
              "mytopic-0": [
                 {
                    "topic": "mytopic",
                    "partition": 0,
                    "offset": 15,
                    "timestamp": 1545084650987,
                    "timestampType": "CREATE_TIME",
                    "key": "cmVjb3JkS2V5",
                    "value": "eyJrZXkiOiJ2YWx1ZSJ9",
                    "headers": [
                       { "headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101] }
                    ]
                 }
              ]
           }
        }
        """#

    /// Tencent SCF's documented CKafka trigger event (two records sent without a key).
    static let tencentDocumented = #"""
        {
          "Records": [
            { "Ckafka": { "topic": "test-topic", "partition": 1, "offset": 36, "msgKey": "None", "msgBody": "Hello from Ckafka!" } },
            { "Ckafka": { "topic": "test-topic", "partition": 1, "offset": 37, "msgKey": "None", "msgBody": "Hello from Ckafka again!" } }
          ]
        }
        """#

    /// Azure's KafkaEventData as its Kafka extension's samples show it (Offset, Partition, Topic,
    /// Timestamp, Value, Headers; header values are base64, which the JavaScript and Python
    /// samples decode), with the Key a trigger with a key gets.
    static let azureDocumented = #"""
        { "Offset": 364, "Partition": 0, "Topic": "kafkaeventhubtest1", "Timestamp": "2022-04-09T03:20:06.591Z",
          "Value": "{\"registertime\":1511985752912,\"userid\":\"User_6\"}", "Key": "User_6",
          "Headers": [ { "Key": "test", "Value": "cHl0aG9u" } ] }
        """#

    @Test("AWS: the documented self-managed Kafka event, field by field")
    func awsMatchesDocumentedExample() throws {
        let events = SyntheticEvents([SyntheticRecord(
            topic: "mytopic", partition: 0, offset: 15, timestamp: 1_545_084_650_987,
            key: Array("recordKey".utf8), value: Array(#"{"key":"value"}"#.utf8), headers: [("headerKey", Array("headerValue".utf8))])])
        let builder = EventDocumentBuilder(format: .aws, cardinality: .many, bootstrapServers:
            "b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092")
        let document = builder.build(events.events, count: events.count)
        let produced = try #require(try parseJSON(documentText(document)) as? [String: Any])
        let documented = try #require(try parseJSON(Self.awsDocumented) as? [String: Any])
        #expect(produced["eventSource"] as? String == documented["eventSource"] as? String)
        #expect(produced["bootstrapServers"] as? String == documented["bootstrapServers"] as? String)
        let producedRecords = try #require(produced["records"] as? [String: [[String: Any]]])
        let documentedRecords = try #require(documented["records"] as? [String: [[String: Any]]])
        #expect(Set(producedRecords.keys) == Set(documentedRecords.keys))
        let record = try #require(producedRecords["mytopic-0"]?.first)
        let expected = try #require(documentedRecords["mytopic-0"]?.first)
        #expect(Set(record.keys) == Set(expected.keys))
        for field in ["topic", "timestampType", "key", "value"] {
            #expect(record[field] as? String == expected[field] as? String, "\(field)")
        }
        for field in ["partition", "offset", "timestamp"] {
            #expect((record[field] as? NSNumber)?.int64Value == (expected[field] as? NSNumber)?.int64Value, "\(field)")
        }
        #expect(record["headers"] as? [[String: [Int]]] == expected["headers"] as? [[String: [Int]]])
        // The document event itself: the first record's place, no key, no headers.
        #expect(document.pointee.offset == 15 && document.pointee.partition == 0 && document.pointee.key == nil && document.pointee.header_count == 0)
    }

    @Test("AWS: records grouped by topic-partition in order; null key and value left out; no timestamp")
    func awsGroupsByPartition() throws {
        let events = SyntheticEvents([
            SyntheticRecord(topic: "t", partition: 2, offset: 7, timestamp: 10, value: Array("a".utf8)),
            SyntheticRecord(topic: "t", partition: 0, offset: 3, value: nil),
            SyntheticRecord(topic: "t", partition: 2, offset: 8, timestamp: 11, timestampType: SF_TIMESTAMP_LOG_APPEND_TIME, value: Array("b".utf8)),
        ])
        let builder = EventDocumentBuilder(format: .aws, cardinality: .many, bootstrapServers: "127.0.0.1:9092")
        let text = documentText(builder.build(events.events, count: events.count))
        #expect(text.contains(#""records":{"t-2":[{"#), "partition 2 comes first: \(text)")
        let records = try #require((try parseJSON(text) as? [String: Any])?["records"] as? [String: [[String: Any]]])
        #expect(records["t-2"]?.map { ($0["offset"] as? NSNumber)?.intValue } == [7, 8])
        #expect(records["t-2"]?.map { $0["timestampType"] as? String } == ["CREATE_TIME", "LOG_APPEND_TIME"])
        let tombstone = try #require(records["t-0"]?.first)
        #expect(tombstone["value"] == nil && tombstone["key"] == nil)
        #expect(tombstone["timestampType"] as? String == "NO_TIMESTAMP_TYPE" && (tombstone["timestamp"] as? NSNumber)?.intValue == -1)
    }

    @Test("Tencent: the documented CKafka event, field by field")
    func tencentMatchesDocumentedExample() throws {
        let events = SyntheticEvents([
            SyntheticRecord(topic: "test-topic", partition: 1, offset: 36, timestamp: 1, value: Array("Hello from Ckafka!".utf8)),
            SyntheticRecord(topic: "test-topic", partition: 1, offset: 37, timestamp: 2, value: Array("Hello from Ckafka again!".utf8)),
        ])
        let builder = EventDocumentBuilder(format: .tencent, cardinality: .many, bootstrapServers: "unused:1")
        let produced = try #require((try parseJSON(documentText(builder.build(events.events, count: events.count))) as? [String: Any])?["Records"] as? [[String: [String: Any]]])
        let documented = try #require((try parseJSON(Self.tencentDocumented) as? [String: Any])?["Records"] as? [[String: [String: Any]]])
        #expect(produced.count == documented.count)
        for (record, expected) in zip(produced, documented) {
            let fields = try #require(record["Ckafka"]), expectedFields = try #require(expected["Ckafka"])
            #expect(Set(fields.keys) == Set(expectedFields.keys))
            for field in ["topic", "msgKey", "msgBody"] { #expect(fields[field] as? String == expectedFields[field] as? String, "\(field)") }
            for field in ["partition", "offset"] { #expect((fields[field] as? NSNumber)?.intValue == (expectedFields[field] as? NSNumber)?.intValue, "\(field)") }
        }
    }

    @Test("Azure: KafkaEventData field by field; ONE is an object, MANY an array")
    func azureMatchesDocumentedExample() throws {
        let record = SyntheticRecord(topic: "kafkaeventhubtest1", partition: 0, offset: 364, timestamp: 1_649_474_406_591,
                                     key: Array("User_6".utf8), value: Array(#"{"registertime":1511985752912,"userid":"User_6"}"#.utf8),
                                     headers: [("test", Array("python".utf8))])
        let events = SyntheticEvents([record, record])
        let documented = try #require(try parseJSON(Self.azureDocumented) as? [String: Any])

        let one = EventDocumentBuilder(format: .azure, cardinality: .one, dataType: .string, bootstrapServers: "unused:1")
        let object = try #require(try parseJSON(documentText(one.build(events.events, count: 1))) as? [String: Any])
        #expect(Set(object.keys) == Set(documented.keys))
        for field in ["Topic", "Timestamp", "Value", "Key"] { #expect(object[field] as? String == documented[field] as? String, "\(field)") }
        for field in ["Offset", "Partition"] { #expect((object[field] as? NSNumber)?.intValue == (documented[field] as? NSNumber)?.intValue, "\(field)") }
        #expect(object["Headers"] as? [[String: String]] == documented["Headers"] as? [[String: String]])

        let many = EventDocumentBuilder(format: .azure, cardinality: .many, dataType: .string, bootstrapServers: "unused:1")
        let array = try #require(try parseJSON(documentText(many.build(events.events, count: 2))) as? [[String: Any]])
        #expect(array.count == 2 && array.allSatisfy { $0["Timestamp"] as? String == "2022-04-09T03:20:06.591Z" })
    }

    @Test("Azure: binary values and keys are base64, null stays null, timestamps as Json.NET writes them")
    func azureBinaryAndTimestamps() throws {
        let events = SyntheticEvents([
            SyntheticRecord(topic: "t", partition: 1, offset: 0, timestamp: 1_700_000_000_000, key: nil, value: [0x00, 0xFF, 0x80]),
            SyntheticRecord(topic: "t", partition: 1, offset: 1, timestamp: 1_700_000_000_500, key: [], value: nil, headers: [("n", nil)]),
            SyntheticRecord(topic: "t", partition: 1, offset: 2, value: Array("\"quoted\"\n".utf8)),
        ])
        let builder = EventDocumentBuilder(format: .azure, cardinality: .many, dataType: .binary, bootstrapServers: "unused:1")
        let array = try #require(try parseJSON(documentText(builder.build(events.events, count: 3))) as? [[String: Any]])
        #expect(array[0]["Value"] as? String == "AP+A")
        #expect(array[0]["Key"] is NSNull)
        #expect(array[0]["Timestamp"] as? String == "2023-11-14T22:13:20Z")
        #expect(array[1]["Timestamp"] as? String == "2023-11-14T22:13:20.5Z")
        #expect(array[1]["Key"] as? String == "" && array[1]["Value"] is NSNull)
        #expect((array[1]["Headers"] as? [[String: Any]])?.first?["Value"] is NSNull)
        #expect(array[2]["Timestamp"] as? String == "1970-01-01T00:00:00Z")
        #expect(array[2]["Value"] as? String == Data("\"quoted\"\n".utf8).base64EncodedString())

        let text = EventDocumentBuilder(format: .azure, cardinality: .one, dataType: .string, bootstrapServers: "unused:1")
        let object = try #require(try parseJSON(documentText(text.build(events.events + 2, count: 1))) as? [String: Any])
        #expect(object["Value"] as? String == "\"quoted\"\n", "text is escaped, not encoded")
    }

    @Test("The builder reuses its buffer: a later, smaller document does not keep bytes of an earlier one")
    func builderReusesBuffer() throws {
        let large = SyntheticEvents([SyntheticRecord(topic: "t", partition: 0, offset: 1, value: Array(repeating: 0x61, count: 10_000))])
        let small = SyntheticEvents([SyntheticRecord(topic: "t", partition: 0, offset: 2, value: Array("x".utf8))])
        let builder = EventDocumentBuilder(format: .tencent, cardinality: .one, bootstrapServers: "unused:1")
        _ = builder.build(large.events, count: 1)
        let second = builder.build(small.events, count: 1)
        #expect(documentText(second) == #"{"Records":[{"Ckafka":{"topic":"t","partition":0,"offset":2,"msgKey":"None","msgBody":"x"}}]}"#)
    }
}
