import Foundation
import FunctionHost
import Testing

/// The SDK hands a function its key, value and header values as views (`RawSpan`) into the
/// host's buffers, valid only during the call. Keeping one past the call must not compile: each
/// case compiles a small function with `swiftc` against the SwiftFunctions module the tests were
/// built with, once with the view kept in a global escaping closure (refused, with the compiler's
/// diagnostic) and once with the same view used inside the call (accepted, so the check can fail).
@Suite("Event views", .timeLimit(.minutes(10)))
struct EventViewLifetimeTests {
    @Test("Keeping a key, value or header value view past the call does not compile; using it in the call does",
          arguments: [("value", "event.value"), ("key", "event.key"), ("header", #"event.header("h", in: context)?.value"#)])
    func keptViewIsRefused(name: String, view: String) throws {
        let kept = try typecheck(view: view, use: "kept = { view.byteCount }")
        #expect(kept.status != 0, "keeping the \(name) view compiled:\n\(kept.output)")
        #expect(kept.output.contains("error: lifetime-dependent variable 'view' escapes its scope"), "\(kept.output)")
        let used = try typecheck(view: view, use: "let count = { view.byteCount }(); kept = { count }")
        #expect(used.status == 0, "using the \(name) view in the call did not compile:\n\(used.output)")
    }

    /// Compiles a function that takes `view` and then runs `use` (to SIL: lifetimes are checked
    /// there, after type checking).
    private func typecheck(view: String, use: String) throws -> (status: Int32, output: String) {
        let source = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("view") + ".swift")
        try Data("""
            import SwiftFunctions

            nonisolated(unsafe) var kept: (() -> Int)?

            @_cdecl("run")
            public func run(_ event: Event, _ context: Context) -> Status {
                guard let view = \(view) else { return .ok }
                \(use)
                return .ok
            }

            """.utf8).write(to: source)
        let modules = TestPaths.binDirectory.appendingPathComponent("Modules")
        let child = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), [
            "swiftc", "-emit-sil", "-o", "/dev/null",
            "-I", FileManager.default.fileExists(atPath: modules.path) ? modules.path : TestPaths.binDirectory.path,
            "-I", TestPaths.packageRoot.appendingPathComponent("Sources/FunctionABI").path,
            source.path,
        ])
        try waitUntil("swiftc to finish", timeout: 120) { !child.process.isRunning }
        return (child.process.terminationStatus, child.stderr + child.stdout)
    }
}
