import CRdKafka
import Foundation
import Testing
@testable import FunctionHost

/// Output bindings at pipeline speed: a send queues the record and returns; the invocation's
/// messages are settled once its records are acknowledged, while the consuming thread goes on.
@Suite("Output settlement", .timeLimit(.minutes(10)))
struct OutputSettlementTests {
    @Test("With the output's broker answering after 2 s, ten invocations run without waiting for it; offsets follow the acknowledgements")
    func sendsDoNotHoldTheConsumingThread() throws {
        let output = uniqueName("slow-out")
        let hosted = try HostedFunction("pipeline", entryPoint: "forward", outputs: [output], brokers: 2) { broker in
            broker.setLeader(topic: output, partition: 0, broker: 2)
        }
        defer { hosted.stop() }
        // Only after the group is joined: the output's broker alone answers slowly.
        hosted.broker.setRoundTripTime(broker: 2, milliseconds: 2_000)
        let values = (0..<10).map { "v\($0)" }
        let produced = Date()
        try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("ten invocations") { try recordedInvocations(hosted.name).count == 10 }
        let invokedWithin = Date().timeIntervalSince(produced)
        // Waiting for each record's acknowledgement would take 10 x 2 s.
        #expect(invokedWithin < 10, "all ten were called within \(invokedWithin) s")

        let forwarded = try hosted.values(of: output, count: 10, timeout: 60)
        #expect(forwarded == values, "each output once, in input order")
        try waitUntil("the offsets of acknowledged invocations to be stored", timeout: 60) {
            hosted.storedOffset == 10
        }
        hosted.broker.setRoundTripTime(broker: 2, milliseconds: 0)
        hosted.stop()
        #expect(try hosted.committed()[0] == 10)
    }

