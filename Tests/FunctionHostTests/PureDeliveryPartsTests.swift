import Foundation
import Logging
import Testing
@testable import FunctionHost

/// The parts of the delivery path that need no broker: the failure policy both ordering engines
/// follow, the offset window of the lanes, UTF-8 validation and the JSON writer.
@Suite("Failure policy", .timeLimit(.minutes(10)))
struct FailurePolicyTests {
    private func policy(_ retry: RetryPolicy, _ capture: LogCapture) -> FailurePolicy {
        FailurePolicy(retry: retry, functionName: "Orders", deadLetterTopic: "orders.dlq", logger: capture.logger())
    }

    @Test func exponentialBackoffDoublesUpToItsMaximumThenDeadLetters() {
        let capture = LogCapture()
        let failures = policy(RetryPolicy(strategy: .exponentialBackoff(minimumSeconds: 1, maximumSeconds: 5), maxRetryCount: 4), capture)
        let decisions = (1...5).map { failures.decide(afterFailures: $0, messages: "topic orders partition 0 offset 7", error: "boom", waiting: "the partition") }
        #expect(decisions == [.retry(afterSeconds: 1), .retry(afterSeconds: 2), .retry(afterSeconds: 4), .retry(afterSeconds: 5), .deadLetter])
        #expect(capture.contains("error", "Function 'Orders' failed at topic orders partition 0 offset 7: boom. Attempt 1 failed; trying again in 1 s (the partition waits"))
        #expect(capture.contains("Attempt 5 failed and the retry policy allows no more; sending to dead-letter topic orders.dlq"))
    }

    @Test func fixedDelayForeverNeverDeadLetters() {
        let failures = policy(RetryPolicy(strategy: .fixedDelay(seconds: 0.5), maxRetryCount: -1), LogCapture())
        for attempt in [1, 10, 10_000] {
            #expect(failures.decide(afterFailures: attempt, messages: "m", error: "e", waiting: "w") == .retry(afterSeconds: 0.5))
        }
    }

    @Test func noRetriesDeadLettersAtTheFirstFailure() {
        let failures = policy(RetryPolicy(strategy: .fixedDelay(seconds: 1), maxRetryCount: 0), LogCapture())
        #expect(failures.decide(afterFailures: 1, messages: "m", error: "e", waiting: "w") == .deadLetter)
    }

    @Test func aFailedDeadLetterSendSaysNothingIsSkipped() {
        let capture = LogCapture()
        policy(.default, capture).deadLetterFailed(messages: "topic orders partition 2 offset 9", failure: "broker down")
        #expect(capture.contains("critical", "sending topic orders partition 2 offset 9 to dead-letter topic orders.dlq FAILED: broker down", "does not move forward", "trying again in 5 s"))
    }

    @Test func messagesAreDescribedPerPartitionInOrder() {
        #expect(FailurePolicy.describe(topic: "t", [(1, 5), (0, 3), (1, 6)]) == "topic t partition 0 offset 3; topic t partition 1 offset 5,6")
    }
}

@Suite("Completion tracker (offset window of the lanes)", .timeLimit(.minutes(10)))
struct CompletionTrackerTests {
    @Test func theStorableOffsetStopsAtTheFirstUnsettledMessage() {
        var advanced: [(Int32, Int64)] = []
        let tracker = CompletionTracker { advanced.append(($0, $1)) }
        for offset in Int64(10)...14 { tracker.dispatched(partition: 0, offset: offset) }
        tracker.settled(partition: 0, offset: 12)
        tracker.settled(partition: 0, offset: 13)
        #expect(tracker.takeOffsetsToStore().isEmpty, "10 and 11 are not settled: nothing may be stored")
        tracker.settled(partition: 0, offset: 10)
        #expect(tracker.takeOffsetsToStore().map(\.offset) == [11])
        tracker.settled(partition: 0, offset: 11)
        #expect(tracker.takeOffsetsToStore().map(\.offset) == [14], "11, 12 and 13 all settled: store past 13")
        #expect(advanced.map(\.1) == [11, 14])
        #expect(tracker.inFlight == 1)
    }

