import CRdKafka
import Logging

/// Why a partition does not flow. A partition flows when its set is empty.
struct HoldReasons: OptionSet, Hashable, Sendable {
    let rawValue: UInt8

    /// Failed messages wait for their next attempt or their dead letter (ordering partition),
    /// or a record's delivery failed: the partition continues past them once they are settled.
    static let retry = HoldReasons(rawValue: 1 << 0)
    /// The schema registry could not be asked about a message: the partition continues at that
    /// message once it answers.
    static let schemaRegistry = HoldReasons(rawValue: 1 << 1)
    /// The lanes are full (ordering key or unordered): every partition waits for room and
    /// continues at its first message not handed to a lane.
    static let backpressure = HoldReasons(rawValue: 1 << 2)
    /// The unacknowledged outputs are at their bound: every partition waits for room (the
    /// fetched messages are carried over, nothing is fetched again).
    static let outputs = HoldReasons(rawValue: 1 << 3)
    /// The operator paused the function (`/admin/functions/NAME/pause`).
    static let operatorPause = HoldReasons(rawValue: 1 << 4)

    /// Reasons after which the partition is fetched again from a position: the messages of it
    /// that were fetched meanwhile are not handled (they come again).
    static let refetching: HoldReasons = [.retry, .schemaRegistry, .backpressure]
    func intersects(_ other: HoldReasons) -> Bool { !isDisjoint(with: other) }
}

/// What partition control asks of the consumer: where partitions are and whether they fetch.
/// ``RDKafkaConsumer`` is the real one; the stage's tests record the calls.
protocol PartitionPositioning: AnyObject {
    func pause(_ partitions: RDKafkaTopicPartitionList)
    func resume(_ partitions: RDKafkaTopicPartitionList)
    func seek(_ partitions: RDKafkaTopicPartitionList, timeoutMs: Int32) throws(KafkaError)
    func assign(_ partitions: RDKafkaTopicPartitionList)
    func unassign()
    func incrementalAssign(_ partitions: RDKafkaTopicPartitionList)
    func incrementalUnassign(_ partitions: RDKafkaTopicPartitionList)
}

extension RDKafkaConsumer: PartitionPositioning {}

/// The one owner of pausing, resuming and seeking a trigger's partitions (and of assigning them
/// to the consumer): every reason a partition is held is a reason in its set; it flows when the
/// set is empty, and where it continues from is decided here, once, when it flows again.
/// Nothing else calls `consumer.pause`, `resume` or `seek`.
///
/// Consuming thread only (the rebalance callback runs there too).
final class PartitionControl {
    private let consumer: any PartitionPositioning
    private let topic: String
    private let logger: Logger
    /// Partitions this member owns right now. A fetch can hold messages taken from the queue
    /// before a revocation was served in the same call; those are dropped (their new owner
    /// starts from the committed offset), never processed by a member that gave them up.
    private(set) var assigned = PartitionSet()
    /// Per partition (by number), why it is held.
    private var reasons: [HoldReasons] = []
    /// Reasons that hold every partition right now.
    private(set) var heldEverywhere: HoldReasons = []
    /// Partitions whose fetched messages are not handled: they are fetched again later.
    private var refetched = PartitionSet()
    /// Per partition, where it continues once it flows again (nil: where librdkafka is).
    private var continuation: [Int32: Int64] = [:]

    init(consumer: any PartitionPositioning, topic: String, logger: Logger) {
        self.consumer = consumer
        self.topic = topic
        self.logger = logger
    }

    // MARK: - Questions (per message: cheap)

    /// Whether a fetched message of `partition` is handled now: the partition is assigned and
    /// not waiting to be fetched again from an earlier position.
    @inline(__always)
    func handles(_ partition: Int32) -> Bool {
        assigned.contains(partition) && !refetched.contains(partition)
    }

    func isHeld(_ partition: Int32, for reason: HoldReasons) -> Bool {
        reasonsOf(partition).contains(reason) || heldEverywhere.contains(reason)
    }

    func isHeld(_ partition: Int32) -> Bool {
        !reasonsOf(partition).isEmpty || !heldEverywhere.isEmpty
    }

    /// Assigned partitions that do not flow, for the health report.
    var heldCount: Int {
        heldEverywhere.isEmpty ? assigned.reduce(0) { $0 + (reasonsOf($1).isEmpty ? 0 : 1) } : assigned.count
    }

    /// Where `partition` continues once it flows again, when that is decided.
    func continuation(of partition: Int32) -> Int64? { continuation[partition] }

    // MARK: - Holding and releasing

    /// Holds `partition` for `reason` (paused at once when it flowed).
    func hold(_ partition: Int32, _ reason: HoldReasons) {
        guard assigned.contains(partition) else { return }
        let wasFlowing = !isHeld(partition)
        setReasons(partition, reasonsOf(partition).union(reason))
        if wasFlowing { consumer.pause(list([partition])) }
    }

    /// Holds every assigned partition (and any assigned later) for `reason`.
    func holdEverywhere(_ reason: HoldReasons) {
        guard !heldEverywhere.contains(reason) else { return }
        let flowing = assigned.filter { !isHeld($0) }
        heldEverywhere.formUnion(reason)
        if reason.intersects(HoldReasons.refetching) { refetched.formUnion(assigned) }
        if !flowing.isEmpty { consumer.pause(list(flowing)) }
    }

