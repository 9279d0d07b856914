import Foundation
import Testing
import CRdKafka
@testable import FunctionHost

/// The host's HTTP endpoint, asked over loopback with real HTTP requests while the host runs
/// against an embedded broker: metrics move with the messages, readiness follows the group and
/// the cluster, pause drains and resume continues, admin routes run a function once and need
/// the key beyond loopback.
@Suite("Operations endpoint", .timeLimit(.minutes(10)))
struct OperationsEndpointTests {
    @Test("In flight is 1 while a call runs and 0 once it returned; the call is then counted, its duration in the histogram")
    func inFlightWhileACallRuns() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("inflight")
        let function = uniqueName("InFlight")
        try broker.createTopic(topic, partitions: 1)
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function, entryPoint: "record_timed")),
        ], endpointAddress: "127.0.0.1")
        defer { hosted.stop() }
        let url = try #require(hosted.url) + "/metrics"
        #expect(try HTTP.get(url).sample("swiftfunc_invocations_in_flight", ["function": function]) == 0)

        _ = try IndependentClient.produce(broker: broker.bootstrapServers, [OutgoingMessage(topic: topic, value: "sleep:4000", partition: 0)])
        try waitUntil("the call to be in flight", timeout: 30) {
            (try? HTTP.get(url).sample("swiftfunc_invocations_in_flight", ["function": function])) == 1
        }
        #expect(try HTTP.get(url).sample("swiftfunc_invocations_total", ["function": function, "outcome": "succeeded"]) == 0, "not counted before it returns")
        try waitUntil("the call to return", timeout: 30) {
            (try? HTTP.get(url).sample("swiftfunc_invocations_in_flight", ["function": function])) == 0
        }
        let after = try HTTP.get(url)
        #expect(after.sample("swiftfunc_invocations_total", ["function": function, "outcome": "succeeded"]) == 1)
        // It slept 4 s: in the 5 s bucket, not the 2.5 s one, and the sum says about 4 s.
        #expect(after.sample("swiftfunc_invocation_duration_seconds_bucket", ["function": function, "le": "2.5"]) == 0)
        #expect(after.sample("swiftfunc_invocation_duration_seconds_bucket", ["function": function, "le": "5.0"]) == 1)
        let seconds = try #require(after.sample("swiftfunc_invocation_duration_seconds_sum", ["function": function]))
        #expect(seconds >= 3.9 && seconds < 5, "duration sum \(seconds) s")
    }

    @Test("A commit the group refuses is counted as a commit failure; the next commit carries the offsets and nothing is lost")
    func refusedCommitIsCounted() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("refused")
        let function = uniqueName("Refused")
        try broker.createTopic(topic, partitions: 1)
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function)),
        ], endpointAddress: "127.0.0.1")
        defer { hosted.stop() }
        let url = try #require(hosted.url) + "/metrics"
        #expect(try HTTP.get(url).sample("swiftfunc_offset_commit_failures_total", ["function": function]) == 0)

        // The group coordinator answers the next OffsetCommit requests with an error librdkafka
        // does not retry itself (ApiKey 8).
        broker.failRequests(apiKey: 8, with: RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, count: 2)
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, (0..<3).map { OutgoingMessage(topic: topic, value: "r\($0)", partition: 0) })
        try waitUntil("the refused commit in /metrics", timeout: 30) {
            ((try? HTTP.get(url).sample("swiftfunc_offset_commit_failures_total", ["function": function])) ?? 0) >= 1
        }
        try waitUntil("the offsets committed after all", timeout: 30) {
            (try? IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 1))?[0] == 3
        }
        #expect(try recordedEvents(function).map(\.valueText) == ["r0", "r1", "r2"])
    }

    @Test("Counters, histograms and lag move with produced messages; lag falls to 0 once they are consumed")
    func metricsFollowTheMessages() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("metered")
        let batchTopic = uniqueName("metered-batch")
        let forwardTopic = uniqueName("metered-forward")
        let output = uniqueName("metered-out")
        let one = uniqueName("MeteredOne")
        let many = uniqueName("MeteredMany")
        let forwarder = uniqueName("MeteredForward")
        try broker.createTopic(topic, partitions: 2)
        try broker.createTopic(batchTopic, partitions: 1)
        try broker.createTopic(forwardTopic, partitions: 1)
        try broker.createTopic(output, partitions: 1)
        try broker.createTopic("\(topic).\(one).dlq", partitions: 1)
        var oneJSON = try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: one)
        oneJSON = oneJSON.replacingOccurrences(of: #""entryPoint""#, with: #""retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.1" }, "entryPoint""#)
        let hosted = try HostedApp(broker: broker, functions: [
            (one, oneJSON),
            (forwarder, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: forwardTopic, group: forwarder,
                                                        entryPoint: "forward", outputs: [output])),
            (many, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: batchTopic, group: many,
                                                   entryPoint: "record_many", cardinality: "MANY")),
        ], endpointAddress: "127.0.0.1")
        defer { hosted.stop() }
        let url = try #require(hosted.url)

        let before = try HTTP.get("\(url)/metrics")
        #expect(before.status == 200)
        #expect(before.sample("swiftfunc_invocations_total", ["function": one, "outcome": "succeeded"]) == 0)
        #expect(before.body.contains(#"swiftfunc_build_info{librdkafka="\#(librdkafkaVersion)""#))

        _ = try IndependentClient.produce(broker: broker.bootstrapServers,
            (0..<5).map { OutgoingMessage(topic: topic, value: "m\($0)", partition: Int32($0 % 2)) }
            + [OutgoingMessage(topic: topic, value: "fail", partition: 0)]
            + (0..<4).map { OutgoingMessage(topic: batchTopic, value: "b\($0)", partition: 0) }
            + (0..<2).map { OutgoingMessage(topic: forwardTopic, value: "f\($0)", partition: 0) })
        try waitUntil("the messages and the dead letter") {
            let metrics = try HTTP.get("\(url)/metrics")
            return metrics.sample("swiftfunc_dead_lettered_total", ["function": one, "reason": "failed"]) == 1
                && metrics.sample("swiftfunc_batch_size_sum", ["function": many]) == 4
                && metrics.sample("swiftfunc_output_records_total", ["function": forwarder, "topic": output, "result": "delivered"]) == 2
        }
        try waitUntil("the lag to fall to 0") {
            let metrics = try HTTP.get("\(url)/metrics")
            return metrics.sample("swiftfunc_consumer_lag", ["function": one, "partition": "0"]) == 0
                && metrics.sample("swiftfunc_consumer_lag", ["function": one, "partition": "1"]) == 0
                && metrics.sample("swiftfunc_consumer_lag", ["function": many, "partition": "0"]) == 0
        }
        let metrics = try HTTP.get("\(url)/metrics")
        #expect(metrics.sample("swiftfunc_invocations_total", ["function": one, "outcome": "succeeded"]) == 5)
        #expect(metrics.sample("swiftfunc_invocations_total", ["function": one, "outcome": "failed"]) == 2, "the first attempt and one retry")
        #expect(metrics.sample("swiftfunc_retries_total", ["function": one]) == 1)
        #expect(metrics.sample("swiftfunc_messages_consumed_total", ["function": one]) == 6)
        #expect(metrics.sample("swiftfunc_messages_consumed_total", ["function": many]) == 4)
        #expect(metrics.sample("swiftfunc_invocation_duration_seconds_count", ["function": one]) == 7)
        #expect(metrics.sample("swiftfunc_invocation_duration_seconds_bucket", ["function": one, "le": "+Inf"]) == 7)
        #expect((metrics.sample("swiftfunc_invocation_duration_seconds_sum", ["function": one]) ?? 0) > 0)
        #expect(metrics.sample("swiftfunc_batch_size_count", ["function": many]) ?? 0 >= 1)
        #expect(metrics.sample("swiftfunc_output_records_total", ["function": forwarder, "topic": output, "result": "failed"]) == 0)
        #expect(metrics.sample("swiftfunc_rebalances_total", ["function": one]) ?? 0 >= 1)
        #expect(metrics.sample("swiftfunc_paused_partitions", ["function": one]) == 0)
        #expect(metrics.sample("swiftfunc_crashes_total", ["function": one]) == 0)
        #expect(metrics.sample("swiftfunc_worker_restarts_total") == 0)
        #expect((metrics.sample("swiftfunc_uptime_seconds") ?? 0) > 0)
        #expect(metrics.body.contains("# TYPE swiftfunc_invocation_duration_seconds histogram"))
    }

    @Test("Ready is 503 until the assignment, 200 after it, 503 naming the function while its cluster is down, 200 again after")
    func readinessFollowsAssignmentAndCluster() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("ready")
        let function = uniqueName("Ready")
        try broker.createTopic(topic, partitions: 1)
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))],
                                   endpointAddress: "127.0.0.1", start: .started)
        defer { hosted.stop() }
        let url = try #require(hosted.url)
        let first = try HTTP.get("\(url)/health/ready")
        if first.status == 503 {
            #expect(first.body.contains(function) && first.body.contains("waiting for consumer group"))
        }
        try waitUntil("ready") { try HTTP.get("\(url)/health/ready").status == 200 }
        #expect(hosted.log.contains("'\(function)' was assigned partitions"))
        #expect(try HTTP.get("\(url)/health/live").status == 200)

        broker.setAllBrokers(up: false)
        try waitUntil("not ready while the cluster is down", timeout: 45) { try HTTP.get("\(url)/health/ready").status == 503 }
        let down = try HTTP.get("\(url)/health/ready")
        let body = try #require(try down.json() as? [String: Any])
        let entry = try #require((body["functions"] as? [[String: Any]])?.first { $0["name"] as? String == function })
        #expect(entry["ready"] as? Bool == false)
        #expect((entry["reason"] as? String)?.contains("unreachable") == true)
        #expect(try HTTP.get("\(url)/health/live").status == 200, "the loops still turn")

        broker.setAllBrokers(up: true)
        try waitUntil("ready again", timeout: 45) { try HTTP.get("\(url)/health/ready").status == 200 }
    }

    @Test("Lag is the broker's high watermark minus the committed point while a partition is held for a retry or paused by the operator")
    func lagWhileHeld() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("laggy")
        let name = uniqueName("Laggy")
        try broker.createTopic(topic, partitions: 2)
        try broker.createTopic("\(topic).\(name).dlq", partitions: 2)
        // The retry is ten minutes away: partition 0 stays held at "fail" for the whole test.
        let json = try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: name).replacingOccurrences(
            of: #""entryPoint""#, with: #""retry": { "strategy": "fixedDelay", "maxRetryCount": 100, "delayInterval": "00:10:00" }, "entryPoint""#)
        let hosted = try HostedApp(broker: broker, functions: [(name, json)], endpointAddress: "127.0.0.1")
        defer { hosted.stop() }
        let url = try #require(hosted.url)
        func produce(_ values: [String], to partition: Int32) throws -> [Placement] {
            try IndependentClient.produce(broker: broker.bootstrapServers, values.map { OutgoingMessage(topic: topic, value: $0, partition: partition) })
        }
        var placements = try produce(["a", "fail"], to: 0) + produce(["x"], to: 1)
        try waitUntil("partition 0 held at its failed message, x called") {
            let metrics = try HTTP.get("\(url)/metrics")
            return try metrics.sample("swiftfunc_invocations_total", ["function": name, "outcome": "failed"]) == 1
                && metrics.sample("swiftfunc_paused_partitions", ["function": name]) == 1
                && recordedEvents(name).contains { $0.valueText == "x" }
        }
        placements += try produce((0..<5).map { "behind-\($0)" }, to: 0)
        /// What the lag of `partition` must be: the broker's high watermark (the end of what was
        /// produced) minus the group's committed offset, as an independent client reads them.
        func expectedLag(_ partition: Int32) throws -> Int64? {
            let high = placements.filter { $0.partition == partition }.map(\.offset).max()! + 1
            return try IndependentClient.committed(broker: broker.bootstrapServers, group: name, topic: topic, partitions: 2)[partition].map { high - $0 }
        }
        try waitUntil("the lag of the held partition to count the 5 messages behind its failed one and the failed one", timeout: 20) {
            let metrics = try HTTP.get("\(url)/metrics")
            return try metrics.sample("swiftfunc_consumer_lag", ["function": name, "partition": "0"]) == 6
                && expectedLag(0) == 6
        }

        let paused = try HTTP.post("\(url)/admin/functions/\(name)/pause")
        #expect(paused.status == 200)
        placements += try produce((0..<3).map { "while-paused-\($0)" }, to: 1)
        try waitUntil("the lag of the paused partition to count what came while it was paused", timeout: 20) {
            let metrics = try HTTP.get("\(url)/metrics")
            return try metrics.sample("swiftfunc_consumer_lag", ["function": name, "partition": "1"]) == 3
                && metrics.sample("swiftfunc_consumer_lag", ["function": name, "partition": "0"]) == 6
                && metrics.sample("swiftfunc_paused_partitions", ["function": name]) == 2
                && expectedLag(1) == 3
        }
        #expect(!(try recordedEvents(name)).contains { $0.valueText?.hasPrefix("while-paused") ?? false })
    }

    @Test("Pause drains and commits, nothing is consumed while paused; resume continues with nothing lost",
          arguments: ["partition", "key"])
    func pauseAndResume(ordering: String) throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("pausable")
        let function = uniqueName("Pausable")
        try broker.createTopic(topic, partitions: 2)
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(
            broker: broker.bootstrapServers, topic: topic, group: function,
            triggerFields: ordering == "partition" ? "" : #""ordering": "\#(ordering)", "maxConcurrency": 4"#))], endpointAddress: "127.0.0.1")
        defer { hosted.stop() }
        let url = try #require(hosted.url)
        _ = try IndependentClient.produce(broker: broker.bootstrapServers, (0..<4).map { OutgoingMessage(topic: topic, value: "before-\($0)", partition: Int32($0 % 2)) })
        try waitUntil("the first messages") { try recordedEvents(function).count == 4 }

        let paused = try HTTP.post("\(url)/admin/functions/\(function)/pause")
        #expect(paused.status == 200)
        #expect(paused.body.contains(#""state" : "paused""#))
        let committed = try IndependentClient.committed(broker: broker.bootstrapServers, group: function, topic: topic, partitions: 2)
        #expect(committed[0] == 2 && committed[1] == 2, "pausing commits what was processed")
        let listed = try #require(try HTTP.get("\(url)/admin/functions").json() as? [[String: Any]])
        #expect(listed.first { $0["name"] as? String == function }?["state"] as? String == "paused")

        _ = try IndependentClient.produce(broker: broker.bootstrapServers, (0..<4).map { OutgoingMessage(topic: topic, value: "during-\($0)", partition: Int32($0 % 2)) })
        #expect(throws: TestSetupError.self, "nothing is consumed while paused") {
            try waitUntil("a message consumed while paused", timeout: 3) { try recordedEvents(function).count > 4 }
        }
        #expect(try HTTP.get("\(url)/metrics").sample("swiftfunc_paused_partitions", ["function": function]) == 2)

        let resumed = try HTTP.post("\(url)/admin/functions/\(function)/resume")
        #expect(resumed.status == 200)
        #expect(resumed.body.contains(#""state" : "running""#))
        try waitUntil("the messages sent while paused") { try recordedEvents(function).count >= 8 }
        let values = try recordedEvents(function).compactMap(\.valueText)
        #expect(values.sorted() == ((0..<4).map { "before-\($0)" } + (0..<4).map { "during-\($0)" }).sorted(), "each exactly once")
    }

    @Test("POST /admin/functions/NAME runs the function once, returns its outcome, log and records, and really sends them")
    func adminInvocation() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("manual")
        let output = uniqueName("manual-out")
        let function = uniqueName("Manual")
        try broker.createTopic(topic, partitions: 1)
        try broker.createTopic(output, partitions: 1)
        let failing = uniqueName("ManualFailing")
        let hosted = try HostedApp(broker: broker, functions: [
            (function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function, entryPoint: "forward", outputs: [output])),
            (failing, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: failing)),
        ], endpointAddress: "127.0.0.1", start: .started)
        defer { hosted.stop() }
        let url = try #require(hosted.url)

        let answer = try HTTP.post("\(url)/admin/functions/\(function)", json: #"{"input": "by hand", "key": "k-1", "headers": {"trace": "t-9"}}"#)
        #expect(answer.status == 200)
        let body = try #require(try answer.json() as? [String: Any])
        #expect(body["outcome"] as? String == "Succeeded")
        #expect(body["produced"] as? Bool == true)
        let record = try #require((body["records"] as? [[String: Any]])?.first)
        #expect(record["topic"] as? String == output)
        #expect(record["value"] as? String == "by hand")
        #expect(record["key"] as? String == "k-1")
        #expect((body["logs"] as? [[String: Any]])?.contains { ($0["message"] as? String)?.contains("Executed '\(function)'") == true } == true)
        let event = try #require(try recordedEvents(function).first)
        #expect(event.valueText == "by hand" && event.key == Array("k-1".utf8) && event.topic == topic)
        #expect(event.headers == [RecordedHeader(name: "trace", value: Array("t-9".utf8))])
        let sent = try IndependentClient.consume(broker: broker.bootstrapServers, topic: output, partitions: 1, count: 1)
        #expect(sent.first?.value == Array("by hand".utf8), "sent for real")

        let failed = try HTTP.post("\(url)/admin/functions/\(failing)", json: #"{"input": "fail"}"#)
        #expect(failed.status == 500)
        #expect(failed.body.contains(#""outcome" : "Failed""#) && failed.body.contains("asked to fail"))
        #expect(try HTTP.post("\(url)/admin/functions/Nobody", json: #"{"input": "x"}"#).status == 404)
        #expect(try HTTP.post("\(url)/admin/functions/\(function)", json: #"{"value": "x"}"#).status == 400)
    }

    @Test("Beyond loopback, admin routes need x-functions-key to match SWIFTFUNC_ADMIN_KEY; metrics and health do not")
    func adminKey() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("keyed")
        let function = uniqueName("Keyed")
        try broker.createTopic(topic, partitions: 1)
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTFUNC_ADMIN_KEY"] = "s3cret"
        let hosted = try HostedApp(broker: broker, functions: [(function, try ScriptRoot.recorderFunction(broker: broker.bootstrapServers, topic: topic, group: function))],
                                   environment: environment, endpointAddress: "0.0.0.0", start: .started)
        defer { hosted.stop() }
        let url = try #require(hosted.url)
        #expect(try HTTP.get("\(url)/admin/functions").status == 401)
        #expect(try HTTP.get("\(url)/admin/functions", headers: ["x-functions-key": "wrong"]).status == 401)
        #expect(try HTTP.post("\(url)/admin/functions/\(function)/pause").status == 401)
        let listed = try HTTP.get("\(url)/admin/functions", headers: ["x-functions-key": "s3cret"])
        #expect(listed.status == 200)
        #expect(listed.body.contains(function))
        #expect(try HTTP.get("\(url)/metrics").status == 200)
        #expect(try HTTP.get("\(url)/health/live").status == 200)
    }
}

