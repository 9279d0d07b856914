import FunctionABI

/// AWS Lambda's event for a self-managed Apache Kafka event source, as AWS documents it:
///
/// ```json
/// {"eventSource":"SelfManagedKafka","bootstrapServers":"b-1:9092,b-2:9092",
///  "records":{"mytopic-0":[{"topic":"mytopic","partition":0,"offset":15,"timestamp":1545084650987,
///   "timestampType":"CREATE_TIME","key":"cmVjb3JkS2V5","value":"eyJrZXkiOiJ2YWx1ZSJ9",
///   "headers":[{"headerKey":[104,101,97,100,101,114,86,97,108,117,101]}]}]}}
/// ```
/// `eventSource` is `SelfManagedKafka`, not MSK's `aws:kafka`: the host consumes a cluster it
/// does not manage and has no `eventSourceArn` to give. Records are grouped under
/// `"TOPIC-PARTITION"` in the order their partitions first appear, in offset order within one.
/// `key` and `value` are base64 and left out when null; `timestampType` is Kafka's name
/// (`CREATE_TIME`, `LOG_APPEND_TIME`, `NO_TIMESTAMP_TYPE` with timestamp -1); each header is an
/// object of its name and its value as an array of byte values (`null` for a null value).
enum AWSEventFormat {
    static func write(_ records: UnsafeBufferPointer<sf_event_v1>, bootstrapServers: String, partitions: inout [Int32],
                      to json: JSONBuffer) {
        partitions.removeAll(keepingCapacity: true)
        for record in records where !partitions.contains(record.partition) { partitions.append(record.partition) }
        json.raw("{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":")
        json.string(bootstrapServers)
        json.raw(",\"records\":{")
        for (group, partition) in partitions.enumerated() {
            if group > 0 { json.byte(UInt8(ascii: ",")) }
            let first = records.first { $0.partition == partition }!
            json.byte(UInt8(ascii: "\""))
            json.raw(first.topicBytes)
            json.byte(UInt8(ascii: "-"))
            json.integer(partition)
            json.raw("\":[")
            var index = 0
            for record in records where record.partition == partition {
                if index > 0 { json.byte(UInt8(ascii: ",")) }
                writeRecord(record, to: json)
                index += 1
            }
            json.byte(UInt8(ascii: "]"))
        }
        json.raw("}}")
    }

    private static func writeRecord(_ record: sf_event_v1, to json: JSONBuffer) {
        json.raw("{\"topic\":")
        json.string(record.topicBytes)
        json.raw(",\"partition\":")
        json.integer(record.partition)
        json.raw(",\"offset\":")
        json.integer(record.offset)
        json.raw(",\"timestamp\":")
        json.integer(record.timestamp_type == SF_TIMESTAMP_NOT_AVAILABLE ? -1 : record.timestamp)
        json.raw(",\"timestampType\":")
        switch record.timestamp_type {
        case SF_TIMESTAMP_CREATE_TIME: json.raw("\"CREATE_TIME\"")
        case SF_TIMESTAMP_LOG_APPEND_TIME: json.raw("\"LOG_APPEND_TIME\"")
        default: json.raw("\"NO_TIMESTAMP_TYPE\"")
        }
        if let key = record.keyBytes {
            json.raw(",\"key\":")
            json.base64(key)
        }
        if let value = record.valueBytes {
            json.raw(",\"value\":")
            json.base64(value)
        }
        json.raw(",\"headers\":[")
        for (index, header) in record.headerList.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.byte(UInt8(ascii: "{"))
            json.string(header.nameBytes)
            json.byte(UInt8(ascii: ":"))
            if let value = header.valueBytes { json.byteArray(value) } else { json.raw("null") }
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
    }
}
