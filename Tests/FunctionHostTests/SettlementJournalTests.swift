import Foundation
import Testing
@testable import FunctionHost

/// The settlement journal decides, after a crash, whether a partition may resume past its
/// committed offset. No broker: each test plays what a dead worker left behind (a second journal
/// object on the same file is the next worker) and what the group's committed offset says.
@Suite("Settlement journal (crash recovery)", .timeLimit(.minutes(10)))
struct SettlementJournalTests {
    private let directory: URL
    private let subject = SettlementJournal.Subject(consumerGroup: "orders-group", topic: "orders")

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A worker that was assigned partition 0 at committed offset `committed`, committed it with its
    /// tag, then settled up to `settled` and died. Returns the tag it committed with.
    private func crashedWorker(committed: Int64 = 100, settled: Int64 = 150, cluster: String = "cluster-a") throws -> String {
        let journal = try SettlementJournal(directory: directory, function: "F", subject: subject)
        #expect(journal.confirmCluster(cluster))
        journal.beginAssignment(partition: 0)
        let tag = try #require(journal.tag(partition: 0))
        journal.recordSettled(partition: 0, settled: committed)
        journal.recordSettled(partition: 0, settled: settled)
        return tag
    }

    @Test func aCrashedWorkersSettledOffsetIsAppliedForwardOfItsOwnCommit() throws {
        let tag = try crashedWorker()
        let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
        #expect(next.discarded == nil)
        #expect(next.confirmCluster("cluster-a"))
        #expect(next.resumeOffset(partition: 0, committed: 100, metadata: tag) == 150)
        // Only forward: a committed offset at or past the settled one is left alone.
        #expect(next.resumeOffset(partition: 0, committed: 150, metadata: tag) == nil)
        #expect(next.resumeOffset(partition: 0, committed: 170, metadata: tag) == nil)
        // A partition it knows nothing about.
        #expect(next.resumeOffset(partition: 1, committed: 100, metadata: tag) == nil)
    }

    @Test func readingDoesNotClearIt() throws {
        // Killed twice: the worker after the first kill read the journal and died before using it.
        let tag = try crashedWorker()
        for _ in 0..<2 {
            let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
            #expect(next.confirmCluster("cluster-a"))
            #expect(next.resumeOffset(partition: 0, committed: 100, metadata: tag) == 150)
        }
    }

    @Test func aCommittedOffsetWithoutThisAssignmentsTagIsNeverMovedForward() throws {
        let tag = try crashedWorker()
        let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
        next.confirmCluster("cluster-a")
        // An operator reset the group's offsets (admin tools commit without metadata).
        #expect(next.resumeOffset(partition: 0, committed: 120, metadata: nil) == nil)
        #expect(next.resumeOffset(partition: 0, committed: 0, metadata: "") == nil)
        // Another member (another host, another lineage) committed since.
        #expect(next.resumeOffset(partition: 0, committed: 120, metadata: "swiftfunc:1234:1") == nil)
        // An earlier assignment of the same lineage committed it.
        let earlier = tag.split(separator: ":").dropLast().joined(separator: ":") + ":0"
        #expect(next.resumeOffset(partition: 0, committed: 120, metadata: earlier) == nil)
        // The group has no committed offset (a recreated topic, a new group).
        #expect(next.resumeOffset(partition: 0, committed: -1001, metadata: tag) == nil)
    }

    @Test func aJournalOfAnotherTopicOrGroupIsSetAside() throws {
        let tag = try crashedWorker()
        let otherTopic = try SettlementJournal(directory: directory, function: "F",
                                               subject: .init(consumerGroup: "orders-group", topic: "payments"))
        #expect(otherTopic.discarded?.contains("another topic or consumer group") == true)
        otherTopic.confirmCluster("cluster-a")
        #expect(otherTopic.resumeOffset(partition: 0, committed: 100, metadata: tag) == nil)
        #expect(otherTopic.entry(0) == nil)

        _ = try crashedWorker()
        let otherGroup = try SettlementJournal(directory: directory, function: "F",
                                               subject: .init(consumerGroup: "other-group", topic: "orders"))
        #expect(otherGroup.discarded != nil)
        #expect(otherGroup.entry(0) == nil)
    }

    @Test func aJournalOfAnotherClusterIsSetAside() throws {
        let tag = try crashedWorker(cluster: "cluster-a")
        let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
        #expect(next.confirmCluster("cluster-b") == false)
        #expect(next.discarded?.contains("cluster-a") == true)
        #expect(next.resumeOffset(partition: 0, committed: 100, metadata: tag) == nil)
    }

