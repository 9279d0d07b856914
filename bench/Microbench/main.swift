// swiftfunc-microbench: what one invocation costs the host, per message, without Kafka in the
// way: building the events from librdkafka messages (EventBuffer) and calling the function
// through its libffi call interface (CallInterface), exactly as the Invoker does, into the no-op
// functions of bench/NoopSwift (through the SwiftFunctions SDK) and bench/NoopC, on ABI version 2
// (headers parsed only when asked), and of bench/NoopSwiftV1 and bench/NoopCV1 on version 1
// (headers parsed for every event); plus version 2's headers_one, which asks for the headers.
//
// The messages are real: 1,000 records of 100 bytes (no key, no headers, like `make bench`'s),
// produced to an embedded broker in this process and fetched by a librdkafka consumer, then held
// for the whole run. Each number is the median of 7 rounds of at least 50 ms each.
//
// usage: swiftfunc-microbench [DIRECTORY_WITH_libBenchNoop.so_libBenchNoopC.so_AND_THEIR_V1s]
//        (default: the directory of this executable, i.e. the build's bin directory)
import CDispatch
import CRdKafka
import FunctionABI
import Foundation
import FunctionHost
import Logging
import Synchronization

let messageCount = 1_000
let valueSize = 100
let rounds = 7
let minimumRoundNanoseconds: UInt64 = 50_000_000

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("swiftfunc-microbench: \(message)\n".utf8))
    exit(1)
}

/// Runs `body` (which handles `messagesPerIteration` messages) often enough for each round to
/// last at least 50 ms; returns the median nanoseconds per message over the rounds.
func measure(messagesPerIteration: Int, _ body: () -> Void) -> Double {
    var iterations = 1
    while true {
        let started = now()
        for _ in 0..<iterations { body() }
        if now() - started >= minimumRoundNanoseconds / 4 { break }
        iterations *= 2
    }
    iterations *= 4
    var perMessage: [Double] = []
    for _ in 0..<rounds {
        let started = now()
        for _ in 0..<iterations { body() }
        perMessage.append(Double(now() - started) / Double(iterations * messagesPerIteration))
    }
    return perMessage.sorted()[rounds / 2]
}

// MARK: - Real librdkafka messages

/// Produces `messageCount` records to an embedded broker and fetches them with a consumer.
/// The consumer and the broker stay alive (the messages point into the consumer's buffers).
func fetchMessages() throws -> (EmbeddedBroker, OpaquePointer, UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
    let broker = try EmbeddedBroker()
    let topic = "microbench"
    try broker.createTopic(topic, partitions: 1)
    let producer = try RecordProducer(brokerList: broker.bootstrapServers, topic: topic)
    let value = Array(repeating: UInt8(ascii: "x"), count: valueSize)
    for _ in 0..<messageCount { producer.send(value: value, partition: 0) }
    let outcome = producer.waitForDeliveries()
    guard outcome.failures.isEmpty else { fail("producing: \(outcome.failures[0])") }

    let configuration = try KafkaClient.makeConfiguration([
        ("bootstrap.servers", broker.bootstrapServers), ("group.id", "microbench"),
        ("enable.auto.commit", "false"), ("enable.partition.eof", "false"),
    ], origin: "microbench consumer")
    let consumer = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: configuration)
    rd_kafka_poll_set_consumer(consumer)
    // Assigned, not subscribed: no group join to wait for.
    let partitions = rd_kafka_topic_partition_list_new(1)!
    rd_kafka_topic_partition_list_add(partitions, topic, 0).pointee.offset = -2 // RD_KAFKA_OFFSET_BEGINNING
    _ = rd_kafka_assign(consumer, partitions)
    rd_kafka_topic_partition_list_destroy(partitions)

    let queue = rd_kafka_queue_get_consumer(consumer)
    let fetched = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: messageCount)
    let messages = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>.allocate(capacity: messageCount)
    var count = 0
    let deadline = now() + 30_000_000_000
    while count < messageCount && now() < deadline {
        let got = rd_kafka_consume_batch_queue(queue, 1_000, fetched, messageCount - count)
        for index in 0..<max(0, got) {
            guard let message = fetched[index] else { continue }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                rd_kafka_message_destroy(message)
                continue
            }
            messages[count] = message
            count += 1
        }
    }
    rd_kafka_queue_destroy(queue)
    fetched.deallocate()
    guard count == messageCount else { fail("fetched \(count) of \(messageCount) messages within 30 s") }
    return (broker, consumer, messages)
}

// MARK: - Functions loaded the way the host loads them

