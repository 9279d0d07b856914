import CRdKafka
import Synchronization

/// Tells whether a cluster is librdkafka's mock cluster (the embedded broker: `swiftfunc broker`,
/// `start --embedded-broker`), whose cluster id starts with "mockCluster".
///
/// Why it matters: the mock cluster holds a fetch that finds no data for the whole
/// `fetch.wait.max.ms` (librdkafka's default 500 ms) even when data arrives meanwhile, where a
/// Kafka broker answers as soon as there is data. Against the mock cluster the host shortens
/// that wait (``consumerProperties``), so a message reaches its function in milliseconds there
/// too, as it does on Kafka.
enum MockClusterDetection {
    /// The fetch wait the host uses against the mock cluster unless a function sets its own.
    static let fetchWaitMs = 5

    private static let known = Mutex<[String: Bool]>([:])

    /// Consumer properties for a cluster reached with `connection`: empty for Kafka.
    static func consumerProperties(for connection: KafkaConnection) -> [(String, String)] {
        isMockCluster(connection) ? [("fetch.wait.max.ms", "\(fetchWaitMs)")] : []
    }

    /// Asks the cluster for its id (once per broker list; up to 2 s when it does not answer, and
    /// then it counts as Kafka).
    static func isMockCluster(_ connection: KafkaConnection) -> Bool {
        if let answer = known.withLock({ $0[connection.brokerList] }) { return answer }
        var answer = false
        if let configuration = try? KafkaClient.makeConfiguration(connection.librdkafkaProperties + [("log_level", "0")], origin: "cluster id probe"),
           let client = try? KafkaClient.make(RD_KAFKA_PRODUCER, configuration: configuration) {
            if let id = rd_kafka_clusterid(client, 2_000) {
                answer = String(cString: id).hasPrefix("mockCluster")
                rd_kafka_mem_free(client, id)
            }
            rd_kafka_destroy(client)
        }
        known.withLock { $0[connection.brokerList] = answer }
        return answer
    }
}
