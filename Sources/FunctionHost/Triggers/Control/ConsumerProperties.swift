/// The librdkafka properties of a trigger's consumer, in the order they apply (later ones win).
enum ConsumerProperties {
    static func of(_ function: FunctionConfiguration, options: KafkaOptions, startWithoutCommit: StartWithoutCommit) -> [(String, String)] {
        var properties: [(String, String)] = [
            ("group.id", function.trigger.consumerGroup),
            ("client.id", "swiftfunc-\(function.name)"),
            // The host commits settled offsets itself, tagged for crash recovery (OffsetCommitter).
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ]
        properties += options.consumerProperties
        // The trigger's startFrom over host.json's autoOffsetReset (extensions.kafka.librdkafka still last).
        properties.append(("auto.offset.reset", startWithoutCommit.autoOffsetReset))
        properties += MockClusterDetection.consumerProperties(for: function.trigger.connection)
        properties += function.trigger.connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return properties
    }
}
