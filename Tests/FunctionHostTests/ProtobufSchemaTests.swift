import Foundation
import Testing
@testable import FunctionHost

/// Protobuf records in Confluent's wire format, written and read by confluent-kafka's own
/// ProtobufSerializer and ProtobufDeserializer (message classes made by grpcio-tools' protoc at
/// test time), through the tests' schema registry; and schema references, Protobuf and Avro.
@Suite("Protobuf schemas and references", .timeLimit(.minutes(10)))
struct ProtobufSchemaTests {
    /// Registered under its own subject ("customer.proto") and imported by the orders' file.
    static let customerProto = """
        syntax = "proto3";
        package shop;

        message Customer {
          string name = 1;
          int64 since = 2;
        }
        """
    /// Order is the file's second message: its records carry the message indexes [1].
    static let orderProto = """
        syntax = "proto3";
        package shop;

        import "customer.proto";
        import "google/protobuf/timestamp.proto";

        message Ping {
          string from = 1;
        }

        message Order {
          enum Status {
            NEW = 0;
            PAID = 1;
          }
          message Line {
            string sku = 1;
            int32 quantity = 2;
          }
          int64 id = 1;
          Customer customer = 2;
          repeated string tags = 3;
          map<string, int32> counts = 4;
          Status status = 5;
          bytes raw = 6;
          google.protobuf.Timestamp placed_at = 7;
          oneof payment {
            string card = 8;
            int32 cash = 9;
          }
          repeated Line lines = 10;
        }
        """
    static let files = ["customer.proto": customerProto, "order.proto": orderProto]
    static var orders: [[String: Any]] { [
        ["id": "9007199254740993", "customer": ["name": "Ada", "since": "2019"], "tags": ["a", "b"], "counts": ["tea": 2],
         "status": "PAID", "raw": "AQI=", "placedAt": "2026-12-07T09:30:00Z", "card": "4111", "lines": [["sku": "T-1", "quantity": 2]]],
        ["id": "2", "cash": 5],
    ] }
    /// What the function gets: proto3 JSON as libprotobuf writes it (fields in number order,
    /// lowerCamelCase, int64 as strings, enums by name, bytes as base64, a Timestamp in RFC 3339,
    /// the set branch of a oneof, fields at their default value left out).
    static let ordersAsJSON = [
        #"{"id":"9007199254740993","customer":{"name":"Ada","since":"2019"},"tags":["a","b"],"counts":{"tea":2},"status":"PAID","raw":"AQI=","placedAt":"2026-12-07T09:30:00Z","card":"4111","lines":[{"sku":"T-1","quantity":2}]}"#,
        #"{"id":"2","cash":5}"#,
    ]

    func deadLetters(_ hosted: HostedFunction, count: Int) throws -> [(offset: String, reason: String, error: String)] {
        try SchemaTests().deadLetters(hosted, count: count)
    }

