import CRdKafka
import Logging

/// The trigger's `startFrom` (``StartWithoutCommit``): where partitions the group has no committed
/// offset for start. With a time the cluster names no offset for, the partition starts from its
/// beginning and ``Admission`` skips the records before the time.
struct StartPlacement {
    let consumer: RDKafkaConsumer
    let startWithoutCommit: StartWithoutCommit
    let function: FunctionConfiguration
    let logger: Logger

    private var topic: String { function.trigger.topic }

    /// At an assignment, before librdkafka is given `assignment`. With `startFrom` a time, the
    /// group's committed offsets are read (bounded), and each partition without one is placed
    /// where the time is (``placeWithoutCommit(_:admission:)``). A partition with a committed offset
    /// keeps it. With earliest or latest nothing is done here: the consumer's
    /// `auto.offset.reset` is already the trigger's.
    func placeByTime(_ assignment: RDKafkaTopicPartitionList, admission: Admission) {
        let numbers = assignment.partitions
        admission.stopSkipping(numbers)
        guard startWithoutCommit.timestamp != nil, !numbers.isEmpty else { return }
        let committed = RDKafkaTopicPartitionList(topic: topic, numbers.map { ($0, crdkafka_offset_invalid()) })
        do {
            try consumer.committed(committed, timeoutMs: 10_000)
        } catch {
            // Which partitions have a committed offset is not known: skipping records past one
            // would lose them, so none are skipped (those without one start at their beginning).
            logger.warning("'\(function.name)': reading the committed offsets of \(topic) failed (\(error.reason)); startFrom is not applied to partitions \(numbers) this time: they start at their committed offsets, or from their beginning where there is none")
            return
        }
        let uncommitted = committed.elements.filter { $0.offset < 0 }.map(\.partition)
        for (partition, offset) in placeWithoutCommit(uncommitted, admission: admission) { assignment.setOffset(offset, of: partition) }
    }

    /// Where each of `partitions` starts; the group has no committed offset for any of them. The
    /// answer comes from ``StartWithoutCommit``. With a time, the cluster is asked which offset it
    /// is at (`rd_kafka_offsets_for_times`, bounded). A partition it names no offset for (-1,
    /// which is every answer of librdkafka's mock cluster), or that failed, starts from its
    /// beginning and skips the records before the time (told to `admission`).
    func placeWithoutCommit(_ partitions: [Int32], admission: Admission) -> [(partition: Int32, offset: Int64)] {
        guard !partitions.isEmpty else { return [] }
        var answers: [Int32: (offset: Int64, error: rd_kafka_resp_err_t)] = [:]
        if let time = startWithoutCommit.timestamp {
            let lookup = RDKafkaTopicPartitionList(topic: topic, partitions.map { ($0, time) })
            do {
                try consumer.offsetsForTimes(lookup, timeoutMs: 10_000)
                for element in lookup.elements { answers[element.partition] = (element.offset, element.error) }
            } catch {
                logger.warning("'\(function.name)': looking up the offsets of \(topic) at its startFrom time \(startWithoutCommit.position) failed (\(error.reason)); partitions \(partitions) start from their beginning, skipping the records before that time")
            }
        }
        return partitions.map { partition in
            let placement = startWithoutCommit.placement(answer: answers[partition])
            switch placement {
            case .fromBeginningSkippingBefore(let milliseconds):
                admission.skip(partition, before: milliseconds)
                logger.info("'\(function.name)': partition \(partition) of \(topic) has no committed offset and the cluster named no offset at \(startWithoutCommit.position): it starts from its beginning, skipping records before that time", metadata: InvocationLogFields.place(topic: topic, partition: partition))
            case .at(let offset) where startWithoutCommit.timestamp != nil:
                logger.info("'\(function.name)': partition \(partition) of \(topic) has no committed offset: it starts at offset \(offset), the first at or after \(startWithoutCommit.position)", metadata: InvocationLogFields.place(topic: topic, partition: partition, offset: offset))
            case .at:
                break
            }
            return (partition, placement.offset)
        }
    }
}