    /// `partition` continues at `offset` at the latest: the first message not handled (later
    /// messages of it fetched meanwhile are fetched again). An earlier continuation stays.
    func continueAt(_ partition: Int32, _ offset: Int64) {
        guard assigned.contains(partition) else { return }
        if let known = continuation[partition], known <= offset { return }
        continuation[partition] = offset
    }

    /// Everything of `partition` before `offset` was handled: it continues there at the earliest.
    func handled(_ partition: Int32, upTo offset: Int64) {
        guard assigned.contains(partition) else { return }
        continuation[partition] = max(continuation[partition] ?? offset, offset)
    }

    /// `partition` is no longer held for `reason`; when nothing else holds it, it flows again
    /// from its continuation.
    func release(_ partition: Int32, _ reason: HoldReasons) {
        guard assigned.contains(partition) else { return }
        setReasons(partition, reasonsOf(partition).subtracting(reason))
        if !isHeld(partition) { flow([partition]) }
    }

    /// Every partition held for `reason` alone (or with nothing else) flows again.
    func releaseEverywhere(_ reason: HoldReasons) {
        heldEverywhere.subtract(reason)
        for partition in assigned { setReasons(partition, reasonsOf(partition).subtracting(reason)) }
        flow(assigned.filter { !isHeld($0) })
    }

    /// Moves `entries` to their offsets now (a transaction was aborted: back to the committed
    /// offsets); forgets every other reason they were held for refetching.
    func reposition(_ entries: [(partition: Int32, offset: Int64)]) {
        for entry in entries where assigned.contains(entry.partition) {
            setReasons(entry.partition, reasonsOf(entry.partition).subtracting(.refetching))
            continuation[entry.partition] = entry.offset
        }
        let partitions = entries.map(\.partition).filter { assigned.contains($0) && !isHeld($0) }
        flow(partitions)
    }

    // MARK: - Assignment

    /// Gives `partitions` to the consumer (each at its offset in the list); they start held for
    /// the reasons that hold every partition.
    func assign(_ partitions: RDKafkaTopicPartitionList?, cooperative: Bool) {
        let numbers = partitions?.partitions ?? []
        for partition in numbers {
            setReasons(partition, [])
            continuation.removeValue(forKey: partition)
            if heldEverywhere.intersects(HoldReasons.refetching) { refetched.insert(partition) } else { refetched.remove(partition) }
        }
        assigned.formUnion(numbers)
        if let partitions {
            if cooperative { consumer.incrementalAssign(partitions) } else { consumer.assign(partitions) }
            if !heldEverywhere.isEmpty { consumer.pause(partitions) }
        } else if !cooperative {
            consumer.unassign()
        }
    }

    /// Takes `partitions` away from the consumer and forgets why they were held (librdkafka
    /// keeps a pause across assignments: they are resumed first, so a later owner is not paused).
    func revoke(_ partitions: RDKafkaTopicPartitionList?, cooperative: Bool) {
        let numbers = partitions?.partitions ?? []
        if let partitions { consumer.resume(partitions) }
        for partition in numbers {
            setReasons(partition, [])
            continuation.removeValue(forKey: partition)
            refetched.remove(partition)
        }
        assigned.subtract(numbers)
        if cooperative {
            if let partitions { consumer.incrementalUnassign(partitions) }
        } else {
            consumer.unassign()
        }
    }

    // MARK: - Private

    @inline(__always)
    private func reasonsOf(_ partition: Int32) -> HoldReasons {
        Int(partition) < reasons.count && partition >= 0 ? reasons[Int(partition)] : []
    }

    private func setReasons(_ partition: Int32, _ new: HoldReasons) {
        let index = Int(partition)
        if index >= reasons.count { reasons.append(contentsOf: repeatElement([], count: index + 1 - reasons.count)) }
        reasons[index] = new
        if new.union(heldEverywhere).intersects(HoldReasons.refetching) { refetched.insert(partition) } else { refetched.remove(partition) }
    }

    /// Resumes `partitions` and moves those with a continuation there. Resume first: librdkafka
    /// 2.0.2's resume does not wake the fetching broker thread (it would fetch again only within
    /// a second); the seek does.
    private func flow(_ partitions: [Int32]) {
        guard !partitions.isEmpty else { return }
        consumer.resume(list(partitions))
        let seeks = partitions.compactMap { partition in continuation.removeValue(forKey: partition).map { (partition, $0) } }
        guard !seeks.isEmpty else { return }
        do {
            try consumer.seek(RDKafkaTopicPartitionList(topic: topic, seeks), timeoutMs: 5_000)
        } catch {
            logger.warning("Seeking \(topic) partitions \(seeks.map { "\($0.0) to \($0.1)" }.joined(separator: ", ")) failed: \(error.reason)")
        }
    }

    private func list(_ partitions: some Sequence<Int32>) -> RDKafkaTopicPartitionList {
        RDKafkaTopicPartitionList(topic: topic, partitions.map { ($0, -1) })
    }
}
