import CRdKafka

/// Consumer lag for the metrics endpoint (any thread).
enum ConsumerLag {
    /// Per assigned partition: the high watermark minus the next offset to store (before anything
    /// was stored: the committed offset, else the low watermark). While any partition is held
    /// (for a retry, the registry, full lanes, the operator) the high watermark is the broker's,
    /// asked for every partition in one request (`ListOffsets` for the latest offset): librdkafka's
    /// cached one stops moving while a partition is paused, which is exactly when the lag
    /// matters; the cached one answers otherwise, and when the broker does not (within 1 s). A
    /// partition with neither is left out.
    static func read(_ listener: TriggerListener) -> [(partition: Int32, lag: Int64)] {
        let partitions = listener.operations.assignedPartitions
        let stored = listener.operations.storedOffsets
        let topic = listener.function.trigger.topic
        guard let consumer = listener.consumer else { return [] }
        return consumer.whileOpen { () -> [(partition: Int32, lag: Int64)] in
            var marks: [Int32: (low: Int64, high: Int64)] = [:]
            for partition in partitions {
                if let known = consumer.cachedWatermarks(topic: topic, partition: partition), known.high >= 0 {
                    marks[partition] = known
                }
            }
            // Only while some partition is held: a flowing one's cached mark moves with its fetches
            // (and a scrape while the cluster is down then waits for nothing).
            let latest = RDKafkaTopicPartitionList(topic: topic, partitions.map { ($0, Int64(RD_KAFKA_OFFSET_END)) })
            if !partitions.isEmpty, listener.operations.pausedPartitionCount > 0,
               (try? consumer.offsetsForTimes(latest, timeoutMs: 1_000)) != nil {
                for element in latest.elements where element.error == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0 {
                    let cached = marks[element.partition]
                    marks[element.partition] = (cached?.low ?? -1, max(cached?.high ?? -1, element.offset))
                }
            }
            var next = stored.filter { marks[$0.key] != nil }
            let unknown = marks.keys.filter { next[$0] == nil }
            if !unknown.isEmpty {
                let list = RDKafkaTopicPartitionList(topic: topic, unknown.map { ($0, crdkafka_offset_invalid()) })
                if (try? consumer.committed(list, timeoutMs: 1_000)) != nil {
                    for element in list.elements where element.offset >= 0 { next[element.partition] = element.offset }
                }
                for partition in unknown where next[partition] == nil {
                    if let low = marks[partition]?.low, low >= 0 { next[partition] = low }
                }
            }
            return marks.keys.sorted().compactMap { partition in
                next[partition].map { (partition, max(0, marks[partition]!.high - $0)) }
            }
        } ?? []
    }
}
