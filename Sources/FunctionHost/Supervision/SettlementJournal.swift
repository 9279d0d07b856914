import CSharedMemory
import Foundation
import Glibc

/// How far each partition of one function's trigger is settled, kept in a shared file mapping so
/// that it survives a crash of the worker: the next worker commits it, and messages processed
/// just before the crash are not delivered again. docs/DELIVERY.md ("Crash recovery") has the
/// argument for why it can never move an offset past a message that was not settled.
///
/// - It names what it is about: the consumer group and topic (checked when it is opened) and the
///   cluster id (checked at the first assignment). A journal about anything else is discarded.
/// - Each entry says: during assignment `epoch` of this journal's lineage (a random `token`),
///   every message of the partition from where that assignment started up to `settled` was
///   settled. Every offset the host commits carries `tag(epoch)` as its commit metadata.
/// - An entry is applied only when the group's committed offset still carries the tag of the
///   entry's own epoch (so that offset was committed by the same assignment, at or after where it
///   started) and only forward of it. An operator's reset, another member's commit, a recreated
///   topic or another cluster leaves a committed offset without that tag: nothing is applied.
/// - Entries are not cleared when read, only once a clean stop committed everything; then the
///   file is removed.
///
/// Layout (64-bit words): magic, token, assignments counter, header check, subject length,
/// cluster length, 2 spare, subject text (512 bytes), cluster text (128 bytes), then per
/// partition (epoch, settled, check).
final class SettlementJournal: @unchecked Sendable {
    /// What a function's offsets are about, apart from the cluster.
    struct Subject: Equatable, Sendable, CustomStringConvertible {
        var consumerGroup: String
        var topic: String

        var description: String { "topic '\(topic)' of consumer group '\(consumerGroup)'" }
        /// How journals and crash records write it.
        var text: String { "\(consumerGroup)\n\(topic)" }
    }

    /// One partition's record.
    struct Entry: Equatable, Sendable {
        /// The assignment it was written in.
        var epoch: Int64
        /// Everything before it, from where that assignment started, is settled.
        var settled: Int64
    }

    static let maximumPartitions = 1024
    static let magic: Int64 = 0x5346_5345_5454_0002 // "SFSETT", format 2
    private static let subjectWords = 64
    private static let clusterWords = 16
    private static let subjectStart = 8
    private static let clusterStart = subjectStart + subjectWords
    private static let entriesStart = clusterStart + clusterWords
    private static let wordCount = entriesStart + maximumPartitions * 3

    let subject: Subject
    private let file: SharedFileMapping
    /// The file's words (``SharedFileMapping/words``; `file` keeps them mapped): settling a
    /// message stores through this pointer, without retaining `file` per store.
    private let words: UnsafeMutablePointer<Int64>
    /// Per partition, the epoch of its current assignment (0: not assigned). Set by the consuming
    /// thread, read by whichever thread settles a message (a lane, with ordering key).
    private let currentEpochs: UnsafeMutablePointer<Int64>
    /// This journal's lineage: it appears in every commit's metadata, and nothing else writes it.
    private(set) var token: Int64 = 0
    /// The cluster the entries are about; nil until the first assignment names it.
    private(set) var clusterID: String?
    /// Why a journal found on disk was not kept (for the log), if one was discarded.
    private(set) var discarded: String?

    var url: URL { file.url }

    /// Opens the journal of `function` in `directory`, keeping what a previous worker left when it
    /// is about `subject`, else starting a new one.
    /// - Throws: ``JournalError`` when the file cannot be opened or mapped.
    init(directory: URL, function: String, subject: Subject) throws {
        self.subject = subject
        currentEpochs = .allocate(capacity: Self.maximumPartitions)
        currentEpochs.initialize(repeating: 0, count: Self.maximumPartitions)
        file = try SharedFileMapping(url: directory.appendingPathComponent("settled-\(function).journal"), wordCount: Self.wordCount)
        words = file.words
        if file.sizeFound == 0 {
            reset(cluster: nil)
        } else if let problem = validate() {
            discarded = problem
            reset(cluster: nil)
        }
    }

    deinit {
        currentEpochs.deallocate()
    }

    /// Why the file's header cannot be trusted for `subject`, or nil when it can.
    private func validate() -> String? {
        guard file.sizeFound == Self.wordCount * 8, file.load(0) == Self.magic else {
            return "it is not a journal of this format"
        }
        let storedToken = file.load(1)
        guard storedToken != 0, file.load(3) == headerCheck(token: storedToken) else {
            return "its header is torn or damaged"
        }
        guard let storedSubject = file.loadText(at: Self.subjectStart, count: Int(file.load(4)), capacityWords: Self.subjectWords),
              storedSubject == subject.text else {
            return "it is about another topic or consumer group"
        }
        token = storedToken
        let cluster = file.loadText(at: Self.clusterStart, count: Int(file.load(5)), capacityWords: Self.clusterWords) ?? ""
        clusterID = cluster.isEmpty ? nil : cluster
        return nil
    }

    /// Starts a new lineage: a new token, no entries. Old tags can never match again.
    private func reset(cluster: String?) {
        file.store(0, at: 0)
        for index in Self.entriesStart..<Self.wordCount { file.store(0, at: index) }
        var random: Int64 = 0
        while random == 0 { random = Int64.random(in: .min ... .max) }
        token = random
        clusterID = cluster
        file.store(token, at: 1)
        file.store(0, at: 2)
        file.store(Int64(file.storeText(subject.text, at: Self.subjectStart, capacityWords: Self.subjectWords)), at: 4)
        file.store(Int64(file.storeText(cluster ?? "", at: Self.clusterStart, capacityWords: Self.clusterWords)), at: 5)
        file.store(headerCheck(token: token), at: 3)
        file.store(Self.magic, at: 0)
    }

