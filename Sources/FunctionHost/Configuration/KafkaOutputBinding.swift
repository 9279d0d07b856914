/// A `kafka` binding with `direction: out`: a topic the function can send records to.
public struct KafkaOutputBinding: Sendable {
    public var name: String
    public var connection: KafkaConnection
    public var topic: String

    static func parse(_ binding: JSONObject, settings: AppSettings) throws -> KafkaOutputBinding {
        guard let topicField = try binding.string("topic"), !topicField.isEmpty else {
            throw binding.error("topic", "is required: the topic this output binding writes to")
        }
        return KafkaOutputBinding(
            name: try binding.string("name") ?? "output",
            connection: try KafkaConnection.parse(binding, settings: settings),
            topic: try settings.expand(topicField, file: binding.file, field: binding.fieldPath("topic"))
        )
    }
}
