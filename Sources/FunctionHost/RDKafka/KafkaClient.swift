import CRdKafka

/// Creates librdkafka clients from property lists, so that no call site repeats the
/// conf/errstr/ownership dance.
package enum KafkaClient {
    /// Builds an `rd_kafka_conf_t` from `properties`, applied in order (later ones win).
    /// - Parameter origin: says where the properties came from, for the error message.
    /// - Throws: ``KafkaError`` naming the property librdkafka refused.
    package static func makeConfiguration(_ properties: [(String, String)], origin: String) throws -> OpaquePointer {
        let configuration = rd_kafka_conf_new()!
        RDKafkaLog.install(on: configuration)
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(configuration, name, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(configuration)
                throw KafkaError("librdkafka property '\(name)' = '\(value)' (\(origin)) was refused: \(errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
            }
        }
        return configuration
    }

    /// Creates a client, taking ownership of `configuration` (destroyed on failure too).
    package static func make(_ type: rd_kafka_type_t, configuration: OpaquePointer) throws -> OpaquePointer {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, configuration, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(configuration)
            throw KafkaError("librdkafka could not create a client: \(errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
        }
        return handle
    }
}
