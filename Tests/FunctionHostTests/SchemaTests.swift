import Foundation
import Testing
@testable import FunctionHost

/// Schema-aware triggers and outputs: Confluent-framed Avro and JSON Schema records, written and
/// read by confluent-kafka's own serializers, through the tests' schema registry.
@Suite("Schemas", .timeLimit(.minutes(10)))
struct SchemaTests {
    static let orderSchema = #"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"note","type":["null","string"]},{"name":"tags","type":{"type":"array","items":"string"}}]}"#
    static var orders: [[String: Any]] {
        [
            ["id": 1, "name": "Ada", "note": "first", "tags": ["a", "b"]],
            ["id": 2, "name": "Bob", "note": NSNull(), "tags": [String]()],
            ["id": 3, "name": "Zoë", "note": "last", "tags": ["c"]],
        ]
    }
    /// The records above as the function gets them: Avro's JSON encoding (unions as
    /// {"branch": value}), compact, text in UTF-8.
    static let ordersAsJSON = [
        #"{"id":1,"name":"Ada","note":{"string":"first"},"tags":["a","b"]}"#,
        #"{"id":2,"name":"Bob","note":null,"tags":[]}"#,
        #"{"id":3,"name":"Zoë","note":{"string":"last"},"tags":["c"]}"#,
    ]

    static func registryFields(_ registry: SchemaRegistryDouble) -> String {
        #""schemaRegistryUrl": "\#(registry.url)", "schemaRegistryUsername": "tester", "schemaRegistryPassword": "secret""#
    }

