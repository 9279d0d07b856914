import FunctionABI

/// Azure Functions' Kafka trigger event, as its extension hands it to non-.NET workers: the
/// `KafkaEventData` serialized by Json.NET.
///
/// ```json
/// {"Offset":364,"Partition":0,"Topic":"kafkaeventhubtest1","Timestamp":"2022-04-09T03:20:06.591Z",
///  "Value":"...","Key":"...","Headers":[{"Key":"test","Value":"ZG90bmV0"}]}
/// ```
/// - `Timestamp`: UTC, as Json.NET writes a `DateTime` (fraction without trailing zeros); a
///   record without a timestamp gets the Unix epoch, like Confluent's `Timestamp.Default`.
/// - `Value` and `Key`: the text for `dataType: string`; base64 (Json.NET's `byte[]`) for
///   `binary`; `null` when null.
/// - `Headers`: `Key` is the name; `Value` is base64 (`byte[]`), `null` for a null value.
/// - ONE: one object. MANY: an array of objects.
enum AzureEventFormat {
    static func write(_ records: UnsafeBufferPointer<sf_event_v1>, many: Bool, text: Bool, to json: JSONBuffer) {
        if many { json.byte(UInt8(ascii: "[")) }
        for (index, record) in records.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            writeRecord(record, text: text, to: json)
        }
        if many { json.byte(UInt8(ascii: "]")) }
    }

    private static func writeRecord(_ record: sf_event_v1, text: Bool, to json: JSONBuffer) {
        json.raw("{\"Offset\":")
        json.integer(record.offset)
        json.raw(",\"Partition\":")
        json.integer(record.partition)
        json.raw(",\"Topic\":")
        json.string(record.topicBytes)
        json.raw(",\"Timestamp\":")
        json.iso8601(milliseconds: record.timestamp_type == SF_TIMESTAMP_NOT_AVAILABLE ? 0 : record.timestamp)
        json.raw(",\"Value\":")
        writeData(record.valueBytes, text: text, to: json)
        json.raw(",\"Key\":")
        writeData(record.keyBytes, text: text, to: json)
        json.raw(",\"Headers\":[")
        for (index, header) in record.headerList.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.raw("{\"Key\":")
            json.string(header.nameBytes)
            json.raw(",\"Value\":")
            if let value = header.valueBytes { json.base64(value) } else { json.raw("null") }
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
    }

    private static func writeData(_ data: UnsafeRawBufferPointer?, text: Bool, to json: JSONBuffer) {
        guard let data else { return json.raw("null") }
        if text { json.string(data) } else { json.base64(data) }
    }
}
