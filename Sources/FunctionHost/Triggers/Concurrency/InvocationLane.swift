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
        /// Its schema is not in the registry: dead-letter it, do not call.
        case deadLetterSchemaNotFound
        /// It does not decode with its schema (or is not framed): dead-letter it, do not call.
        case deadLetterUndecodable
        /// The schema registry could not be asked: its partition waits and asks again (never
        /// queued: the consuming thread keeps it).
        case waitForSchemaRegistry
        /// It comes before the trigger's `startFrom` time, on a partition the cluster named no
        /// offset at that time for: settle it, do not call (never queued, like `filteredOut`).
        case beforeStartFrom
    }

    let index: Int
    let capacity: Int
    let invoker: Invoker
    private unowned let dispatcher: ConcurrentDispatcher
    private let batchLimit: Int
    private let condition = NSCondition()
    // A ring of `capacity` entries: `count` of them from `head`. It owns the messages it holds:
    // they come in and go out as RDKafkaMessage (a move).
    private let ringMessages: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private let ringDispositions: UnsafeMutablePointer<Disposition>
    private var head = 0
    private var count = 0
    private var exiting = false
    /// The messages being invoked right now, owned by this lane's thread (filled under `condition`).
    private var batch: RDKafkaMessages
    private let finished = DispatchSemaphore(value: 0)

    init(index: Int, capacity: Int, batchLimit: Int, invoker: Invoker, dispatcher: ConcurrentDispatcher) {
        self.index = index
        self.capacity = capacity
        self.batchLimit = batchLimit
        self.invoker = invoker
        self.dispatcher = dispatcher
        ringMessages = .allocate(capacity: capacity)
        ringDispositions = .allocate(capacity: capacity)
        batch = RDKafkaMessages(reservingCapacity: max(batchLimit, 1))
    }

    deinit {
        // The ring is empty: the thread ends only once it is (exit), and nothing is queued after.
        ringMessages.deallocate()
        ringDispositions.deallocate()
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

    /// Queues the message `take` hands over (called only once there is room), waiting up to
    /// `roomWait` seconds while the lane is full; false when it stayed full (the message is not
    /// taken, and the caller then pauses the partitions).
    func enqueue(_ disposition: Disposition, roomWait: Double, take: () -> RDKafkaMessage) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if count >= capacity {
            let deadline = Date().addingTimeInterval(roomWait)
            while count >= capacity {
                if !condition.wait(until: deadline) && count >= capacity { return false }
            }
        }
        let slot = (head + count) % capacity
        take().move(into: ringMessages + slot)
        ringDispositions[slot] = disposition
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
        while let disposition = take() {
            switch disposition {
            case .invoke, .invokeAlone, .waitForSchemaRegistry:
                // (waitForSchemaRegistry is never queued: the consuming thread keeps such a message.)
                invoke()
            case .deadLetterCrashed:
                let crashes = dispatcher.crashCount(batch[0])
                deadLetter(reason: .crashed, error: DeadLetterReason.crashedError(times: crashes), attempts: crashes)
            case .deadLetterInvalidText:
                deadLetter(reason: .invalidUTF8, error: DeadLetterReason.invalidTextError, attempts: 0)
            case .deadLetterRecordAge:
                deadLetter(reason: .recordAge,
                           error: DeadLetterReason.recordAgeError(batch[0], maxSeconds: dispatcher.maxRecordAgeSeconds ?? 0), attempts: 0)
            case .deadLetterSchemaNotFound, .deadLetterUndecodable:
                let failure = invoker.decoder?.check(batch[0])
                var error = "does not decode"
                if case .undecodable(_, let text)? = failure { error = text }
                deadLetter(reason: disposition == .deadLetterSchemaNotFound ? .schemaNotFound : .deserializationError, error: error, attempts: 0)
            case .filteredOut, .beforeStartFrom:
                batch.removeAll { dispatcher.settle($0) }
            }
            dispatcher.laneTookWork()
        }
    }

    /// Waits for work; moves the next call's messages into `batch`: one message, or for MANY
    /// up to `batchLimit` consecutive ones to invoke together. Nil when the lane is to end.
    private func take() -> Disposition? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 {
            if exiting { return nil }
            condition.wait()
        }
        let first = ringDispositions[head]
        batch.append(RDKafkaMessage(movingOutOf: ringMessages + head))
        var taken = 1
        if first == .invoke {
            while taken < batchLimit && taken < count {
                let slot = (head + taken) % capacity
                guard ringDispositions[slot] == .invoke else { break }
                batch.append(RDKafkaMessage(movingOutOf: ringMessages + slot))
                taken += 1
            }
        }
        head = (head + taken) % capacity
        if count == capacity { condition.broadcast() }
        count -= taken
        return first
    }

    /// Calls the function with `batch`; retries what failed per the retry policy, then
    /// dead-letters it. Leaves `batch` empty.
    private func invoke() {
        let outcome = batch.withPointers { invoker.attempt($0) }
        dispatcher.noteOutcome(outcome)
        if outcome.succeeded {
            batch.removeAll { dispatcher.settle($0) }
            return
        }
        var lastError = settleSucceeded(outcome)
        var failures = 1
        while true {
            let decision = dispatcher.failures.decide(afterFailures: failures, messages: dispatcher.describe(batch.pointers), error: lastError,
                                                      waiting: "the lane, with the messages of the same key,")
            guard case .retry(let delay) = decision else {
                deadLetter(reason: .failed, error: lastError, attempts: failures)
                return
            }
            guard dispatcher.wait(seconds: delay, unlessGivingUp: &batch) else { return }
            invoker.statistics.recordRetry()
            let retried = batch.withPointers { invoker.attempt($0) }
            lastError = settleSucceeded(retried)
            if batch.isEmpty { return }
            failures += 1
        }
    }

    /// Settles the messages of `batch` that `outcome` did not fail; the failed ones stay, in
    /// order. Returns the first failed one's reason.
    private func settleSucceeded(_ outcome: InvocationOutcome) -> String {
        let firstFailed = (0..<batch.count).first { outcome.failed($0) }
        batch.remove(where: { !outcome.failed($0) }) { dispatcher.settle($0) }
        return firstFailed.map { outcome.reason(for: $0) } ?? ""
    }

    /// Sends `batch` to the dead-letter topic, trying again every 5 s while that fails (the
    /// lane waits: nothing is skipped). Leaves `batch` empty.
    private func deadLetter(reason: DeadLetterReason, error: String, attempts: Int) {
        if reason != .failed { dispatcher.failures.refused(messages: dispatcher.describe(batch.pointers), error: error) }
        while true {
            if let failure = dispatcher.deadLetters.send(batch.pointers, reason: reason, error: error, attempts: attempts) {
                dispatcher.failures.deadLetterFailed(messages: dispatcher.describe(batch.pointers), failure: failure)
                guard dispatcher.wait(seconds: FailurePolicy.deadLetterRetrySeconds, unlessGivingUp: &batch) else { return }
                continue
            }
            dispatcher.failures.deadLettered(messages: dispatcher.describe(batch.pointers), reason: reason, attempts: attempts)
            batch.removeAll { dispatcher.settle($0) }
            return
        }
    }
}
