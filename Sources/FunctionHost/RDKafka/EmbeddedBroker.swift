import CRdKafka
import Foundation
import Synchronization

/// librdkafka's mock cluster: a real Kafka protocol server on loopback TCP, with consumer groups
/// and offset commits, living inside this process. For development and tests.
///
/// It is in memory only and keeps only about 5 MB per partition: older messages vanish even when
/// nobody has consumed them yet.
public final class EmbeddedBroker: @unchecked Sendable {
    /// What every command that starts one tells the user.
    public static let notice =
        "The embedded broker is librdkafka's mock cluster: in memory only (gone when the process exits), and it keeps only about 5 MB per partition (older messages vanish, consumed or not). Use a real Kafka cluster for anything that matters."

    /// Partitions of a topic the embedded broker creates when none is given.
    public static let defaultPartitions = 4

    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    public let brokerCount: Int
    /// `127.0.0.1:PORT[,...]`, for `bootstrap.servers`.
    public let bootstrapServers: String

    /// Starts a mock cluster of `brokers` brokers on loopback ports chosen by the system.
    public init(brokers: Int = 1) throws {
        // A producer handle with test.mock.num.brokers owns the cluster and is pointed at it.
        let configuration = try KafkaClient.makeConfiguration(
            [("test.mock.num.brokers", "\(brokers)"), ("log_level", "4")], origin: "embedded broker")
        handle = try KafkaClient.make(RD_KAFKA_PRODUCER, configuration: configuration)
        guard let cluster = rd_kafka_handle_mock_cluster(handle) else {
            rd_kafka_destroy(handle)
            throw KafkaError("librdkafka did not start its mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        brokerCount = brokers
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// How many partitions librdkafka's mock cluster gives a topic it creates itself (its
    /// `defaults.partition_cnt`, 4 in 2.0.2 and 2.14.2).
    static let autoCreatedPartitions = 4

    /// Asks the cluster for the metadata of `topics`, which makes it create the missing ones
    /// (with ``autoCreatedPartitions``; an existing topic is left as it is); false when one is
    /// still not there (the caller creates them through the mock API instead).
    private func autoCreate(_ topics: [String]) -> Bool {
        let handles = topics.compactMap { rd_kafka_topic_new(handle, $0, nil) }
        defer { handles.forEach { rd_kafka_topic_destroy($0) } }
        guard handles.count == topics.count else { return false }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        guard rd_kafka_metadata(handle, 0, nil, &metadata, 5_000) == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return false }
        defer { rd_kafka_metadata_destroy(metadata) }
        var created: [String: Int32] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            if topic.err == RD_KAFKA_RESP_ERR_NO_ERROR { created[String(cString: topic.topic)] = topic.partition_cnt }
        }
        return topics.allSatisfy { created[$0] != nil }
    }

    /// Creates `topic` with `partitions` partitions; an existing topic is left as it is.
    public func createTopic(_ topic: String, partitions: Int = EmbeddedBroker.defaultPartitions) throws {
        let result = rd_kafka_mock_topic_create(cluster, topic, Int32(partitions), 1)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR && result != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            throw KafkaError(result, while: "creating topic '\(topic)' on the embedded broker")
        }
    }

    /// Creates every topic of `topics` at once. A creation asked through librdkafka's mock API
    /// (``createTopic(_:partitions:)``) waits for the mock cluster's thread to notice it, and that
    /// thread sometimes notices only at its next 1 s timer (2.0.2: 17 topics side by side took
    /// 1 s in 1 start of 12, one after another 0-3 s; a whole second of start-up at 1 start in 3
    /// of `make run`). With the mock's own partition count (4), the topics are created as Kafka
    /// creates them for a client that asks for their metadata (auto-creation): one Metadata
    /// request over TCP, which that thread serves at once (17 topics in under 60 ms on 2.0.2 and
    /// 2.14.2). Other counts go through the mock API, side by side (one after another is one
    /// creation per turn of the thread's loop: 64 topics took 8-11 s).
    /// - Throws: the first ``KafkaError`` of any creation.
    public func createTopics(_ topics: [String], partitions: Int = EmbeddedBroker.defaultPartitions) throws {
        let unique = Array(Set(topics))
        if partitions == Self.autoCreatedPartitions && !unique.isEmpty && autoCreate(unique) { return }
        guard unique.count > 1 else { return try unique.forEach { try createTopic($0, partitions: partitions) } }
        let failures = Mutex<[any Error]>([])
        let group = DispatchGroup()
        for topic in unique {
            group.enter()
            Thread.detachNewThread {
                do { try self.createTopic(topic, partitions: partitions) } catch { failures.withLock { $0.append(error) } }
                group.leave()
            }
        }
        group.wait()
        if let failure = failures.withLock({ $0.first }) { throw failure }
    }

    /// Takes broker `id` (1-based) down or up, to rehearse broker trouble: a down broker closes
    /// its connections and refuses new ones.
    public func setBroker(_ id: Int32, up: Bool) {
        _ = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id)
    }

    public func setAllBrokers(up: Bool) {
        for id in 1...Int32(brokerCount) { setBroker(id, up: up) }
    }

    /// Makes broker `id` (1-based) the leader of `topic`'s `partition`, to put topics on brokers
    /// of their own.
    public func setLeader(topic: String, partition: Int32, broker id: Int32) {
        _ = rd_kafka_mock_partition_set_leader(cluster, topic, partition, id)
    }

    /// The next `count` requests of API `apiKey` (0: Produce) to any broker fail with `error`.
    public func failRequests(apiKey: Int16, with error: rd_kafka_resp_err_t, count: Int) {
        let errors = [rd_kafka_resp_err_t](repeating: error, count: count)
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, count, errors)
    }

    /// Delays every answer of broker `id` by `milliseconds`, to rehearse a slow network.
    public func setRoundTripTime(broker id: Int32, milliseconds: Int) {
        _ = rd_kafka_mock_broker_set_rtt(cluster, id, Int32(milliseconds))
    }
}
