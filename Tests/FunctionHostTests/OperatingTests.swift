import Foundation
import Testing
@testable import FunctionHost

/// What an operator meets running `swiftfunc start` (the real binary, its supervisor and worker,
/// the embedded broker, real HTTP): the metrics' descriptions, process metrics and per-function
/// state; JSON logs that are JSON on every line; librdkafka's repeated errors held back; and
/// `local.settings.json` values reaching the functions as environment variables.
@Suite("Operating swiftfunc start: metrics, logs, settings", .timeLimit(.minutes(10)))
struct OperatingTests {
    /// A function.json whose library does not exist: the function fails to load, the others run.
    private static let brokenFunction = #"{ "scriptFile": "libMissing.so", "bindings": [ { "type": "kafkaTrigger", "direction": "in", "name": "e", "brokerList": "127.0.0.1:1", "topic": "nowhere", "consumerGroup": "nowhere" } ] }"#

    /// The environment of this test process without `name`.
    private static func environment(without name: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: name)
        return environment
    }

    @Test("/metrics: HELP and TYPE for every family, process metrics, each function's state (failed-to-load too), cluster reachability, the version")
    func metricsDescribeTheHost() throws {
        _ = TestPaths.recordDirectory
        let topic = uniqueName("operated")
        let running = uniqueName("Running")
        let broken = uniqueName("Broken")
        let root = try ScriptRoot()
        try root.addFunction(running, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: topic, group: running))
        try root.addFunction(broken, Self.brokenFunction)
        let port = try freePort()
        let startedAt = Date().timeIntervalSince1970
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--embedded-broker", "--partitions", "1", "--port", "\(port)"],
                                    currentDirectory: root.url)
        defer { _ = try? host.stop(signal: SIGKILL) }
        let url = "http://127.0.0.1:\(port)/metrics"
        try waitUntil("the running function's consumer to reach the cluster", timeout: 60) {
            (try? HTTP.get(url).sample("swiftfunc_cluster_reachable", ["function": running])) == 1
        }
        let metrics = try HTTP.get(url)
        #expect(metrics.status == 200)

        // Every family has both lines, and every sample belongs to a described family.
        var types: [String: String] = [:]
        var helps: [String: String] = [:]
        var sampled = Set<String>()
        for line in metrics.body.split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# TYPE "), words.count == 4 { types[words[2]] = words[3] }
            else if line.hasPrefix("# HELP "), words.count >= 4 { helps[words[2]] = words[3] }
            else if !line.hasPrefix("#") { sampled.insert(String(line.prefix { $0 != "{" && $0 != " " })) }
        }
        #expect(!types.isEmpty)
        #expect(Set(types.keys) == Set(helps.keys), "families without HELP: \(Set(types.keys).subtracting(helps.keys).sorted())")
        for name in sampled {
            let family = types[name] != nil ? name
                : ["_bucket", "_sum", "_count"].compactMap { name.hasSuffix($0) ? String(name.dropLast($0.count)) : nil }.first ?? name
            #expect(types[family] != nil, "sample \(name) has no # TYPE")
        }
        #expect(types["swiftfunc_invocation_duration_seconds"] == "histogram")
        #expect(types["process_cpu_seconds_total"] == "counter")

        // The worker's own resources, read at the scrape.
        let resident = try #require(metrics.sample("process_resident_memory_bytes"))
        #expect(resident > 1_000_000 && resident < 8_000_000_000)
        #expect((metrics.sample("process_virtual_memory_bytes") ?? 0) >= resident)
        let open = try #require(metrics.sample("process_open_fds"))
        #expect(open >= 3)
        #expect((metrics.sample("process_max_fds") ?? 0) >= open)
        #expect((metrics.sample("process_cpu_seconds_total") ?? 0) > 0)
        let started = try #require(metrics.sample("process_start_time_seconds"))
        #expect(started >= startedAt - 5 && started <= Date().timeIntervalSince1970 + 5, "the worker started during this test")

        // Each function's state: the one that failed to load has its series too.
        #expect(metrics.sample("swiftfunc_function_up", ["function": running]) == 1)
        #expect(metrics.sample("swiftfunc_function_up", ["function": broken]) == 0)
        #expect(metrics.sample("swiftfunc_function_state", ["function": running, "state": "running"]) == 1)
        #expect(metrics.sample("swiftfunc_function_state", ["function": running]) == 1, "one state at a time")
        #expect(metrics.sample("swiftfunc_function_state", ["function": broken, "state": "failed-to-load"]) == 1)
        #expect(metrics.sample("swiftfunc_function_state", ["function": broken]) == 1)
        #expect(metrics.sample("swiftfunc_invocations_in_flight", ["function": running]) == 0)
        #expect(metrics.sample("swiftfunc_dead_letter_write_failures_total", ["function": running]) == 0)
        #expect(metrics.sample("swiftfunc_offset_commit_failures_total", ["function": running]) == 0)

        // One version string: the metric and --version say the same.
        #expect(metrics.sample("swiftfunc_build_info", ["version": swiftfuncVersion, "librdkafka": librdkafkaVersion]) == 1)
        let version = try runProcess(TestPaths.swiftfunc, ["--version"])
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "swiftfunc \(swiftfuncVersion), librdkafka \(librdkafkaVersion)")

        // One label-value style: lower case words (and digits) joined by hyphens.
        #expect(metrics.sample("swiftfunc_invocations_total", ["function": running, "outcome": "partially-failed"]) == 0)
        #expect(metrics.sample("swiftfunc_dead_lettered_total", ["function": running, "reason": "invalid-utf8"]) == 0)
        for name in ["outcome", "reason", "state", "result"] {
            let values = metrics.body.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { line in
                line.split(separator: "\(name)=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
            }
            #expect(!values.isEmpty || name == "result")
            for value in values { #expect(value.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }, "\(name)=\"\(value)\"") }
        }
    }

    @Test("logging.format json: every line the host writes, banner and stop lines included, is one JSON object; failures carry their place as fields; local.settings.json Values reach the function")
    func everyLineIsJSON() throws {
        let topic = uniqueName("logged")
        let function = uniqueName("Logged")
        let broken = uniqueName("BrokenLogged")
        // The Recorder fixture writes where SWIFTFUNC_RECORD_DIR says: here only local.settings.json says it.
        let records = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("settings-records"))
        try FileManager.default.createDirectory(at: records, withIntermediateDirectories: true)
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "logging": { "format": "json" } }"#)
        try root.write("local.settings.json", #"{ "IsEncrypted": false, "Values": { "SWIFTFUNC_RECORD_DIR": "\#(records.path)" } }"#)
        var json = try ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: topic, group: function)
        json = json.replacingOccurrences(of: #""entryPoint""#, with: #""retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.1" }, "entryPoint""#)
        try root.addFunction(function, json)
        try root.addFunction(broken, Self.brokenFunction)
        let port = try freePort()
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--embedded-broker", "--partitions", "1", "--port", "\(port)"],
                                    environment: Self.environment(without: "SWIFTFUNC_RECORD_DIR"), currentDirectory: root.url)
        defer { _ = try? host.stop(signal: SIGKILL) }
        let metrics = "http://127.0.0.1:\(port)/metrics"
        try waitUntil("the function's assignment", timeout: 60) {
            (try? HTTP.get(metrics).sample("swiftfunc_rebalances_total", ["function": function])) ?? 0 >= 1
        }
        let address = try String(contentsOf: root.url.appendingPathComponent(".swiftfunc/embedded-broker"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try IndependentClient.produce(broker: address, [OutgoingMessage(topic: topic, value: "ok"), OutgoingMessage(topic: topic, value: "fail")])
        try waitUntil("the failing message in the dead-letter topic", timeout: 60) {
            (try? HTTP.get(metrics).sample("swiftfunc_dead_lettered_total", ["function": function, "reason": "failed"])) == 1
        }
        #expect(try host.stop(signal: SIGTERM) == 0)

        var objects: [[String: Any]] = []
        for (stream, text) in [("stdout", host.stdout), ("stderr", host.stderr)] {
            for line in text.split(separator: "\n") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "not one JSON object (\(stream)): \(line)")
                if let object {
                    #expect(object["time"] is String && object["level"] is String && object["message"] is String, "\(line)")
                    objects.append(object)
                }
            }
        }
        func first(_ prefix: String) -> [String: Any]? {
            objects.first { ($0["message"] as? String)?.hasPrefix(prefix) == true }
        }
        #expect(first("swiftfunc \(swiftfuncVersion) host in")?["version"] as? String == swiftfuncVersion)
        #expect(first("Embedded broker: ")?["bootstrapServers"] as? String == address)
        let bannerLine = objects.first { $0["function"] as? String == function && $0["state"] as? String == "running" }
        #expect(bannerLine?["topic"] as? String == topic)
        #expect(objects.contains { $0["function"] as? String == broken && $0["state"] as? String == "failed-to-load" })
        #expect(first("Running.") != nil && first("Stopping:") != nil && first("Stopped.") != nil)

        // The failure, its retry and its dead letter say where as fields, not only in words.
        let failures = objects.filter { ($0["message"] as? String)?.hasPrefix("Function '\(function)' failed at") == true }
        #expect(failures.count == 2, "the first attempt and the one retry")
        for (index, failure) in failures.enumerated() {
            #expect(failure["function"] as? String == function)
            #expect(failure["topic"] as? String == topic)
            #expect(failure["partition"] as? Int == 0)
            #expect(failure["offset"] as? Int == 1)
            #expect(failure["attempt"] as? Int == index + 1)
            #expect(failure["level"] as? String == "error")
        }
        let deadLettered = try #require(first("Function '\(function)': sent "))
        #expect(deadLettered["topic"] as? String == topic && deadLettered["offset"] as? Int == 1 && deadLettered["reason"] as? String == "failed")

        // local.settings.json's value, not the (absent) environment variable, told the function where to write.
        let recorded = try String(contentsOf: records.appendingPathComponent("\(function).jsonl"), encoding: .utf8)
        #expect(recorded.split(separator: "\n").count == 3, "ok, and fail twice")
    }

    @Test("The real environment wins over local.settings.json Values, as in Core Tools")
    func environmentWinsOverLocalSettings() throws {
        let function = uniqueName("Settled")
        let fromFile = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("from-file"))
        try FileManager.default.createDirectory(at: fromFile, withIntermediateDirectories: true)
        let root = try ScriptRoot()
        try root.write("local.settings.json", #"{ "Values": { "SWIFTFUNC_RECORD_DIR": "\#(fromFile.path)" } }"#)
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "settled", group: function))

        let fileOnly = try ChildProcess(TestPaths.swiftfunc, ["invoke", "--script-root", root.url.path, function, "first"],
                                        environment: Self.environment(without: "SWIFTFUNC_RECORD_DIR"))
        try waitUntil("swiftfunc invoke to finish") { !fileOnly.process.isRunning }
        #expect(fileOnly.process.terminationStatus == 0, "\(fileOnly.stderr)")
        #expect(FileManager.default.fileExists(atPath: fromFile.appendingPathComponent("\(function).jsonl").path))

        let fromEnvironment = TestPaths.recordDirectory
        let both = try ChildProcess(TestPaths.swiftfunc, ["invoke", "--script-root", root.url.path, function, "second"],
                                    environment: ProcessInfo.processInfo.environment.merging(["SWIFTFUNC_RECORD_DIR": fromEnvironment.path]) { $1 })
        try waitUntil("swiftfunc invoke to finish") { !both.process.isRunning }
        #expect(both.process.terminationStatus == 0, "\(both.stderr)")
        #expect(try recordedEvents(function).map(\.valueText) == ["second"])
        let fileRecords = try String(contentsOf: fromFile.appendingPathComponent("\(function).jsonl"), encoding: .utf8)
        #expect(fileRecords.split(separator: "\n").count == 1, "the second call wrote where the environment said")
    }

    @Test("librdkafka's repeated connection errors: written once, then a count per 30 s, not once per client and retry")
    func repeatedConnectionErrorsAreCounted() throws {
        _ = TestPaths.recordDirectory
        let root = try ScriptRoot()
        // Four functions, each with its own consumer, all pointed at a port nobody listens on.
        for index in 0..<4 {
            let name = uniqueName("Unreachable\(index)")
            try root.addFunction(name, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "unreachable", group: name))
        }
        let host = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--no-supervisor", "--port", "0"])
        defer { _ = try? host.stop(signal: SIGKILL) }
        func connectionErrors() -> [Substring] {
            host.stderr.split(separator: "\n").filter { $0.contains("librdkafka") && $0.contains("Connect to") }
        }
        try waitUntil("the first connection error", timeout: 30) { !connectionErrors().isEmpty }
        // librdkafka retries each broker every 0.1 to 10 s (reconnect.backoff.ms): in the next
        // window each of the 4 clients fails again several times.
        try waitUntil("the count of the repeats", timeout: 60) { connectionErrors().contains { $0.contains("repeated ") } }
        let lines = connectionErrors()
        let summary = try #require(lines.first { $0.contains("repeated ") })
        #expect(summary.contains(" clients in the last 30 s"), "every client's repeats are counted together: \(summary)")
        let written = lines.count
        #expect(written <= 2, "one line, then one summary: \(lines.joined(separator: "\n"))")
    }

    @Test("swiftfunc invoke --event refuses a field it does not know, by name")
    func invokeRefusesUnknownEventFields() throws {
        let function = uniqueName("Strict")
        _ = TestPaths.recordDirectory
        let root = try ScriptRoot()
        try root.addFunction(function, ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: "strict", group: function))
        try root.write("event.json", #"{ "value": "v", "heders": { "a": "b" } }"#)
        let child = try ChildProcess(TestPaths.swiftfunc, ["invoke", "--script-root", root.url.path, function,
                                                           "--event", root.url.appendingPathComponent("event.json").path])
        try waitUntil("swiftfunc invoke to finish") { !child.process.isRunning }
        #expect(child.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(child.stderr.contains(#"event 0: unknown field "heders""#), "\(child.stderr)")
        #expect(child.stderr.contains(#""headers""#), "it lists the fields it knows")
        #expect(try recordedEvents(function).isEmpty, "the function was not called")
    }

    @Test("Errors found at run time (no function can start; a host.json --watch checks) are said without the usage text")
    func runtimeErrorsWithoutUsage() throws {
        func withoutUsage(_ text: String) -> Bool { !text.contains("USAGE") && !text.contains("Usage:") && !text.contains("--help") }
        let root = try ScriptRoot()
        try root.addFunction(uniqueName("OnlyBroken"), Self.brokenFunction)
        let child = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--no-supervisor", "--port", "0"])
        try waitUntil("the host to give up", timeout: 60) { !child.process.isRunning }
        #expect(child.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(child.stderr.contains("no function could start; fix the errors above"))
        #expect(withoutUsage(child.stderr), "\(child.stderr)")

        // What `--watch` runs on a change and quotes in its "Not reloading" line.
        try root.write("host.json", #"{ "version": "2.0", "swiftfunc": { "shutdownTimeout": "forever" } }"#)
        let check = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--check"])
        try waitUntil("the check to finish", timeout: 60) { !check.process.isRunning }
        #expect(check.process.terminationStatus == HostSupervisor.configurationErrorStatus)
        #expect(check.stdout.contains("host.json") && check.stdout.contains("shutdownTimeout"), "\(check.stdout)\(check.stderr)")
        #expect(withoutUsage(check.stdout + check.stderr), "\(check.stdout)\(check.stderr)")
    }
}

