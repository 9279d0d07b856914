import Foundation

/// The tests' schema registry (Tests/Support/schema_registry.py: the REST calls of Confluent's
/// Schema Registry, in memory; no real one runs on these machines), in a process of its own,
/// with Confluent's own serializers beside it (Tests/Support/schema_client.py in the virtual
/// environment `make test` creates).
final class SchemaRegistryDouble {
    let child: ChildProcess
    let url: String
    let credentials: String?

    /// - Parameter credentials: "user:password" the registry then requires (HTTP basic).
    init(credentials: String? = nil) throws {
        self.credentials = credentials
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Support/schema_registry.py")
        let child = try ChildProcess(URL(fileURLWithPath: "/usr/bin/python3"), [script.path] + (credentials.map { ["--auth", $0] } ?? []))
        self.child = child
        var port = ""
        try waitUntil("the test schema registry to print its port", timeout: 20) {
            port = child.stdout.split(separator: "\n").first.map(String.init) ?? ""
            return !port.isEmpty
        }
        url = "http://127.0.0.1:\(port)"
    }

    deinit { _ = try? child.stop(signal: SIGKILL) }

    /// Every request after this is answered 503 until ``comeBack()``.
    /// - Parameter prefix: only requests whose path starts with it fail (e.g. "/subjects/": the
    ///   references' fetches, while schemas by id are still served).
    func goDown(prefix: String = "") throws { _ = try HTTP.post(url + "/_test/down" + (prefix.isEmpty ? "" : "?prefix=" + prefix)) }
    func comeBack() throws { _ = try HTTP.post(url + "/_test/up") }

    /// How many times `"GET /schemas/ids/1"` (say) was asked.
    func requests(_ request: String) throws -> Int {
        (try HTTP.get(url + "/_test/requests").json() as? [String: Int])?[request] ?? 0
    }

    /// `records` serialized by confluent-kafka's AvroSerializer (registered under `TOPIC-value`,
    /// or `TOPIC-key` for keys): Confluent-framed Avro.
    /// - Parameter references: (type name, subject, schema) registered first, the schema naming them.
    func serializeAvro(topic: String, schema: String, _ records: [Any], key: Bool = false,
                       references: [(name: String, subject: String, schema: String)] = []) throws -> [[UInt8]] {
        try serializers("serialize-avro", ["registry": url, "topic": topic, "schema": schema, "records": records, "field": key ? "key" : "value",
                                           "references": references.map { ["name": $0.name, "subject": $0.subject, "schema": $0.schema] }])
    }

    /// `records` (proto3 JSON objects) as message `message` of `main` (one of `files`, .proto
    /// texts by file name), serialized by confluent-kafka's ProtobufSerializer. `registerText`:
    /// the texts are registered first (imports under their file names, `main` under
    /// TOPIC-value), as a Confluent registry keeps them; else the serializer registers its
    /// base64 descriptors itself.
    func serializeProtobuf(topic: String, files: [String: String], main: String, message: String, _ records: [Any], registerText: Bool = true) throws -> [[UInt8]] {
        try serializers("serialize-protobuf", ["registry": url, "topic": topic, "files": files, "main": main, "message": message,
                                               "records": records, "register": registerText ? "text" : "serializer"])
    }

    /// Confluent-framed Protobuf values read back by confluent-kafka's ProtobufDeserializer, as proto3 JSON objects.
    func deserializeProtobuf(topic: String, files: [String: String], main: String, message: String, _ values: [[UInt8]]) throws -> [Any] {
        let request: [String: Any] = ["registry": url, "topic": topic, "files": files, "main": main, "message": message, "values": values.map(hex)]
        return try run("deserialize-protobuf", request) as? [Any] ?? []
    }

    /// `records` serialized by confluent-kafka's JSONSerializer: Confluent-framed JSON.
    func serializeJSON(topic: String, schema: String, _ records: [Any]) throws -> [[UInt8]] {
        try serializers("serialize-json", ["registry": url, "topic": topic, "schema": schema, "records": records])
    }

    /// Confluent-framed Avro values read back by confluent-kafka's AvroDeserializer, as JSON objects.
    func deserializeAvro(topic: String, _ values: [[UInt8]]) throws -> [Any] {
        let request: [String: Any] = ["registry": url, "topic": topic, "values": values.map(hex)]
        return try run("deserialize-avro", request) as? [Any] ?? []
    }

    private func serializers(_ command: String, _ request: [String: Any]) throws -> [[UInt8]] {
        let answer = try run(command, request) as? [String] ?? []
        return answer.compactMap(unhex)
    }

    private func run(_ command: String, _ request: [String: Any]) throws -> Any {
        var request = request
        if let credentials { request["auth"] = credentials }
        let python = TestPaths.packageRoot.appendingPathComponent(".build/schema-venv/bin/python")
        guard FileManager.default.fileExists(atPath: python.path) else {
            throw TestSetupError("\(python.path) is missing: run `make test` (it creates the virtual environment with confluent-kafka's serializers)")
        }
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Support/schema_client.py")
        let output = try runProcess(python, [script.path, command], input: try JSONSerialization.data(withJSONObject: request))
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }
}
