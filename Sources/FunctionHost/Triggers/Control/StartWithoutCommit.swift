import CRdKafka

/// Where a partition that the function's consumer group has no committed offset for starts: the
/// trigger's `startFrom`, else host.json's `autoOffsetReset`. This is the one place that decides
/// it. The consumer's `auto.offset.reset`, the committer's first commit of such a partition, the
/// placement of newly assigned partitions by time (``TriggerListener/placeWithoutCommit(_:)``)
/// and the rewind after an aborted transaction all ask it.
struct StartWithoutCommit: Equatable {
    let position: StartFrom

    init(_ position: StartFrom) {
        self.position = position
    }

    init(trigger: KafkaTriggerBinding, options: KafkaOptions) {
        self.init(trigger.startFrom ?? (options.autoOffsetReset == "latest" ? .latest : .earliest))
    }

    /// The consumer's `auto.offset.reset`: where librdkafka starts a partition it has no offset
    /// for. With a time it is `earliest`. A partition the time lookup answered for is assigned at
    /// that offset, and the others are read from their start, skipping records before the time.
    var autoOffsetReset: String { position == .latest ? "latest" : "earliest" }

    /// The time records must be at or after, with `startFrom` set to a time; nil otherwise.
    var timestamp: Int64? {
        if case .timestamp(let milliseconds) = position { return milliseconds }
        return nil
    }

    /// How a partition without a committed offset starts.
    enum Placement: Equatable {
        /// At this offset (a logical one, `RD_KAFKA_OFFSET_BEGINNING` or `_END`, or a real one).
        case at(Int64)
        /// From its beginning, every record before `milliseconds` settled without a call
        /// (counted) up to the first one at or after it.
        case fromBeginningSkippingBefore(milliseconds: Int64)

        /// The offset to assign the partition at.
        var offset: Int64 {
            switch self {
            case .at(let offset): return offset
            case .fromBeginningSkippingBefore: return Int64(RD_KAFKA_OFFSET_BEGINNING)
            }
        }
    }

    /// Where a partition without a committed offset starts, given the cluster's answer to the
    /// lookup by time (`rd_kafka_offsets_for_times`) when `startFrom` is a time. A real offset
    /// is used as it is. Offset -1 ("no record at or after that time" on Kafka; every answer of
    /// librdkafka's mock cluster), an error or no answer: from the beginning, skipping up to the
    /// time. On Kafka that reads more than it needs to, and delivers the same records.
    func placement(answer: (offset: Int64, error: rd_kafka_resp_err_t)?) -> Placement {
        switch position {
        case .earliest: return .at(Int64(RD_KAFKA_OFFSET_BEGINNING))
        case .latest: return .at(Int64(RD_KAFKA_OFFSET_END))
        case .timestamp(let milliseconds):
            if let answer, answer.error == RD_KAFKA_RESP_ERR_NO_ERROR, answer.offset >= 0 { return .at(answer.offset) }
            return .fromBeginningSkippingBefore(milliseconds: milliseconds)
        }
    }

    /// True when a partition placed at `offset` starts at its end (its high watermark), false
    /// at its beginning; a real offset (>= 0) is neither, and is used as it is.
    func startsAtEnd(_ offset: Int64) -> Bool {
        switch offset {
        case Int64(RD_KAFKA_OFFSET_END): return true
        case Int64(RD_KAFKA_OFFSET_BEGINNING): return false
        default: return position == .latest
        }
    }
}
