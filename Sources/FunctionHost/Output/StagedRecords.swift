import CRdKafka
import FunctionABI

/// exactlyOnce: the records an invocation sends, held back until it returns. A successful
/// invocation's records go to the transaction; a failed one's are dropped, so a failed attempt
/// leaves nothing in the output topic and its retry sends them once. Their bytes are copied into
/// one reused buffer: no allocation per record once it has grown to an invocation's size.
final class StagedRecords {
    private struct Record {
        var key: Range<Int>?
        var value: Range<Int>?
        var headers: Range<Int>
        var partition: Int32
    }

    private struct Header {
        var name: Range<Int>
        var value: Range<Int>?
    }

    private var bytes: [UInt8] = []
    private var records: [Record] = []
    private var headers: [Header] = []

    var isEmpty: Bool { records.isEmpty }

    /// Copies `message`.
    func stage(_ message: sf_message) {
        let firstHeader = headers.count
        if message.header_count > 0, let raw = message.headers {
            for index in 0..<message.header_count {
                let header = raw[index]
                headers.append(Header(name: append(UnsafeRawPointer(header.name), header.name_length)!,
                                      value: append(header.value, header.value_length)))
            }
        }
        records.append(Record(key: append(message.key, message.key_length), value: append(message.value, message.value_length),
                              headers: firstHeader..<headers.count, partition: message.partition))
    }

    /// Queues every staged record on `producer` (to `topic`, tracked by `tracker`) and forgets them.
    /// - Returns: why librdkafka refused a record (the first; nil: all were queued).
    func release(to producer: KafkaProducer, topic: OpaquePointer, tracker: DeliveryTracker) -> String? {
        var refusal: String?
        bytes.withUnsafeBufferPointer { buffer in
            // A non-null pointer for an empty, non-null key or value.
            let base = UnsafeRawPointer(buffer.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
            for record in records {
                var list: OpaquePointer? = nil
                if !record.headers.isEmpty {
                    list = rd_kafka_headers_new(record.headers.count)
                    for header in headers[record.headers] {
                        rd_kafka_header_add(list, base.advanced(by: header.name.lowerBound).assumingMemoryBound(to: CChar.self), header.name.count,
                                            header.value.map { base.advanced(by: $0.lowerBound) }, header.value?.count ?? 0)
                    }
                }
                let refused = producer.send(topic: topic, partition: record.partition,
                                            key: record.key.map { base.advanced(by: $0.lowerBound) }, keyLength: record.key?.count ?? 0,
                                            value: record.value.map { base.advanced(by: $0.lowerBound) }, valueLength: record.value?.count ?? 0,
                                            headers: list, tracker: tracker, refusalIsFailure: false)
                refusal = refusal ?? refused
            }
        }
        discard()
        return refusal
    }

    /// Forgets every staged record (the invocation failed).
    func discard() {
        bytes.removeAll(keepingCapacity: true)
        records.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
    }

    /// Appends `count` bytes at `pointer`; nil for a null pointer.
    private func append(_ pointer: UnsafeRawPointer?, _ count: Int) -> Range<Int>? {
        guard let pointer else { return nil }
        let start = bytes.count
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
        return start..<bytes.count
    }
}
