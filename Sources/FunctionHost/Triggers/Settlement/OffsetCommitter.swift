import CRdKafka
import Foundation
import Logging

/// Commits a trigger's settled offsets to its consumer group, and at each assignment recovers
/// what a worker that crashed had settled but not committed.
///
/// The host commits itself (librdkafka's auto-commit is off) because every commit carries its
/// assignment's tag as commit metadata (see ``SettlementJournal``): that tag is what lets a later
/// worker prove a committed offset is its own lineage's before it moves it forward. Commits go
/// out asynchronously every `autoCommitIntervalMs`, and synchronously on revoke and at stop.
/// Used by the consuming thread only.
final class OffsetCommitter {
    private struct Progress {
        /// Everything before it is settled; -1 while nothing is.
        var storable: Int64 = -1
        /// The last offset sent in a commit.
        var sent: Int64 = -1
    }

    private let topic: String
    private let functionName: String
    private let journal: SettlementJournal?
    private let intervalNs: UInt64
    private let logger: Logger
    private var lastCommit = monotonicNanoseconds()
    private var partitions: [Int32: Progress] = [:]
    /// Commits that failed (periodic, synchronous and start-of-assignment ones), for the metrics
    /// endpoint; written by the consuming thread only.
    private let failures = CounterSlots(count: 1)
    var failedCommits: Int { failures.value(0) }

    /// Where a partition with no committed offset starts (the trigger's startFrom, else host.json's autoOffsetReset).
    private let startWithoutCommit: StartWithoutCommit

    init(topic: String, functionName: String, journal: SettlementJournal?, intervalMs: Int, startWithoutCommit: StartWithoutCommit, logger: Logger) {
        self.topic = topic
        self.startWithoutCommit = startWithoutCommit
        self.functionName = functionName
        self.journal = journal
        self.intervalNs = UInt64(max(intervalMs, 1)) * 1_000_000
        self.logger = logger
    }

    /// Everything of `partition` before `offset` is settled (and recorded in the journal).
    func settled(_ partition: Int32, upTo offset: Int64) {
        guard partitions[partition] != nil else { return }
        partitions[partition]!.storable = max(partitions[partition]!.storable, offset)
    }

    /// Nanoseconds until settled offsets not yet sent are due to be committed; nil when none wait.
    func timeUntilNextCommit(now: UInt64) -> UInt64? {
        guard partitions.values.contains(where: { $0.storable > $0.sent }) else { return nil }
        return lastCommit + intervalNs > now ? lastCommit + intervalNs - now : 0
    }

    /// Sends an asynchronous commit of what moved, when the interval has passed.
    func commitIfDue(_ consumer: RDKafkaConsumer) {
        let now = monotonicNanoseconds()
        guard now - lastCommit >= intervalNs else { return }
        lastCommit = now
        let moved = partitions.filter { $0.value.storable > $0.value.sent }.map { (partition: $0.key, offset: $0.value.storable) }
        guard !moved.isEmpty else { return }
        let list = makeList(moved)
        for entry in moved { partitions[entry.partition]!.sent = entry.offset }
        do {
            try consumer.commit(list, async: true)
        } catch {
            failures.add(0)
            logger.warning("Committing offsets of '\(functionName)' failed: \(error.reason) (tried again at the next interval)")
            for entry in moved { partitions[entry.partition]!.sent = -1 }
        }
    }

    /// Commits every settled offset of `only` (nil: of every partition) and waits for the answer.
    /// - Returns: the error, or nil when everything settled is committed (or nothing was).
    func commitNow(_ consumer: RDKafkaConsumer, only: Set<Int32>? = nil) -> KafkaError? {
        let settled = partitions.filter { $0.value.storable >= 0 && (only?.contains($0.key) ?? true) }
            .map { (partition: $0.key, offset: $0.value.storable) }
        guard !settled.isEmpty else { return nil }
        let list = makeList(settled)
        do {
            try consumer.commit(list, async: false)
        } catch where error.code != .noOffset {
            failures.add(0)
            return error
        } catch {}
        for entry in settled { partitions[entry.partition]!.sent = entry.offset }
        return nil
    }

    // MARK: - exactlyOnce: offsets committed in the function's transaction

    /// The settled offsets that moved since the last commit, when the commit interval has passed
    /// or `force`; nil when not due. The caller commits them in its transaction and then calls
    /// ``committedInTransaction(_:)`` or ``rollBack()``.
    func takeForTransaction(force: Bool) -> [(partition: Int32, offset: Int64)]? {
        let now = monotonicNanoseconds()
        guard force || now - lastCommit >= intervalNs else { return nil }
        lastCommit = now
        return partitions.filter { $0.value.storable > $0.value.sent }.map { (partition: $0.key, offset: $0.value.storable) }
    }

    func committedInTransaction(_ entries: [(partition: Int32, offset: Int64)]) {
        for entry in entries where partitions[entry.partition] != nil { partitions[entry.partition]!.sent = entry.offset }
    }

    /// The transaction was aborted: what was settled since the last commit is settled again.
    func rollBack() {
        for partition in partitions.keys { partitions[partition]!.storable = partitions[partition]!.sent }
    }

