import Foundation

/// The function's `kafkaTrigger` binding.
public struct KafkaTriggerBinding: Sendable {
    public var name: String
    public var connection: KafkaConnection
    public var topic: String
    public var consumerGroup: String
    public var cardinality: Cardinality
    public var dataType: DataType
    /// `native` (default): the function gets `sf_event_v1`s. Another platform's name: it gets one JSON
    /// document per call, shaped as that platform's Kafka event (see ``EventFormat``).
    public var eventFormat: EventFormat = .native
    /// `ordering`: which messages must wait for which (see ``Ordering``).
    public var ordering: Ordering = .partition
    /// `maxConcurrency`: invocations at once with ordering `key` or `unordered`.
    public var maxConcurrency: Int = Ordering.defaultMaxConcurrency
    /// `maxQueuedMessages`: consumed messages that may wait for the lanes (ordering `key` or
    /// `unordered`) before the partitions pause until the function catches up.
    public var maxQueuedMessages: Int = Ordering.defaultMaxQueuedMessages
    /// `filters`: only messages matching one of them are invoked (see ``MessageFilter``); nil: all.
    public var filter: MessageFilter?
    /// `maxRecordAge` (hh:mm:ss): records older than this (by their Kafka timestamp) when consumed
    /// are dead-lettered (reason `record-age`) without a call; nil: any age.
    public var maxRecordAgeSeconds: Double?
    /// `startFrom`: where a partition without a committed offset starts (earliest, latest or a
    /// time); nil: host.json's `autoOffsetReset`. A committed offset always wins.
    public var startFrom: StartFrom?
    /// `processingGuarantee`: `atLeastOnce` (default) or `exactlyOnce` (outputs and consumed
    /// offsets in one Kafka transaction).
    public var processingGuarantee: ProcessingGuarantee = .atLeastOnce
    /// `schemaRegistryUrl`, `avroSchema`, `keyAvroSchema`: with dataType string the function gets
    /// schema-encoded records decoded, as JSON (see ``RecordDecoder``); nil: bytes as they are.
    public var schemas: SchemaSettings?
    /// `groupProtocol`: classic or consumer (KIP-848); nil: host.json's `extensions.kafka.groupProtocol`.
    public var groupProtocol: GroupProtocol?
    /// `groupRemoteAssignor`: the broker's assignor under the consumer protocol; nil: host.json's, or the broker's default.
    public var groupRemoteAssignor: String?
    /// Where the binding sits in function.json (`bindings[0]`), for messages about its fields.
    public var path: String = "bindings[0]"

    /// The consumer group of a trigger that names none: stable across restarts, one per function.
    public static func defaultConsumerGroup(function: String) -> String { "swiftfunc-\(function)" }

    /// The kafkaTrigger binding's fields.
    static let fields = KnownFields(
        used: ["type", "direction", "name", "topic", "consumerGroup", "cardinality", "dataType", "eventFormat", "ordering",
               "maxConcurrency", "maxQueuedMessages", "filters", "maxRecordAge", "startFrom", "processingGuarantee",
               "groupProtocol", "groupRemoteAssignor"] + KafkaConnection.fieldNames + SchemaSettings.fieldNames,
        unsupported: KafkaConnection.unsupportedFields.merging([
            "lagThreshold": "it drives Azure's scale controller; a swiftfunc host runs one consumer per function and does not scale out",
        ], uniquingKeysWith: { first, _ in first }))

    /// The most messages that may wait for the lanes (ordering key or unordered): each holds its
    /// record in memory, so a larger bound is memory nobody sized.
    public static let maximumQueuedMessages = 100_000

