import CRdKafka
import Glibc

/// An `rd_kafka_topic_partition_list_t` of one topic that frees itself (and the commit metadata
/// it carries): callers lend its pointer to librdkafka through ``withListPointer(_:)``. A
/// rebalance's list, which librdkafka owns, is only borrowed (``init(borrowing:)``).
final class RDKafkaTopicPartitionList {
    struct Element {
        var partition: Int32
        var offset: Int64
        var metadata: String?
        var error: rd_kafka_resp_err_t
    }

    private let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    /// False for a list librdkafka owns (not freed here).
    private let owned: Bool
    let topic: String

    /// A list of `topic`'s `entries` (offset -1001, "invalid", for lists that only name partitions).
    init(topic: String, _ entries: [(partition: Int32, offset: Int64)] = [], metadata: (Int32) -> String? = { _ in nil }) {
        self.topic = topic
        owned = true
        list = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))!
        for entry in entries {
            let element = rd_kafka_topic_partition_list_add(list, topic, entry.partition)!
            element.pointee.offset = entry.offset
            if let text = metadata(entry.partition) {
                // librdkafka frees the metadata with the list: it must come from malloc.
                let bytes = Array(text.utf8)
                let copy = malloc(max(bytes.count, 1))!
                bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                element.pointee.metadata = copy
                element.pointee.metadata_size = bytes.count
            }
        }
    }

    /// A list librdkafka owns (a rebalance's), valid while the callback that gave it runs.
    init(borrowing list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.list = list
        owned = false
        topic = list.pointee.cnt > 0 ? String(cString: list.pointee.elems[0].topic) : ""
    }

    deinit {
        if owned { rd_kafka_topic_partition_list_destroy(list) }
    }

    var isEmpty: Bool { list.pointee.cnt == 0 }

    /// The elements as librdkafka left them (after a `committed` call: the group's offsets).
    var elements: [Element] {
        guard let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = elements[index]
            var metadata: String?
            if let pointer = element.metadata, element.metadata_size > 0 {
                metadata = String(decoding: UnsafeRawBufferPointer(start: pointer, count: element.metadata_size), as: UTF8.self)
            }
            return Element(partition: element.partition, offset: element.offset, metadata: metadata, error: element.err)
        }
    }

    func withListPointer<R>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> R) rethrows -> R {
        try body(list)
    }

    /// The partition numbers, in order.
    var partitions: [Int32] {
        guard let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { elements[$0].partition }.sorted()
    }

    /// The offset of `partition` in the list; nil when the list does not hold it.
    func offset(of partition: Int32) -> Int64? {
        guard let elements = list.pointee.elems else { return nil }
        for index in 0..<Int(list.pointee.cnt) where elements[index].partition == partition { return elements[index].offset }
        return nil
    }

    /// Sets the offset of `partition` (a rebalance's assignment: where it starts).
    func setOffset(_ offset: Int64, of partition: Int32) {
        guard let elements = list.pointee.elems else { return }
        for index in 0..<Int(list.pointee.cnt) where elements[index].partition == partition { elements[index].offset = offset }
    }
}
