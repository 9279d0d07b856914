import Foundation
import Testing
@testable import FunctionHost

/// `swiftfunc start` supervises the process that hosts the functions: a trap or a timeout takes
/// the process down, the supervisor restarts it, and a message that keeps doing it is
/// dead-lettered with a header saying so, while every other message is processed.
@Suite("Crash recovery", .timeLimit(.minutes(10)))
struct CrashRecoveryTests {
    private func processedLines(_ function: String) -> [String] {
        let url = TestPaths.recordDirectory.appendingPathComponent("\(function).processed")
        return ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private func runScenario(poison: String, hostJSON: String, triggerFields: String = "") throws -> (host: ChildProcess, deadLetter: ConsumedMessage, processed: [String], function: String) {
        _ = TestPaths.recordDirectory
        let topic = uniqueName("crashy")
        let function = uniqueName("Crashy")
        let broker = try ChildProcess(TestPaths.swiftfunc, ["broker", "--partitions", "1", "--topic", topic, "--topic", "\(topic).\(function).dlq"])
        defer { _ = try? broker.stop() }
        try waitUntil("the broker's address") { broker.stdout.contains("\n") }
        let address = String(broker.stdout.split(separator: "\n")[0])
        let root = try ScriptRoot(hostJSON: hostJSON)
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: address, topic: topic, group: function, entryPoint: "process_durably",
                                                                    triggerFields: triggerFields))
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--port", "0"])
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("the host to be assigned partitions") { host.stderr.contains("was assigned partitions") }

        let placements = try IndependentClient.produce(broker: address, [
            OutgoingMessage(topic: topic, value: "before", partition: 0),
            OutgoingMessage(topic: topic, value: poison, partition: 0),
            OutgoingMessage(topic: topic, value: "after", partition: 0),
        ])
        try waitUntil("the message after the poison one", timeout: 90) {
            processedLines(function).contains { $0.hasSuffix(" after") }
        }
        let deadLetters = try IndependentClient.consume(broker: address, topic: "\(topic).\(function).dlq", partitions: 1, count: 1)
        let letter = try #require(deadLetters.first)
        #expect(letter.value == Array(poison.utf8))
        let headers = Dictionary(letter.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }, uniquingKeysWith: { $1 })
        #expect(headers["swiftfunc.dlq.reason"] == "crashed")
        #expect(headers["swiftfunc.dlq.offset"] == "\(placements[1].offset)")
        #expect(try host.stop(signal: SIGTERM) == 0, "the supervised host stops cleanly after surviving the crashes")
        let committed = try IndependentClient.committed(broker: address, group: function, topic: topic, partitions: 1)
        #expect(committed[0] == placements[2].offset + 1)
        return (host, letter, processedLines(function), function)
    }

    @Test("A function that traps on one message: the host restarts, and after maxCrashesPerMessage the message is dead-lettered")
    func trapIsDeadLettered() throws {
        let result = try runScenario(poison: "crash", hostJSON: #"{ "version": "2.0", "swiftfunc": { "maxCrashesPerMessage": 2 } }"#)
        #expect(result.processed.filter { $0.hasSuffix(" before") }.count == 1, "processed before the crash, not again")
        #expect(result.processed.filter { $0.hasSuffix(" after") }.count == 1)
        #expect(!result.processed.contains { $0.hasSuffix(" crash") })
        #expect(result.host.stderr.contains("The host process was killed by signal"))
        #expect(result.host.stderr.contains("(crash 2 of these messages)"))
        #expect(result.host.stderr.contains("asked to crash"), "the trap's message reaches the log")
    }

    @Test("A function that runs past functionTimeout is treated like a crash of its message")
    func timeoutIsDeadLettered() throws {
        let result = try runScenario(poison: "hang", hostJSON: #"{ "version": "2.0", "functionTimeout": "00:00:01", "swiftfunc": { "maxCrashesPerMessage": 1 } }"#)
        #expect(result.processed.filter { $0.hasSuffix(" after") }.count == 1)
        #expect(result.host.stderr.contains("past functionTimeout"))
        #expect(result.host.stderr.contains("was stopped by the functionTimeout watchdog"))
    }

    @Test("With ordering key the lanes' journals pin a trap on its message, which is dead-lettered after maxCrashesPerMessage")
    func trapOnALaneIsDeadLettered() throws {
        let result = try runScenario(poison: "crash", hostJSON: #"{ "version": "2.0", "swiftfunc": { "maxCrashesPerMessage": 2 } }"#,
                                     triggerFields: #""ordering": "key", "maxConcurrency": 4"#)
        #expect(result.processed.filter { $0.hasSuffix(" before") }.count == 1, "processed before the crash, not again")
        #expect(result.processed.filter { $0.hasSuffix(" after") }.count == 1)
        #expect(!result.processed.contains { $0.hasSuffix(" crash") })
        #expect(result.host.stderr.contains("(crash 2 of these messages)"))
    }

    @Test("With ordering key the watchdog sees a lane running past functionTimeout")
    func timeoutOnALaneIsDeadLettered() throws {
        let result = try runScenario(poison: "hang", hostJSON: #"{ "version": "2.0", "functionTimeout": "00:00:01", "swiftfunc": { "maxCrashesPerMessage": 1 } }"#,
                                     triggerFields: #""ordering": "key", "maxConcurrency": 4"#)
        #expect(result.processed.filter { $0.hasSuffix(" after") }.count == 1)
        #expect(result.host.stderr.contains("was stopped by the functionTimeout watchdog"))
    }
}

/// A host whose cluster is gone says so in its log and its health file instead of going quiet,
/// and says so again when the cluster is back.
@Suite("Broker trouble", .timeLimit(.minutes(10)))
struct BrokerTroubleTests {
    @Test("An unreachable cluster is reported after swiftfunc.unreachableWarningAfter, and its return too")
    func unreachableClusterIsReported() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("outage")
        try broker.createTopic(topic, partitions: 1)
        let function = uniqueName("Outage")
        let hosted = try HostedApp(broker: broker, hostJSON: #"{ "version": "2.0", "swiftfunc": { "unreachableWarningAfter": "00:00:02" } }"#,
                                   functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))])
        defer { hosted.stop() }
        let healthFile = hosted.root.url.appendingPathComponent(".swiftfunc/health.json")
        func health() -> String { (try? String(contentsOf: healthFile, encoding: .utf8)) ?? "" }
        try waitUntil("a healthy report") { health().contains(#""state" : "consuming""#) }

        broker.setAllBrokers(up: false)
        try waitUntil("the warning", timeout: 45) {
            // `function` as a field too, not only in the words (JSON logs filter on it).
            hosted.log.contains("warning", "Function '\(function)' has not been able to reach its Kafka cluster", "function=\(function)")
        }
        try waitUntil("the health file to say so", timeout: 15) { health().contains(#""state" : "cluster-unreachable""#) }

        broker.setAllBrokers(up: true)
        try waitUntil("the cluster's return", timeout: 45) {
            hosted.log.contains("Function '\(function)' reaches its Kafka cluster again")
        }
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: topic, value: "after the outage")])
        try waitUntil("consumption to resume") { try recordedEvents(function).contains { $0.valueText == "after the outage" } }
    }
}
