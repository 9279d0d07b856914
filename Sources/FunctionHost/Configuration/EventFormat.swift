/// The trigger's `eventFormat`: how records reach the function. `native` hands over `sf_event_v1`s;
/// the others hand over one JSON document per call, serialized the way that platform documents
/// its Kafka event, so code ported from it keeps its parsing (see `EventFormats/`).
public enum EventFormat: String, Sendable, CaseIterable {
    case native
    /// Azure Functions' KafkaEventData JSON: one object for ONE, an array for MANY.
    case azure
    /// AWS Lambda's self-managed Apache Kafka event (`"eventSource": "SelfManagedKafka"`).
    case aws
    /// Tencent SCF's CKafka trigger event (`{"Records":[{"Ckafka":{...}}]}`).
    case tencent

    static func parse(_ text: String, in binding: JSONObject) throws -> EventFormat {
        guard let value = allCases.first(where: { $0.rawValue == normalizedEnumValue(text) }) else {
            throw binding.error("eventFormat", "unknown value '\(text)'; use native, azure, aws or tencent")
        }
        return value
    }
}