/// Which librdkafka lines count as the same line, and when one is written (no broker needed).
@Suite("librdkafka log repeats", .timeLimit(.minutes(10)))
struct RDKafkaLogRepeatTests {
    @Test("One connection failure reported by several clients and threads is one line")
    func sameLine() {
        let fail = RDKafkaLog.repeatKey(level: 3, facility: "FAIL",
            text: "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)")
        let error = RDKafkaLog.repeatKey(level: 3, facility: "ERROR",
            text: "[thrd:app]: Greeter#consumer-2: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 1ms in state CONNECT, 60 identical error(s) suppressed)")
        #expect(fail == error)
        let otherBroker = RDKafkaLog.repeatKey(level: 3, facility: "FAIL",
            text: "[thrd:127.0.0.1:2/bootstrap]: 127.0.0.1:2/bootstrap: Connect to ipv4#127.0.0.1:2 failed: Connection refused (after 0ms in state CONNECT)")
        #expect(fail != otherBroker, "another broker is another line")
        #expect(RDKafkaLog.repeatKey(level: 4, facility: "FAIL", text: "x") != RDKafkaLog.repeatKey(level: 3, facility: "FAIL", text: "x"))
    }

    @Test("Written the first time, held within the window, then written with the count of what was held")
    func window() {
        let key = uniqueName("repeat-key")
        let second: UInt64 = 1_000_000_000
        let start: UInt64 = 1_000 * second
        #expect(RDKafkaLog.admit(key: key, client: "a", now: start) == .write)
        #expect(RDKafkaLog.admit(key: key, client: "b", now: start + 1 * second) == .hold)
        #expect(RDKafkaLog.admit(key: key, client: "a", now: start + 29 * second) == .hold)
        #expect(RDKafkaLog.admit(key: key, client: "c", now: start + 31 * second) == .summarize(held: 2, clients: 2))
        #expect(RDKafkaLog.admit(key: key, client: "c", now: start + 62 * second) == .write, "nothing was held in that window")
    }
}
