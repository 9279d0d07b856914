import Foundation

/// A real OTLP/HTTP endpoint for the tracing tests (Tests/Support/otlp_receiver.py): it decodes
/// what the host exports with OpenTelemetry's own protobuf definitions (PyPI
/// `opentelemetry-proto`, in the virtual environment `make test` creates) and answers the spans.
final class OTLPReceiver {
    /// One span as the receiver decoded it.
    struct Span {
        let json: [String: Any]
        var traceID: String { json["trace_id"] as? String ?? "" }
        var spanID: String { json["span_id"] as? String ?? "" }
        var parentSpanID: String { json["parent_span_id"] as? String ?? "" }
        var name: String { json["name"] as? String ?? "" }
        /// OTLP's SpanKind: 5 is CONSUMER.
        var kind: Int { json["kind"] as? Int ?? 0 }
        var attributes: [String: Any] { json["attributes"] as? [String: Any] ?? [:] }
        var resource: [String: Any] { json["resource"] as? [String: Any] ?? [:] }
        var links: [(traceID: String, spanID: String)] {
            (json["links"] as? [[String: Any]] ?? []).map { ($0["trace_id"] as? String ?? "", $0["span_id"] as? String ?? "") }
        }
        var eventNames: [String] { (json["events"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
        /// OTLP's StatusCode: 2 is ERROR.
        var statusCode: Int { (json["status"] as? [String: Any])?["code"] as? Int ?? 0 }
        var statusMessage: String { (json["status"] as? [String: Any])?["message"] as? String ?? "" }
        func attribute(_ name: String) -> String? { attributes[name].map { "\($0)" } }
    }

    private let child: ChildProcess
    /// The base URL to give the host (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    let url: String

    init() throws {
        let python = TestPaths.packageRoot.appendingPathComponent(".build/schema-venv/bin/python")
        guard FileManager.default.fileExists(atPath: python.path) else {
            throw TestSetupError("\(python.path) is missing: run `make test` (it creates the virtual environment with opentelemetry-proto)")
        }
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Support/otlp_receiver.py")
        let child = try ChildProcess(python, [script.path])
        self.child = child
        var port = ""
        try waitUntil("the OTLP receiver to print its port", timeout: 20) {
            port = child.stdout.split(separator: "\n").first.map(String.init) ?? ""
            return !port.isEmpty
        }
        url = "http://127.0.0.1:\(port)"
    }

    deinit { _ = try? child.stop(signal: SIGKILL) }

    /// Every span received so far.
    func spans() throws -> [Span] {
        ((try HTTP.get(url + "/spans").json() as? [[String: Any]]) ?? []).map(Span.init)
    }

    /// Waits until spans named `name` number `count` (or more); returns them.
    func waitForSpans(named name: String, count: Int = 1, timeout: Double = 30) throws -> [Span] {
        var found: [Span] = []
        try waitUntil("\(count) span(s) '\(name)' at the OTLP receiver (received: \((try? spans().map(\.name)) ?? []))", timeout: timeout) {
            found = try spans().filter { $0.name == name }
            return found.count >= count
        }
        return found
    }

    /// The environment of a host that exports to this receiver, quickly (every 100 ms).
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(["OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100"]) { $1 }
            .merging(extra) { $1 }
    }
}