    @Test func aDroppedMessageHoldsItsPartitionBackForGood() {
        let tracker = CompletionTracker()
        tracker.dispatched(partition: 3, offset: 0)
        tracker.dispatched(partition: 3, offset: 1)
        tracker.dropped(partition: 3, offset: 0)
        tracker.settled(partition: 3, offset: 1)
        #expect(tracker.takeOffsetsToStore().isEmpty)
        #expect(tracker.waitUntilIdle([3], deadline: Date()))
    }

    @Test func waitingForAPartitionEndsAtTheDeadline() {
        let tracker = CompletionTracker()
        tracker.dispatched(partition: 0, offset: 0)
        let started = Date()
        #expect(!tracker.waitUntilIdle([0], deadline: started.addingTimeInterval(0.05)))
        #expect(tracker.waitUntilIdle([1], deadline: started), "another partition has nothing in flight")
    }
}

@Suite("Partition progress (ordering partition)", .timeLimit(.minutes(10)))
struct PartitionProgressTests {
    @Test func theOffsetToStoreNeverMovesBackwards() {
        var progress = PartitionProgress()
        progress.advance(0, to: 3, pending: false)
        // A filtered message behind a batch, reported after the batch past it.
        progress.advance(0, to: 2, pending: false)
        #expect(progress.takeOffsetsToStore().map(\.offset) == [3])
        #expect(progress.isSettled(0, offset: 2))
        #expect(!progress.isSettled(0, offset: 3))
        progress.reset(0)
        progress.advance(0, to: 1, pending: false)
        #expect(progress.takeOffsetsToStore().map(\.offset) == [1], "a new assignment starts afresh")
    }
}

@Suite("UTF-8 validation and the JSON writer", .timeLimit(.minutes(10)))
struct TextTests {
    private func valid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { isValidUTF8($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count) }
    }

    @Test func wellFormedTextIsAccepted() {
        #expect(valid([]))
        #expect(valid(Array("plain ASCII, longer than eight bytes".utf8)))
        #expect(valid(Array("grüße, 日本語, 🎉 emoji".utf8)))
        #expect(valid([0xF4, 0x8F, 0xBF, 0xBF]), "U+10FFFF, the last code point")
    }

    @Test func malformedTextIsRefused() {
        #expect(!valid([0xC0, 0xAF]), "overlong '/'")
        #expect(!valid([0xED, 0xA0, 0x80]), "a UTF-16 surrogate")
        #expect(!valid([0xF4, 0x90, 0x80, 0x80]), "past U+10FFFF")
        #expect(!valid([0xE2, 0x82]), "cut short")
        #expect(!valid(Array("12345678".utf8) + [0xFF]), "a bad byte after an ASCII run")
        #expect(!valid([0x80]), "a lone continuation byte")
    }

    private func json(_ write: (JSONBuffer) -> Void) -> String {
        let buffer = JSONBuffer(capacity: 4)
        write(buffer)
        return String(decoding: UnsafeBufferPointer(start: buffer.bytes, count: buffer.count), as: UTF8.self)
    }

    @Test func stringsAreEscapedAndAlwaysValidJSON() throws {
        #expect(json { $0.string("a\"b\\c\n\u{01}") } == #""a\"b\\c\n\u0001""#)
        let invalid: [UInt8] = [0x61, 0xFF, 0x62]
        let repaired = invalid.withUnsafeBytes { bytes in json { $0.string(bytes) } }
        #expect(repaired == "\"a\u{FFFD}b\"")
        let parsed = try JSONSerialization.jsonObject(with: Data(repaired.utf8), options: .fragmentsAllowed) as? String
        #expect(parsed == "a\u{FFFD}b")
    }

    @Test func numbersBytesAndTimes() {
        #expect(json { $0.integer(Int64.min) } == "-9223372036854775808")
        #expect(json { $0.integer(0) } == "0")
        let bytes: [UInt8] = Array("hello".utf8)
        #expect(bytes.withUnsafeBytes { data in json { $0.base64(data) } } == #""aGVsbG8=""#)
        #expect(json { $0.iso8601(milliseconds: 1_700_000_000_123) }.contains("2023-11-14T22:13:20.123"))
    }
}
