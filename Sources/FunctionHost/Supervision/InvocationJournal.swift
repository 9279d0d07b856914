import CSharedMemory
import Foundation

/// A small memory-mapped file per function (per concurrency lane) saying which messages are being
/// invoked right now. Stores go to a shared file mapping, so they survive a crash of the process:
/// the supervisor reads the journal after the worker died to learn which messages were in flight
/// and what they were about (consumer group and topic). Recording an invocation is a handful of
/// stores, no system call. (How far partitions are settled is the ``SettlementJournal``'s job.)
///
/// Layout (64-bit words): magic, state (0 idle, 1 invoking, 2 timed out), started-at (ms since
/// the epoch), range count, subject length, 3 spare, subject text (512 bytes), then
/// `maximumRanges` ranges of (partition, first offset, last offset).
public final class InvocationJournal: @unchecked Sendable {
    static let maximumRanges = 200
    static let magic: Int64 = 0x5346_494E_464C_0002 // "SFINFL", format 2
    private static let subjectStart = 8
    private static let subjectWords = 64
    private static let rangesStart = subjectStart + subjectWords
    private static let wordCount = rangesStart + maximumRanges * 3

    public enum State: Int64, Sendable {
        case idle = 0
        case invoking = 1
        case timedOut = 2
    }

    public struct Range: Equatable, Sendable {
        public var partition: Int32
        public var first: Int64
        public var last: Int64
    }

    private let file: SharedFileMapping
    var url: URL { file.url }

    /// Opens (creating or resetting) the journal of `function` in `directory`; with `lane`, the
    /// journal of one of its concurrency lanes (ordering `key` or `unordered`).
    init(directory: URL, function: String, lane: Int? = nil, subject: SettlementJournal.Subject) throws {
        file = try SharedFileMapping(url: Self.url(directory: directory, function: function, lane: lane), wordCount: Self.wordCount)
        file.store(0, at: 0)
        file.store(State.idle.rawValue, at: 1)
        file.store(0, at: 3)
        file.store(Int64(file.storeText(subject.text, at: Self.subjectStart, capacityWords: Self.subjectWords)), at: 4)
        file.store(Self.magic, at: 0)
    }

    static func url(directory: URL, function: String, lane: Int? = nil) -> URL {
        directory.appendingPathComponent("inflight-\(function)\(lane.map { "\(laneSeparator)\($0)" } ?? "").journal")
    }

    /// Separates a function's name from a lane number in a journal's file name.
    static let laneSeparator: Character = "#"

    /// The function a journal file belongs to.
    static func function(ofJournal url: URL) -> String {
        let name = url.deletingPathExtension().lastPathComponent.dropFirst("inflight-".count)
        return String(name.split(separator: laneSeparator, maxSplits: 1, omittingEmptySubsequences: false).first ?? name)
    }

    /// Records that the messages in `ranges` are about to be invoked (none: the flush call).
    func begin(_ ranges: UnsafeBufferPointer<Range>, startedAtMs: Int64) { recorder.begin(ranges, startedAtMs: startedAtMs) }

    func end() { recorder.end() }

    /// The stores around each call, through the mapping's words: a caller that keeps this journal
    /// alive records with it and takes no reference per call (a retain and a release were 3 % of
    /// the consuming thread for ONE; BENCHMARKS.md, "The allocator").
    var recorder: Recorder { Recorder(words: file.words) }

    struct Recorder {
        fileprivate let words: UnsafeMutablePointer<Int64>

        @inline(__always)
        func begin(_ ranges: UnsafeBufferPointer<Range>, startedAtMs: Int64) {
            let count = min(ranges.count, InvocationJournal.maximumRanges)
            for index in 0..<count {
                let word = words + InvocationJournal.rangesStart + index * 3
                sf_shared_store(word, Int64(ranges[index].partition))
                sf_shared_store(word + 1, ranges[index].first)
                sf_shared_store(word + 2, ranges[index].last)
            }
            sf_shared_store(words + 3, Int64(count))
            sf_shared_store(words + 2, startedAtMs)
            sf_shared_store(words + 1, State.invoking.rawValue)
        }

        @inline(__always)
        func end() {
            sf_shared_store(words + 1, State.idle.rawValue)
        }
    }

    func markTimedOut() {
        file.store(State.timedOut.rawValue, at: 1)
    }

    /// When the invocation in progress started (ms since the epoch), or nil when idle. Read by the
    /// watchdog thread while the invoking thread writes.
    var invocationStartedAtMs: Int64? {
        file.load(1) == State.invoking.rawValue ? file.load(2) : nil
    }

    /// What a journal file left behind says: its state, in-flight ranges and subject. Nil for a
    /// file that is not a journal of this format.
    public static func read(_ url: URL) -> (state: State, ranges: [Range], subject: String)? {
        guard let data = try? Data(contentsOf: url), data.count == wordCount * 8 else { return nil }
        return data.withUnsafeBytes { raw in
            let words = raw.bindMemory(to: Int64.self)
            guard words[0] == magic, let state = State(rawValue: words[1]) else { return nil }
            let count = Int(min(max(words[3], 0), Int64(maximumRanges)))
            let ranges = (0..<count).map { index in
                Range(partition: Int32(truncatingIfNeeded: words[rangesStart + index * 3]),
                      first: words[rangesStart + index * 3 + 1], last: words[rangesStart + index * 3 + 2])
            }
            let length = Int(min(max(words[4], 0), Int64(subjectWords * 8)))
            let subjectBytes = UnsafeRawBufferPointer(rebasing: raw[(subjectStart * 8)..<(subjectStart * 8 + length)])
            return (state, ranges, String(decoding: subjectBytes, as: UTF8.self))
        }
    }
}
