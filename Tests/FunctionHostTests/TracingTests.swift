import Foundation
import Testing
@testable import FunctionHost

/// Invocations traced end to end: a producer's `traceparent` in, a `process {topic}` span out to a
/// real OTLP/HTTP receiver (decoded with OpenTelemetry's own protobuf definitions), and the
/// invocation's trace handed on to what the function writes.
///
/// The traced hosts are real `swiftfunc start` processes (supervisor and worker, the OTEL_*
/// variables in their environment), not hosts in this process: swift-otel's export waits on
/// timers whose wake-up takes a thread of Swift's cooperative pool, which a worker leaves free
/// but a test process's synchronous waits keep busy (seen: no span left a traced host in this
/// process in 30 s while other tests ran).
@Suite("Tracing across Kafka", .timeLimit(.minutes(10)))
struct TracingTests {
    /// A producer's span: a trace id and span id of its own, sampled.
    struct ProducerSpan {
        let traceID = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())
        let spanID = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))
        var traceparent: String { "00-\(traceID)-\(spanID)-01" }
        var header: (String, [UInt8]?) { ("traceparent", Array(traceparent.utf8)) }
    }

    /// One function (the Recorder fixture) hosted by `swiftfunc start` over an embedded broker of
    /// this process, exporting to `receiver`.
    struct TracedHost {
        let broker: EmbeddedBroker
        let topic: String
        let name: String
        let process: ChildProcess
        let port: Int
        var deadLetterTopic: String { "\(topic).\(name).dlq" }
        var url: String { "http://127.0.0.1:\(port)" }
        var log: String { process.stderr + process.stdout }

        init(_ prefix: String, receiver: OTLPReceiver, hostJSON: String = #"{ "version": "2.0" }"#, entryPoint: String = "record_one",
             cardinality: String = "ONE", outputs: [String] = []) throws {
            _ = TestPaths.recordDirectory // sets SWIFTFUNC_RECORD_DIR, which the worker inherits
            broker = try EmbeddedBroker()
            topic = uniqueName(prefix)
            name = uniqueName(prefix.prefix(1).uppercased() + prefix.dropFirst())
            try broker.createTopics([topic, "\(topic).\(name).dlq"] + outputs, partitions: 1)
            let root = try ScriptRoot(hostJSON: hostJSON)
            try root.addFunction(name, ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: name,
                                                                   entryPoint: entryPoint, cardinality: cardinality, outputs: outputs))
            port = try freePort()
            let process = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--port", "\(port)"],
                                           environment: receiver.environment())
            self.process = process
            try waitUntil("the host to be assigned partitions") { process.stderr.contains("was assigned partitions") || process.stdout.contains("was assigned partitions") }
        }

        func produce(_ messages: [OutgoingMessage]) throws {
            _ = try IndependentClient.produce(broker: broker.bootstrapServers, messages)
        }

        func consume(_ topic: String, count: Int) throws -> [ConsumedMessage] {
            try IndependentClient.consume(broker: broker.bootstrapServers, topic: topic, partitions: 1, count: count)
        }

        /// Stops the host gracefully: the worker sends the spans it has not exported yet.
        func stop() throws {
            #expect(try process.stop(signal: SIGTERM) == 0)
        }
    }

    private func traceparent(of message: ConsumedMessage) -> String? {
        message.headers.last { $0.name == "traceparent" }.flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test("ONE: the span is a CONSUMER child of the producer's span, with the messaging attributes; the output record continues its trace")
    func oneInvocationJoinsTheProducersTrace() throws {
        let receiver = try OTLPReceiver()
        let output = uniqueName("traced-out")
        let hosted = try TracedHost("traced", receiver: receiver, entryPoint: "forward_value", outputs: [output])
        let producer = ProducerSpan()
        try hosted.produce([OutgoingMessage(topic: hosted.topic, key: Array("order-7".utf8), value: Array("hello".utf8),
                                            headers: [producer.header])])
        let sent = try #require(try hosted.consume(output, count: 1).first)
        let span = try #require(try receiver.waitForSpans(named: "process \(hosted.topic)").first)
        try hosted.stop()

        #expect(span.traceID == producer.traceID)
        #expect(span.parentSpanID == producer.spanID)
        #expect(span.kind == 5) // SPAN_KIND_CONSUMER
        #expect(span.attribute("messaging.system") == "kafka")
        #expect(span.attribute("messaging.operation.name") == "process")
        #expect(span.attribute("messaging.operation.type") == "process")
        #expect(span.attribute("messaging.destination.name") == hosted.topic)
        #expect(span.attribute("messaging.consumer.group.name") == hosted.name)
        #expect(span.attribute("messaging.destination.partition.id") == "0")
        #expect(span.attribute("messaging.kafka.offset") == "0")
        #expect(span.attribute("messaging.kafka.message.key") == "order-7")
        #expect(span.attribute("error.type") == nil)
        #expect(span.statusCode != 2)
        #expect(span.resource["service.name"] as? String == "swiftfunc")
        #expect(span.resource["faas.name"] as? String == hosted.name)
        #expect((span.resource["service.instance.id"] as? String)?.isEmpty == false)

        // What the function sent carries the invocation's span as its parent, in the same trace.
        #expect(sent.value == Array("hello".utf8))
        #expect(traceparent(of: sent) == "00-\(producer.traceID)-\(span.spanID)-01")
    }

    @Test("The function's trace context is its invocation's span (ABI v2 trace_context), and its JSON log lines carry trace_id and span_id")
    func theFunctionSeesItsInvocationsSpan() throws {
        let receiver = try OTLPReceiver()
        let hosted = try TracedHost("seen", receiver: receiver, hostJSON: #"{ "version": "2.0", "logging": { "format": "json" } }"#)
        let producer = ProducerSpan()
        try hosted.produce([OutgoingMessage(topic: hosted.topic, value: Array("hello".utf8), headers: [producer.header])])
        let span = try #require(try receiver.waitForSpans(named: "process \(hosted.topic)").first)
        try waitUntil("the Executed line") { hosted.log.contains("Executed") }
        try hosted.stop()
        #expect(try recordedTraceparents(hosted.name) == ["00-\(producer.traceID)-\(span.spanID)-01"])
        let executed = try #require(hosted.log.split(separator: "\n").first { $0.contains("Executed") })
        #expect(executed.contains(#""trace_id":"\#(producer.traceID)""#))
        #expect(executed.contains(#""span_id":"\#(span.spanID)""#))
    }

    @Test("MANY: one span per batch, a root, with a link to each record's context and messaging.batch.message_count")
    func batchLinksEveryRecord() throws {
        let receiver = try OTLPReceiver()
        let hosted = try TracedHost("batch", receiver: receiver, entryPoint: "record_many", cardinality: "MANY")
        let producers = [ProducerSpan(), ProducerSpan(), ProducerSpan()]
        try hosted.produce(producers.enumerated().map { index, producer in
            OutgoingMessage(topic: hosted.topic, value: Array("item-\(index)".utf8), headers: [producer.header])
        })
        try waitUntil("the 3 records invoked") { try recordedEvents(hosted.name).count == 3 }
        let invocations = try recordedInvocations(hosted.name).count
        let spans = try receiver.waitForSpans(named: "process \(hosted.topic)", count: invocations)
        try hosted.stop()
        #expect(spans.count == invocations)
        #expect(spans.reduce(0) { $0 + (Int($1.attribute("messaging.batch.message_count") ?? "") ?? 0) } == 3)
        for span in spans {
            #expect(span.parentSpanID.isEmpty)
            #expect(span.kind == 5)
            #expect(Int(span.attribute("messaging.batch.message_count") ?? "") == span.links.count)
            #expect(span.attribute("messaging.kafka.offset") == nil)
        }
        let linked = spans.flatMap(\.links).map { "\($0.traceID)/\($0.spanID)" }
        #expect(Set(linked) == Set(producers.map { "\($0.traceID)/\($0.spanID)" }))
    }

    @Test("A failed invocation: error status and error.type, the retry and the dead letter as events, the dead letter in the trace")
    func failuresAreOnTheSpan() throws {
        let receiver = try OTLPReceiver()
        let hosted = try TracedHost("failing", receiver: receiver,
                                    hostJSON: #"{ "version": "2.0", "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.1" } }"#)
        let producer = ProducerSpan()
        try hosted.produce([OutgoingMessage(topic: hosted.topic, value: Array("fail".utf8), headers: [producer.header])])
        let dead = try #require(try hosted.consume(hosted.deadLetterTopic, count: 1).first)
        let spans = try receiver.waitForSpans(named: "process \(hosted.topic)", count: 2)
        try hosted.stop()
        #expect(spans.count == 2)
        for span in spans {
            #expect(span.traceID == producer.traceID)
            #expect(span.parentSpanID == producer.spanID)
            #expect(span.statusCode == 2) // STATUS_CODE_ERROR
            #expect(span.attribute("error.type") == "function_error")
            #expect(span.statusMessage.contains("asked to fail"))
        }
        #expect(Set(spans.map(\.eventNames)) == [["retry"], ["dead_letter"]])
        let last = try #require(spans.first { $0.eventNames == ["dead_letter"] })
        #expect(dead.value == Array("fail".utf8))
        #expect(traceparent(of: dead) == "00-\(producer.traceID)-\(last.spanID)-01")
        #expect(dead.headers.filter { $0.name == "traceparent" }.count == 1)
    }

    @Test("A record without traceparent starts a new trace; a malformed one is ignored and counted, and its invocation runs")
    func missingAndMalformedContexts() throws {
        let receiver = try OTLPReceiver()
        let hosted = try TracedHost("untraced", receiver: receiver)
        try hosted.produce([
            OutgoingMessage(topic: hosted.topic, value: Array("plain".utf8)),
            OutgoingMessage(topic: hosted.topic, value: Array("malformed".utf8),
                            headers: [("traceparent", Array("00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01".utf8))]),
        ])
        try waitUntil("both records invoked") { try recordedEvents(hosted.name).count == 2 }
        let spans = try receiver.waitForSpans(named: "process \(hosted.topic)", count: 2)
        let metrics = try HTTP.get(hosted.url + "/metrics")
        try hosted.stop()
        #expect(spans.count == 2)
        for span in spans {
            #expect(span.parentSpanID.isEmpty)
            #expect(span.traceID.count == 32 && span.traceID != "0af7651916cd43dd8448eb211c80319c")
        }
        #expect(Set(spans.map(\.traceID)).count == 2)
        #expect(try recordedEvents(hosted.name).compactMap(\.valueText) == ["plain", "malformed"])
        #expect(metrics.sample("swiftfunc_trace_context_malformed_total", ["function": hosted.name]) == 1)
    }

    @Test("Past swiftfunc.tracing.maxSpansPerSecond an invocation records no span (counted in /metrics); its output still continues the producer's trace, unsampled")
    func spansPerSecondHaveACeiling() throws {
        let receiver = try OTLPReceiver()
        let output = uniqueName("ceiling-out")
        let hosted = try TracedHost("ceiling", receiver: receiver,
                                    hostJSON: #"{ "version": "2.0", "swiftfunc": { "tracing": { "maxSpansPerSecond": 2 } } }"#,
                                    entryPoint: "forward_value", outputs: [output])
        let producer = ProducerSpan()
        let started = Date()
        try hosted.produce((0..<40).map { OutgoingMessage(topic: hosted.topic, value: Array("m\($0)".utf8), headers: [producer.header]) })
        let sent = try hosted.consume(output, count: 40)
        let seconds = Date().timeIntervalSince(started)
        let overLimit = try #require(try HTTP.get("\(hosted.url)/metrics").sample("swiftfunc_trace_spans_over_limit_total", ["function": hosted.name]))
        try hosted.stop()
        let spans = try receiver.spans().filter { $0.name == "process \(hosted.topic)" }

        #expect(sent.count == 40)
        #expect(!spans.isEmpty, "the first invocations of a second are recorded")
        #expect(Double(spans.count) <= 2 * (seconds.rounded(.up) + 1), "\(spans.count) spans in \(seconds) s at most 2 a second")
        #expect(Int(overLimit) + spans.count == 40, "every invocation either recorded or counted: \(spans.count) + \(overLimit)")
        // Every output continues the producer's trace: under a recorded span (sampled), or, past
        // the ceiling, under an id of its own, unsampled.
        let parents = sent.compactMap { traceparent(of: $0) }
        #expect(parents.count == 40)
        #expect(parents.allSatisfy { $0.hasPrefix("00-\(producer.traceID)-") })
        let recordedIDs = Set(spans.map(\.spanID))
        #expect(parents.filter { $0.hasSuffix("-01") }.allSatisfy { recordedIDs.contains(String($0.dropFirst(36).prefix(16))) })
        #expect(parents.filter { $0.hasSuffix("-00") }.count == Int(overLimit))
    }

    @Test("Off by default: no tracer, and the host adds no traceparent to what the function sends")
    func offByDefault() throws {
        let output = uniqueName("plain-out")
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OTEL_") }
        let hosted = try HostedFunction("quiet", entryPoint: "forward_value", outputs: [output], environment: environment)
        #expect(hosted.harness.host?.tracing == nil)
        #expect(hosted.harness.host?.hostedFunctions.first?.listener?.tracer == nil)
        try hosted.produce([OutgoingMessage(topic: hosted.topic, value: Array("hello".utf8), headers: [ProducerSpan().header])])
        let sent = try #require(try IndependentClient.consume(broker: hosted.broker.bootstrapServers, topic: output, partitions: 1, count: 1).first)
        #expect(sent.value == Array("hello".utf8))
        #expect(traceparent(of: sent) == nil)
        hosted.stop()
    }
}

/// The `traceparent` each event of `function`'s invocations saw through its context, as the
/// Recorder fixture wrote it (nil: it saw none).
private func recordedTraceparents(_ function: String) throws -> [String?] {
    let url = TestPaths.recordDirectory.appendingPathComponent("\(function).jsonl")
    let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    return try text.split(separator: "\n").flatMap { line -> [String?] in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return (object?["events"] as? [[String: Any]] ?? []).map { event in
            (event["trace"] as? [Any]).flatMap { unhex($0.first) }.map { String(decoding: $0, as: UTF8.self) }
        }
    }
}