    func deadLetters(_ hosted: HostedFunction, count: Int) throws -> [(offset: String, reason: String, error: String)] {
        try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: hosted.deadLetterTopic, partitions: 1, count: count, timeout: 20).map { letter in
            let headers = Dictionary(letter.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 })
            return (headers["swiftfunc.dlq.offset"] ?? "", headers["swiftfunc.dlq.reason"] ?? "", headers["swiftfunc.dlq.error"] ?? "")
        }
    }

    @Test("Avro values through the registry reach the function as JSON; unframed, unknown-id and truncated records are dead-lettered with their reason",
          arguments: ["partition", "key"])
    func avroThroughRegistry(ordering: String) throws {
        let registry = try SchemaRegistryDouble(credentials: "tester:secret")
        let hosted = try HostedFunction("avro", dataType: "string",
                                        triggerFields: #""ordering": "\#(ordering)", \#(Self.registryFields(registry))"#)
        defer { hosted.stop() }
        let framed = try registry.serializeAvro(topic: hosted.topic, schema: Self.orderSchema, Self.orders)
        #expect(framed[0].prefix(5) == [0, 0, 0, 0, 1])
        let values: [[UInt8]] = [
            framed[0],
            Array("plain text".utf8),
            framed[1],
            [0, 0, 0, 3, 0xE7] + framed[0].dropFirst(5),
            Array(framed[2].dropLast(2)),
            framed[2],
        ]
        let placements = try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == placements.last!.offset + 1 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == Self.ordersAsJSON)
        let letters = try deadLetters(hosted, count: 3)
        #expect(letters.map(\.offset) == ["1", "3", "4"])
        #expect(letters.map(\.reason) == ["deserialization-error", "schema-not-found", "deserialization-error"])
        #expect(letters[0].error.contains("not in the Confluent wire format"))
        #expect(letters[1].error.contains("has no schema id 999"))
        #expect(letters[2].error.contains("does not decode with Avro schema id 1"))
        #expect(try hosted.committed()[0] == 6)
        // Fetched once, then from the cache.
        #expect(try registry.requests("GET /schemas/ids/1") == 1)
    }

    @Test("While the registry is down the partition waits (nothing called, nothing dead-lettered, nothing committed); once it answers, everything is delivered in order; filters match the decoded record, the one waited at too",
          arguments: ["partition", "key"], [false, true])
    func registryDownWaits(ordering: String, filtered: Bool) throws {
        let registry = try SchemaRegistryDouble()
        // Filtered: Ada (id 1, the record the partition waits at) is left out, Bob and Zoë are
        // called. The bytes on the topic are Avro: only the decoded JSON can match.
        let filters = filtered ? #", "filters": [{ "pattern": { "value": { "id": [{ "numeric": [">=", 2] }] } } }]"# : ""
        let hosted = try HostedFunction(filtered ? "avrofilter" : "avrowait", dataType: "string",
                                        triggerFields: #""ordering": "\#(ordering)", "schemaRegistryUrl": "\#(registry.url)"\#(filters)"#)
        defer { hosted.stop() }
        let framed = try registry.serializeAvro(topic: hosted.topic, schema: Self.orderSchema, Self.orders)
        try registry.goDown()
        try hosted.produce(framed.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("the host to ask the registry again after its first wait", timeout: 30) { try registry.requests("GET /schemas/ids/1") >= 2 }
        try waitUntil("the wait to be logged", timeout: 10) { hosted.log.contains("for the schema registry", "asking again in") }
        #expect(try recordedEvents(hosted.name).isEmpty)
        #expect(hosted.storedOffset ?? 0 == 0)
        #expect(hosted.log.contains("partition 0 waits at offset 0 for the schema registry"))
        try registry.comeBack()
        try waitUntil("every offset stored once the registry answers", timeout: 60) { hosted.storedOffset == 3 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == (filtered ? Array(Self.ordersAsJSON.suffix(2)) : Self.ordersAsJSON))
        #expect(try deadLetters(hosted, count: 1).isEmpty)
        #expect(try hosted.committed()[0] == 3)
        #expect(hosted.log.contains("left out 1 message(s) that matched none of its filters") == filtered)
    }

    @Test("JSON Schema records reach the function as their JSON, the prefix removed; a framed record that is not JSON is dead-lettered")
    func jsonSchema() throws {
        let registry = try SchemaRegistryDouble()
        let hosted = try HostedFunction("jsonschema", dataType: "string", triggerFields: #""schemaRegistryUrl": "\#(registry.url)""#)
        defer { hosted.stop() }
        let schema = #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}"#
        let framed = try registry.serializeJSON(topic: hosted.topic, schema: schema, [["name": "Ada", "age": 36], ["name": "Émile"]])
        let broken = Array(framed[0].prefix(5)) + Array("{not json".utf8)
        try hosted.produce([framed[0], broken, framed[1]].map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 3 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.value) == [Array(framed[0].dropFirst(5)), Array(framed[1].dropFirst(5))])
        let letters = try deadLetters(hosted, count: 1)
        #expect(letters.map(\.reason) == ["deserialization-error"])
        #expect(letters.first?.error.contains("is not valid JSON") == true)
    }

    @Test("Inline avroSchema and keyAvroSchema decode framed values and keys without asking a registry")
    func inlineSchemas() throws {
        let registry = try SchemaRegistryDouble()
        let keySchema = #"{"type":"record","name":"CustomerKey","fields":[{"name":"customer","type":"string"}]}"#
        let escapedValue = Self.orderSchema.replacingOccurrences(of: "\"", with: "\\\"")
        let escapedKey = keySchema.replacingOccurrences(of: "\"", with: "\\\"")
        let hosted = try HostedFunction("avroinline", dataType: "string",
                                        triggerFields: #""avroSchema": "\#(escapedValue)", "keyAvroSchema": "\#(escapedKey)""#)
        defer { hosted.stop() }
        let values = try registry.serializeAvro(topic: hosted.topic, schema: Self.orderSchema, Array(Self.orders.prefix(2)))
        let keys = try registry.serializeAvro(topic: hosted.topic, schema: keySchema, [["customer": "c1"], ["customer": "c2"]], key: true)
        try hosted.produce(zip(keys, values).map { OutgoingMessage(topic: hosted.topic, key: $0, value: $1, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 2 }
        hosted.stop()
        let events = try recordedEvents(hosted.name)
        #expect(events.compactMap(\.valueText) == Array(Self.ordersAsJSON.prefix(2)))
        #expect(events.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == [#"{"customer":"c1"}"#, #"{"customer":"c2"}"#])
    }

    @Test("An output binding with avroSchema writes Confluent-framed Avro that Confluent's deserializer reads; a record that does not fit fails its invocation")
    func avroOutput() throws {
        let registry = try SchemaRegistryDouble()
        let output = uniqueName("avro-out")
        let escaped = Self.orderSchema.replacingOccurrences(of: "\"", with: "\\\"")
        let hosted = try HostedFunction(
            "avroout", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.1" } }"#,
            entryPoint: "forward_value", dataType: "string", outputs: [output],
            outputFields: #""avroSchema": "\#(escaped)", "schemaRegistryUrl": "\#(registry.url)""#)
        defer { hosted.stop() }
        let sent = [
            #"{"id": 7, "name": "Cy", "note": "plain union value", "tags": ["x"]}"#,
            #"{"id": "seven", "name": "Dee", "note": null, "tags": []}"#,
            #"{"id": 8, "name": "Eve", "note": {"string": "tagged"}, "tags": []}"#,
        ]
        try hosted.produce(sent.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 3 }
        hosted.stop()
        let written = try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: output, partitions: 1, count: 2, timeout: 20).compactMap(\.value)
        #expect(written.count == 2)
        #expect(written.allSatisfy { $0.prefix(5) == [0, 0, 0, 0, 1] })
        let read = try registry.deserializeAvro(topic: output, written)
        let expected: [[String: Any]] = [["id": 7, "name": "Cy", "note": "plain union value", "tags": ["x"]], ["id": 8, "name": "Eve", "note": "tagged", "tags": []]]
        #expect(NSArray(array: read).isEqual(to: expected))
        let letters = try deadLetters(hosted, count: 1)
        #expect(letters.map(\.offset) == ["1"])
        #expect(letters.first?.error.contains("field 'id'") == true)
    }

    @Test("Schema fields are checked at load, naming the field")
    func configurationErrors() throws {
        func parse(_ fields: String, output: String = "") throws -> FunctionConfiguration {
            let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "dataType": "string", \#(fields) }\#(output) ] }"#
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            return try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                                   directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
        }
        func error(_ fields: String, output: String = "") -> ConfigurationError? {
            do { _ = try parse(fields, output: output); return nil } catch { return error as? ConfigurationError }
        }
        let parsed = try parse(#""schemaRegistryUrl": "https://registry.example:8081/base", "schemaRegistryUsername": "u", "schemaRegistryPassword": "p""#)
        #expect(parsed.trigger.schemas?.registry?.url.absoluteString == "https://registry.example:8081/base")
        #expect(parsed.warnings.isEmpty)
        #expect(error(#""schemaRegistryUrl": "registry:8081""#)?.field == "bindings[0].schemaRegistryUrl")
        #expect(error(#""schemaRegistryUrl": "https://r", "schemaRegistryUsername": "u""#)?.field == "bindings[0].schemaRegistryPassword")
        #expect(error(#""schemaRegistryPassword": "p""#)?.message.contains("means nothing without schemaRegistryUrl") == true)
        let notAvro = error(#""avroSchema": "{\"type\": \"record\", \"name\": \"R\"}""#)
        #expect(notAvro?.field == "bindings[0].avroSchema")
        #expect(notAvro?.message.hasPrefix("is not an Avro schema: ") == true)
        #expect(error(#""avroSchema": "\"string\"""#, output: #", { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "o", "keyAvroSchema": "\"string\"" }"#)?.field == "bindings[1].keyAvroSchema")
    }
}
