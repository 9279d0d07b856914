import CRdKafka
import Synchronization

/// A librdkafka consumer (`rd_kafka_t*`) and its consumer queue, owned: created here, and
/// destroyed by ``close()`` (or `deinit`). Each operation the host uses is one method; librdkafka's
/// error codes become ``KafkaError``.
///
/// The consuming thread calls everything. The methods marked "any thread" (``wake()``,
/// ``probeMetadata(timeoutMs:)``, ``whileOpen(_:)``) may run on other threads too: they hold a lock
/// that ``close()`` takes before the handle goes, so after it they do nothing.
final class RDKafkaConsumer: @unchecked Sendable {
    /// librdkafka's callbacks, served on the thread that fetches (during ``fetch(into:capacity:timeoutMs:)``,
    /// a commit or ``close()``), each given `opaque`.
    struct Callbacks {
        var rebalance: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void
        var error: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void
        var offsetCommit: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void
    }

    private let handle: OpaquePointer
    private let queue: OpaquePointer
    /// True while the handle may be used from other threads; false from the start of ``close()``.
    private let open = Mutex<Bool>(true)
    private var destroyed = false
    /// librdkafka below 2.2: wakes a stalled fetcher before a fetch waits (nil from 2.2 on).
    let fetcherWakeup: FetcherWakeup? = FetcherWakeup.isNeeded() ? FetcherWakeup() : nil

