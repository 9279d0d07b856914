import Synchronization

/// Producers by connection and settings: output bindings that reach the same cluster with the
/// same credentials and producer settings share one librdkafka producer.
final class ProducerPool: @unchecked Sendable {
    private struct Key: Hashable {
        var connection: KafkaConnection
        var settings: ProducerSettings
    }

    private let options: KafkaOptions
    private let producers = Mutex<[Key: KafkaProducer]>([:])

    init(options: KafkaOptions) {
        self.options = options
    }

    /// - Parameter settings: an output binding's; the default ones for dead letters.
    func producer(for connection: KafkaConnection, settings: ProducerSettings = ProducerSettings()) throws -> KafkaProducer {
        let key = Key(connection: connection, settings: settings)
        return try producers.withLock { producers in
            if let producer = producers[key] { return producer }
            let producer = try KafkaProducer(connection: connection, settings: settings, options: options)
            producers[key] = producer
            return producer
        }
    }

    var count: Int { producers.withLock { $0.count } }

    /// Flushes and closes every producer; returns how many records could not be delivered.
    func shutdown() -> Int {
        let all = producers.withLock { producers in
            defer { producers.removeAll() }
            return Array(producers.values)
        }
        return all.reduce(0) { $0 + Int($1.shutdown()) }
    }
}