/// Loads `entryPoint` of `library` through function.json, like the host.
func load(library: URL, entryPoint: String, cardinality: Cardinality, scratch: URL) throws -> FunctionLibrary {
    let name = "\(library.deletingPathExtension().lastPathComponent)-\(entryPoint)"
    let directory = scratch.appendingPathComponent("functions/\(name)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let json = """
        {"scriptFile": "\(library.path)", "entryPoint": "\(entryPoint)",
         "bindings": [{"type": "kafkaTrigger", "direction": "in", "name": "event", "topic": "microbench",
                       "brokerList": "127.0.0.1:9092", "cardinality": "\(cardinality.rawValue)"}]}
        """
    try Data(json.utf8).write(to: directory.appendingPathComponent("function.json"))
    let function = try FunctionConfiguration.load(directory: directory, scriptRoot: scratch, settings: AppSettings(environment: [:]))
    return try FunctionLibrary.load(function, scriptRoot: scratch)
}

// MARK: - The run

let binDirectory = CommandLine.arguments.count > 1
    ? URL(fileURLWithPath: CommandLine.arguments[1])
    : URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swiftfunc-microbench-\(getpid())")
defer { try? FileManager.default.removeItem(at: scratch) }

let (broker, consumer, messages) = try fetchMessages()
let batch = UnsafeBufferPointer(start: messages, count: messageCount)
let logger = Logger(label: "microbench") { _ in SwiftLogNoOpLogHandler() }
let invocationCounter = Atomic<UInt64>(0)
let events = EventBuffer(capacity: messageCount)

func record(_ name: String, _ nanoseconds: Double) {
    print("microbench \(name): ns_per_msg=\(String(format: "%.1f", nanoseconds))")
    fflush(nil)
}

print("One invocation, per message: \(messageCount) real librdkafka messages of \(valueSize) bytes, median of \(rounds) rounds")

// The parts, alone. rd_kafka_message_headers is what a version 1 event's fill calls once per
// message; on a consumed message without headers librdkafka 2.0.2 allocates and frees a parse
// buffer on every call to find that out. Version 2 leaves it to the function to ask.
record("rdkafka-headers-call", measure(messagesPerIteration: messageCount) {
    var handle: OpaquePointer? = nil
    for index in 0..<messageCount { _ = rd_kafka_message_headers(messages[index], &handle) }
})
record("event-fill-v1", measure(messagesPerIteration: messageCount) {
    events.fill(batch, withHeaders: true)
})
record("event-fill", measure(messagesPerIteration: messageCount) {
    events.fill(batch, withHeaders: false)
})

/// The invocations of one library's `noop_one`/`noop_many` (and `extraOne`, a ONE entry point
/// measured like noop_one), named `NAME-LANGUAGE(-v1)`.
@MainActor
func invocations(_ file: String, language: String, extraOne: String? = nil) throws {
    let url = binDirectory.appendingPathComponent(file)
    let one = try load(library: url, entryPoint: "noop_one", cardinality: .one, scratch: scratch)
    let many = try load(library: url, entryPoint: "noop_many", cardinality: .many, scratch: scratch)
    let version = one.abiVersion
    let suffix = version == .v1 ? "-v1" : ""
    let withHeaders = version == .v1
    let context = InvocationContext(functionName: "microbench", abiVersion: version, logger: logger)
    let manyCall = try CallInterface(entryPoint: many.entryPoint, parameters: CallInterface.parameters(cardinality: .many, outputCount: 0))
    manyCall.setPointer(2, context.pointer)

    /// What the Invoker does per message (ONE): the target's number.
    func invocationOne(_ name: String, _ library: FunctionLibrary) throws {
        let oneCall = try CallInterface(entryPoint: library.entryPoint, parameters: CallInterface.parameters(cardinality: .one, outputCount: 0))
        oneCall.setPointer(1, context.pointer)
        record(name, measure(messagesPerIteration: messageCount) {
            for index in 0..<messageCount {
                let message = UnsafeBufferPointer(start: messages + index, count: 1)
                events.fill(message, withHeaders: withHeaders)
                oneCall.setPointer(0, events.events)
                context.begin(invocationID: invocationCounter.wrappingAdd(1, ordering: .relaxed).newValue,
                              events: events.events, count: 1, messages: message.baseAddress)
                _ = oneCall.call()
            }
        })
    }

    if version == .v2 {
        // The call alone: through libffi, and, for comparison, a direct C call of the same symbol.
        let oneCall = try CallInterface(entryPoint: one.entryPoint, parameters: CallInterface.parameters(cardinality: .one, outputCount: 0))
        oneCall.setPointer(1, context.pointer)
        events.fill(UnsafeBufferPointer(start: messages, count: 1), withHeaders: false)
        oneCall.setPointer(0, events.events)
        record("libffi-call-\(language)", measure(messagesPerIteration: messageCount) {
            for _ in 0..<messageCount { _ = oneCall.call() }
        })
        let direct = unsafeBitCast(one.entryPoint, to: (@convention(c) (UnsafePointer<sf_event_v1>?, UnsafePointer<sf_context>?) -> Int32).self)
        record("direct-call-\(language)", measure(messagesPerIteration: messageCount) {
            for _ in 0..<messageCount { _ = direct(events.events, context.pointer) }
        })
    }
    try invocationOne("invocation-one-\(language)\(suffix)", one)
    if let extraOne {
        try invocationOne("invocation-one-\(language)-reads-headers", try load(library: url, entryPoint: extraOne, cardinality: .one, scratch: scratch))
    }
    record("invocation-many-\(language)\(suffix)", measure(messagesPerIteration: messageCount) {
        events.fill(batch, withHeaders: withHeaders)
        manyCall.setPointer(0, events.events)
        manyCall.setCount(1, messageCount)
        context.begin(invocationID: invocationCounter.wrappingAdd(1, ordering: .relaxed).newValue,
                      events: events.events, count: messageCount, messages: batch.baseAddress)
        _ = manyCall.call()
    })
}

try invocations("libBenchNoop.so", language: "swift", extraOne: "headers_one")
try invocations("libBenchNoopC.so", language: "c", extraOne: "headers_one")
try invocations("libBenchNoopV1.so", language: "swift")
try invocations("libBenchNoopCV1.so", language: "c")

for index in 0..<messageCount { rd_kafka_message_destroy(messages[index]) }
_ = rd_kafka_consumer_close(consumer)
rd_kafka_destroy(consumer)
withExtendedLifetime(broker) {}