    /// Creates the consumer and redirects its events to the consumer queue.
    /// - Parameters:
    ///   - properties: librdkafka properties, applied in order.
    ///   - origin: where the properties came from, for the error message.
    ///   - opaque: handed to every callback (not retained).
    /// - Throws: ``KafkaError`` when librdkafka refuses a property or the client.
    init(properties: [(String, String)], origin: String, opaque: UnsafeMutableRawPointer, callbacks: Callbacks) throws {
        let configuration = try KafkaClient.makeConfiguration(properties, origin: origin)
        rd_kafka_conf_set_opaque(configuration, opaque)
        rd_kafka_conf_set_rebalance_cb(configuration, callbacks.rebalance)
        rd_kafka_conf_set_error_cb(configuration, callbacks.error)
        rd_kafka_conf_set_offset_commit_cb(configuration, callbacks.offsetCommit)
        handle = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: configuration)
        rd_kafka_poll_set_consumer(handle)
        queue = rd_kafka_queue_get_consumer(handle)
    }

    deinit {
        // Never closed (the listener was never run): leave without the close's callbacks, whose
        // opaque may be gone by now.
        destroy(flags: RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
    }

    /// False once ``close()`` has started.
    var isOpen: Bool { open.withLock { $0 } }

    // MARK: - Group membership

    /// - Throws: ``KafkaError`` when librdkafka refuses the subscription.
    func subscribe(_ topic: String) throws(KafkaError) {
        let topics = RDKafkaTopicPartitionList(topic: topic, [(crdkafka_partition_unassigned(), crdkafka_offset_invalid())])
        let result = topics.withListPointer { rd_kafka_subscribe(handle, $0) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result, while: "subscribing to '\(topic)'") }
    }

    /// "COOPERATIVE" or "EAGER" (or "NONE" before the group is joined).
    var rebalanceProtocol: String { String(cString: rd_kafka_rebalance_protocol(handle)) }

    /// In a revocation: the partitions were lost (the member was fenced or its session expired),
    /// not handed over: a commit for them cannot succeed.
    var assignmentLost: Bool { rd_kafka_assignment_lost(handle) != 0 }

    /// Assigns `partitions` (eager protocol: the whole assignment).
    func assign(_ partitions: RDKafkaTopicPartitionList) {
        _ = partitions.withListPointer { rd_kafka_assign(handle, $0) }
    }

    /// Drops the whole assignment (eager protocol).
    func unassign() {
        _ = rd_kafka_assign(handle, nil)
    }

    /// Adds `partitions` to the assignment (cooperative protocol).
    func incrementalAssign(_ partitions: RDKafkaTopicPartitionList) {
        if let error = partitions.withListPointer({ rd_kafka_incremental_assign(handle, $0) }) { rd_kafka_error_destroy(error) }
    }

    /// Removes `partitions` from the assignment (cooperative protocol).
    func incrementalUnassign(_ partitions: RDKafkaTopicPartitionList) {
        if let error = partitions.withListPointer({ rd_kafka_incremental_unassign(handle, $0) }) { rd_kafka_error_destroy(error) }
    }

    // MARK: - Fetching

    /// Takes what is already fetched without waiting; waits (up to `timeoutMs`) only when
    /// nothing is there, and then only for the first message. The messages written to `buffer`
    /// are the caller's to destroy (``RDKafkaFetchBuffer`` is the one caller).
    /// - Returns: how many messages were written.
    func fetch(into buffer: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>, capacity: Int, timeoutMs: Int32) -> Int {
        var count = rd_kafka_consume_batch_queue(queue, 0, buffer, capacity)
        if count > 0 { fetcherWakeup?.afterTaking(handle) }
        if count == 0 && timeoutMs > 0 {
            let wait = fetcherWakeup?.beforeWaiting(handle, timeoutMs: timeoutMs) ?? timeoutMs
            count = rd_kafka_consume_batch_queue(queue, wait, buffer, 1)
            if count == 1 && capacity > 1 {
                count += max(0, rd_kafka_consume_batch_queue(queue, 0, buffer + 1, capacity - 1))
            }
        }
        return max(0, count)
    }

    /// Any thread: wakes a fetch waiting for messages (no-op once closed).
    func wake() {
        open.withLock { open in
            if open { rd_kafka_queue_yield(queue) }
        }
    }

    // MARK: - Positions

    func pause(_ partitions: RDKafkaTopicPartitionList) {
        _ = partitions.withListPointer { rd_kafka_pause_partitions(handle, $0) }
    }

    func resume(_ partitions: RDKafkaTopicPartitionList) {
        _ = partitions.withListPointer { rd_kafka_resume_partitions(handle, $0) }
    }

    /// Moves each partition of `partitions` to its offset in the list.
    /// - Throws: ``KafkaError`` when librdkafka could not seek.
    func seek(_ partitions: RDKafkaTopicPartitionList, timeoutMs: Int32) throws(KafkaError) {
        if let error = partitions.withListPointer({ rd_kafka_seek_partitions(handle, $0, timeoutMs) }) {
            throw KafkaError(taking: error, while: "seeking")
        }
    }

    // MARK: - Offsets

    /// Commits the offsets of `offsets` (with their metadata); `async`: the answer comes through
    /// the offset-commit callback.
    /// - Throws: ``KafkaError`` when the commit was refused (for a synchronous one: failed).
    func commit(_ offsets: RDKafkaTopicPartitionList, async: Bool) throws(KafkaError) {
        let result = offsets.withListPointer { rd_kafka_commit(handle, $0, async ? 1 : 0) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result, while: "committing offsets") }
    }

    /// Runs `body` with the consumer's group metadata (`rd_kafka_consumer_group_metadata_t*`:
    /// group, generation, member), which a transaction's offsets are sent with (KIP-447).
    func withGroupMetadata<R>(_ body: (OpaquePointer) throws(KafkaError) -> R) throws(KafkaError) -> R {
        guard let metadata = rd_kafka_consumer_group_metadata(handle) else {
            throw KafkaError("the consumer has no group metadata (it is not a group member)")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        return try body(metadata)
    }

    /// The member id and generation the group coordinator last gave this consumer (under the
    /// consumer protocol the member epoch, which librdkafka keeps in the same field); nil before
    /// it first joined. librdkafka has no accessor for the generation: it is read from the group
    /// metadata's serialized form, "CGMDv2:" then the generation as a native int32 (the same in
    /// 2.0.2 and 2.14.2, `rd_kafka_consumer_group_metadata_write`).
    func groupMember() -> (memberID: String, generation: Int32)? {
        guard let metadata = rd_kafka_consumer_group_metadata(handle) else { return nil }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        var buffer: UnsafeMutableRawPointer?
        var size = 0
        if let error = rd_kafka_consumer_group_metadata_write(metadata, &buffer, &size) {
            rd_kafka_error_destroy(error)
            return nil
        }
        guard let buffer else { return nil }
        defer { rd_kafka_mem_free(handle, buffer) }
        let magic = Array("CGMDv2:".utf8)
        guard size >= magic.count + 4,
              Array(UnsafeRawBufferPointer(start: buffer, count: magic.count)) == magic else { return nil }
        let generation = buffer.loadUnaligned(fromByteOffset: magic.count, as: Int32.self)
        guard let member = rd_kafka_memberid(handle) else { return nil }
        defer { rd_kafka_mem_free(handle, member) }
        // Before the first join librdkafka says generation -1 and an empty member id: not a member yet.
        guard generation >= 0, member.pointee != 0 else { return nil }
        return (String(cString: member), generation)
    }

    /// Fills `partitions` with the group's committed offsets (and their metadata).
    /// - Throws: ``KafkaError`` when the group did not answer within `timeoutMs`.
    func committed(_ partitions: RDKafkaTopicPartitionList, timeoutMs: Int32) throws(KafkaError) {
        let result = partitions.withListPointer { rd_kafka_committed(handle, $0, timeoutMs) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result, while: "reading committed offsets") }
    }

    /// Looks up, for each partition of `partitions` (its offset field holding a time in
    /// milliseconds since the epoch), the earliest offset whose record's timestamp is at or after
    /// that time, and writes it into the offset field (-1: no such record; a partition's own
    /// error in its element).
    /// - Throws: ``KafkaError`` when the cluster did not answer within `timeoutMs`.
    func offsetsForTimes(_ partitions: RDKafkaTopicPartitionList, timeoutMs: Int32) throws(KafkaError) {
        let result = partitions.withListPointer { rd_kafka_offsets_for_times(handle, $0, timeoutMs) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result, while: "looking up offsets by time") }
    }

    /// The low and high watermarks librdkafka last saw for `partition` (no request); nil when
    /// it knows none.
    func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1, high: Int64 = -1
        guard rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return (low, high)
    }

    /// The low and high watermarks of `partition`, asked of the cluster.
    /// - Throws: ``KafkaError`` when it did not answer within `timeoutMs`.
    func queryWatermarks(topic: String, partition: Int32, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = -1, high: Int64 = -1
        let result = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMs)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result, while: "querying the watermarks of partition \(partition) of '\(topic)'") }
        return (low, high)
    }

    // MARK: - The cluster

    /// The cluster's id; nil when it was not known within `timeoutMs`.
    func clusterID(timeoutMs: Int32) -> String? {
        guard let id = rd_kafka_clusterid(handle, timeoutMs) else { return nil }
        defer { rd_kafka_mem_free(handle, id) }
        return String(cString: id)
    }

    /// Any thread: asks the cluster for metadata; true when a broker answered within
    /// `timeoutMs` (false once closed).
    func probeMetadata(timeoutMs: Int32) -> Bool {
        open.withLock { open in
            guard open else { return false }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let result = rd_kafka_metadata(handle, 0, nil, &metadata, timeoutMs)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return result == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Any thread: runs `body` (which may use this consumer) while the consumer is open, holding
    /// off ``close()`` meanwhile; nil once closed.
    func whileOpen<R>(_ body: () -> R) -> R? {
        open.withLock { open in open ? body() : nil }
    }

    // MARK: - Closing

    /// Makes the consumer unusable from other threads, leaves the group (the revocation's
    /// rebalance callback runs on this thread meanwhile) and frees the handle and its queue.
    /// - Throws: ``KafkaError`` when leaving the group failed (the handle is freed anyway).
    func close() throws(KafkaError) {
        guard !destroyed else { return }
        open.withLock { $0 = false }
        let closed = rd_kafka_consumer_close(handle)
        destroy(flags: 0)
        if closed != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(closed, while: "leaving the consumer group") }
    }

    private func destroy(flags: Int32) {
        guard !destroyed else { return }
        destroyed = true
        open.withLock { $0 = false }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy_flags(handle, flags)
    }
}
