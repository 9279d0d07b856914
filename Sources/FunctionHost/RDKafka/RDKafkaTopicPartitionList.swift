import CRdKafka
import Glibc

/// An `rd_kafka_topic_partition_list_t` of one topic that frees itself (and the commit metadata
/// it carries): callers lend its pointer to librdkafka through ``withListPointer(_:)``.
final class RDKafkaTopicPartitionList {
    struct Element {
        var partition: Int32
        var offset: Int64
        var metadata: String?
        var error: rd_kafka_resp_err_t
    }

    private let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    let topic: String

    /// A list of `topic`'s `entries` (offset -1001, "invalid", for lists that only name partitions).
    init(topic: String, _ entries: [(partition: Int32, offset: Int64)] = [], metadata: (Int32) -> String? = { _ in nil }) {
        self.topic = topic
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

    deinit {
        rd_kafka_topic_partition_list_destroy(list)
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

    /// Partition numbers of a list librdkafka owns (a rebalance's), in order.
    static func partitions(of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [Int32] {
        guard let list, let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { elements[$0].partition }.sorted()
    }

    /// Sets the start offset of `partition` in a list librdkafka owns (a rebalance's assignment).
    static func setOffset(_ offset: Int64, of partition: Int32, in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        guard let elements = list.pointee.elems else { return }
        for index in 0..<Int(list.pointee.cnt) where elements[index].partition == partition { elements[index].offset = offset }
    }
}
