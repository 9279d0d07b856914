import Synchronization

/// Producers by connection: output bindings that reach the same cluster with the same
/// credentials share one librdkafka producer.
final class ProducerPool: @unchecked Sendable {
    private let options: KafkaOptions
    private let producers = Mutex<[KafkaConnection: KafkaProducer]>([:])

    init(options: KafkaOptions) {
        self.options = options
    }

    func producer(for connection: KafkaConnection) throws -> KafkaProducer {
        try producers.withLock { producers in
            if let producer = producers[connection] { return producer }
            let producer = try KafkaProducer(connection: connection, options: options)
            producers[connection] = producer
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
