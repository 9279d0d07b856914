import Foundation
@testable import FunctionHost

/// The scoped fixture most host tests start with: an embedded broker, the function's topic and
/// its dead-letter topic, a script root holding a Recorder function, and a host in this process
/// that owns its partitions (asked of its listener, not read from the log). It is a ``HostedApp``
/// of one function, so its host is built the way every integration test's is.
struct HostedFunction {
    let topic: String
    let name: String
    let app: HostedApp

    var broker: EmbeddedBroker { app.broker }
    var root: ScriptRoot { app.root }
    var harness: HostHarness { app.harness }
    var deadLetterTopic: String { "\(topic).\(name).dlq" }
    var log: LogCapture { harness.log }

    /// - Parameters:
    ///   - prefix: names the topic and the function (made unique).
    ///   - entryPoint, cardinality, dataType, outputs, triggerFields, outputFields: as ``ScriptRoot/recorderFunction``.
    ///   - brokers: of the embedded cluster; `beforeStart` can place topics on them.
    ///   - environment: the host's (app settings, `OTEL_*`).
    init(_ prefix: String, partitions: Int = 1, hostJSON: String = #"{ "version": "2.0" }"#, entryPoint: String = "record_one",
         cardinality: String = "ONE", dataType: String = "binary", outputs: [String] = [], triggerFields: String = "",
         outputFields: String = "", brokers: Int = 1, environment: [String: String] = ProcessInfo.processInfo.environment,
         beforeStart: (EmbeddedBroker) throws -> Void = { _ in }) throws {
        let broker = try EmbeddedBroker(brokers: brokers)
        topic = uniqueName(prefix.lowercased())
        name = uniqueName(prefix.prefix(1).uppercased() + prefix.dropFirst())
        try broker.createTopic(topic, partitions: partitions)
        try broker.createTopic("\(topic).\(name).dlq", partitions: partitions)
        for output in outputs { try broker.createTopic(output, partitions: partitions) }
        let function = try ScriptRoot.recorderFunction(
            broker: broker.bootstrapServers, topic: topic, group: name, entryPoint: entryPoint, cardinality: cardinality,
            dataType: dataType, outputs: outputs, triggerFields: triggerFields, outputFields: outputFields)
        try beforeStart(broker)
        app = try HostedApp(broker: broker, hostJSON: hostJSON, functions: [(name, function)], environment: environment)
    }

    /// Produces `values` to partition 0 with the independent client; returns where they landed.
    @discardableResult
    func produce(_ messages: [OutgoingMessage]) throws -> [Placement] {
        try IndependentClient.produce(broker: broker.bootstrapServers, messages)
    }

    /// The group's committed offsets, as an independent client reads them.
    func committed(partitions: Int = 1) throws -> [Int32: Int64] {
        try IndependentClient.committed(broker: broker.bootstrapServers, group: name, topic: topic, partitions: partitions)
    }

    /// Where the host has stored partition 0's offset (everything before it settled); nil before any.
    var storedOffset: Int64? { harness.host?.hostedFunctions.first?.listener?.operations.storedOffsets[0] }

    /// Every value of `topic` as text, read from the start by the independent client (up to
    /// `count`, or until `timeout` passes without reaching it).
    func values(of topic: String, count: Int = 1_000, timeout: Double = 5) throws -> [String] {
        try IndependentClient.consume(broker: broker.bootstrapServers, topic: topic, partitions: 1, count: count, timeout: timeout)
            .compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
    }

    func stop() { harness.stop() }
}
