import CRdKafka
import Foundation
import Testing
@testable import FunctionHost

/// The attempt engine with a scripted function and a recording dead-letter topic. The messages
/// are real librdkafka messages (the engine owns and releases them as the host does), fetched
/// from an in-process embedded broker once per test: nothing else of a broker is used.
@Suite("Attempt engine", .timeLimit(.minutes(10)))
struct AttemptEngineTests {
    /// A function whose outcomes are scripted by offset: it fails an offset as often as told.
    final class ScriptedFunction: FunctionCalling {
        var failuresLeft: [Int64: Int] = [:]
        /// The offsets of each call, in order.
        var calls: [[Int64]] = []
        var retries = 0

        func attemptOnce(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome {
            calls.append(messages.map(\.pointee.offset))
            var outcome = InvocationOutcome()
            for (index, message) in messages.enumerated() where (failuresLeft[message.pointee.offset] ?? 0) > 0 {
                failuresLeft[message.pointee.offset]! -= 1
                outcome.failedItems[index] = "offset \(message.pointee.offset) refused"
            }
            return outcome
        }

        func countRetry() { retries += 1 }
    }

    /// The dead-letter topic: what was sent, and how many sends fail first.
    final class RecordingDeadLetters: DeadLetterSending {
        var failingSends = 0
        var sent: [(offsets: [Int64], reason: DeadLetterReason, error: String, attempts: Int)] = []

        func send(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int,
                  traceparent: String?) -> String? {
            if failingSends > 0 {
                failingSends -= 1
                return "Broker: Not enough in-sync replicas"
            }
            sent.append((messages.map(\.pointee.offset), reason, error, attempts))
            return nil
        }
    }

    private static func function(cardinality: String) throws -> FunctionConfiguration {
        let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t", "cardinality": "\#(cardinality)" } ] }"#
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                               directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
    }

    private func engine(_ function: ScriptedFunction, _ deadLetters: RecordingDeadLetters, retry: RetryPolicy, cardinality: String = "ONE",
                        log: LogCapture = LogCapture()) throws -> AttemptEngine {
        let failures = FailurePolicy(retry: retry, functionName: "Fn", deadLetterTopic: "t.Fn.dlq", logger: log.logger())
        return AttemptEngine(calls: function, failures: failures, deadLetters: deadLetters, function: try Self.function(cardinality: cardinality),
                             waiting: "the partition")
    }

