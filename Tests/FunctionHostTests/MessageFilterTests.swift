import Foundation
import Testing
@testable import FunctionHost

private func filter(_ filters: String) throws -> MessageFilter {
    let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "filters": \#(filters) } ] }"#
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    let function = try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                                   directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
    return try #require(function.trigger.filter)
}

extension MessageFilter {
    /// Judges a record given as strings (nil: absent; a header value nil: a header without value).
    func matches(value: String?, key: String? = nil, headers: [String: String?] = [:]) -> Bool {
        func withBytes<R>(_ text: String?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let text else { return body(nil) }
            return Array(text.utf8).withUnsafeBytes { body($0) }
        }
        return withBytes(value) { valueBytes in
            withBytes(key) { keyBytes in
                matches(key: keyBytes, value: valueBytes) { name in
                    guard let header = headers[String(cString: name)] else { return nil }
                    guard let header else { return UnsafeRawBufferPointer(start: nil, count: 0) }
                    // Lives as long as the test process: fine for a handful of lookups.
                    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: header.utf8.count, alignment: 1)
                    copy.copyBytes(from: Array(header.utf8))
                    return UnsafeRawBufferPointer(copy)
                }
            }
        }
    }
}

/// The filter language on its own, without a broker: AWS's patterns on the value's JSON, and
/// swiftfunc's on the key and headers.
@Suite("Message filters", .timeLimit(.minutes(10)))
struct MessageFilterTests {
    @Test("AWS's example: value.device_ID with a prefix, the pattern written as a string as AWS writes it")
    func awsExample() throws {
        let matcher = try filter(#"[ { "Pattern": "{ \"value\" : { \"device_ID\" : [ { \"prefix\": \"AB\" } ] } }" } ]"#)
        #expect(matcher.matches(value: #"{"device_ID": "AB1234", "session": {"start_time": "x", "duration": 162}}"#))
        #expect(!matcher.matches(value: #"{"device_ID": "CD1234"}"#))
        #expect(!matcher.matches(value: #"{"other": "AB"}"#))
        #expect(!matcher.matches(value: "AB plain text, not JSON"))
        #expect(!matcher.matches(value: nil))
        // AWS's whole FilterCriteria object is accepted as it is.
        let criteria = try filter(#"{ "Filters": [ { "Pattern": "{ \"value\" : { \"device_ID\" : [ \"AB1\" ] } }" } ] }"#)
        #expect(criteria.matches(value: #"{"device_ID": "AB1"}"#))
        #expect(!criteria.matches(value: #"{"device_ID": "AB12"}"#))
    }

    @Test("Exact values: strings, numbers, booleans and null; nested fields; arrays match when any element does")
    func exactValues() throws {
        let matcher = try filter(#"[ { "pattern": { "value": { "kind": ["order", "refund"], "total": [3], "paid": [true], "note": [null], "customer": { "tier": ["gold"] } } } } ]"#)
        #expect(matcher.matches(value: #"{"kind":"order","total":3.0,"paid":true,"note":null,"customer":{"tier":"gold","id":7}}"#))
        #expect(matcher.matches(value: #" { "customer" : { "tier" : [ "silver", "gold" ] } , "note": null, "paid": true, "total": 3, "kind": "refund" } "#))
        #expect(!matcher.matches(value: #"{"kind":"order","total":3,"paid":false,"note":null,"customer":{"tier":"gold"}}"#))
        #expect(!matcher.matches(value: #"{"kind":"order","total":"3","paid":true,"note":null,"customer":{"tier":"gold"}}"#))
        #expect(!matcher.matches(value: #"{"kind":"order","total":3,"paid":true,"customer":{"tier":"gold"}}"#))
        // Escapes in strings and names are compared decoded; brackets inside strings are not structure.
        let escaped = try filter(#"[ { "pattern": { "value": { "na\"me": ["a\"b é"] } } } ]"#)
        #expect(escaped.matches(value: #"{"skip": "}]{[\"", "na\"me": "a\"b \u00e9"}"#))
    }

    @Test("Operators: prefix, suffix, equals-ignore-case, numeric ranges, exists and anything-but")
    func operators() throws {
        let numeric = try filter(#"[ { "pattern": { "value": { "reading": [ { "numeric": [">", 0, "<=", 100] } ] } } } ]"#)
        #expect(numeric.matches(value: #"{"reading": 100}"#))
        #expect(numeric.matches(value: #"{"reading": 0.5e1}"#))
        #expect(!numeric.matches(value: #"{"reading": 0}"#))
        #expect(!numeric.matches(value: #"{"reading": 100.01}"#))
        #expect(!numeric.matches(value: #"{"reading": "50"}"#))

        let exists = try filter(#"[ { "pattern": { "value": { "error": [ { "exists": false } ], "id": [ { "exists": true } ] } } } ]"#)
        #expect(exists.matches(value: #"{"id": null}"#))
        #expect(!exists.matches(value: #"{"id": 1, "error": "x"}"#))
        #expect(!exists.matches(value: #"{}"#))

        let but = try filter(#"[ { "pattern": { "value": { "state": [ { "anything-but": ["test", "draft"] } ], "code": [ { "anything-but": 5 } ], "name": [ { "anything-but": { "prefix": "tmp-" } } ] } } } ]"#)
        #expect(but.matches(value: #"{"state": "live", "code": 6, "name": "orders"}"#))
        #expect(!but.matches(value: #"{"state": "draft", "code": 6, "name": "orders"}"#))
        #expect(!but.matches(value: #"{"state": "live", "code": 5, "name": "orders"}"#))
        #expect(!but.matches(value: #"{"state": "live", "code": 6, "name": "tmp-orders"}"#))
        #expect(!but.matches(value: #"{"code": 6, "name": "orders"}"#), "anything-but needs the field")

        let text = try filter(#"[ { "pattern": { "value": { "file": [ { "suffix": ".png" }, { "equals-ignore-case": "README" } ] } } } ]"#)
        #expect(text.matches(value: #"{"file": "cat.png"}"#))
        #expect(text.matches(value: #"{"file": "ReadMe"}"#))
        #expect(!text.matches(value: #"{"file": "cat.jpg"}"#))
    }

    @Test("key and headers (swiftfunc's additions), the whole value as text, and several filters (any one matches)")
    func keyHeadersAndAlternatives() throws {
        let matcher = try filter(#"""
            [ { "pattern": { "key": [ { "prefix": "vip-" } ], "headers": { "source": [ "web", "app" ] } } },
              { "pattern": { "value": [ { "prefix": "URGENT" }, { "numeric": [">=", 1000] } ] } } ]
            """#)
        #expect(matcher.matches(value: "x", key: "vip-7", headers: ["source": "web"]))
        #expect(!matcher.matches(value: "x", key: "vip-7", headers: ["source": "batch"]))
        #expect(!matcher.matches(value: "x", key: "vip-7"))
        #expect(!matcher.matches(value: "x", key: "std-7", headers: ["source": "web"]))
        #expect(matcher.matches(value: "URGENT: call", key: nil))
        #expect(matcher.matches(value: "1500", key: nil))
        #expect(!matcher.matches(value: "999", key: nil))
        let absentHeader = try filter(#"[ { "pattern": { "headers": { "retry": [ { "exists": false } ] } } } ]"#)
        #expect(absentHeader.matches(value: "x"))
        #expect(!absentHeader.matches(value: "x", headers: ["retry": nil]))
    }

    @Test("Malformed filters are load errors naming the field", arguments: [
        (#"[]"#, "bindings[0].filters", "is empty, so no message would ever be invoked; remove it to invoke every message"),
        (#""value""#, "bindings[0].filters", "must be a list of { \"pattern\": { ... } } (or AWS's { \"Filters\": [ { \"Pattern\": \"...\" } ] })"),
        (#"[ { "pattern": "{ nope" } ]"#, "bindings[0].filters[0].pattern", "is not valid JSON"),
        (#"[ { "pattern": { "valeu": { "a": ["b"] } } } ]"#, "bindings[0].filters[0].pattern.valeu", "unknown field; a pattern matches value, key or headers (did you mean 'value'?)"),
        (#"[ { "pattern": { "value": { "a": "b" } } } ]"#, "bindings[0].filters[0].pattern.value.a", "must be a list of rules, e.g. [\"a\", \"b\"] or [{ \"prefix\": \"a\" }]; a single value is written [\"a\"]"),
        (#"[ { "pattern": { "value": { "a": [ { "prefx": "b" } ] } } } ]"#, "bindings[0].filters[0].pattern.value.a[0]", "unknown operator 'prefx'; use prefix, suffix, equals-ignore-case, numeric, exists or anything-but (did you mean 'prefix'?)"),
        (#"[ { "pattern": { "value": { "n": [ { "numeric": ["~", 1] } ] } } } ]"#, "bindings[0].filters[0].pattern.value.n[0]", "unknown numeric operator '~'; use =, <, <=, > or >="),
        (#"[ { "pattern": { "value": { "n": [ { "numeric": [">", 1, "<"] } ] } } } ]"#, "bindings[0].filters[0].pattern.value.n[0]", "numeric takes one or two comparisons: [\">\", 0] or [\">=\", 0, \"<\", 10]"),
        (#"[ { "pattern": { "headers": { "h": [] } } } ]"#, "bindings[0].filters[0].pattern.headers.h", "is an empty list, which matches nothing; give at least one rule"),
        (#"[ { "pattern": { "key": [ { "exists": "yes" } ] } } ]"#, "bindings[0].filters[0].pattern.key[0]", "exists takes true or false"),
    ])
    func malformed(filters: String, field: String, message: String) throws {
        #expect {
            try filter(filters)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.file == "functions/Fn/function.json" && error.field == field && error.message.hasPrefix(message)
        }
    }
}

/// Filters on a running host: filtered messages are not delivered, kept ones are, and the
/// committed offsets move past both.
@Suite("Message filters, end to end", .timeLimit(.minutes(10)))
struct MessageFilterDeliveryTests {
    @Test("Only matching messages are invoked; offsets are committed past the filtered ones too", arguments: ["partition", "unordered"])
    func filteredNotDelivered(ordering: String) throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("filtered")
        try broker.createTopic(topic, partitions: 2)
        let function = uniqueName("Filtered")
        let fields = #""ordering": "\#(ordering)", "filters": [ { "pattern": { "value": { "type": ["order"], "total": [ { "numeric": [">", 10] } ] } } }, { "pattern": { "headers": { "priority": ["high"] } } } ]"#
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function, triggerFields: fields)),
        ])

        var messages: [OutgoingMessage] = []
        for index in 0..<20 {
            let partition = Int32(index % 2)
            switch index % 4 {
            case 0: messages.append(OutgoingMessage(topic: topic, value: #"{"type":"order","total":\#(index + 11)}"#, partition: partition))
            case 1: messages.append(OutgoingMessage(topic: topic, value: #"{"type":"order","total":5}"#, partition: partition))
            case 2: messages.append(OutgoingMessage(topic: topic, key: nil, value: Array("not json \(index)".utf8), headers: [("priority", Array("high".utf8))], partition: partition))
            default: messages.append(OutgoingMessage(topic: topic, value: #"{"type":"refund","total":99}"#, partition: partition))
            }
        }
        // The last message of each partition is filtered out: the committed offset must pass it.
        messages.append(OutgoingMessage(topic: topic, value: "ignored-0", partition: 0))
        messages.append(OutgoingMessage(topic: topic, value: "ignored-1", partition: 1))
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        let expected = (0..<20).filter { $0 % 4 == 0 || $0 % 4 == 2 }.map { index in
            index % 4 == 0 ? #"{"type":"order","total":\#(index + 11)}"# : "not json \(index)"
        }
        let ends = Dictionary(grouping: placements, by: \.partition).mapValues { $0.map(\.offset).max()! + 1 }
        try waitUntil("offsets committed past every message, the filtered last ones included") {
            try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2) == ends
        }
        hosted.stop()
        #expect(try recordedEvents(function).compactMap(\.valueText).sorted() == expected.sorted())
        #expect(hosted.log.contains("left out 12 message(s) that matched none of its filters"))
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2)
        for partition in Int32(0)..<2 {
            let last = placements.filter { $0.partition == partition }.map(\.offset).max()!
            #expect(committed[partition] == last + 1, "partition \(partition)")
        }
    }

    @Test("MANY: a batch is called with its matching messages only")
    func manyBatchesFiltered() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("filtered-many")
        try broker.createTopic(topic, partitions: 1)
        let function = uniqueName("FilteredMany")
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function,
                                                       entryPoint: "record_many", cardinality: "MANY",
                                                       triggerFields: #""filters": [ { "pattern": { "key": [ { "anything-but": { "prefix": "skip" } } ] } } ]"#)),
        ])
        let placements = try IndependentClient.produce(broker: broker.bootstrapServers, (0..<30).map {
            OutgoingMessage(topic: topic, key: $0 % 3 == 0 ? "keep-\($0)" : "skip-\($0)", value: "m\($0)", partition: 0)
        })
        try waitUntil("offsets committed past every message") {
            try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)[0] == placements.map(\.offset).max()! + 1
        }
        hosted.stop()
        #expect(try recordedEvents(function).compactMap(\.valueText) == (0..<30).filter { $0 % 3 == 0 }.map { "m\($0)" })
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1)
        #expect(committed[0] == placements.map(\.offset).max()! + 1)
    }
}
