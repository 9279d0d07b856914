import Foundation

/// A `kafka` binding with `direction: out`: a topic the function can send records to.
public struct KafkaOutputBinding: Sendable {
    public var name: String
    public var connection: KafkaConnection
    public var topic: String
    /// Where the binding sits in function.json (`bindings[1]`), for messages about its fields.
    public var path: String = "bindings[1]"

    /// A `kafka` output binding's fields. Azure's producer tuning fields are read past.
    static let fields = KnownFields(
        used: ["type", "direction", "name", "topic"] + KafkaConnection.fieldNames,
        unsupported: KafkaConnection.unsupportedFields.merging([
            "maxMessageBytes": producerAdvice, "batchSize": producerAdvice, "enableIdempotence": producerAdvice,
            "messageTimeoutMs": producerAdvice, "requestTimeoutMs": producerAdvice, "maxRetries": producerAdvice,
        ], uniquingKeysWith: { first, _ in first }),
        ignored: ["dataType"])

    private static let producerAdvice =
        "the producer uses librdkafka's defaults; host.json's extensions.kafka.librdkafka sets any librdkafka property (message.max.bytes, enable.idempotence, ...) for every client"

    static func parse(_ binding: JSONObject, settings: AppSettings, directory: URL) throws -> KafkaOutputBinding {
        guard let topicField = try binding.string("topic"), !topicField.isEmpty else {
            throw binding.error("topic", "is required: the topic this output binding writes to")
        }
        return KafkaOutputBinding(
            name: try binding.string("name") ?? "output",
            connection: try KafkaConnection.parse(binding, settings: settings, directory: directory),
            topic: try settings.expand(topicField, file: binding.file, field: binding.fieldPath("topic")),
            path: binding.path
        )
    }
}