    static func parse(_ binding: JSONObject, function: String, settings: AppSettings, directory: URL) throws -> KafkaTriggerBinding {
        guard let topicField = try binding.string("topic"), !topicField.isEmpty else {
            throw binding.error("topic", "is required: the topic whose messages trigger the function")
        }
        let topic = try settings.expand(topicField, file: binding.file, field: binding.fieldPath("topic"))
        let group = try binding.string("consumerGroup").map {
            try settings.expand($0, file: binding.file, field: binding.fieldPath("consumerGroup"))
        }
        var trigger = KafkaTriggerBinding(
            name: try binding.string("name") ?? "event",
            connection: try KafkaConnection.parse(binding, settings: settings, directory: directory),
            topic: topic,
            consumerGroup: (group?.isEmpty ?? true) ? defaultConsumerGroup(function: function) : group!,
            cardinality: try binding.string("cardinality").map { try Cardinality.parse($0, in: binding) } ?? .one,
            dataType: try binding.string("dataType").map { try DataType.parse($0, in: binding) } ?? .binary
        )
        trigger.eventFormat = try binding.string("eventFormat").map { try EventFormat.parse($0, in: binding) } ?? .native
        trigger.ordering = try binding.string("ordering").map { try Ordering.parse($0, in: binding) } ?? .partition
        if let concurrency = try binding.int("maxConcurrency", in: 1...Ordering.maximumConcurrency) {
            trigger.maxConcurrency = concurrency
        }
        if let queued = try binding.int("maxQueuedMessages", in: 1...maximumQueuedMessages) {
            trigger.maxQueuedMessages = queued
        }
        trigger.filter = try MessageFilter.parse(binding)
        if let text = try binding.string("maxRecordAge") {
            guard let seconds = parseTimeSpan(text) else {
                throw binding.error("maxRecordAge", "'\(text)' is not a time span; write it as hh:mm:ss or d.hh:mm:ss (e.g. \"01:00:00\")")
            }
            guard seconds >= 1 && seconds <= 365 * 86_400 else {
                throw binding.error("maxRecordAge", "must be from 00:00:01 to 365.00:00:00, not '\(text)'")
            }
            trigger.maxRecordAgeSeconds = seconds
        }
        trigger.startFrom = try binding.string("startFrom").map { try StartFrom.parse($0, in: binding) }
        trigger.processingGuarantee = try binding.string("processingGuarantee").map { try ProcessingGuarantee.parse($0, in: binding) } ?? .atLeastOnce
        if trigger.processingGuarantee == .exactlyOnce && trigger.ordering != .partition {
            throw binding.error("processingGuarantee", "exactlyOnce commits a partition's outputs and offsets in order, so it needs ordering partition, not '\(trigger.ordering.rawValue)'")
        }
        trigger.schemas = try SchemaSettings.parse(binding, settings: settings, keys: true)
        trigger.groupProtocol = try GroupProtocol.parse(binding)
        trigger.groupRemoteAssignor = try GroupProtocol.parseRemoteAssignor(binding, protocol: trigger.groupProtocol)
        trigger.path = binding.path
        return trigger
    }
}

/// What the trigger promises about each input's outputs and its consumed offset.
public enum ProcessingGuarantee: String, Sendable, CaseIterable {
    /// Offsets advance only past settled messages; a crash or retry may send an input's outputs again.
    case atLeastOnce
    /// The function's output records and the consumed offsets go in one Kafka transaction,
    /// committed together on the commit interval and on revoke and stop; a reader with
    /// `isolation.level=read_committed` sees each input's outputs once.
    case exactlyOnce

    static func parse(_ text: String, in binding: JSONObject) throws -> ProcessingGuarantee {
        guard let value = allCases.first(where: { normalizedEnumValue($0.rawValue) == normalizedEnumValue(text) }) else {
            throw binding.error("processingGuarantee", "unknown value '\(text)'; use atLeastOnce or exactlyOnce")
        }
        return value
    }
}

/// ONE: the function gets one event per call. MANY: a batch of up to `maxBatchSize`.
public enum Cardinality: String, Sendable, CaseIterable {
    case one = "ONE"
    case many = "MANY"

    static func parse(_ text: String, in binding: JSONObject) throws -> Cardinality {
        guard let value = allCases.first(where: { normalizedEnumValue($0.rawValue) == normalizedEnumValue(text) }) else {
            throw binding.error("cardinality", "unknown value '\(text)'; use ONE or MANY")
        }
        return value
    }
}

/// `string`: the value is checked to be UTF-8 before the call. `binary`: bytes untouched.
/// Azure also accepts `stream`, which is binary here.
public enum DataType: String, Sendable, CaseIterable {
    case string
    case binary

    static func parse(_ text: String, in binding: JSONObject) throws -> DataType {
        switch normalizedEnumValue(text) {
        case "string": return .string
        case "binary", "stream": return .binary
        default: throw binding.error("dataType", "unknown value '\(text)'; use string or binary")
        }
    }
}