    @Test("At the bound of unacknowledged output the consumer waits, then pauses its partitions and keeps polling; it resumes when acknowledgements come, and nothing is lost or sent twice")
    func boundedOutputPauses() throws {
        let output = uniqueName("bounded-out")
        let hosted = try HostedFunction(
            "bounded", hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "maxUnacknowledgedOutputRecords": 4 } } }"#,
            entryPoint: "forward", outputs: [output], brokers: 2) { broker in
            broker.setLeader(topic: output, partition: 0, broker: 2)
        }
        defer { hosted.stop() }
        hosted.broker.setRoundTripTime(broker: 2, milliseconds: 1_000)
        let values = (0..<20).map { "b\($0)" }
        try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("the pause") { hosted.log.contains("waits for the broker to acknowledge its outputs", "partitions pause") }
        let forwarded = try hosted.values(of: output, count: 20, timeout: 90)
        #expect(forwarded == values, "each output once, in input order")
        try waitUntil("every offset stored", timeout: 60) {
            hosted.storedOffset == 20
        }
        #expect(hosted.log.contains("resumes consuming: its outputs are acknowledged again"))
        hosted.broker.setRoundTripTime(broker: 2, milliseconds: 0)
        hosted.stop()
        #expect(try hosted.committed()[0] == 20)
    }

    @Test("Filtered and dead-lettered messages between calls with outputs settle in order; committed past all of them")
    func settledWithoutCallsQueueBehindOutputs() throws {
        let output = uniqueName("mixed-out")
        let hosted = try HostedFunction("mixed", entryPoint: "forward_value", dataType: "string", outputs: [output],
                                        triggerFields: #""filters": [ { "pattern": { "key": ["k"] } } ]"#)
        defer { hosted.stop() }
        let messages: [OutgoingMessage] = [
            OutgoingMessage(topic: hosted.topic, key: Array("k".utf8), value: Array("keep0".utf8), partition: 0),
            OutgoingMessage(topic: hosted.topic, key: Array("s".utf8), value: Array("skip1".utf8), partition: 0),
            OutgoingMessage(topic: hosted.topic, key: Array("k".utf8), value: Array("keep2".utf8), partition: 0),
            OutgoingMessage(topic: hosted.topic, key: Array("k".utf8), value: [0xC3, 0x28], partition: 0),
            OutgoingMessage(topic: hosted.topic, key: Array("k".utf8), value: Array("keep4".utf8), partition: 0),
            OutgoingMessage(topic: hosted.topic, key: Array("s".utf8), value: Array("skip5".utf8), partition: 0),
        ]
        try hosted.produce(messages)
        try waitUntil("every offset stored", timeout: 60) {
            hosted.storedOffset == 6
        }
        hosted.stop()
        #expect(try hosted.committed()[0] == 6)
        let forwarded = try hosted.values(of: output, count: 100, timeout: 5)
        #expect(forwarded == ["keep0", "keep2", "keep4"])
        let dead = try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: hosted.deadLetterTopic, partitions: 1, count: 1, timeout: 20)
        #expect(dead.map(\.value) == [[0xC3, 0x28]])
    }

    @Test("MANY with outputs: a failed item sends nothing and is retried alone; every item's output lands once, offsets pass the batch")
    func manyWithAFailedItem() throws {
        let output = uniqueName("many-out")
        let hosted = try HostedFunction(
            "manyout", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00.1" } }"#,
            entryPoint: "forward_many", cardinality: "MANY", dataType: "string", outputs: [output])
        defer { hosted.stop() }
        let values = (0..<10).map { $0 == 5 ? "fail-once:v5" : "v\($0)" }
        try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("every offset stored", timeout: 60) {
            hosted.storedOffset == 10
        }
        hosted.stop()
        #expect(try hosted.committed()[0] == 10)
        let forwarded = try hosted.values(of: output, count: 100, timeout: 5)
        #expect(forwarded.sorted() == values.sorted())
    }

    @Test("A delivery that fails after the thread moved on fails the invocations that sent it: they are retried, every input's output lands, offsets pass them only then")
    func aLateDeliveryFailureRetriesItsInvocations() throws {
        let output = uniqueName("refusing-out")
        let hosted = try HostedFunction(
            "refused", hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 5, "delayInterval": "00:00:00.2" } }"#,
            entryPoint: "forward", outputs: [output])
        defer { hosted.stop() }
        let operations = try #require(hosted.harness.host?.hostedFunctions.first?.listener?.operations)
        // The inputs are in before the broker starts refusing produce requests (any client's).
        operations.request(pause: true)
        try waitUntil("the function to pause") { operations.state == .paused }
        let values = (0..<6).map { "r\($0)" }
        try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        // The next produce requests are refused: the records were queued (send returned) and
        // fail only when the broker answers.
        hosted.broker.failRequests(apiKey: 0, with: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, count: 2)
        operations.request(pause: false)

        try waitUntil("the failed delivery to be reported") { hosted.log.contains("output not delivered") }
        let forwarded = try hosted.values(of: output, count: 100, timeout: 8)
        #expect(Set(forwarded) == Set(values), "every input's output is in the topic at least once")
        try waitUntil("every offset stored", timeout: 60) {
            hosted.storedOffset == 6
        }
        #expect(try recordedInvocations(hosted.name).count > values.count, "the failed ones were called again")
        hosted.stop()
        #expect(try hosted.committed()[0] == 6)
    }

    @Test("Output binding fields map to the producer; enableIdempotence with maxRetries 0 is refused naming the field")
    func producerFields() throws {
        let root = try ScriptRoot()
        let library = try TestPaths.library("Recorder").path
        func function(_ outputFields: String) -> String {
            #"""
            { "scriptFile": "\#(library)", "entryPoint": "forward", "bindings": [
              { "type": "kafkaTrigger", "direction": "in", "name": "event", "brokerList": "127.0.0.1:1", "topic": "in" },
              { "type": "kafka", "direction": "out", "name": "out", "brokerList": "127.0.0.1:1", "topic": "out"\#(outputFields) } ] }
            """#
        }
        try root.addFunction("Tuned", function(#", "maxMessageBytes": 2000, "batchSize": 50, "messageTimeoutMs": 9000, "requestTimeoutMs": 4000, "maxRetries": 3, "lingerMs": 20"#))
        let tuned = try #require(try FunctionConfiguration.load(directory: root.url.appendingPathComponent("functions/Tuned"), scriptRoot: root.url, settings: AppSettings()).outputs.first)
        let properties = Dictionary(tuned.producer.librdkafkaProperties, uniquingKeysWith: { _, last in last })
        #expect(properties == ["message.max.bytes": "2000", "batch.num.messages": "50", "message.timeout.ms": "9000",
                               "request.timeout.ms": "4000", "message.send.max.retries": "3", "linger.ms": "20", "enable.idempotence": "true"])
        #expect(ProducerSettings().librdkafkaProperties.map(\.0) == ["linger.ms", "enable.idempotence"])
        // librdkafka accepts what they map to.
        _ = try KafkaProducer(connection: KafkaConnection(brokerList: "127.0.0.1:1"), settings: tuned.producer, options: KafkaOptions()).shutdown(timeoutMs: 0)

        try root.addFunction("Refused", function(#", "maxRetries": 0"#))
        #expect {
            try FunctionConfiguration.load(directory: root.url.appendingPathComponent("functions/Refused"), scriptRoot: root.url, settings: AppSettings())
        } throws: { error in
            "\(error)".contains("bindings[1].maxRetries") && "\(error)".contains("enableIdempotence")
        }
    }
}

/// processingGuarantee exactlyOnce on librdkafka's mock cluster. The mock implements the
/// transactional calls but not their broker side (it keeps no transaction's offsets, shows aborted
/// records to read_committed readers, and fences nobody; docs/DELIVERY.md): these tests check what
/// the host does, the staging of a failed call's records and the abort-and-rewind path.
@Suite("Exactly once", .timeLimit(.minutes(10)))
struct ExactlyOnceTests {
    private static let retry = #""retry": { "strategy": "fixedDelay", "maxRetryCount": 3, "delayInterval": "00:00:00.1" }"#

    @Test("A call that fails leaves nothing in the output topic: each input's output lands once; atLeastOnce sends the failed attempt's too")
    func failedAttemptsSendNothing() throws {
        for guarantee in ["exactlyOnce", "atLeastOnce"] {
            let output = uniqueName("eos-out")
            let hosted = try HostedFunction("eos", hostJSON: #"{ "version": "2.0", \#(Self.retry) }"#, entryPoint: "forward_value",
                                            dataType: "string", outputs: [output], triggerFields: #""processingGuarantee": "\#(guarantee)""#)
            defer { hosted.stop() }
            let values = ["a", "fail-once:b", "c", "fail-once:d", "e"]
            try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
            try waitUntil("every offset stored (\(guarantee))", timeout: 60) {
                hosted.storedOffset == 5
            }
            hosted.stop()
            #expect(try hosted.committed()[0] == 5, "\(guarantee): committed past every input")
            let forwarded = try hosted.values(of: output, count: 100, timeout: 5)
            if guarantee == "exactlyOnce" {
                #expect(forwarded == values, "each output once, in input order")
            } else {
                #expect(forwarded.sorted() == (values + ["fail-once:b", "fail-once:d"]).sorted(), "the failed attempts' records went out too")
            }
        }
    }

    @Test("An aborted transaction discards its offsets: the partition goes back to the committed offset and its messages are called again")
    func abortRewinds() throws {
        let output = uniqueName("eos-abort-out")
        let hosted = try HostedFunction("eosabort", entryPoint: "forward_value", dataType: "string", outputs: [output],
                                        triggerFields: #""processingGuarantee": "exactlyOnce""#)
        defer { hosted.stop() }
        // The next offsets sent to a transaction (TxnOffsetCommit, API 28) are refused: that
        // transaction must be aborted.
        hosted.broker.failRequests(apiKey: 28, with: RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, count: 1)
        let values = (0..<8).map { "x\($0)" }
        try hosted.produce(values.map { OutgoingMessage(topic: hosted.topic, value: $0, partition: 0) })
        try waitUntil("the abort") { hosted.log.contains("was aborted", "consumed and called again") }
        try waitUntil("every offset stored after the rewind", timeout: 60) {
            hosted.storedOffset == 8
        }
        hosted.stop()
        #expect(try hosted.committed()[0] == 8)
        // The mock shows the aborted transaction's records to every reader (Kafka would hide them
        // from read_committed): every input's output is there, and the rewound ones twice.
        let forwarded = try hosted.values(of: output, count: 100, timeout: 5)
        #expect(Set(forwarded) == Set(values))
    }

    @Test("exactlyOnce is refused where it cannot hold: lanes, an output on another cluster, an SF_PENDING function")
    func refusals() throws {
        let root = try ScriptRoot()
        let library = try TestPaths.library("Recorder").path
        func load(_ name: String, trigger: String, outputBroker: String = "127.0.0.1:1", entryPoint: String = "forward") throws -> FunctionConfiguration {
            try root.addFunction(name, #"""
                { "scriptFile": "\#(library)", "entryPoint": "\#(entryPoint)", "bindings": [
                  { "type": "kafkaTrigger", "direction": "in", "name": "event", "brokerList": "127.0.0.1:1", "topic": "in", "processingGuarantee": "exactlyOnce"\#(trigger) },
                  { "type": "kafka", "direction": "out", "name": "out", "brokerList": "\#(outputBroker)", "topic": "out" } ] }
                """#)
            return try FunctionConfiguration.load(directory: root.url.appendingPathComponent("functions/\(name)"), scriptRoot: root.url, settings: AppSettings())
        }
        #expect(throws: ConfigurationError.self) { try load("Keyed", trigger: #", "ordering": "key""#) }
        #expect { try load("Keyed2", trigger: #", "ordering": "key""#) } throws: { "\($0)".contains("bindings[0].processingGuarantee") && "\($0)".contains("ordering partition") }
        #expect { try load("Elsewhere", trigger: "", outputBroker: "10.0.0.1:9092") } throws: {
            "\($0)".contains("bindings[0].processingGuarantee") && "\($0)".contains("bindings[1]")
        }
        #expect { try load("Typo", trigger: #", "processingGuarantee": "exactly""#) } throws: { "\($0)".contains("use atLeastOnce or exactlyOnce") }
        _ = try load("Fine", trigger: "")

        // The Backup example returns SF_PENDING and exports run_flush.
        let backup = try TestPaths.library("Backup").path
        let broker = try EmbeddedBroker()
        // Nor with exactlyOnce, nor with ordering key (the flush must follow the records in order).
        for (name, setting, field) in [("Pending", #""processingGuarantee": "exactlyOnce""#, "processingGuarantee"),
                                       ("SideBySide", #""ordering": "key""#, "ordering")] {
            let hosted = try HostedApp(broker: broker, functions: [(name, #"""
                { "scriptFile": "\#(backup)", "entryPoint": "run", "bindings": [
                  { "type": "kafkaTrigger", "direction": "in", "name": "event", "brokerList": "\#(broker.bootstrapServers)", "topic": "in", "cardinality": "MANY", \#(setting) } ] }
                """#)], start: .started)
            defer { hosted.stop() }
            guard case .failed(let reason)? = hosted.report(name)?.status else {
                Issue.record("an SF_PENDING function with \(setting) started: \(String(describing: hosted.report(name)?.status))")
                continue
            }
            #expect(reason.contains(field) && reason.contains("run_flush"), "\(reason)")
        }
    }
}
