import Foundation
import Logging
import Testing
@testable import FunctionHost

/// The parts of the delivery path that need no broker: the failure policy both ordering engines
/// follow, the offset ledger of every ordering, UTF-8 validation and the JSON writer.
@Suite("Failure policy", .timeLimit(.minutes(10)))
struct FailurePolicyTests {
    private func policy(_ retry: RetryPolicy, _ capture: LogCapture) -> FailurePolicy {
        FailurePolicy(retry: retry, functionName: "Orders", deadLetterTopic: "orders.dlq", logger: capture.logger())
    }

    @Test func exponentialBackoffDoublesUpToItsMaximumThenDeadLetters() {
        let capture = LogCapture()
        let failures = policy(RetryPolicy(strategy: .exponentialBackoff(minimumSeconds: 1, maximumSeconds: 5), maxRetryCount: 4), capture)
        let decisions = (1...5).map { failures.decide(afterFailures: $0, messages: "topic orders partition 0 offset 7", error: "boom", waiting: "the partition") }
        #expect(decisions == [.retry(after: .seconds(1)), .retry(after: .seconds(2)), .retry(after: .seconds(4)), .retry(after: .seconds(5)), .deadLetter])
        #expect(capture.contains("error", "Function 'Orders' failed at topic orders partition 0 offset 7: boom. Attempt 1 failed; trying again in 1 s (the partition waits"))
        #expect(capture.contains("Attempt 5 failed and the retry policy allows no more; sending to dead-letter topic orders.dlq"))
    }

    @Test func fixedDelayForeverNeverDeadLetters() {
        let failures = policy(RetryPolicy(strategy: .fixedDelay(seconds: 0.5), maxRetryCount: -1), LogCapture())
        for attempt in [1, 10, 10_000] {
            #expect(failures.decide(afterFailures: attempt, messages: "m", error: "e", waiting: "w") == .retry(after: .milliseconds(500)))
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

@Suite("Offset ledger (every ordering)", .timeLimit(.minutes(10)))
struct OffsetLedgerTests {
    // MARK: Out of order (the lanes)

    @Test func theStorableOffsetStopsAtTheFirstUnsettledMessage() {
        var advanced: [(Int32, Int64)] = []
        let ledger = OffsetLedger { advanced.append(($0, $1)) }
        for offset in Int64(10)...14 { ledger.dispatched(0, offset: offset) }
        ledger.settled(0, offset: 12)
        ledger.settled(0, offset: 13)
        #expect(ledger.takeOffsetsToStore().isEmpty, "10 and 11 are not settled: nothing may be stored")
        ledger.settled(0, offset: 10)
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [11])
        ledger.settled(0, offset: 11)
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [14], "11, 12 and 13 all settled: store past 13")
        #expect(advanced.map(\.1) == [11, 14])
        #expect(ledger.inFlight == 1)
    }

    @Test func aDroppedMessageHoldsItsPartitionBackForGood() {
        let ledger = OffsetLedger()
        ledger.dispatched(3, offset: 0)
        ledger.dispatched(3, offset: 1)
        ledger.dropped(3, offset: 0)
        ledger.settled(3, offset: 1)
        #expect(ledger.takeOffsetsToStore().isEmpty)
        #expect(ledger.waitUntilIdle([3], deadline: Date()))
    }

    @Test func waitingForAPartitionEndsAtTheDeadline() {
        let ledger = OffsetLedger()
        ledger.dispatched(0, offset: 0)
        let started = Date()
        #expect(!ledger.waitUntilIdle([0], deadline: started.addingTimeInterval(0.05)))
        #expect(ledger.waitUntilIdle([1], deadline: started), "another partition has nothing in flight")
    }

    @Test func aLaneSettlingOnAnotherThreadWakesTheWaiter() {
        let ledger = OffsetLedger()
        ledger.dispatched(0, offset: 5)
        let lane = Thread { Thread.sleep(forTimeInterval: 0.05); ledger.settled(0, offset: 5) }
        lane.start()
        #expect(ledger.waitUntilIdle(nil, deadline: Date().addingTimeInterval(10)))
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [6])
    }

