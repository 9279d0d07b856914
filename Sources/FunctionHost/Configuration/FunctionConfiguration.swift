import Foundation

/// One function: `functions/NAME/function.json` and the library beside it.
public struct FunctionConfiguration: Sendable {
    public var name: String
    /// `functions/NAME/function.json`, relative to the script root, for messages.
    public var file: String
    /// The shared library to load (`scriptFile`, default `libNAME.so` beside function.json).
    public var libraryPath: String
    /// The exported C symbol to call (`entryPoint`, default `run`).
    public var entryPoint: String
    public var disabled: Bool
    public var trigger: KafkaTriggerBinding
    /// The `kafka` output bindings, in declared order: the entry point's parameters after the trigger.
    public var outputs: [KafkaOutputBinding]
    /// `retry` (Azure's format); nil: host.json's `retry`, or ``RetryPolicy/default``.
    public var retry: RetryPolicy?
    /// `deadLetterTopic`: where messages go after their last retry, on the trigger's cluster.
    public var deadLetterTopic: String
    /// `flushIntervalSeconds`: how often a function exporting `ENTRY_flush` is asked to make its
    /// pending records durable.
    public var flushIntervalSeconds: Double
    /// Fields read past (unknown, or Azure's and not supported yet), for the log.
    public var warnings: [ConfigurationWarning] = []

    /// function.json's top level.
    static let fields = KnownFields(
        used: ["scriptFile", "entryPoint", "disabled", "retry", "deadLetterTopic", "flushIntervalSeconds", "bindings"],
        ignored: ["$schema", "generatedBy", "configurationSource", "excluded"])

    /// Refuses options this process's librdkafka cannot honour (OIDC without libcurl), naming the
    /// field. Not part of ``load`` so the embedded broker, which drops authentication, still runs
    /// such a function.
    /// - Throws: ``ConfigurationError``.
    public func checkSupportedByLibrdkafka() throws {
        try trigger.connection.oauthBearer?.checkSupported(file: file, path: trigger.path)
        for output in outputs { try output.connection.oauthBearer?.checkSupported(file: file, path: output.path) }
    }

    /// The dead-letter topic of a function that names none.
    public static func defaultDeadLetterTopic(topic: String, function: String) -> String { "\(topic).\(function).dlq" }

    /// Parses `function.json` in `directory`.
    /// - Parameter definition: where function.json's bytes are read instead (``ConfigurationFiles``:
    ///   the supervisor's snapshot); the library and other paths in it still resolve against `directory`.
    /// - Throws: ``ConfigurationError`` naming the file and field at fault.
    public static func load(directory: URL, scriptRoot: URL, settings: AppSettings, definition: URL? = nil) throws -> FunctionConfiguration {
        let name = directory.lastPathComponent
        let displayName = "functions/\(name)/function.json"
        let json = try JSONObject.load(definition ?? directory.appendingPathComponent("function.json"), displayName: displayName)
        return try parse(json, name: name, directory: directory, settings: settings)
    }

    static func parse(_ json: JSONObject, name: String, directory: URL, settings: AppSettings) throws -> FunctionConfiguration {
        guard let bindings = try json.array("bindings") else {
            throw json.error("bindings", "is required: a list with one kafkaTrigger binding and any kafka output bindings")
        }
        var trigger: KafkaTriggerBinding?
        var outputs: [KafkaOutputBinding] = []
        var warnings = fields.warnings(for: json)
        for (index, element) in bindings.enumerated() {
            let path = "bindings[\(index)]"
            guard let dictionary = element as? [String: Any] else {
                throw ConfigurationError(file: json.file, field: path, "must be an object ({ \"type\": ..., ... })")
            }
            let binding = JSONObject(dictionary, file: json.file, path: path)
            guard let type = try binding.string("type") else {
                throw binding.error("type", "is required: kafkaTrigger, or kafka with direction out")
            }
            let direction = try binding.string("direction").map(normalizedEnumValue)
            switch normalizedEnumValue(type) {
            case "kafkatrigger":
                if let direction, direction != "in" {
                    throw binding.error("direction", "a kafkaTrigger binding has direction \"in\"")
                }
                if trigger != nil {
                    throw binding.error("type", "a function has exactly one kafkaTrigger binding; this is a second one")
                }
                trigger = try KafkaTriggerBinding.parse(binding, function: name, settings: settings, directory: directory)
                warnings += KafkaTriggerBinding.fields.warnings(for: binding)
            case "kafka":
                guard direction == "out" else {
                    throw binding.error("direction", "a kafka binding is an output binding: set \"direction\": \"out\"")
                }
                outputs.append(try KafkaOutputBinding.parse(binding, settings: settings, directory: directory))
                warnings += KafkaOutputBinding.fields.warnings(for: binding)
            default:
                throw binding.error("type", "unknown binding type '\(type)'; use kafkaTrigger, or kafka with direction out")
            }
        }
        guard let trigger else {
            throw json.error("bindings", "has no kafkaTrigger binding; add one: { \"type\": \"kafkaTrigger\", \"direction\": \"in\", \"topic\": ..., \"brokerList\": ... }")
        }
        let scriptFile = try json.string("scriptFile") ?? "lib\(name).so"
        let libraryURL = scriptFile.hasPrefix("/") ? URL(fileURLWithPath: scriptFile) : directory.appendingPathComponent(scriptFile)
        let entryPoint = try json.string("entryPoint") ?? "run"
        guard !entryPoint.isEmpty else { throw json.error("entryPoint", "must name the exported C symbol to call") }
        let deadLetterTopic = try json.string("deadLetterTopic").map {
            try settings.expand($0, file: json.file, field: "deadLetterTopic")
        } ?? defaultDeadLetterTopic(topic: trigger.topic, function: name)
        guard !deadLetterTopic.isEmpty, deadLetterTopic != trigger.topic else {
            throw json.error("deadLetterTopic", "must name a topic other than the trigger's")
        }
        if trigger.processingGuarantee == .exactlyOnce {
            // One transaction holds the outputs and the consumed offsets: one cluster, one producer.
            for output in outputs where output.connection != trigger.connection {
                throw ConfigurationError(file: json.file, field: "\(trigger.path).processingGuarantee",
                    "exactlyOnce puts the outputs and the consumed offsets in one Kafka transaction, so every output binding must reach the trigger's cluster with the same connection settings; \(output.path) (\(output.connection.brokerList)) does not. Use atLeastOnce, or write to the trigger's cluster")
            }
        }
        let flushInterval = try json.int("flushIntervalSeconds", in: 1...3_600) ?? 10
        let retry = try json.object("retry")
        if let retry { warnings += RetryPolicy.fields.warnings(for: retry) }
        return FunctionConfiguration(
            name: name,
            file: json.file,
            libraryPath: libraryURL.standardizedFileURL.path,
            entryPoint: entryPoint,
            disabled: try json.bool("disabled") ?? false,
            trigger: trigger,
            outputs: outputs,
            retry: try retry.map(RetryPolicy.parse),
            deadLetterTopic: deadLetterTopic,
            flushIntervalSeconds: Double(flushInterval),
            warnings: warnings
        )
    }
}
