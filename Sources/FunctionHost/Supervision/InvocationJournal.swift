import Foundation
import Glibc

/// A small memory-mapped file per function saying which messages are being invoked right now.
/// Stores go to a shared file mapping, so they survive a crash of the process: the supervisor
/// reads the journal after the worker died to learn which messages were in flight. Recording an
/// invocation is a handful of stores, no system call.
///
/// It also keeps, per partition, the offset up to which messages were settled (processed or
/// dead-lettered) — stored before they are committed. After a crash the next worker commits
/// those, so a message processed just before the crash is not delivered again. A clean stop
/// (everything committed) clears them.
///
/// Layout (little-endian Int64s): state (0 idle, 1 invoking, 2 timed out), started-at (ms since
/// the epoch), range count, `maximumRanges` ranges of (partition, first offset, last offset),
/// then `maximumPartitions` settled offsets (0: unknown).
public final class InvocationJournal: @unchecked Sendable {
    static let maximumRanges = 200
    static let maximumPartitions = 1024
    private static let headerWords = 3
    private static let settledStart = headerWords + maximumRanges * 3
    private static let size = (settledStart + maximumPartitions) * 8

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

    let url: URL
    private let words: UnsafeMutablePointer<Int64>
    /// Settled offsets a previous worker left behind when it died (partition: next offset).
    private(set) var recoveredSettled: [Int32: Int64] = [:]

    /// Opens (creating or resetting) the journal of `function` in `directory`; with `lane`, the
    /// journal of one of its concurrency lanes (ordering `key` or `unordered`).
    init(directory: URL, function: String, lane: Int? = nil) throws {
        url = Self.url(directory: directory, function: function, lane: lane)
        let descriptor = open(url.path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw JournalError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(Self.size)) == 0,
              let mapping = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw JournalError("cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        words = mapping.assumingMemoryBound(to: Int64.self)
        words[0] = State.idle.rawValue
        for partition in 0..<Self.maximumPartitions where words[Self.settledStart + partition] > 0 {
            recoveredSettled[Int32(partition)] = words[Self.settledStart + partition]
            words[Self.settledStart + partition] = 0
        }
    }

    /// Everything of `partition` before `offset` is settled.
    @inline(__always)
    func recordSettled(partition: Int32, offset: Int64) {
        if partition >= 0 && Int(partition) < Self.maximumPartitions { words[Self.settledStart + Int(partition)] = offset }
    }

    /// After a clean stop everything settled is committed: nothing to recover.
    func clearSettled() {
        for partition in 0..<Self.maximumPartitions { words[Self.settledStart + partition] = 0 }
    }

    func forgetRecovered(_ partition: Int32) {
        recoveredSettled.removeValue(forKey: partition)
    }

    deinit {
        munmap(words, Self.size)
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

    /// Records that the messages in `ranges` are about to be invoked.
    @inline(__always)
    func begin(_ ranges: UnsafeBufferPointer<Range>, startedAtMs: Int64) {
        let count = min(ranges.count, Self.maximumRanges)
        for index in 0..<count {
            words[Self.headerWords + index * 3] = Int64(ranges[index].partition)
            words[Self.headerWords + index * 3 + 1] = ranges[index].first
            words[Self.headerWords + index * 3 + 2] = ranges[index].last
        }
        words[2] = Int64(count)
        words[1] = startedAtMs
        words[0] = State.invoking.rawValue
    }

    @inline(__always)
    func end() {
        words[0] = State.idle.rawValue
    }

    func markTimedOut() {
        words[0] = State.timedOut.rawValue
    }

    /// When the invocation in progress started (ms since the epoch), or nil when idle.
    var invocationStartedAtMs: Int64? {
        words[0] == State.invoking.rawValue ? words[1] : nil
    }

    /// What a journal file left behind says: its state and in-flight ranges.
    public static func read(_ url: URL) -> (state: State, ranges: [Range])? {
        guard let data = try? Data(contentsOf: url), data.count >= settledStart * 8 else { return nil }
        return data.withUnsafeBytes { raw in
            let words = raw.bindMemory(to: Int64.self)
            guard let state = State(rawValue: words[0]) else { return nil }
            let count = Int(min(max(words[2], 0), Int64(maximumRanges)))
            let ranges = (0..<count).map { index in
                Range(partition: Int32(truncatingIfNeeded: words[headerWords + index * 3]),
                      first: words[headerWords + index * 3 + 1], last: words[headerWords + index * 3 + 2])
            }
            return (state, ranges)
        }
    }
}

struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
