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

        let forwarded = try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: output, partitions: 1, count: 10, timeout: 60)
        #expect(forwarded.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } == values, "each output once, in input order")
        try waitUntil("the offsets of acknowledged invocations to be stored", timeout: 60) {
            hosted.harness.host?.hostedFunctions.first?.listener?.operations.storedOffsets[0] == 10
        }
        hosted.broker.setRoundTripTime(broker: 2, milliseconds: 0)
        hosted.stop()
        #expect(try hosted.committed()[0] == 10)
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
        let forwarded = try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: output, partitions: 1, count: 100, timeout: 8)
        let landed = Set(forwarded.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } })
        #expect(landed == Set(values), "every input's output is in the topic at least once")
        if landed != Set(values) { print(hosted.log.lines.suffix(40).joined(separator: "\n")) }
        try waitUntil("every offset stored", timeout: 60) {
            hosted.harness.host?.hostedFunctions.first?.listener?.operations.storedOffsets[0] == 6
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