    private func headerCheck(token: Int64) -> Int64 {
        var check = journalCheck(Self.magic, token, file.load(4), file.load(5))
        for index in Self.subjectStart..<Self.entriesStart { check = journalCheck(check, file.load(index), Int64(index), 0) }
        return check
    }

    /// The cluster the consumer is connected to. When the journal's entries are about another
    /// cluster (or one never named), they are discarded; returns false then.
    @discardableResult
    func confirmCluster(_ id: String) -> Bool {
        if clusterID == id { return true }
        let hadEntries = (0..<Self.maximumPartitions).contains { entry(Int32($0)) != nil }
        if hadEntries {
            discarded = clusterID.map { "it is about cluster \($0), not \(id)" } ?? "its cluster was never confirmed"
        }
        reset(cluster: id)
        return !hadEntries
    }

    /// `partition` is assigned: a new epoch, so its entries and commits are told apart from every
    /// other assignment's. Returns the epoch.
    @discardableResult
    func beginAssignment(partition: Int32) -> Int64 {
        guard partition >= 0 && Int(partition) < Self.maximumPartitions else { return 0 }
        let epoch = file.load(2) + 1
        file.store(epoch, at: 2)
        sf_shared_store(currentEpochs + Int(partition), epoch)
        return epoch
    }

    /// `partition` was revoked: nothing more is recorded for it until it is assigned again.
    func endAssignment(partition: Int32) {
        guard partition >= 0 && Int(partition) < Self.maximumPartitions else { return }
        sf_shared_store(currentEpochs + Int(partition), 0)
    }

    /// The commit metadata of offsets committed during `epoch`.
    func tag(epoch: Int64) -> String {
        "swiftfunc:\(String(UInt64(bitPattern: token), radix: 16)):\(epoch)"
    }

    /// The commit metadata for `partition`'s current assignment; nil when it is not assigned.
    func tag(partition: Int32) -> String? {
        guard partition >= 0 && Int(partition) < Self.maximumPartitions else { return nil }
        let epoch = sf_shared_load(currentEpochs + Int(partition))
        return epoch > 0 ? tag(epoch: epoch) : nil
    }

    /// Everything of `partition` before `settled` is settled, in its current assignment.
    func recordSettled(partition: Int32, settled: Int64) { recorder.recordSettled(partition: partition, settled: settled) }

    /// During `epoch`, everything of `partition` before `settled` (from where the assignment
    /// started) is settled.
    func record(partition: Int32, epoch: Int64, settled: Int64) { recorder.record(partition: partition, epoch: epoch, settled: settled) }

    /// The stores of a settlement, through the mapping's words: a caller that keeps this journal
    /// alive records with it and takes no reference per settled run (BENCHMARKS.md, "The
    /// allocator"). The lineage token is read from the file's header word, which always
    /// holds ``token``.
    var recorder: Recorder { Recorder(words: words, currentEpochs: currentEpochs) }

    struct Recorder {
        fileprivate let words: UnsafeMutablePointer<Int64>
        fileprivate let currentEpochs: UnsafeMutablePointer<Int64>

        @inline(__always)
        func recordSettled(partition: Int32, settled: Int64) {
            guard partition >= 0 && Int(partition) < SettlementJournal.maximumPartitions else { return }
            let epoch = sf_shared_load(currentEpochs + Int(partition))
            if epoch > 0 { record(partition: partition, epoch: epoch, settled: settled) }
        }

        @inline(__always)
        func record(partition: Int32, epoch: Int64, settled: Int64) {
            guard partition >= 0 && Int(partition) < SettlementJournal.maximumPartitions else { return }
            let index = SettlementJournal.entriesStart + Int(partition) * 3
            let token = sf_shared_load(words + 1)
            // The check goes first: a crash between the stores leaves a record that does not check.
            sf_shared_store(words + index + 2, 0)
            sf_shared_store(words + index, epoch)
            sf_shared_store(words + index + 1, settled)
            sf_shared_store(words + index + 2, journalCheck(token, Int64(partition), epoch, settled))
        }
    }

    /// The whole record of `partition`, or nil when there is none or it does not check.
    func entry(_ partition: Int32) -> Entry? {
        guard partition >= 0 && Int(partition) < Self.maximumPartitions else { return nil }
        let index = Self.entriesStart + Int(partition) * 3
        let epoch = file.load(index), settled = file.load(index + 1), check = file.load(index + 2)
        guard epoch > 0, settled >= 0, check == journalCheck(token, Int64(partition), epoch, settled) else { return nil }
        return Entry(epoch: epoch, settled: settled)
    }

    /// Where `partition` may resume after a crash: the entry's settled offset, when the group's
    /// committed offset (`committed`, with its commit `metadata`) was committed during the same
    /// assignment as the entry and is behind it. Nil otherwise: consumption starts at the
    /// committed offset, and the worst outcome is a message delivered twice.
    func resumeOffset(partition: Int32, committed: Int64, metadata: String?) -> Int64? {
        guard clusterID != nil, let entry = entry(partition), committed >= 0,
              metadata == tag(epoch: entry.epoch), entry.settled > committed else { return nil }
        return entry.settled
    }

    /// Everything settled is committed (a clean stop): nothing is left to recover.
    func remove() {
        file.store(0, at: 0)
        file.removeFile()
    }

    /// The raw words, for tests that damage a journal the way a crash or a disk could.
    func overwrite(word index: Int, with value: Int64) {
        file.store(value, at: index)
    }

    static func entryWord(partition: Int32) -> Int { entriesStart + Int(partition) * 3 }
}
