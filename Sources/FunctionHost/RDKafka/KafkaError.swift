import CRdKafka

/// An error reported by librdkafka, with what the host was doing when it happened. Callers match
/// on ``code`` (librdkafka's `rd_kafka_resp_err_t` value, e.g. ``Code/brokerTransport``) and on
/// ``isRetriable`` / ``isFatal`` rather than on the text.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// A librdkafka error code. Static constants name the ones the host acts on; any other code
    /// librdkafka reports is kept as it came.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32

        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ code: rd_kafka_resp_err_t) { rawValue = code.rawValue }

        /// Not a librdkafka error: the host's own (a refused configuration, a client it could not create).
        public static let host = Code(rawValue: -1)
        public static let brokerTransport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let invalidTopic = Code(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let rebalanceInProgress = Code(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        /// The producer's local queue is full.
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        /// A commit had no offset to commit.
        public static let noOffset = Code(RD_KAFKA_RESP_ERR__NO_OFFSET)

        /// librdkafka's name for it (`_TRANSPORT`, `REBALANCE_IN_PROGRESS`, ...).
        public var description: String {
            rawValue == -1 ? "HOST" : String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue)))
        }
    }

    public let code: Code
    public let message: String
    /// librdkafka's words for the error alone (``message`` without what the host was doing).
    public let reason: String
    /// Trying again may succeed (the broker or network may recover).
    public let isRetriable: Bool
    /// The client cannot be used any more (librdkafka's fatal errors: fenced, idempotence broken).
    public let isFatal: Bool
    /// A transactional producer's transaction failed and must be aborted before the next one.
    public var requiresAbort = false

    /// The host's own error: not retriable, not fatal for a client.
    public init(_ message: String) {
        code = .host
        self.message = message
        reason = message
        isRetriable = false
        isFatal = false
    }

    init(_ code: rd_kafka_resp_err_t, while doing: String) {
        self.code = Code(code)
        reason = String(cString: rd_kafka_err2str(code))
        message = "\(doing): \(reason)"
        isFatal = code == RD_KAFKA_RESP_ERR__FATAL
        isRetriable = !isFatal && Self.transient.contains(code.rawValue)
    }

    /// Takes an `rd_kafka_error_t` (and destroys it).
    init(taking error: OpaquePointer, while doing: String) {
        code = Code(rd_kafka_error_code(error))
        reason = String(cString: rd_kafka_error_string(error))
        message = "\(doing): \(reason)"
        isRetriable = rd_kafka_error_is_retriable(error) != 0
        isFatal = rd_kafka_error_is_fatal(error) != 0
        requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// Codes that describe a passing condition of the cluster or the network.
    private static let transient: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, RD_KAFKA_RESP_ERR__RESOLVE,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }

    public var description: String { message }
}
