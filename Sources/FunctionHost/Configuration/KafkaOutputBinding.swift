import Foundation

/// A `kafka` binding with `direction: out`: a topic the function can send records to.
public struct KafkaOutputBinding: Sendable {
    public var name: String
    public var connection: KafkaConnection
    public var topic: String
    /// How its producer batches, retries and times out (Azure's output-binding fields).
    public var producer = ProducerSettings()
    /// `avroSchema` and/or `schemaRegistryUrl`: what the function sends is JSON, encoded into
    /// Confluent-framed Avro (see ``RecordEncoder``); nil: sent as it is.
    public var schemas: SchemaSettings?
    /// Where the binding sits in function.json (`bindings[1]`), for messages about its fields.
    public var path: String = "bindings[1]"

    /// A `kafka` output binding's fields.
    static let fields = KnownFields(
        used: ["type", "direction", "name", "topic"] + ProducerSettings.fieldNames + KafkaConnection.fieldNames + SchemaSettings.fieldNames,
        unsupported: KafkaConnection.unsupportedFields,
        ignored: ["dataType"])

    static func parse(_ binding: JSONObject, settings: AppSettings, directory: URL) throws -> KafkaOutputBinding {
        guard let topicField = try binding.string("topic"), !topicField.isEmpty else {
            throw binding.error("topic", "is required: the topic this output binding writes to")
        }
        return KafkaOutputBinding(
            name: try binding.string("name") ?? "output",
            connection: try KafkaConnection.parse(binding, settings: settings, directory: directory),
            topic: try settings.expand(topicField, file: binding.file, field: binding.fieldPath("topic")),
            producer: try ProducerSettings.parse(binding),
            schemas: try SchemaSettings.parse(binding, settings: settings, keys: false),
            path: binding.path
        )
    }
}

/// A `kafka` output binding's producer fields, Azure's names mapped to librdkafka's. Where the
/// binding is silent the host's defaults apply: batching on (`linger.ms` 5, as Azure's output
/// binding) and idempotence on, so a producer retry neither duplicates nor reorders a
/// partition's records (Azure leaves it off; it costs one InitProducerId at start).
public struct ProducerSettings: Hashable, Sendable {
    /// message.max.bytes
    public var maxMessageBytes: Int?
    /// batch.num.messages
    public var batchSize: Int?
    /// enable.idempotence
    public var enableIdempotence = true
    /// message.timeout.ms: how long a record may wait for its acknowledgement, retries included.
    public var messageTimeoutMs: Int?
    /// request.timeout.ms
    public var requestTimeoutMs: Int?
    /// message.send.max.retries
    public var maxRetries: Int?
    /// linger.ms: how long records wait to be batched.
    public var lingerMs = 5

    public init() {}

    static let fieldNames = ["maxMessageBytes", "batchSize", "enableIdempotence", "messageTimeoutMs", "requestTimeoutMs", "maxRetries", "lingerMs"]

    /// The librdkafka properties, before host.json's `extensions.kafka.librdkafka` (which wins).
    var librdkafkaProperties: [(String, String)] {
        var properties: [(String, String)] = [("linger.ms", "\(lingerMs)"), ("enable.idempotence", enableIdempotence ? "true" : "false")]
        if let maxMessageBytes { properties.append(("message.max.bytes", "\(maxMessageBytes)")) }
        if let batchSize { properties.append(("batch.num.messages", "\(batchSize)")) }
        if let messageTimeoutMs { properties.append(("message.timeout.ms", "\(messageTimeoutMs)")) }
        if let requestTimeoutMs { properties.append(("request.timeout.ms", "\(requestTimeoutMs)")) }
        if let maxRetries { properties.append(("message.send.max.retries", "\(maxRetries)")) }
        return properties
    }

    /// Each bound is librdkafka's own range for the property.
    static func parse(_ binding: JSONObject) throws -> ProducerSettings {
        var settings = ProducerSettings()
        settings.maxMessageBytes = try binding.int("maxMessageBytes", in: 1000...1_000_000_000)
        settings.batchSize = try binding.int("batchSize", in: 1...1_000_000)
        if let idempotence = try binding.bool("enableIdempotence") { settings.enableIdempotence = idempotence }
        settings.messageTimeoutMs = try binding.int("messageTimeoutMs", in: 0...2_147_483_647)
        settings.requestTimeoutMs = try binding.int("requestTimeoutMs", in: 1...900_000)
        settings.maxRetries = try binding.int("maxRetries", in: 0...2_147_483_647)
        if let linger = try binding.int("lingerMs", in: 0...900_000) { settings.lingerMs = linger }
        if settings.enableIdempotence, settings.maxRetries == 0 {
            throw binding.error("maxRetries", "must be at least 1 with enableIdempotence (the default); set \"enableIdempotence\": false to send each record at most once")
        }
        return settings
    }
}