    /// `count` real messages at offsets 0..<count of one partition, owned by the result; `done`
    /// releases what is left of them and closes the consumer (librdkafka's destroy waits for
    /// every message of the consumer to be released first).
    private func heldMessages(_ count: Int) throws -> (held: HeldMessages, done: () -> Void) {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("engine")
        try broker.createTopic(topic, partitions: 1)
        try IndependentClient.produce(broker: broker.bootstrapServers, (0..<count).map { OutgoingMessage(topic: topic, value: Array("m\($0)".utf8)) })
        let noRebalance: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { _, _, _, _ in }
        let noError: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, _, _, _ in }
        let consumer = try RDKafkaConsumer(
            properties: [("bootstrap.servers", broker.bootstrapServers), ("group.id", uniqueName("g")), ("enable.auto.commit", "false")],
            origin: "the engine test's consumer", opaque: UnsafeMutableRawPointer(bitPattern: 1)!,
            callbacks: .init(rebalance: noRebalance, error: noError, offsetCommit: noRebalance))
        consumer.assign(RDKafkaTopicPartitionList(topic: topic, [(0, Int64(RD_KAFKA_OFFSET_BEGINNING))]))
        let buffer = RDKafkaFetchBuffer(capacity: count)
        let held = HeldMessages(reservingCapacity: count)
        let deadline = Date().addingTimeInterval(20)
        while held.messages.count < count && Date() < deadline {
            buffer.fetch(from: consumer, limit: count - held.messages.count, timeoutMs: 500)
            for index in 0..<buffer.count where buffer[index]?.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                held.messages.append(buffer.take(at: index))
            }
            buffer.endRound(carrying: UnsafeMutableBufferPointer(start: nil, count: 0))
        }
        let done = {
            held.destroyMessages()
            try? consumer.close()
            _ = broker
        }
        if held.messages.count < count {
            done()
            try #require(held.messages.count == count, "fetched \(held.messages.count) of \(count) messages within 20 s")
        }
        return (held, done)
    }

    @Test func failedMessagesAreRetriedPerThePolicyThenDeadLettered() throws {
        let function = ScriptedFunction()
        function.failuresLeft = [0: 10]
        let deadLetters = RecordingDeadLetters()
        let log = LogCapture()
        let engine = try engine(function, deadLetters, retry: RetryPolicy(strategy: .fixedDelay(seconds: 0.25), maxRetryCount: 2), log: log)
        let (held, done) = try heldMessages(1)
        defer { done() }
        var settled: [Int64] = []
        let before = monotonicNanoseconds()
        var progress = engine.attempt(held) { settled.append($0.pointer.pointee.offset) }
        guard case .due(let at, _) = progress else { Issue.record("expected a retry, got \(progress)"); return }
        #expect(at >= before + 250_000_000 && held.failures == 1)
        progress = engine.next(held) { settled.append($0.pointer.pointee.offset) }
        #expect(held.failures == 2 && deadLetters.sent.isEmpty)
        progress = engine.next(held) { settled.append($0.pointer.pointee.offset) }
        #expect(progress == .settled(pending: false))
        #expect(function.calls == [[0], [0], [0]] && function.retries == 2)
        #expect(deadLetters.sent.count == 1)
        #expect(deadLetters.sent.first?.offsets == [0] && deadLetters.sent.first?.reason == .failed && deadLetters.sent.first?.attempts == 3)
        #expect(deadLetters.sent.first?.error == "item 0 failed: offset 0 refused")
        #expect(settled == [0] && held.messages.isEmpty)
        #expect(log.contains("Attempt 3 failed and the retry policy allows no more"))
    }

    @Test func oneAtATimeStopsAtTheFirstFailureAndSettlesWhatSucceededInOrder() throws {
        let function = ScriptedFunction()
        function.failuresLeft = [1: 1]
        let deadLetters = RecordingDeadLetters()
        let engine = try engine(function, deadLetters, retry: RetryPolicy(strategy: .fixedDelay(seconds: 0), maxRetryCount: 5))
        let (held, done) = try heldMessages(3)
        defer { done() }
        var settled: [Int64] = []
        let first = engine.attempt(held) { settled.append($0.pointer.pointee.offset) }
        // Offset 2 is not called while 1 fails: it counts as failed, not yet attempted.
        #expect(function.calls == [[0], [1]])
        #expect(settled == [0] && held.messages.pointers.map(\.pointee.offset) == [1, 2])
        guard case .due = first else { Issue.record("expected a retry, got \(first)"); return }
        let second = engine.next(held) { settled.append($0.pointer.pointee.offset) }
        #expect(second == .settled(pending: false))
        #expect(function.calls == [[0], [1], [1], [2]] && settled == [0, 1, 2] && deadLetters.sent.isEmpty)
    }

    @Test func aBatchIsRetriedWithOnlyItsFailedItems() throws {
        let function = ScriptedFunction()
        function.failuresLeft = [1: 1, 2: 1]
        let deadLetters = RecordingDeadLetters()
        let engine = try engine(function, deadLetters, retry: RetryPolicy(strategy: .fixedDelay(seconds: 0), maxRetryCount: 1), cardinality: "MANY")
        let (held, done) = try heldMessages(4)
        defer { done() }
        var settled: [Int64] = []
        _ = engine.attempt(held) { settled.append($0.pointer.pointee.offset) }
        #expect(settled == [0, 3] && function.calls == [[0, 1, 2, 3]])
        #expect(engine.next(held) { settled.append($0.pointer.pointee.offset) } == .settled(pending: false))
        #expect(function.calls == [[0, 1, 2, 3], [1, 2]] && settled == [0, 3, 1, 2])
    }

    @Test func aFailedDeadLetterSendIsTriedAgainAndNothingIsSettledMeanwhile() throws {
        let function = ScriptedFunction()
        let deadLetters = RecordingDeadLetters()
        deadLetters.failingSends = 2
        let log = LogCapture()
        let engine = try engine(function, deadLetters, retry: .default, log: log)
        let (held, done) = try heldMessages(1)
        defer { done() }
        var settled: [Int64] = []
        let before = monotonicNanoseconds()
        let refusal = Refusal(reason: .invalidUTF8, error: DeadLetterReason.invalidTextError, attempts: 0)
        let progress = engine.refuse(held, refusal) { settled.append($0.pointer.pointee.offset) }
        guard case .due(let at, _) = progress else { Issue.record("expected to wait, got \(progress)"); return }
        #expect(at >= before + FailurePolicy.deadLetterRetry.nanoseconds && settled.isEmpty)
        #expect(log.contains("FAILED: Broker: Not enough in-sync replicas. Nothing is skipped"))
        #expect(engine.next(held) { settled.append($0.pointer.pointee.offset) } != .settled(pending: false))
        #expect(engine.next(held) { settled.append($0.pointer.pointee.offset) } == .settled(pending: false))
        // Refused messages are never called, and their dead letter says why.
        #expect(function.calls.isEmpty && settled == [0])
        #expect(deadLetters.sent.count == 1 && deadLetters.sent.first?.reason == .invalidUTF8 && deadLetters.sent.first?.attempts == 0)
    }

    @Test func theOneBackoffDoublesUpToItsCeiling() {
        let backoff = Backoff(first: .seconds(1), ceiling: .seconds(30))
        #expect((1...7).map { backoff.delay(afterFailures: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30)])
        #expect(backoff.delay(afterFailures: 0) == .seconds(1) && backoff.delay(afterFailures: 1_000) == .seconds(30))
        #expect(RetryPolicy(strategy: .exponentialBackoff(minimumSeconds: 0.5, maximumSeconds: 3), maxRetryCount: 9).delaySeconds(afterFailures: 4) == 3)
    }
}
