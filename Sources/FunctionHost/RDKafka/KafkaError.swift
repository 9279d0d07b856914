import CRdKafka

/// An error reported by librdkafka, with what the host was doing when it happened.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String

    public init(code: Int32 = -1, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ code: rd_kafka_resp_err_t, while doing: String) {
        self.code = code.rawValue
        self.message = "\(doing): \(String(cString: rd_kafka_err2str(code)))"
    }

    public var description: String { message }
}
