import Foundation
import Glibc

/// A small memory-mapped file per function saying which messages are being invoked right now.
/// Stores go to a shared file mapping, so they survive a crash of the process: the supervisor
/// reads the journal after the worker died to learn which messages were in flight. Recording an
/// invocation is a handful of stores, no system call.
///
/// Layout (little-endian): state (Int64: 0 idle, 1 invoking, 2 timed out), started-at (Int64, ms
/// since the epoch), range count (Int64), then up to `maximumRanges` ranges of (partition,
/// first offset, last offset) as Int64s.
final class InvocationJournal: @unchecked Sendable {
    static let maximumRanges = 200
    private static let headerWords = 3
    private static let size = (headerWords + maximumRanges * 3) * 8

    enum State: Int64 {
        case idle = 0
        case invoking = 1
        case timedOut = 2
    }

    struct Range: Equatable, Sendable {
        var partition: Int32
        var first: Int64
        var last: Int64
    }

    let url: URL
    private let words: UnsafeMutablePointer<Int64>

    /// Opens (creating or resetting) the journal of `function` in `directory`.
    init(directory: URL, function: String) throws {
        url = Self.url(directory: directory, function: function)
        let descriptor = open(url.path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw JournalError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(Self.size)) == 0,
              let mapping = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw JournalError("cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        words = mapping.assumingMemoryBound(to: Int64.self)
        words[0] = State.idle.rawValue
    }

    deinit {
        munmap(words, Self.size)
    }

    static func url(directory: URL, function: String) -> URL {
        directory.appendingPathComponent("inflight-\(function).journal")
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
    static func read(_ url: URL) -> (state: State, ranges: [Range])? {
        guard let data = try? Data(contentsOf: url), data.count >= size else { return nil }
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
