import CRdKafka
import Foundation
import Logging

/// One thread that calls the function, with a bounded queue of messages in front of it
/// (ordering `key` or `unordered`). Messages of one key always go to the same lane, so a lane
/// runs them in the order they were consumed, one at a time; lanes run side by side.
///
/// A failed message is retried by its lane, in place, per the retry policy, then dead-lettered:
/// later messages of the lane (the same keys, among others) wait for it, as they must to stay in
/// order, while the other lanes go on.
final class InvocationLane: @unchecked Sendable {
    /// What the lane does with a queued message.
    enum Disposition: UInt8 {
        /// Call the function (in a batch with its neighbours for MANY).
        case invoke
        /// Call the function with this message alone: it crashed the host before.
        case invokeAlone
        /// It crashed the host `maxCrashesPerMessage` times: dead-letter it, do not call.
        case deadLetterCrashed
        /// Not UTF-8 for a string function: dead-letter it, do not call.
        case deadLetterInvalidText
        /// Older than the trigger's `maxRecordAge`: dead-letter it, do not call.
        case deadLetterRecordAge
        /// It matches none of the trigger's `filters`: settle it, do not call (never queued:
        /// the consuming thread settles it at once).
        case filteredOut
    }

    private struct Entry {
        var message: UnsafeMutablePointer<rd_kafka_message_t>
        var disposition: Disposition
    }

    let index: Int
    let capacity: Int
    let invoker: Invoker
    private unowned let dispatcher: ConcurrentDispatcher
    private let batchLimit: Int
    private let condition = NSCondition()
    // A ring of `capacity` entries: `count` of them from `head`.
    private let ring: UnsafeMutablePointer<Entry>
    private var head = 0
    private var count = 0
    private var exiting = false
    /// The messages being invoked right now (read under `condition` only by this thread).
    private let batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private let finished = DispatchSemaphore(value: 0)

    init(index: Int, capacity: Int, batchLimit: Int, invoker: Invoker, dispatcher: ConcurrentDispatcher) {
        self.index = index
        self.capacity = capacity
        self.batchLimit = batchLimit
        self.invoker = invoker
        self.dispatcher = dispatcher
        ring = .allocate(capacity: capacity)
        batch = .allocate(capacity: max(batchLimit, 1))
    }

    deinit {
        ring.deallocate()
        batch.deallocate()
    }

    var journal: InvocationJournal? { invoker.journal }

    func start(name: String) {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Queues `message`, waiting up to `roomWait` seconds while the lane is full; false when it
    /// stayed full (the caller then pauses the partitions).
    func enqueue(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ disposition: Disposition, roomWait: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if count >= capacity {
            let deadline = Date().addingTimeInterval(roomWait)
            while count >= capacity {
                if !condition.wait(until: deadline) && count >= capacity { return false }
            }
        }
        ring[(head + count) % capacity] = Entry(message: message, disposition: disposition)
        count += 1
        // The lane's thread and the consuming thread wait on the same condition.
        if count == 1 { condition.broadcast() }
        return true
    }

    /// Messages waiting in the queue (not the ones being invoked).
    var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Lets the thread end once its queue is empty; waits for it until `deadline`.
    func exit(deadline: DispatchTime) {
        condition.lock()
        exiting = true
        condition.signal()
        condition.unlock()
        _ = finished.wait(timeout: deadline)
    }

    // MARK: - The lane's thread

    private func run() {
        while let (taken, disposition) = take() {
            let messages = UnsafeMutableBufferPointer(start: batch, count: taken)
            switch disposition {
            case .invoke, .invokeAlone:
                invoke(messages)
            case .deadLetterCrashed:
                let crashes = dispatcher.crashCount(messages[0])
                deadLetter(Array(messages), reason: .crashed, error: DeadLetterReason.crashedError(times: crashes), attempts: crashes)
            case .deadLetterInvalidText:
                deadLetter(Array(messages), reason: .invalidUTF8, error: DeadLetterReason.invalidTextError, attempts: 0)
            case .deadLetterRecordAge:
                deadLetter(Array(messages), reason: .recordAge,
                           error: DeadLetterReason.recordAgeError(messages[0], maxSeconds: dispatcher.maxRecordAgeSeconds ?? 0), attempts: 0)
            case .filteredOut:
                messages.forEach(dispatcher.settle)
            }
            dispatcher.laneTookWork()
        }
    }

    /// Waits for work; moves the next call's messages into `batch`: one message, or for MANY
    /// up to `batchLimit` consecutive ones to invoke together. Nil when the lane is to end.
    private func take() -> (Int, Disposition)? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 {
            if exiting { return nil }
            condition.wait()
        }
        let first = ring[head]
        var taken = 1
        batch[0] = first.message
        if first.disposition == .invoke {
            while taken < batchLimit && taken < count {
                let next = ring[(head + taken) % capacity]
                guard next.disposition == .invoke else { break }
                batch[taken] = next.message
                taken += 1
            }
        }
        head = (head + taken) % capacity
        if count == capacity { condition.broadcast() }
        count -= taken
        return (taken, first.disposition)
    }

    /// Calls the function; retries what failed per the retry policy, then dead-letters it.
    private func invoke(_ messages: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        let outcome = invoker.attempt(UnsafeBufferPointer(messages))
        dispatcher.noteOutcome(outcome)
        if outcome.succeeded {
            messages.forEach(dispatcher.settle)
            return
        }
        var (failed, lastError) = settleSucceeded(messages, outcome)
        var failures = 1
        while true {
            let decision = dispatcher.failures.decide(afterFailures: failures, messages: dispatcher.describe(failed), error: lastError,
                                                      waiting: "the lane, with the messages of the same key,")
            guard case .retry(let delay) = decision else {
                deadLetter(failed, reason: .failed, error: lastError, attempts: failures)
                return
            }
            guard dispatcher.wait(seconds: delay, unlessGivingUp: failed) else { return }
            invoker.statistics.recordRetry()
            let retried = failed.withUnsafeBufferPointer { invoker.attempt($0) }
            (failed, lastError) = settleSucceeded(failed, retried)
            if failed.isEmpty { return }
            failures += 1
        }
    }

    /// Settles the messages `outcome` did not fail; returns the failed ones, in order, and the
    /// first one's reason.
    private func settleSucceeded<Messages: Collection<UnsafeMutablePointer<rd_kafka_message_t>>>(
        _ messages: Messages, _ outcome: InvocationOutcome
    ) -> (failed: [UnsafeMutablePointer<rd_kafka_message_t>], reason: String) {
        var failed: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        var reason = ""
        for (index, message) in messages.enumerated() {
            if outcome.failed(index) {
                if failed.isEmpty { reason = outcome.reason(for: index) }
                failed.append(message)
            } else {
                dispatcher.settle(message)
            }
        }
        return (failed, reason)
    }

    /// Sends `messages` to the dead-letter topic, trying again every 5 s while that fails (the
    /// lane waits: nothing is skipped).
    private func deadLetter(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int) {
        if reason != .failed { dispatcher.failures.refused(messages: dispatcher.describe(messages), error: error) }
        while true {
            if let failure = dispatcher.deadLetters.send(messages, reason: reason, error: error, attempts: attempts) {
                dispatcher.failures.deadLetterFailed(messages: dispatcher.describe(messages), failure: failure)
                guard dispatcher.wait(seconds: FailurePolicy.deadLetterRetrySeconds, unlessGivingUp: messages) else { return }
                continue
            }
            dispatcher.failures.deadLettered(messages: dispatcher.describe(messages), reason: reason, attempts: attempts)
            messages.forEach(dispatcher.settle)
            return
        }
    }
}