/// `swiftfunc start`'s endpoint, in the worker the supervisor runs.
@Suite("swiftfunc start's HTTP endpoint", .timeLimit(.minutes(10)))
struct StartEndpointTests {
    @Test("The banner prints the URL; the worker serves it; logging.format json writes one JSON object a line")
    func bannerAndJSONLogs() throws {
        _ = TestPaths.recordDirectory
        let topic = uniqueName("served")
        let function = uniqueName("Served")
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "logging": { "format": "json" } }"#)
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: topic, group: function))
        let port = try freePort()
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--embedded-broker", "--partitions", "1", "--port", "\(port)"], currentDirectory: root.url)
        defer { _ = try? host.stop(signal: SIGKILL) }
        try waitUntil("the banner") { host.stdout.contains("HTTP: http://127.0.0.1:\(port)") }
        try waitUntil("ready") { (try? HTTP.get("http://127.0.0.1:\(port)/health/ready").status) == 200 }
        // With logging.format json the banner is JSON too (OperatingTests reads it): the address from its file.
        let address = try String(contentsOf: root.url.appendingPathComponent(".swiftfunc/embedded-broker"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try IndependentClient.produce(broker: address, [OutgoingMessage(topic: topic, value: "served")])
        try waitUntil("the invocation in the metrics") {
            try HTTP.get("http://127.0.0.1:\(port)/metrics").sample("swiftfunc_invocations_total", ["function": function, "outcome": "succeeded"]) == 1
        }
        #expect(try host.stop(signal: SIGTERM) == 0)

        let lines = host.stderr.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let executed = try #require(objects.first { ($0["message"] as? String)?.hasPrefix("Executed '\(function)'") == true })
        #expect(executed["function"] as? String == function)
        #expect(executed["level"] as? String == "info")
        #expect(executed["outcome"] as? String == "Succeeded")
        #expect(executed["partition"] as? Int == 0)
        #expect(executed["offset"] as? Int == 0)
        #expect(executed["invocation"] is Int)
        #expect(executed["durationMs"] is Double || executed["durationMs"] is Int)
        #expect(executed["time"] is String)
    }

    @Test("A port in use is a start-up error naming the setting; the supervisor does not restart it")
    func portInUse() throws {
        let occupied = try OccupiedPort()
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "swiftfunc": { "http": { "port": \#(occupied.port) } } }"#)
        try root.addFunction("Busy", ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "busy", group: "busy"))
        let supervised = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path])
        defer { _ = try? supervised.stop(signal: SIGKILL) }
        // Generous: Foundation learns of a child's exit on Dispatch's threads, which the suites
        // running beside this one can keep busy for a while on 2 cores.
        try waitUntil("the supervised host to give up", timeout: 120) { !supervised.process.isRunning }
        #expect(supervised.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(supervised.stderr.contains("127.0.0.1:\(occupied.port): the port is in use"))
        #expect(supervised.stderr.contains("host.json swiftfunc.http.port"))
        #expect(!supervised.stderr.contains("Restarting"))
        #expect(!supervised.stderr.contains("USAGE"), "a run-time error, not a mistake on the command line")

        let overridden = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--no-supervisor", "--port", "\(occupied.port)"])
        defer { _ = try? overridden.stop(signal: SIGKILL) }
        try waitUntil("the host to give up", timeout: 120) { !overridden.process.isRunning }
        #expect(overridden.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(overridden.stderr.contains("Pass another --port"))
    }
}