    @Test func anOffsetTakenBackIsNotWaitedFor() {
        let ledger = OffsetLedger()
        ledger.dispatched(1, offset: 7)
        ledger.dispatched(1, offset: 8)
        ledger.forgetLast(1)
        ledger.settled(1, offset: 7)
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [8])
        #expect(ledger.inFlight == 0)
    }

    // MARK: In order (ordering partition)

    @Test func theOffsetToStoreNeverMovesBackwards() {
        let ledger = OffsetLedger()
        #expect(ledger.settle(0, upTo: 3, pending: false))
        // A filtered message behind a batch, reported after the batch past it.
        #expect(!ledger.settle(0, upTo: 2, pending: false))
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [3])
        #expect(ledger.takeOffsetsToStore().isEmpty, "taken: nothing moved since")
        #expect(ledger.isSettled(0, offset: 2))
        #expect(!ledger.isSettled(0, offset: 3))
        #expect(!ledger.isSettled(5, offset: 0), "a partition never seen settled nothing")
        ledger.forget([0])
        #expect(!ledger.isSettled(0, offset: 2), "forgotten: no second copies any more")
        ledger.settle(0, upTo: 1, pending: false)
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [1], "a new assignment starts afresh")
    }

    @Test func pendingRecordsAreStorableOnlyAfterTheFlush() {
        let ledger = OffsetLedger()
        ledger.settle(0, upTo: 2, pending: false)
        ledger.settle(0, upTo: 4, pending: true)
        // Behind a pending record a durable one waits for the flush too.
        ledger.settle(0, upTo: 6, pending: false)
        ledger.settle(1, upTo: 9, pending: false)
        #expect(ledger.hasPending)
        #expect(ledger.takeOffsetsToStore().map { [$0.partition: $0.offset] } == [[0: 2], [1: 9]])
        #expect(ledger.isSettled(0, offset: 5), "settled, though not durable: not invoked again")
        let durable = ledger.pendingBecameDurable()
        #expect(durable.map { [$0.partition: $0.offset] } == [[0: 6]])
        #expect(!ledger.hasPending)
        #expect(ledger.takeOffsetsToStore().map { [$0.partition: $0.offset] } == [[0: 6]])
        ledger.settle(0, upTo: 7, pending: false)
        #expect(ledger.takeOffsetsToStore().map(\.offset) == [7], "after the flush, durable again at once")
    }

    // MARK: Both

    @Test func assignedPartitionsAreKeptAsBits() {
        var set = PartitionSet()
        #expect(set.isEmpty && !set.contains(0) && !set.contains(-1))
        set.formUnion([3, 64, 0, 3, 200])
        #expect(set.count == 4, "3 inserted twice counts once")
        #expect(Array(set) == [0, 3, 64, 200], "ascending, across words")
        #expect(set.contains(64) && !set.contains(63) && !set.contains(201) && !set.contains(100_000))
        set.subtract([3, 7])
        #expect(Array(set) == [0, 64, 200] && set.count == 3, "removing one never inserted changes nothing")
        set.subtract([0, 64, 200])
        #expect(set.isEmpty && Array(set).isEmpty)
    }

    /// The same messages settled in order (one at a time, as ordering partition does) and out of
    /// order in offset order (as one lane would) store the same offsets; settled out of order,
    /// the storable offset only ever equals one the in-order path passed through.
    @Test func bothWaysInAgree() {
        let offsets = Array(Int64(100)..<164)
        let inOrder = OffsetLedger(), outOfOrder = OffsetLedger(), shuffled = OffsetLedger()
        var stored: [Int64] = []
        var storedShuffled: [Int64] = []
        offsets.forEach { outOfOrder.dispatched(2, offset: $0); shuffled.dispatched(2, offset: $0) }
        var generator = SystemRandomNumberGenerator()
        let order = offsets.shuffled(using: &generator)
        for (offset, other) in zip(offsets, order) {
            inOrder.settle(2, upTo: offset + 1, pending: false)
            outOfOrder.settled(2, offset: offset)
            shuffled.settled(2, offset: other)
            let expected = inOrder.takeOffsetsToStore()
            #expect(outOfOrder.takeOffsetsToStore().map(\.offset) == expected.map(\.offset))
            stored += expected.map(\.offset)
            storedShuffled += shuffled.takeOffsetsToStore().map(\.offset)
        }
        #expect(stored == offsets.map { $0 + 1 })
        #expect(storedShuffled.last == 164)
        #expect(Set(storedShuffled).isSubset(of: Set(stored)))
        #expect(storedShuffled == storedShuffled.sorted())
        #expect(outOfOrder.inFlight == 0 && shuffled.inFlight == 0)
    }

    @Test func forgettingAPartitionDropsItsWindowAndLateSettlementsAreIgnored() {
        let ledger = OffsetLedger()
        ledger.dispatched(0, offset: 1)
        ledger.dispatched(4, offset: 1)
        ledger.forget([0])
        #expect(ledger.inFlight == 1)
        ledger.settled(0, offset: 1)
        ledger.settled(4, offset: 1)
        #expect(ledger.takeOffsetsToStore().map { [$0.partition: $0.offset] } == [[4: 2]])
        ledger.forgetAll()
        ledger.settled(9, offset: 0)
        #expect(ledger.takeOffsetsToStore().isEmpty)
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