    /// The commit of the consumer's periodic commits, told by librdkafka: failures are logged.
    func commitAnswered(_ error: rd_kafka_resp_err_t) {
        if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET {
            failures.add(0)
            logger.warning("Committing offsets of '\(functionName)' failed: \(String(cString: rd_kafka_err2str(error))) (tried again at the next interval)")
            for partition in partitions.keys { partitions[partition]!.sent = -1 }
        }
    }

    /// `assignment` (librdkafka's list, about to be assigned) starts a new epoch for each of its
    /// partitions. Where the journal proves a crashed worker settled past the group's committed
    /// offset, that partition starts there instead. Every partition's start (recovered, the
    /// committed offset, or — never committed — where the reset policy says) is committed with the
    /// new epoch's tag at once: from then on the partition's committed offset carries this
    /// assignment's tag, so a crash before the first periodic commit is recovered too — while a
    /// group whose offsets vanish (a recreated topic, deleted offsets) has no tag, and nothing is
    /// applied.
    func assigned(_ assignment: RDKafkaTopicPartitionList, consumer: RDKafkaConsumer) {
        let numbers = assignment.partitions
        for partition in numbers { partitions[partition] = Progress() }
        guard let journal else { return }
        guard let cluster = consumer.clusterID(timeoutMs: 5_000) else {
            logger.warning("'\(functionName)': the cluster did not say its id within 5 s; offsets settled before a crash are not recovered this time (those messages may be delivered again)")
            numbers.forEach { journal.beginAssignment(partition: $0) }
            return
        }
        if !journal.confirmCluster(cluster), let reason = journal.discarded {
            logger.info("'\(functionName)': the settlement journal \(journal.url.lastPathComponent) was set aside: \(reason); nothing from it is applied")
        }
        // The group's committed offsets and their tags, read before the new epochs overwrite anything.
        let committed = RDKafkaTopicPartitionList(topic: topic, numbers.map { ($0, crdkafka_offset_invalid()) })
        var answer: KafkaError?
        do { try consumer.committed(committed, timeoutMs: 10_000) } catch { answer = error }
        var resumed: [(partition: Int32, offset: Int64)] = []
        var epochs: [Int32: Int64] = [:]
        for partition in numbers { epochs[partition] = journal.beginAssignment(partition: partition) }
        if let answer {
            logger.warning("'\(functionName)': reading the committed offsets of \(topic) failed (\(answer.reason)); offsets settled before a crash are not recovered this time (those messages may be delivered again)")
            return
        }
        var baselines: [(partition: Int32, offset: Int64)] = []
        for element in committed.elements {
            if let offset = journal.resumeOffset(partition: element.partition, committed: element.offset, metadata: element.metadata) {
                resumed.append((element.partition, offset))
                logger.info("'\(functionName)' resumes partition \(element.partition) of \(topic) at offset \(offset): the host had settled up to there before it stopped abnormally (the group had committed \(element.offset), with this host's tag)", metadata: InvocationLogFields.place(topic: topic, partition: element.partition, offset: offset))
            } else if element.offset >= 0 {
                // Where this assignment starts, committed again with the new epoch's tag: a crash
                // before the first periodic commit must find its own tag on the committed offset.
                baselines.append((element.partition, element.offset))
            } else if let start = startOffset(element.partition, placed: assignment.offset(of: element.partition), consumer: consumer) {
                baselines.append((element.partition, start))
            }
        }
        let starts = resumed + baselines
        guard !starts.isEmpty else { return }
        var result: KafkaError?
        do { try consumer.commit(makeList(starts), async: false) } catch { result = error }
        for (partition, offset) in starts {
            assignment.setOffset(offset, of: partition)
            partitions[partition]!.storable = offset
            if result == nil {
                partitions[partition]!.sent = offset
                journal.recordSettled(partition: partition, settled: offset)
            }
        }
        if let result {
            failures.add(0)
            logger.warning("'\(functionName)': committing where partitions \(starts.map(\.partition)) start failed (\(result.reason)); they are committed with the next commit")
        }
    }

    /// Where a partition without a committed offset starts: where the assignment already places
    /// it (by `startFrom`'s time), else its end or beginning under ``StartWithoutCommit``, asked
    /// of the cluster (bounded); nil when it does not answer (then librdkafka's own reset
    /// applies, and nothing is recovered for it after a crash before its first commit).
    private func startOffset(_ partition: Int32, placed: Int64?, consumer: RDKafkaConsumer) -> Int64? {
        if let placed, placed >= 0 { return placed }
        guard let marks = try? consumer.queryWatermarks(topic: topic, partition: partition, timeoutMs: 5_000) else { return nil }
        return startWithoutCommit.startsAtEnd(placed ?? crdkafka_offset_invalid()) ? marks.high : marks.low
    }

    /// `revoked` are gone: nothing more of theirs is committed by this member.
    func revoked(_ revoked: [Int32]) {
        for partition in revoked {
            partitions.removeValue(forKey: partition)
            journal?.endAssignment(partition: partition)
        }
    }

    private func makeList(_ entries: [(partition: Int32, offset: Int64)]) -> RDKafkaTopicPartitionList {
        RDKafkaTopicPartitionList(topic: topic, entries) { [journal] partition in journal?.tag(partition: partition) }
    }
}
