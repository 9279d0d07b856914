import FunctionABI

/// Turns a run of `sf_event_v1`s (what `EventBuffer` hands a function) into the one JSON document a
/// function with an `eventFormat` gets instead, as an `sf_event_v1` (an `sf_document`): its value
/// is the document, its key NULL, no headers, and topic, partition, offset and timestamp are the
/// first record's. The document's bytes and the event live in buffers owned by the builder and
/// reused for the next call: after the buffer has grown to the largest document, building
/// allocates nothing.
///
/// The cardinality decides how many records a document holds: ONE gives the first event alone
/// (Azure: one object), MANY every event (Azure: an array). How each platform is serialized is in
/// ``AzureEventFormat``, ``AWSEventFormat`` and ``TencentEventFormat``.
final class EventDocumentBuilder {
    let format: EventFormat
    let cardinality: Cardinality
    let dataType: DataType
    let bootstrapServers: String
    private let buffer = JSONBuffer()
    private let document: UnsafeMutablePointer<sf_event_v1>
    /// Scratch for grouping records by partition (AWS), kept across calls.
    private var partitions: [Int32] = []

    /// - Parameters:
    ///   - format: a platform shape (not `.native`, which needs no document).
    ///   - dataType: `string` writes Azure's Key and Value as text, `binary` as base64.
    ///   - bootstrapServers: the trigger's broker list (AWS's `bootstrapServers`).
    init(format: EventFormat, cardinality: Cardinality, dataType: DataType = .binary, bootstrapServers: String) {
        precondition(format != .native, "a native trigger hands over sf_events, not a document")
        self.format = format
        self.cardinality = cardinality
        self.dataType = dataType
        self.bootstrapServers = bootstrapServers
        document = .allocate(capacity: 1)
        document.initialize(to: sf_event_v1())
    }

    deinit { document.deallocate() }

    /// Serializes `events[0..<count]` (at least one) and returns the document event, valid until
    /// the next call. The events' topic pointer is reused as the document's: keep the events alive
    /// as long as the document is in use.
    func build(_ events: UnsafePointer<sf_event_v1>, count: Int) -> UnsafePointer<sf_event_v1> {
        precondition(count > 0, "a document holds at least one record")
        let records = UnsafeBufferPointer(start: events, count: cardinality == .one ? 1 : count)
        buffer.reset()
        switch format {
        case .azure: AzureEventFormat.write(records, many: cardinality == .many, text: dataType == .string, to: buffer)
        case .aws: AWSEventFormat.write(records, bootstrapServers: bootstrapServers, partitions: &partitions, to: buffer)
        case .tencent: TencentEventFormat.write(records, to: buffer)
        case .native: break
        }
        let first = events.pointee
        document.pointee = sf_event_v1(
            topic: first.topic, topic_length: first.topic_length, partition: first.partition,
            timestamp_type: first.timestamp_type, offset: first.offset, timestamp: first.timestamp,
            key: nil, key_length: 0, value: UnsafePointer(buffer.bytes), value_length: buffer.count,
            headers: nil, header_count: 0)
        return UnsafePointer(document)
    }
}

extension sf_event_v1 {
    var topicBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: topic, count: topic_length) }
    var keyBytes: UnsafeRawBufferPointer? { key.map { UnsafeRawBufferPointer(start: $0, count: key_length) } }
    var valueBytes: UnsafeRawBufferPointer? { value.map { UnsafeRawBufferPointer(start: $0, count: value_length) } }
    var headerList: UnsafeBufferPointer<sf_header> { UnsafeBufferPointer(start: headers, count: headers == nil ? 0 : header_count) }
}

extension sf_header {
    var nameBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: name, count: name_length) }
    var valueBytes: UnsafeRawBufferPointer? { value.map { UnsafeRawBufferPointer(start: $0, count: value_length) } }
}
