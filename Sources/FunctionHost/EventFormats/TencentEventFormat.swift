import FunctionABI

/// Tencent Cloud SCF's CKafka trigger event, as Tencent documents it:
///
/// ```json
/// {"Records":[{"Ckafka":{"topic":"test-topic","partition":1,"offset":36,"msgKey":"None",
///   "msgBody":"Hello from Ckafka!"}}]}
/// ```
/// `msgKey` and `msgBody` are text (bytes that are not UTF-8 become U+FFFD). A null key is
/// `"None"`, as in Tencent's example of a record sent without a key; a null value is `""`.
/// Headers and timestamps are not part of the shape.
enum TencentEventFormat {
    static func write(_ records: UnsafeBufferPointer<sf_event_v1>, to json: JSONBuffer) {
        json.raw("{\"Records\":[")
        for (index, record) in records.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.raw("{\"Ckafka\":{\"topic\":")
            json.string(record.topicBytes)
            json.raw(",\"partition\":")
            json.integer(record.partition)
            json.raw(",\"offset\":")
            json.integer(record.offset)
            json.raw(",\"msgKey\":")
            if let key = record.keyBytes { json.string(key) } else { json.string("None" as StaticString) }
            json.raw(",\"msgBody\":")
            if let value = record.valueBytes { json.string(value) } else { json.string("" as StaticString) }
            json.raw("}}")
        }
        json.raw("]}")
    }
}
