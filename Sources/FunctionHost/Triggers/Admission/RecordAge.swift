import CRdKafka
import Glibc

/// The trigger's `maxRecordAge`: a record's age is the wall clock now minus its Kafka timestamp
/// (create or log-append time, whichever the topic keeps). A record without a timestamp is
/// never too old.
enum RecordAge {
    static func nowMs() -> Int64 { wallClockMilliseconds() }

    @inline(__always)
    static func isOlder(_ message: UnsafeMutablePointer<rd_kafka_message_t>, thanMs limit: Int64) -> Bool {
        let timestamp = rd_kafka_message_timestamp(message, nil)
        return timestamp >= 0 && nowMs() - timestamp > limit
    }
}
