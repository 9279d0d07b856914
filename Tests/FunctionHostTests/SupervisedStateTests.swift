import Foundation
import Synchronization
import Testing
@testable import FunctionHost

/// What the supervisor of `swiftfunc start` keeps while workers come and go: the configuration
/// the worker accepted last (a change `--watch` refused stays refused after a crash), operator
/// pauses, liveness (it owns the HTTP port), and, under `--watch`, the functions a change does
/// not touch. Each test runs the real binary (supervisor, worker, its embedded broker) and
/// SIGKILLs the worker as a crash would end it.
@Suite("Supervised state across worker restarts", .timeLimit(.minutes(10)))
struct SupervisedStateTests {
    /// `swiftfunc start --embedded-broker` over a script root of Recorder functions
    /// (`process_durably`), with its HTTP endpoint on a port of its own.
    private struct SupervisedHost {
        let process: ChildProcess
        let root: ScriptRoot
        let port: Int
        let broker: String
        var url: String { "http://127.0.0.1:\(port)" }

        /// - Parameter librariesInFolders: copy the Recorder library into each function's folder
        ///   (as `swiftfunc build` puts it) instead of naming it where SwiftPM built it.
        init(functions: [(name: String, topic: String)], watch: Bool = false, librariesInFolders: Bool = false) throws {
            _ = TestPaths.recordDirectory
            root = try ScriptRoot()
            let recorder = try TestPaths.library("Recorder")
            for function in functions {
                var definition = try Self.definition(function.name, topic: function.topic)
                if librariesInFolders {
                    try FileManager.default.createDirectory(at: root.url.appendingPathComponent("functions/\(function.name)"), withIntermediateDirectories: true)
                    try FileManager.default.copyItem(at: recorder, to: root.url.appendingPathComponent("functions/\(function.name)/libRecorder.so"))
                    definition = definition.replacingOccurrences(of: recorder.path, with: "libRecorder.so")
                }
                try root.addFunction(function.name, definition)
            }
            port = try freePort()
            process = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path, "--embedded-broker", "--partitions", "1",
                                                             "--port", "\(port)"] + (watch ? ["--watch"] : []))
            let process = process
            try waitUntil("the embedded broker's address") { process.stdout.contains("Embedded broker: ") }
            let line = try #require(process.stdout.split(separator: "\n").first { $0.hasPrefix("Embedded broker: ") })
            broker = String(line.dropFirst("Embedded broker: ".count))
            for function in functions { try waitForAssignment(function.name) }
        }

        static func definition(_ name: String, topic: String, dataType: String = "binary") throws -> String {
            try ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: topic, group: name, entryPoint: "process_durably", dataType: dataType)
        }

        /// `function`'s entry in GET /admin/functions (nil while the endpoint has no answer for it).
        func entry(_ function: String) -> [String: Any]? {
            guard let answer = try? HTTP.get("\(url)/admin/functions"), answer.status == 200,
                  let entries = try? answer.json() as? [[String: Any]] else { return nil }
            return entries.first { $0["name"] as? String == function }
        }

        func assigned(_ function: String) -> [Int]? { entry(function)?["assignedPartitions"] as? [Int] }

        func waitForAssignment(_ function: String) throws {
            try waitUntil("'\(function)' to be assigned its partition", timeout: 90) { assigned(function) == [0] }
        }

        /// SIGKILLs the worker (as a crash ends it) and waits for the supervisor to start another.
        func killWorker() throws -> Int32 {
            let worker = try #require(workerProcess(of: process))
            kill(worker, SIGKILL)
            try waitUntil("a new worker", timeout: 60) { (workerProcess(of: process) ?? worker) != worker }
            return worker
        }

        func produce(_ topic: String, _ value: String) throws {
            _ = try IndependentClient.produce(broker: broker, [OutgoingMessage(topic: topic, value: value, partition: 0)])
        }
    }

    private func processed(_ function: String) -> [String] {
        let url = TestPaths.recordDirectory.appendingPathComponent("\(function).processed")
        return ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("A function.json --watch refused stays refused after the worker is SIGKILLed: the new worker runs the last accepted one")
    func refusedChangeSurvivesACrash() throws {
        let function = uniqueName("Accepted"), topic = uniqueName("accepted")
        let host = try SupervisedHost(functions: [(function, topic)], watch: true)
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        let good = try SupervisedHost.definition(function, topic: topic)
        try host.root.addFunction(function, String(good.dropLast(5)))  // cut short: malformed JSON
        try waitUntil("the broken function.json to be refused", timeout: 60) {
            host.process.stderr.contains("Not reloading after changes to functions/\(function)/function.json")
        }
        _ = try host.killWorker()
        try host.waitForAssignment(function)
        #expect(host.entry(function)?["state"] as? String == "running")

        try host.produce(topic, "after the crash")
        try waitUntil("the message, consumed by the worker started after the crash", timeout: 60) { !processed(function).isEmpty }
        #expect(processed(function) == ["0 0 after the crash"])
        #expect(!host.process.stderr.contains("is not running"), "the restarted worker did not read the refused file")
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }

    @Test("A library --watch refused stays refused after the worker is SIGKILLed: the new worker loads the accepted file the supervisor kept")
    func refusedLibrarySurvivesACrash() throws {
        let function = uniqueName("Kept"), topic = uniqueName("kept")
        let host = try SupervisedHost(functions: [(function, topic)], watch: true, librariesInFolders: true)
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        // Replaced by a new file, as swiftfunc build does, with a library of another ABI version.
        let library = host.root.url.appendingPathComponent("functions/\(function)/libRecorder.so")
        let replacement = host.root.url.appendingPathComponent("functions/\(function)/libRecorder.so.new")
        try FileManager.default.copyItem(at: try TestPaths.library("WrongABI"), to: replacement)
        #expect(rename(replacement.path, library.path) == 0)
        try waitUntil("the replaced library to be refused", timeout: 60) {
            host.process.stderr.contains("Not reloading after changes to functions/\(function)/libRecorder.so")
        }
        #expect(host.process.stderr.contains("ABI version 999"))
        _ = try host.killWorker()
        try host.waitForAssignment(function)

        try host.produce(topic, "from the kept library")
        try waitUntil("the message, consumed by the accepted library", timeout: 60) { !processed(function).isEmpty }
        #expect(processed(function) == ["0 0 from the kept library"])
        #expect(host.process.stderr.contains("was replaced since the configuration was accepted"))
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }

    @Test("An operator's pause survives the worker's SIGKILL; /admin/functions says it is per host; resume delivers")
    func pauseSurvivesACrash() throws {
        let function = uniqueName("Paused"), topic = uniqueName("paused")
        let host = try SupervisedHost(functions: [(function, topic)])
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        try host.produce(topic, "before the pause")
        try waitUntil("the message before the pause", timeout: 60) { !processed(function).isEmpty }
        let paused = try HTTP.post("\(host.url)/admin/functions/\(function)/pause")
        #expect(paused.status == 200)
        #expect(paused.body.contains(#""state" : "paused""#))

        _ = try host.killWorker()
        try host.waitForAssignment(function)
        try waitUntil("the new worker to report the function paused") { host.entry(function)?["state"] as? String == "paused" }
        try host.produce(topic, "while paused")
        // The message is on the broker and the function's lag says so: it is there to consume.
        try waitUntil("the lag to count the message") { (host.entry(function)?["lag"] as? [String: Int])?["0"] == 1 }
        #expect(processed(function) == ["0 0 before the pause"], "a paused function consumed a message")
        let entry = try #require(host.entry(function))
        #expect(entry["state"] as? String == "paused")
        #expect((entry["pause"] as? String)?.hasPrefix("per host") == true)
        #expect(host.process.stderr.contains("'\(function)' starts paused"))

        let resumed = try HTTP.post("\(host.url)/admin/functions/\(function)/resume")
        #expect(resumed.status == 200)
        try waitUntil("the message, delivered after resume", timeout: 60) { processed(function).count == 2 }
        #expect(processed(function) == ["0 0 before the pause", "0 1 while paused"])
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }

    @Test("/health/live answers 200 all through a worker restart; ready says 503 'worker restarting' meanwhile")
    func livenessThroughARestart() throws {
        let function = uniqueName("Alive"), topic = uniqueName("alive")
        let host = try SupervisedHost(functions: [(function, topic)])
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        try waitUntil("ready") { (try? HTTP.get("\(host.url)/health/ready").status) == 200 }

        let url = host.url
        let answers = Sampler(every: 20) { () -> (live: (Int, String), ready: (Int, String)) in
            let live = (try? HTTP.request("GET", "\(url)/health/live", timeout: 10)).map { ($0.status, $0.body) } ?? (0, "no answer")
            let ready = (try? HTTP.request("GET", "\(url)/health/ready", timeout: 10)).map { ($0.status, $0.body) } ?? (0, "no answer")
            return (live, ready)
        }
        defer { _ = try? answers.stop() }
        let killed = try host.killWorker()
        try waitUntil("the new worker to be ready", timeout: 90) {
            answers.samples.last?.ready.0 == 200 && workerProcess(of: host.process) != killed
        }
        let samples = try answers.stop()
        let live = samples.map(\.live), ready = samples.map(\.ready)
        #expect(live.count > 10)
        #expect(live.allSatisfy { $0.0 == 200 }, "non-200 liveness answers: \(live.filter { $0.0 != 200 })")
        #expect(live.contains { $0.1.contains("worker restarting") }, "the supervisor answered while no worker ran")
        #expect(ready.contains { $0.0 == 503 && $0.1.contains("worker restarting") })
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }

    @Test("A worker that runs but does not answer (SIGSTOP): not ready at once, not live once silent for 10 s, naming its process; after SIGCONT live again and the message sent meanwhile is delivered")
    func hungWorkerIsNotLive() throws {
        let function = uniqueName("Hung"), topic = uniqueName("hung")
        let host = try SupervisedHost(functions: [(function, topic)])
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        try waitUntil("ready") { (try? HTTP.get("\(host.url)/health/ready").status) == 200 }
        let worker = try #require(workerProcess(of: host.process))
        kill(worker, SIGSTOP)
        var continued = false
        defer { if !continued { kill(worker, SIGCONT) } }

        // One slow answer is not a hang: still live, saying so.
        let first = try HTTP.request("GET", "\(host.url)/health/live", timeout: 10)
        #expect(first.status == 200)
        #expect(first.body.contains("worker process \(worker) runs but gave no answer"), "\(first.body)")
        let ready = try HTTP.request("GET", "\(host.url)/health/ready", timeout: 10)
        #expect(ready.status == 503)
        #expect(ready.body.contains("gave no answer"), "\(ready.body)")
        let admin = try HTTP.request("GET", "\(host.url)/admin/functions", timeout: 30)
        #expect(admin.status == 504)
        try host.produce(topic, "sent while the worker was stopped")
        // Silent for 10 s: not live.
        var live: HTTPAnswer?
        try waitUntil("liveness to fail", timeout: 40) {
            live = try? HTTP.request("GET", "\(host.url)/health/live", timeout: 10)
            return live?.status == 503
        }
        #expect(live?.body.contains("worker process \(worker) runs but gave no answer") == true, "\(live?.body ?? "")")

        kill(worker, SIGCONT)
        continued = true
        try waitUntil("live again", timeout: 30) { (try? HTTP.get("\(host.url)/health/live").status) == 200 }
        try waitUntil("the message, delivered once the worker runs", timeout: 60) { processed(function).count == 1 }
        #expect(processed(function) == ["0 0 sent while the worker was stopped"])
        #expect(workerProcess(of: host.process) == worker, "the same worker went on; none was started in its place")
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }

    @Test("--watch: a change to one function.json reloads that function alone; the other keeps its partition and consumes throughout; a no-op write reloads nothing")
    func watchReloadsOnlyWhatChanged() throws {
        let changed = uniqueName("Changed"), changedTopic = uniqueName("changed")
        let steady = uniqueName("Steady"), steadyTopic = uniqueName("steady")
        let host = try SupervisedHost(functions: [(changed, changedTopic), (steady, steadyTopic)], watch: true)
        defer { _ = try? host.process.stop(signal: SIGKILL) }
        let rebalancesBefore = try #require((host.entry(steady)?["counters"] as? [String: Any])?["rebalances"] as? Int)
        try host.produce(changedTopic, "before its reload")
        try waitUntil("the message before the reload", timeout: 60) { !processed(changed).isEmpty }
        let consumed = { try HTTP.get("\(host.url)/metrics").sample("swiftfunc_messages_consumed_total", ["function": changed]) }
        try waitUntil("the metrics to count it") { try consumed() == 1 }

        let assignments = Sampler(every: 50) { host.assigned(steady) }
        defer { _ = try? assignments.stop() }

        // The same bytes written again: nothing to reload.
        try host.root.addFunction(steady, try SupervisedHost.definition(steady, topic: steadyTopic))
        try waitUntil("the no-op write to be noticed", timeout: 60) { host.process.stderr.contains("written with the same content: nothing to reload") }
        // One function's trigger changes (its dataType): that function alone reloads.
        try host.root.addFunction(changed, try SupervisedHost.definition(changed, topic: changedTopic, dataType: "string"))
        try waitUntil("the changed function to reload", timeout: 90) { host.process.stderr.contains("Reloaded '\(changed)'") }
        try host.waitForAssignment(changed)
        try host.produce(steadyTopic, "kept consuming")
        try host.produce(changedTopic, "after its reload")
        try waitUntil("both functions to consume", timeout: 60) { !processed(steady).isEmpty && processed(changed).count == 2 }
        // A sample whose request got no answer in time (a loaded machine) says nothing about the
        // assignment; whether the worker was replaced is checked from its log below.
        let seen = try assignments.stop().compactMap { $0 }
        #expect(seen.count > 10)
        #expect(seen.allSatisfy { $0 == [0] }, "the unchanged function lost its partition: \(seen.filter { $0 != [0] })")
        #expect(processed(steady) == ["0 0 kept consuming"])
        #expect(processed(changed) == ["0 0 before its reload", "0 1 after its reload"])
        // The reloaded function's counters go on from where they were (its new listener counts from 0).
        try waitUntil("the metrics to count both messages") { try consumed() == 2 }
        #expect((host.entry(steady)?["counters"] as? [String: Any])?["rebalances"] as? Int == rebalancesBefore, "the unchanged function rebalanced")
        let log = host.process.stderr
        #expect(log.contains("functions/\(changed)/function.json changed and loads: the worker reloads '\(changed)' only"))
        #expect(!log.contains("Reloading '\(steady)'"))
        #expect(!log.contains("Reloading:"), "the worker was replaced")
        #expect(try host.process.stop(signal: SIGTERM) == 0)
    }
}

/// Takes a sample on a thread of its own every `milliseconds` until stopped: what a probe or an
/// operator polling the endpoint would have seen all through.
private final class Sampler<Sample: Sendable>: Sendable {
    private let taken = Mutex<[Sample]>([])
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)

    init(every milliseconds: UInt32, _ sample: @escaping @Sendable () -> Sample) {
        Thread { [self] in
            while running.load(ordering: .relaxed) {
                let value = sample()
                taken.withLock { $0.append(value) }
                usleep(milliseconds * 1000)
            }
            finished.signal()
        }.start()
    }

    var samples: [Sample] { taken.withLock { $0 } }

    /// Stops sampling; returns every sample taken.
    func stop() throws -> [Sample] {
        if running.exchange(false, ordering: .relaxed), finished.wait(timeout: .now() + 60) == .timedOut {
            throw TestSetupError("the sampler did not stop within 60 s")
        }
        return samples
    }
}