    @Test func entriesWrittenBeforeTheClusterWasKnownAreSetAside() throws {
        // The cluster did not say its id at the assignment: what was settled then may be about any cluster.
        let unconfirmed = try SettlementJournal(directory: directory, function: "F", subject: subject)
        let epoch = unconfirmed.beginAssignment(partition: 0)
        unconfirmed.recordSettled(partition: 0, settled: 150)
        let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
        #expect(next.clusterID == nil)
        #expect(next.resumeOffset(partition: 0, committed: 100, metadata: next.tag(epoch: epoch)) == nil)
        #expect(next.confirmCluster("cluster-a") == false)
        #expect(next.entry(0) == nil)
    }

    @Test func tornEntriesAndHeadersAreNotTrusted() throws {
        let tag = try crashedWorker()
        // A crash between the stores of an entry: settled written, check not yet.
        let torn = try SettlementJournal(directory: directory, function: "F", subject: subject)
        torn.overwrite(word: SettlementJournal.entryWord(partition: 0) + 1, with: 9_999)
        let afterTornEntry = try SettlementJournal(directory: directory, function: "F", subject: subject)
        afterTornEntry.confirmCluster("cluster-a")
        #expect(afterTornEntry.entry(0) == nil)
        #expect(afterTornEntry.resumeOffset(partition: 0, committed: 100, metadata: tag) == nil)

        // A damaged header (the subject text changed under its check word).
        _ = try crashedWorker()
        let damaged = try SettlementJournal(directory: directory, function: "F", subject: subject)
        damaged.overwrite(word: 8, with: 0x4141_4141)
        let afterDamage = try SettlementJournal(directory: directory, function: "F", subject: subject)
        #expect(afterDamage.discarded != nil)
        #expect(afterDamage.entry(0) == nil)

        // A file that is not a journal at all (cut short, or another format).
        let url = directory.appendingPathComponent("settled-G.journal")
        try Data(repeating: 7, count: 100).write(to: url)
        let foreign = try SettlementJournal(directory: directory, function: "G", subject: subject)
        #expect(foreign.discarded?.contains("not a journal") == true)
        #expect(foreign.entry(0) == nil)
    }

    @Test func aCleanStopLeavesNothingToRecover() throws {
        let tag = try crashedWorker()
        let stopping = try SettlementJournal(directory: directory, function: "F", subject: subject)
        stopping.remove()
        #expect(!FileManager.default.fileExists(atPath: stopping.url.path))
        let next = try SettlementJournal(directory: directory, function: "F", subject: subject)
        next.confirmCluster("cluster-a")
        #expect(next.discarded == nil)
        #expect(next.resumeOffset(partition: 0, committed: 100, metadata: tag) == nil)
    }

    @Test func eachAssignmentHasItsOwnEpochAndNothingIsRecordedForARevokedPartition() throws {
        let journal = try SettlementJournal(directory: directory, function: "F", subject: subject)
        journal.confirmCluster("cluster-a")
        let first = journal.beginAssignment(partition: 3)
        journal.recordSettled(partition: 3, settled: 10)
        #expect(journal.entry(3) == SettlementJournal.Entry(epoch: first, settled: 10))
        journal.endAssignment(partition: 3)
        #expect(journal.tag(partition: 3) == nil)
        journal.recordSettled(partition: 3, settled: 20)
        #expect(journal.entry(3)?.settled == 10)
        let second = journal.beginAssignment(partition: 3)
        #expect(second > first)
        #expect(journal.tag(partition: 3) == journal.tag(epoch: second))
        #expect(journal.tag(epoch: second) != journal.tag(epoch: first))
    }

    @Test func crashCountsOfAnotherTopicDoNotApply() throws {
        var records = CrashRecords(directory: directory, function: "F", subject: subject.text)
        records.recordCrash([InvocationJournal.Range(partition: 0, first: 5, last: 5)])
        try records.save()
        #expect(CrashRecords(directory: directory, function: "F", subject: subject.text).count(partition: 0, offset: 5) == 1)
        let other = SettlementJournal.Subject(consumerGroup: "orders-group", topic: "payments")
        #expect(CrashRecords(directory: directory, function: "F", subject: other.text).count(partition: 0, offset: 5) == 0)
    }

    @Test func inFlightJournalsNameTheirSubjectAndForeignFilesAreIgnored() throws {
        let journal = try InvocationJournal(directory: directory, function: "F", subject: subject)
        let ranges = [InvocationJournal.Range(partition: 2, first: 7, last: 9)]
        ranges.withUnsafeBufferPointer { journal.begin($0, startedAtMs: 1) }
        let read = try #require(InvocationJournal.read(journal.url))
        #expect(read.state == .invoking)
        #expect(read.ranges == ranges)
        #expect(read.subject == subject.text)
        let foreign = directory.appendingPathComponent("inflight-Old.journal")
        try Data(repeating: 1, count: 4096).write(to: foreign)
        #expect(InvocationJournal.read(foreign) == nil)
    }
}
