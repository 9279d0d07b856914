import CRdKafka

/// The consumer group protocol a trigger's consumer speaks (`groupProtocol` on the kafkaTrigger,
/// or host.json's `extensions.kafka.groupProtocol` for every trigger without one).
public enum GroupProtocol: String, Sendable, CaseIterable {
    /// Kafka's original protocol (JoinGroup/SyncGroup): the group's leader assigns on the client,
    /// and each rebalance takes every partition from every member. librdkafka's default.
    case classic
    /// KIP-848 (`group.protocol=consumer`): the broker assigns (`groupRemoteAssignor`) and moves
    /// partitions one at a time while the others keep flowing. Kafka 4.0's protocol for new
    /// consumers; librdkafka supports it in production from 2.12.0.
    case consumer

    /// The librdkafka settings the consumer protocol leaves to the broker, with what to do instead.
    /// librdkafka refuses a consumer that sets any of them (rd_kafka_new fails), so the host names
    /// them at load instead.
    static let classicOnlyProperties: [(name: String, instead: String)] = [
        ("session.timeout.ms", "the broker sets the session timeout (group.consumer.session.timeout.ms)"),
        ("heartbeat.interval.ms", "the broker sets the heartbeat interval (group.consumer.heartbeat.interval.ms)"),
        ("partition.assignment.strategy", "the broker assigns; choose its assignor with groupRemoteAssignor"),
        ("group.protocol.type", "it belongs to the classic protocol"),
    ]

    /// host.json `extensions.kafka` fields that map to ``classicOnlyProperties``.
    static let classicOnlyHostFields: [(field: String, property: String)] = [
        ("sessionTimeoutMs", "session.timeout.ms"), ("heartbeatIntervalMs", "heartbeat.interval.ms"),
    ]

    /// Reads `field` of `object` (any case, as Azure's samples write enums) and refuses `consumer`
    /// when the running librdkafka has no production support for it.
    /// - Parameter version: `rd_kafka_version()` of the librdkafka to check against.
    /// - Throws: ``ConfigurationError`` naming the file, the field and the librdkafka version.
    static func parse(_ object: JSONObject, field: String = "groupProtocol", version: Int32 = rd_kafka_version()) throws -> GroupProtocol? {
        guard let text = try object.string(field) else { return nil }
        guard let value = allCases.first(where: { $0.rawValue == normalizedEnumValue(text) }) else {
            throw object.error(field, "unknown value '\(text)'; use classic or consumer")
        }
        if value == .consumer && version < LibrdkafkaVersion.consumerGroupProtocol {
            throw object.error(field, "'consumer' (KIP-848) needs librdkafka \(LibrdkafkaVersion.text(LibrdkafkaVersion.consumerGroupProtocol)) or later, and this host runs librdkafka \(LibrdkafkaVersion.text(version)); use classic, or run the host with a current librdkafka (make LIBRDKAFKA=current builds one)")
        }
        return value
    }

    /// Reads `groupRemoteAssignor` (the broker's assignor: Kafka's are `uniform` and `range`;
    /// a broker may be configured with others, so any name passes), which only the consumer
    /// protocol has.
    /// - Parameter groupProtocol: the object's own protocol; nil (a trigger without one) leaves the
    ///   check to the host's protocol when the trigger's consumer is made.
    /// - Throws: ``ConfigurationError`` when it is empty, or set beside classic.
    static func parseRemoteAssignor(_ object: JSONObject, protocol groupProtocol: GroupProtocol?) throws -> String? {
        guard let assignor = try object.string("groupRemoteAssignor") else { return nil }
        guard !assignor.isEmpty else {
            throw object.error("groupRemoteAssignor", "must name the broker's assignor (uniform or range), or be left out for the broker's default")
        }
        guard groupProtocol != .classic else {
            throw object.error("groupRemoteAssignor", "applies only to groupProtocol consumer (the broker assigns); set \"groupProtocol\": \"consumer\" beside it, or leave it out")
        }
        return assignor
    }
}