/// `swiftfunc invoke`: a function called once in the command's own process, no broker at all.
@Suite("swiftfunc invoke", .timeLimit(.minutes(10)))
struct InvokeCommandTests {
    /// A script root whose function points at a broker nobody listens on.
    private func root(_ function: String, entryPoint: String = "record_one", cardinality: String = "ONE", outputs: [String] = []) throws -> ScriptRoot {
        _ = TestPaths.recordDirectory
        let root = try ScriptRoot()
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "invoked", group: function, entryPoint: entryPoint,
                                                                   cardinality: cardinality, dataType: "string", outputs: outputs))
        return root
    }

    private func invoke(_ root: ScriptRoot, _ arguments: [String]) throws -> ChildProcess {
        let child = try ChildProcess(TestPaths.swiftfunc, ["invoke", "--script-root", root.url.path] + arguments)
        try waitUntil("swiftfunc invoke to finish") { !child.process.isRunning }
        return child
    }

    @Test("A value with key and headers: the function gets them, the command prints its log and outcome, exit 0")
    func value() throws {
        let function = uniqueName("Invoked")
        let result = try invoke(try root(function), [function, "hello", "--key", "k-1", "--header", "a=b"])
        #expect(result.process.terminationStatus == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Outcome: Succeeded"))
        #expect(result.stdout.contains("Executed '\(function)'"))
        let event = try #require(try recordedEvents(function).first)
        #expect(event.valueText == "hello" && event.key == Array("k-1".utf8) && event.topic == "invoked")
        #expect(event.headers == [RecordedHeader(name: "a", value: Array("b".utf8))])
    }

    @Test("Output records are captured and printed, not produced")
    func capturedOutput() throws {
        let function = uniqueName("InvokedForward")
        let result = try invoke(try root(function, entryPoint: "forward", outputs: ["invoked-out"]), [function, "onwards", "--key", "k"])
        #expect(result.process.terminationStatus == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Output records (captured, not produced): 1"))
        #expect(result.stdout.contains(#"invoked-out key="k" value="onwards""#))
    }

    @Test("--event with an array calls a MANY function with the batch")
    func eventFile() throws {
        let function = uniqueName("InvokedMany")
        let root = try root(function, entryPoint: "record_many", cardinality: "MANY")
        try root.write("events.json", #"[{"value": "a", "partition": 3, "offset": 7, "headers": [["h", "1"]]}, {"value": "b", "key": null}]"#)
        let result = try invoke(root, [function, "--event", root.url.appendingPathComponent("events.json").path])
        #expect(result.process.terminationStatus == 0, "\(result.stderr)")
        let invocations = try recordedInvocations(function)
        #expect(invocations.count == 1)
        #expect(invocations.first?.map(\.valueText) == ["a", "b"])
        #expect(invocations.first?.first?.partition == 3 && invocations.first?.first?.offset == 7)
        #expect(invocations.first?.first?.headers == [RecordedHeader(name: "h", value: Array("1".utf8))])
    }

    @Test("With an eventFormat the function gets that platform's document of the event(s)")
    func eventFormat() throws {
        let function = uniqueName("InvokedDocument")
        _ = TestPaths.recordDirectory
        let root = try ScriptRoot()
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "invoked", group: function,
                                                                   entryPoint: "record_document", triggerFields: #""eventFormat": "tencent""#))
        let result = try invoke(root, [function, "from a file", "--key", "m-1"])
        #expect(result.process.terminationStatus == 0, "\(result.stderr)")
        let document = try #require(try recordedEvents(function).first?.valueText)
        let parsed = try #require(try parseJSON(document) as? [String: Any])
        let record = try #require((parsed["Records"] as? [[String: Any]])?.first?["Ckafka"] as? [String: Any])
        #expect(record["msgBody"] as? String == "from a file")
        #expect(record["msgKey"] as? String == "m-1")
        #expect(record["topic"] as? String == "invoked")
    }

    @Test("A failing invocation exits 1; a function that cannot load fails as the host would say it")
    func failures() throws {
        let function = uniqueName("InvokedFailing")
        let root = try root(function)
        let failed = try invoke(root, [function, "fail"])
        #expect(failed.process.terminationStatus == 1)
        #expect(failed.stdout.contains("Outcome: Failed"))

        let unknown = try invoke(root, ["Nobody", "x"])
        #expect(unknown.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(unknown.stderr.contains("there is no function 'Nobody'"))

        try root.addFunction("Broken", #"{ "scriptFile": "libMissing.so", "bindings": [ { "type": "kafkaTrigger", "direction": "in", "name": "e", "brokerList": "127.0.0.1:1", "topic": "t", "consumerGroup": "g" } ] }"#)
        let broken = try invoke(root, ["Broken", "x"])
        #expect(broken.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(broken.stderr.contains("libMissing.so"))
    }
}

@Suite("Operations configuration", .timeLimit(.minutes(10)))
struct OperationsConfigurationTests {
    private func parseHost(_ json: String) throws -> HostConfiguration {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try HostConfiguration.parse(JSONObject(object, file: "host.json"))
    }

    @Test("swiftfunc.http and logging.format: defaults, values, and errors naming the field")
    func parsing() throws {
        let defaults = try parseHost(#"{ "version": "2.0" }"#)
        #expect(defaults.operations.httpPort == 7071)
        #expect(defaults.operations.httpHost == "127.0.0.1")
        #expect(defaults.operations.logFormat == .text)
        let set = try parseHost(#"{ "version": "2.0", "logging": { "format": "JSON" }, "swiftfunc": { "http": { "port": 0, "host": "0.0.0.0" } } }"#)
        #expect(set.operations.httpPort == 0)
        #expect(set.operations.httpHost == "0.0.0.0")
        #expect(set.operations.logFormat == .json)
        #expect(throws: ConfigurationError.self) {
            try parseHost(#"{ "swiftfunc": { "http": { "port": 70000 } } }"#)
        }
        do {
            _ = try parseHost(#"{ "logging": { "format": "xml" } }"#)
            Issue.record("accepted logging.format xml")
        } catch let error as ConfigurationError {
            #expect(error.field == "logging.format")
        }
    }

    @Test("A log value longer than the bound is cut with a note")
    func boundedValues() {
        let long = String(repeating: "x", count: ConsoleLogHandler.maximumValueLength + 10)
        let cut = ConsoleLogHandler.bounded(long)
        #expect(cut.hasSuffix("… [cut: 10 more characters]"))
        #expect(ConsoleLogHandler.bounded("short") == "short")
    }
}
