import Foundation
import Testing
@testable import FunctionHost

/// A worker never outlives its supervisor: `swiftfunc start` is SIGKILLed (nothing of it gets to
/// clean up) and its worker must end on its own, saying why.
@Suite("Supervisor lifeline", .timeLimit(.minutes(10)))
struct SupervisorLifelineTests {
    @Test("The worker ends when its supervisor is SIGKILLed, and says why")
    func workerEndsWithItsSupervisor() throws {
        // No broker listens on port 1: the worker runs its function all the same, which is all
        // this needs. Port 0: no HTTP endpoint to collide with the suites beside this one.
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "swiftfunc": { "http": { "port": 0 } } }"#)
        let name = uniqueName("lifeline")
        try root.addFunction("Lifeline", ScriptRoot.recorderFunction(broker: "127.0.0.1:1", topic: name, group: name))
        let supervisor = try ChildProcess(TestPaths.swiftfunc, ["start", "--script-root", root.url.path])
        defer { _ = try? supervisor.stop(signal: SIGKILL) }
        try waitUntil("the worker to run its function", timeout: 120) { supervisor.stdout.contains("Running.") }
        let worker = try #require(children(of: supervisor.process.processIdentifier).first)
        defer { if !hasEnded(worker) { kill(worker, SIGKILL) } }

        kill(supervisor.process.processIdentifier, SIGKILL)
        // The lifeline answers at once; the margin is for suites running beside this one on 2
        // cores. faults/run.py (sigkill-supervisor) holds it to 1 s.
        try waitUntil("the orphaned worker to end", timeout: 10) { hasEnded(worker) }
        let reasons = supervisor.stderr.split(separator: "\n").filter { $0.contains("The supervisor (pid \(supervisor.process.processIdentifier)) is gone") }
        #expect(reasons.count == 1)
    }
}