    @Test("Records from Confluent's ProtobufSerializer reach the function as proto3 JSON: a second message (indexes [1]) importing another subject's file and a Timestamp, the first message (index byte 0); unknown ids, bad indexes and truncated bytes are dead-lettered with their reason")
    func protobufThroughRegistry() throws {
        let registry = try SchemaRegistryDouble()
        let hosted = try HostedFunction("protobuf", dataType: "string", triggerFields: #""schemaRegistryUrl": "\#(registry.url)""#)
        defer { hosted.stop() }
        let orders = try registry.serializeProtobuf(topic: hosted.topic, files: Self.files, main: "order.proto", message: "Order", Self.orders)
        let pings = try registry.serializeProtobuf(topic: hosted.topic, files: Self.files, main: "order.proto", message: "Ping", [["from": "Zoë"]])
        // Confluent's serializers fetch the reference too: count the host's requests from here.
        let referenceFetches = try registry.requests("GET /subjects/customer.proto/versions/1")
        // customer.proto is id 1, order.proto id 2; Order is message 1 ([1]: count 1, index 1, zig-zag), Ping message 0.
        #expect(Array(orders[0].prefix(7)) == [0, 0, 0, 0, 2, 2, 2])
        #expect(Array(pings[0].prefix(6)) == [0, 0, 0, 0, 2, 0])
        let values: [[UInt8]] = [
            orders[0],
            [0, 0, 0, 0, 9, 0] + orders[1].dropFirst(7),  // schema id 9: not registered
            Array(orders[0].prefix(5)) + [2, 10] + orders[1].dropFirst(7),  // indexes [5]: no such message
            Array(orders[0].prefix(5)) + [0x80],  // the index array cut short
            Array(orders[0].dropLast(3)),  // truncated inside the last line
            pings[0],
            orders[1],
        ]
        let placements = try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == placements.last!.offset + 1 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == [Self.ordersAsJSON[0], #"{"from":"Zoë"}"#, Self.ordersAsJSON[1]])
        let letters = try deadLetters(hosted, count: 4)
        #expect(letters.map(\.offset) == ["1", "2", "3", "4"])
        #expect(letters.map(\.reason) == ["schema-not-found", "deserialization-error", "deserialization-error", "deserialization-error"])
        #expect(letters[0].error.contains("has no schema id 9"))
        #expect(letters[1].error.contains("the message indexes [5] name no message"))
        #expect(letters[2].error.contains("no valid message-index array"))
        #expect(letters[3].error.contains("not a shop.Order message (truncated or invalid)"))
        #expect(try hosted.committed()[0] == 7)
        // The schema and its reference are fetched once, then kept.
        #expect(try registry.requests("GET /schemas/ids/2") == 1)
        #expect(try registry.requests("GET /subjects/customer.proto/versions/1") == referenceFetches + 1)
    }

    @Test("A schema registered by the serializer itself (base64 descriptors) decodes too, and filters match the decoded JSON; dataType binary keeps the framed bytes")
    func serializerRegisteredFilteredAndBinary() throws {
        let registry = try SchemaRegistryDouble()
        // Only the paid order: the bytes on the topic are Protobuf, only the decoded JSON can match.
        let filters = #", "filters": [{ "pattern": { "value": { "status": ["PAID"] } } }]"#
        let hosted = try HostedFunction("protobin", dataType: "string", triggerFields: #""schemaRegistryUrl": "\#(registry.url)"\#(filters)"#)
        defer { hosted.stop() }
        let orders = try registry.serializeProtobuf(topic: hosted.topic, files: Self.files, main: "order.proto", message: "Order", Self.orders, registerText: false)
        try hosted.produce(orders.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 2 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == [Self.ordersAsJSON[0]])
        #expect(hosted.log.contains("left out 1 message(s) that matched none of its filters"))

        let binary = try HostedFunction("protoraw", dataType: "binary", triggerFields: #""schemaRegistryUrl": "\#(registry.url)""#)
        defer { binary.stop() }
        try binary.produce([OutgoingMessage(topic: binary.topic, value: orders[0], partition: 0)])
        try waitUntil("the record stored", timeout: 60) { binary.storedOffset == 1 }
        binary.stop()
        #expect(try recordedEvents(binary.name).compactMap(\.value) == [orders[0]])
    }

    @Test("While a reference cannot be fetched the partition waits (nothing called, nothing committed); a reference the registry does not have is schema-not-found")
    func referenceUnavailableAndMissing() throws {
        let registry = try SchemaRegistryDouble()
        let hosted = try HostedFunction("protoref", dataType: "string", triggerFields: #""schemaRegistryUrl": "\#(registry.url)""#)
        defer { hosted.stop() }
        let orders = try registry.serializeProtobuf(topic: hosted.topic, files: Self.files, main: "order.proto", message: "Order", Self.orders)
        // A schema whose reference names a subject nobody registered (id 3).
        let dangling: [String: Any] = ["schemaType": "PROTOBUF", "schema": Self.orderProto,
                                       "references": [["name": "customer.proto", "subject": "nobody", "version": 1]]]
        let answer = try HTTP.post(registry.url + "/subjects/dangling-value/versions",
                                   json: String(decoding: try JSONSerialization.data(withJSONObject: dangling), as: UTF8.self))
        #expect(answer.body.contains(#""id": 3"#))
        // Confluent's serializers fetch the reference too: count the host's requests from here.
        let referenceFetches = try registry.requests("GET /subjects/customer.proto/versions/1")
        try registry.goDown(prefix: "/subjects/")
        try hosted.produce(orders.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("the host to ask for the reference again after its first wait", timeout: 30) {
            try registry.requests("GET /subjects/customer.proto/versions/1") >= referenceFetches + 2
        }
        try waitUntil("the wait to be logged", timeout: 10) { hosted.log.contains("for the schema registry", "asking again in") }
        #expect(try recordedEvents(hosted.name).isEmpty)
        #expect(hosted.storedOffset ?? 0 == 0)
        #expect(hosted.log.contains("partition 0 waits at offset 0 for the schema registry"))
        try registry.comeBack()
        let missing = [0, 0, 0, 0, 3] + orders[1].dropFirst(5)
        try hosted.produce([OutgoingMessage(topic: hosted.topic, value: Array(missing), partition: 0)])
        try waitUntil("every offset stored once the registry answers", timeout: 60) { hosted.storedOffset == 3 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == Self.ordersAsJSON)
        let letters = try deadLetters(hosted, count: 1)
        #expect(letters.map(\.reason) == ["schema-not-found"])
        #expect(letters.first?.error.contains("subject 'nobody'") == true)
        #expect(try hosted.committed()[0] == 3)
    }

    @Test("An output binding encodes the function's JSON as the subject's latest Protobuf schema (protobufMessage picks Order, indexes [1]); Confluent's deserializer reads it; a misfit fails its invocation naming the field")
    func protobufOutput() throws {
        let registry = try SchemaRegistryDouble()
        let output = uniqueName("proto-out")
        // The output subject's schema, registered as text (a serializer's first record does so).
        _ = try registry.serializeProtobuf(topic: output, files: Self.files, main: "order.proto", message: "Order", [["id": "1"]])
        let hosted = try HostedFunction(
            "protoout", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.1" } }"#,
            entryPoint: "forward_value", dataType: "string", outputs: [output],
            outputFields: #""schemaRegistryUrl": "\#(registry.url)", "protobufMessage": "shop.Order""#)
        defer { hosted.stop() }
        let sent = [
            #"{"id": 7, "customer": {"name": "Cy"}, "placed_at": "2026-12-07T09:30:00Z", "counts": {"x": 1}, "status": "PAID", "cash": 3}"#,
            #"{"id": "seven"}"#,
            #"{"id": "8", "tags": ["t"], "raw": "AQI="}"#,
        ]
        try hosted.produce(sent.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 3 }
        hosted.stop()
        let written = try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: output, partitions: 1, count: 2, timeout: 20).compactMap(\.value)
        #expect(written.count == 2)
        #expect(written.allSatisfy { $0.prefix(7) == [0, 0, 0, 0, 2, 2, 2] })
        let read = try registry.deserializeProtobuf(topic: output, files: Self.files, main: "order.proto", message: "Order", written)
        let expected: [[String: Any]] = [
            ["id": "7", "customer": ["name": "Cy"], "placedAt": "2026-12-07T09:30:00Z", "counts": ["x": 1], "status": "PAID", "cash": 3],
            ["id": "8", "tags": ["t"], "raw": "AQI="],
        ]
        #expect(NSArray(array: read).isEqual(to: expected))
        let letters = try deadLetters(hosted, count: 1)
        #expect(letters.map(\.offset) == ["1"])
        #expect(letters.first?.error.contains("(id): invalid value \"seven\"") == true)
    }

    @Test("An Avro schema that references a record type registered under another subject decodes")
    func avroReference() throws {
        let registry = try SchemaRegistryDouble()
        let customer = #"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"name","type":"string"}]}"#
        let order = #"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"buyer","type":"shop.Customer"},{"name":"payer","type":["null","Customer"]}]}"#
        let hosted = try HostedFunction("avroref", dataType: "string", triggerFields: #""schemaRegistryUrl": "\#(registry.url)""#)
        defer { hosted.stop() }
        let framed = try registry.serializeAvro(topic: hosted.topic, schema: order,
                                                [["id": 1, "buyer": ["name": "Ada"], "payer": ["name": "Bob"]], ["id": 2, "buyer": ["name": "Cy"], "payer": NSNull()]],
                                                references: [("shop.Customer", "customer", customer)])
        let referenceFetches = try registry.requests("GET /subjects/customer/versions/1")
        try hosted.produce(framed.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) { hosted.storedOffset == 2 }
        hosted.stop()
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == [
            #"{"id":1,"buyer":{"name":"Ada"},"payer":{"shop.Customer":{"name":"Bob"}}}"#,
            #"{"id":2,"buyer":{"name":"Cy"},"payer":null}"#,
        ])
        #expect(try registry.requests("GET /subjects/customer/versions/1") == referenceFetches + 1)
    }

    @Test("protobufSchema and protobufMessage are checked at load, naming the field")
    func configurationErrors() throws {
        func error(_ fields: String, output: Bool = false) -> ConfigurationError? {
            let binding = output
                ? #"{ "type": "kafkaTrigger", "brokerList": "b", "topic": "t" }, { "type": "kafka", "direction": "out", "brokerList": "b", "topic": "o", \#(fields) }"#
                : #"{ "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "dataType": "string", \#(fields) }"#
            do {
                let object = try JSONSerialization.jsonObject(with: Data(#"{ "bindings": [ \#(binding) ] }"#.utf8)) as! [String: Any]
                _ = try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                                    directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
                return nil
            } catch {
                return error as? ConfigurationError
            }
        }
        let broken = error(#""protobufSchema": "syntax = \"proto3\"; message { }""#)
        #expect(broken?.field == "bindings[0].protobufSchema")
        #expect(broken?.message.contains("is not a .proto schema: ") == true)
        #expect(error(#""protobufSchema": "syntax = \"proto3\"; message A { }", "protobufMessage": "A""#)?.field == "bindings[0].protobufMessage")
        let unknown = error(#""protobufSchema": "syntax = \"proto3\"; message A { }", "protobufMessage": "B""#, output: true)
        #expect(unknown?.field == "bindings[1].protobufMessage")
        #expect(unknown?.message.contains("has no message B (its messages: A)") == true)
        #expect(error(#""protobufSchema": "syntax = \"proto3\"; message A { }", "protobufMessage": "A""#, output: true) == nil)
    }
}
