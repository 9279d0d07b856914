import CRdKafka
import Synchronization

/// A librdkafka producer (`rd_kafka_t*`) and its topic handles, owned: created here, destroyed by
/// ``close()`` (or `deinit`). Safe from any thread until ``close()``.
final class RDKafkaProducer: @unchecked Sendable {
    typealias DeliveryReport = @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void

    private let handle: OpaquePointer
    private let topics = Mutex<[String: OpaquePointer]>([:])
    private let closed = Atomic<Bool>(false)

    /// - Parameters:
    ///   - properties: librdkafka properties, applied in order.
    ///   - origin: where the properties came from, for the error message.
    ///   - deliveryReport: called from ``poll(timeoutMs:)`` for every record, with its opaque.
    /// - Throws: ``KafkaError`` when librdkafka refuses a property or the client.
    init(properties: [(String, String)], origin: String, deliveryReport: DeliveryReport) throws {
        let configuration = try KafkaClient.makeConfiguration(properties, origin: origin)
        rd_kafka_conf_set_dr_msg_cb(configuration, deliveryReport)
        handle = try KafkaClient.make(RD_KAFKA_PRODUCER, configuration: configuration)
    }

    deinit {
        destroy()
    }

    /// The topic handle for `name`, created once and owned here (valid until ``close()``).
    /// - Throws: ``KafkaError`` when librdkafka refuses the name.
    func topic(_ name: String) throws -> OpaquePointer {
        try topics.withLock { topics in
            if let topic = topics[name] { return topic }
            guard let topic = rd_kafka_topic_new(handle, name, nil) else {
                throw KafkaError(rd_kafka_last_error(), while: "librdkafka refused topic name '\(name)'")
            }
            topics[name] = topic
            return topic
        }
    }

    /// Queues a record (every byte copied); takes ownership of `headers` only when it succeeds.
    /// - Throws: ``KafkaError`` when librdkafka did not queue it (``KafkaError/Code/queueFull``: try again after a poll).
    func produce(topic: OpaquePointer, partition: Int32, key: UnsafeRawPointer?, keyLength: Int,
                 value: UnsafeRawPointer?, valueLength: Int, headers: OpaquePointer?, opaque: UnsafeMutableRawPointer) throws(KafkaError) {
        // On the stack: no allocation per record.
        let error = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { values -> OpaquePointer? in
            values.initialize(repeating: rd_kafka_vu_t())
            values[0].vtype = RD_KAFKA_VTYPE_RKT
            values[0].u.rkt = topic
            values[1].vtype = RD_KAFKA_VTYPE_PARTITION
            values[1].u.i32 = partition
            values[2].vtype = RD_KAFKA_VTYPE_VALUE
            values[2].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: value), size: valueLength)
            values[3].vtype = RD_KAFKA_VTYPE_KEY
            values[3].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: key), size: keyLength)
            values[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS
            values[4].u.i = crdkafka_msg_f_copy()
            values[5].vtype = RD_KAFKA_VTYPE_OPAQUE
            values[5].u.ptr = opaque
            values[6].vtype = RD_KAFKA_VTYPE_HEADERS
            values[6].u.headers = headers
            return rd_kafka_produceva(handle, values.baseAddress, headers == nil ? 6 : 7)
        }
        if let error {
            throw KafkaError(taking: error, while: "could not queue a record for '\(String(cString: rd_kafka_topic_name(topic)))'")
        }
    }

    /// Serves delivery reports, waiting up to `timeoutMs` for one.
    func poll(timeoutMs: Int32) {
        rd_kafka_poll(handle, timeoutMs)
    }

    /// Waits up to `timeoutMs` for queued records to be delivered.
    /// - Returns: 0 when all were, else how many were still queued.
    func flush(timeoutMs: Int32) -> Int32 {
        let result = rd_kafka_flush(handle, timeoutMs)
        return result == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : rd_kafka_outq_len(handle)
    }

    // MARK: - Transactions (a producer with transactional.id)

    /// Registers the transactional id with the cluster, fencing an earlier producer with the same
    /// id and aborting the transaction it left open.
    func initTransactions(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_init_transactions(handle, timeoutMs) { throw KafkaError(taking: error, while: "initialising transactions") }
    }

    func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(handle) { throw KafkaError(taking: error, while: "beginning a transaction") }
    }

    /// Adds consumed `offsets` to the open transaction, for the group `groupMetadata` describes.
    func sendOffsetsToTransaction(_ offsets: RDKafkaTopicPartitionList, groupMetadata: OpaquePointer, timeoutMs: Int32) throws(KafkaError) {
        let error = offsets.withListPointer { rd_kafka_send_offsets_to_transaction(handle, $0, groupMetadata, timeoutMs) }
        if let error { throw KafkaError(taking: error, while: "sending offsets to the transaction") }
    }

    /// Flushes the transaction's records and commits it.
    func commitTransaction(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_commit_transaction(handle, timeoutMs) { throw KafkaError(taking: error, while: "committing the transaction") }
    }

    /// Aborts the open transaction: its queued records are purged, sent ones are marked aborted.
    func abortTransaction(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_abort_transaction(handle, timeoutMs) { throw KafkaError(taking: error, while: "aborting the transaction") }
    }

    /// Destroys the topic handles and the client (nothing may use them after).
    func close() {
        destroy()
    }

    private func destroy() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        topics.withLock { topics in
            topics.values.forEach { rd_kafka_topic_destroy($0) }
            topics.removeAll()
        }
        rd_kafka_destroy(handle)
    }
}
