import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// The optional `ENTRY_flush` export of a function that returns SF_PENDING.
typealias FlushFunction = @convention(c) (UnsafePointer<sf_context>?) -> Int32

/// One function's consumer: a librdkafka consumer group member on its own thread (never on
/// Swift's cooperative pool) that fetches what is there, calls the function through its call
/// interface, and stores a partition's offset only past messages that are settled: succeeded
/// (and, for SF_PENDING, flushed) or dead-lettered.
///
/// A failed message holds its partition: the partition is paused, the failed messages are kept,
/// and after the retry policy's delay they are invoked again; once they are settled the
/// partition is sought to where it left off and resumed. The consumer keeps polling meanwhile, so
/// the group never times it out and other partitions keep flowing.
final class TriggerListener: @unchecked Sendable {
    /// Where the host keeps what must survive a crash of the process (journals, crash counts);
    /// nil when the host runs without a supervisor.
    struct CrashProtection {
        var directory: URL
        var maxCrashesPerMessage: Int
    }

    let function: FunctionConfiguration
    private let options: KafkaOptions
    private let failures: FailurePolicy
    let logger: Logger
    /// Calls the function from the consuming thread (ordering `partition`).
    let invoker: Invoker
    private var context: InvocationContext { invoker.context }
    private let flushFunction: FlushFunction?
    let deadLetters: DeadLetterWriter
    private let fetched: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private let eligible: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private let fetchCapacity: Int
    private let stopRequested = Atomic<Bool>(false)
    /// Messages settled (succeeded, dead-lettered or filtered out), for the health report.
    let settledCount = Atomic<Int>(0)
    /// Messages that matched none of the trigger's `filters`: settled without a call.
    let filteredCount = Atomic<Int>(0)
    private let filter: MessageFilter?
    /// The trigger's `maxRecordAge` in milliseconds; nil: any age.
    private let maxRecordAgeMs: Int64?
    /// The last error librdkafka reported for this consumer, for the health report.
    let lastClientError = Mutex<String?>(nil)
    /// Held while the consumer handle may be used from another thread (the health probe).
    let handleLock = Mutex<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)
    var progress = PartitionProgress()
    /// Partitions this member owns right now. A fetch can hold messages taken from the queue
    /// before a revocation was served in the same call; those are dropped (their new owner
    /// starts from the committed offset), never processed by a member that gave them up.
    var assigned = Set<Int32>()
    /// Messages of the current fetch kept for a retry: not destroyed with the fetch.
    private var retainedThisFetch: Set<UnsafeMutablePointer<rd_kafka_message_t>> = []
    private var lastFlush = monotonicNanoseconds()
    private var warnedAboutMissingFlush = false
    /// A revoke's commit failed: what it carried stays in the settlement journal after a stop.
    private var revokeCommitFailed = false
    /// The consuming thread's in-flight journal (ordering `partition`).
    let journal: InvocationJournal?
    /// How far each partition is settled, kept across a crash.
    let settlement: SettlementJournal?
    let committer: OffsetCommitter
    private let crashes: CrashLedger?
    private let maxCrashesPerMessage: Int
    var consumer: OpaquePointer!
    var queue: OpaquePointer!
    /// Ordering `key` or `unordered`: the lanes that call the function; nil for `partition`,
    /// where the consuming thread calls it.
    var dispatcher: ConcurrentDispatcher?
    /// Per partition, the offset after the last message handed to a lane (-1: none yet).
    private var nextToDispatch: [Int64] = []
    /// The lanes were full: every assigned partition is paused until they have room again.
    var pausedForBackpressure = false
    /// While paused for backpressure: per partition, the first message that was fetched but not
    /// handed to a lane, where consumption continues.
    private var resumeAt: [Int32: Int64] = [:]
    /// Counters, owned partitions and operator requests for the operations endpoint (Operations/).
    let operations = ListenerOperations()

    /// Events fetched at once for a ONE function (each still gets its own call).
    static let fetchSizeForOne = 512

    /// Creates the consumer and subscribes it; nothing is consumed until ``start()``.
    /// - Throws: ``KafkaError`` when librdkafka refuses the configuration.
    /// - Parameter drainTimeoutSeconds: how long a revocation or a stop waits for invocations in
    ///   progress (the host's shutdownTimeout); past it they are given up and delivered again later.
    init(function: FunctionConfiguration, library: FunctionLibrary, options: KafkaOptions, retry: RetryPolicy,
         producers: ProducerPool, crashProtection: CrashProtection?, drainTimeoutSeconds: Double = 30, logger: Logger) throws {
        self.function = function
        self.options = options
        self.logger = logger
        filter = function.trigger.filter
        maxRecordAgeMs = function.trigger.maxRecordAgeSeconds.map { Int64($0 * 1000) }
        flushFunction = library.flushFunction.map { unsafeBitCast($0, to: FlushFunction.self) }
        deadLetters = try DeadLetterWriter(function: function, producers: producers)
        failures = FailurePolicy(retry: retry, functionName: function.name, deadLetterTopic: function.deadLetterTopic, logger: logger)
        fetchCapacity = function.trigger.cardinality == .many ? options.maxBatchSize : Self.fetchSizeForOne
        // Room for a fetch plus the messages carried over from the previous one.
        fetched = .allocate(capacity: 2 * fetchCapacity)
        eligible = .allocate(capacity: 2 * fetchCapacity)
        let subject = SettlementJournal.Subject(consumerGroup: function.trigger.consumerGroup, topic: function.trigger.topic)
        if let crashProtection {
            journal = try InvocationJournal(directory: crashProtection.directory, function: function.name, subject: subject)
            settlement = try SettlementJournal(directory: crashProtection.directory, function: function.name, subject: subject)
            crashes = CrashLedger(CrashRecords(directory: crashProtection.directory, function: function.name, subject: subject.text))
            maxCrashesPerMessage = crashProtection.maxCrashesPerMessage
        } else {
            journal = nil
            settlement = nil
            crashes = nil
            maxCrashesPerMessage = .max
        }
        if let settlement, let reason = settlement.discarded {
            logger.info("'\(function.name)': the settlement journal \(settlement.url.lastPathComponent) was set aside: \(reason); nothing from it is applied")
        }
        committer = OffsetCommitter(topic: function.trigger.topic, functionName: function.name, journal: settlement,
                                    intervalMs: options.autoCommitIntervalMs, startWithoutCommit: options.autoOffsetReset, logger: logger)
        invoker = try Invoker(function: function, library: library, capacity: fetchCapacity, producers: producers,
                              journal: journal, logger: logger)
        if function.trigger.ordering != .partition && flushFunction != nil {
            throw ConfigurationError(file: function.file, field: "\(function.trigger.path).ordering",
                "'\(function.trigger.ordering.rawValue)' runs invocations side by side, but the library exports \(function.entryPoint)_flush (SF_PENDING), whose flush must follow the records in order: use ordering partition, or drop the flush export")
        }

        var properties: [(String, String)] = [
            ("group.id", function.trigger.consumerGroup),
            ("client.id", "swiftfunc-\(function.name)"),
            // The host commits settled offsets itself, tagged for crash recovery (OffsetCommitter).
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ]
        properties += options.consumerProperties
        properties += MockClusterDetection.consumerProperties(for: function.trigger.connection)
        properties += function.trigger.connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        RDKafkaLog.register(clientID: "swiftfunc-\(function.name)", logger: logger)
        let configuration = try KafkaClient.makeConfiguration(properties, origin: "consumer of \(function.name)")
        rd_kafka_conf_set_opaque(configuration, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(configuration, rebalanceCallback)
        rd_kafka_conf_set_error_cb(configuration, errorCallback)
        rd_kafka_conf_set_offset_commit_cb(configuration, offsetCommitCallback)
        consumer = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: configuration)
        rd_kafka_poll_set_consumer(consumer)
        queue = rd_kafka_queue_get_consumer(consumer)
        let topics = RDKafkaTopicPartitionList(topic: function.trigger.topic, [(crdkafka_partition_unassigned(), crdkafka_offset_invalid())])
        let result = topics.withListPointer { rd_kafka_subscribe(consumer, $0) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            close()
            throw KafkaError(result, while: "subscribing to '\(function.trigger.topic)'")
        }
        if function.trigger.ordering != .partition {
            dispatcher = try ConcurrentDispatcher(
                function: function, library: library, options: options, retry: retry, producers: producers,
                deadLetters: deadLetters, crashes: crashes, journalDirectory: crashProtection?.directory,
                settlementJournal: settlement, drainTimeoutSeconds: drainTimeoutSeconds, logger: logger,
                onSettled: { [unowned self] in settledCount.wrappingAdd(1, ordering: .relaxed) },
                onRoom: { [unowned self] in if let queue { rd_kafka_queue_yield(queue) } })
        }
    }

    /// Every journal of the function's invocations (the consuming thread's and its lanes').
    var journals: [InvocationJournal] {
        (journal.map { [$0] } ?? []) + (dispatcher?.journals ?? [])
    }

    deinit {
        fetched.deallocate()
        eligible.deallocate()
    }

    /// Starts consuming on a dedicated thread.
    func start() {
        let thread = Thread { [self] in
            if let dispatcher { runConcurrent(dispatcher) } else { run() }
            finished.signal()
        }
        thread.name = "swiftfunc-\(function.name)"
        thread.start()
    }

    /// Asks the consuming thread to stop after the invocation in progress.
    func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
        context.cancel()
        rd_kafka_queue_yield(queue)
    }

    /// Waits until the consuming thread has committed and left the group, up to `timeout` seconds.
    /// - Returns: false when it did not finish in time.
    func waitUntilStopped(timeout: Double) -> Bool {
        finished.wait(timeout: .now() + timeout) == .success
    }

    // MARK: - The consuming thread

    private func run() {
        var carried = 0
        while !stopRequested.load(ordering: .relaxed) {
            serviceOperations(carried: carried)
            if operations.state == .running { attemptDueHeldPartitions() }
            flushIfDue()
            // Messages carried over from the previous fetch come first; new ones join them
            // without waiting when some are already there.
            // The buffers hold two fetches' worth: new messages fill what the carried ones
            // leave (a round always handles some, so there is always room for one).
            let room = min(fetchCapacity, 2 * fetchCapacity - carried)
            let count = carried + fetch(into: fetched + carried, capacity: room, timeoutMs: carried > 0 ? 0 : pollTimeoutMs())
            carried = 0
            // Nothing new: a retry or dead letter settled meanwhile is stored now, and settled
            // offsets still go out on the commit interval.
            guard count > 0 else { storeOffsets(); continue }
            let eligibleCount = collectEligible(count)
            var carry = UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>(start: eligible, count: 0)
            if eligibleCount > 0 {
                if function.trigger.cardinality == .one {
                    let started = monotonicNanoseconds()
                    for index in 0..<eligibleCount {
                        if stopRequested.load(ordering: .relaxed) { break }
                        // A slow function must not keep the consumer from polling for long: a
                        // rebalance waits on that poll. The rest of the fetch is carried over.
                        if index & 7 == 7, monotonicNanoseconds() - started > Self.oneFetchTimeBudget {
                            carry = UnsafeMutableBufferPointer(start: eligible + index, count: eligibleCount - index)
                            break
                        }
                        deliverFresh(UnsafeMutableBufferPointer(start: eligible + index, count: 1))
                    }
                } else {
                    deliverFresh(UnsafeMutableBufferPointer(start: eligible, count: eligibleCount))
                }
            }
            carry.forEach { retainedThisFetch.insert($0) }
            for index in 0..<count {
                guard let message = fetched[index] else { continue }
                if retainedThisFetch.isEmpty || !retainedThisFetch.contains(message) { rd_kafka_message_destroy(message) }
            }
            for (index, message) in carry.enumerated() { fetched[index] = message }
            carried = carry.count
            retainedThisFetch.removeAll(keepingCapacity: true)
            storeOffsets()
        }
        for index in 0..<carried { fetched[index].map(rd_kafka_message_destroy) }
        flush(reason: "shutdown")
        close()
    }

    /// How long a ONE function may work through one fetch before the consumer polls again
    /// (serving a rebalance, say); the rest of the fetch waits for the next round.
    static let oneFetchTimeBudget: UInt64 = 250_000_000

    /// Takes what is already fetched without waiting; waits (up to `timeoutMs`) only when
    /// nothing is there, and then only for the first message.
    private func fetch(into buffer: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>, capacity: Int, timeoutMs: Int32) -> Int {
        var count = rd_kafka_consume_batch_queue(queue, 0, buffer, capacity)
        if count == 0 && timeoutMs > 0 {
            count = rd_kafka_consume_batch_queue(queue, timeoutMs, buffer, 1)
            if count == 1 && capacity > 1 {
                count += max(0, rd_kafka_consume_batch_queue(queue, 0, buffer + 1, capacity - 1))
            }
        }
        if count > 0 { operations.consumed(count) }
        return max(0, count)
    }

    private func pollTimeoutMs() -> Int32 {
        var wait = UInt64(options.subscriberIntervalInSeconds) * 1_000_000_000
        // Paused by the operator: retries wait too.
        if operations.state != .running { return Int32(clamping: wait / 1_000_000) }
        let now = monotonicNanoseconds()
        if let untilAttempt = progress.timeUntilNextAttempt(now: now) { wait = min(wait, untilAttempt) }
        if let untilCommit = committer.timeUntilNextCommit(now: now) { wait = min(wait, untilCommit) }
        if flushFunction != nil && progress.hasPending {
            let interval = UInt64(function.flushIntervalSeconds * 1e9)
            wait = min(wait, lastFlush + interval > now ? lastFlush + interval - now : 0)
        }
        return Int32(clamping: (wait + 999_999) / 1_000_000)
    }

    /// The messages of the fetch that are real records of partitions not held at a failure.
    /// Records of a held partition are dropped: they are fetched again after the seek.
    private func collectEligible(_ count: Int) -> Int {
        var eligibleCount = 0
        for index in 0..<count {
            guard let message = fetched[index] else { continue }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                reportConsumeError(message)
                continue
            }
            let partition = message.pointee.partition
            if progress.isHeld(partition) || !assigned.contains(partition) || progress.isSettled(partition, offset: message.pointee.offset) {
                continue
            }
            eligible[eligibleCount] = message
            eligibleCount += 1
        }
        return eligibleCount
    }

    // MARK: - Ordering key or unordered: the consuming thread feeds the lanes

    private func runConcurrent(_ dispatcher: ConcurrentDispatcher) {
        while !stopRequested.load(ordering: .relaxed) {
            serviceOperations(carried: 0)
            if pausedForBackpressure && dispatcher.hasRoom && operations.state == .running { resumeAfterBackpressure() }
            // While lanes work, poll often enough that their settled offsets are stored soon.
            let busy = pausedForBackpressure || dispatcher.inFlight > 0
            let count = fetch(into: fetched, capacity: fetchCapacity, timeoutMs: busy ? 50 : pollTimeoutMs())
            for index in 0..<count {
                guard let message = fetched[index] else { continue }
                if !dispatchIfEligible(message, dispatcher) { rd_kafka_message_destroy(message) }
            }
            storeOffsets()
        }
        dispatcher.shutdown()
        close()
    }

    /// Hands `message` to its lane; false when it is not taken (and must be destroyed): an
    /// error, a partition this member no longer owns, a second copy, or the lanes are full.
    private func dispatchIfEligible(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ dispatcher: ConcurrentDispatcher) -> Bool {
        if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            reportConsumeError(message)
            return false
        }
        let partition = message.pointee.partition
        let offset = message.pointee.offset
        guard assigned.contains(partition), offset >= nextToDispatch(partition) else { return false }
        if pausedForBackpressure {
            if resumeAt[partition] == nil { resumeAt[partition] = offset }
            return false
        }
        let disposition = disposition(message)
        if disposition == .filteredOut {
            filteredCount.wrappingAdd(1, ordering: .relaxed)
            dispatcher.settleWithoutInvocation(message)
            nextToDispatch[Int(partition)] = offset + 1
            return true
        }
        if dispatcher.dispatch(message, disposition) {
            nextToDispatch[Int(partition)] = offset + 1
            return true
        }
        // A lane is full: the function is behind. Pause every partition (the consumer keeps
        // polling, so the group does not time it out) until the lanes have room again; what
        // was fetched meanwhile is fetched again from `resumeAt`.
        pausedForBackpressure = true
        resumeAt[partition] = offset
        withPartitionList(assigned.map { ($0, -1) }) { list in _ = rd_kafka_pause_partitions(consumer, list) }
        logger.debug("'\(function.name)' is behind (\(dispatcher.inFlight) messages taken and not yet settled): pausing its partitions")
        return false
    }

    private func nextToDispatch(_ partition: Int32) -> Int64 {
        let index = Int(partition)
        if index >= nextToDispatch.count { nextToDispatch += repeatElement(-1, count: index + 1 - nextToDispatch.count) }
        return nextToDispatch[index]
    }

    /// The lanes have room again: continue each partition where it stopped.
    private func resumeAfterBackpressure() {
        let seeks = resumeAt.filter { assigned.contains($0.key) }.map { (partition: $0.key, offset: $0.value) }
        // Resume first, then seek: the seek wakes librdkafka's fetching thread, a resume does not.
        withPartitionList(assigned.map { ($0, -1) }) { list in _ = rd_kafka_resume_partitions(consumer, list) }
        if !seeks.isEmpty {
            withPartitionList(seeks) { list in
                if let error = rd_kafka_seek_partitions(consumer, list, 5_000) {
                    logger.warning("Seeking after a pause failed: \(String(cString: rd_kafka_error_string(error)))")
                    rd_kafka_error_destroy(error)
                }
            }
        }
        resumeAt.removeAll()
        pausedForBackpressure = false
        logger.debug("'\(function.name)' caught up: resuming its partitions")
    }

    // MARK: - Delivering

    /// Delivers messages fetched just now (one for ONE, a batch for MANY), all of partitions
    /// that are not held. Messages that crashed the host before are isolated first.
    private func deliverFresh(_ batch: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        var kept = 0
        // Filtered-out messages behind one that is called are settled only once that call is
        // (their partition is not held after it): a stored offset never passes a failure.
        var filteredBehindCalls: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        defer {
            for message in filteredBehindCalls where !progress.isHeld(message.pointee.partition)
                && !progress.isSettled(message.pointee.partition, offset: message.pointee.offset) {
                advance(message.pointee.partition, to: message.pointee.offset + 1, pending: false)
            }
        }
        // Messages that cannot be delivered are dead-lettered in order: the messages gathered for
        // the call before one are invoked first, so its offset is never stored before theirs are
        // settled (and after a failure there, its held partition refetches it later).
        for message in batch where !progress.isHeld(message.pointee.partition) {
            let disposition = disposition(message)
            switch disposition {
            case .deadLetterCrashed, .deadLetterInvalidText, .deadLetterRecordAge:
                if kept > 0 {
                    invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept]))
                    kept = 0
                    if progress.isHeld(message.pointee.partition) { continue }
                }
            case .filteredOut, .invoke, .invokeAlone:
                break
            }
            switch disposition {
            case .filteredOut:
                filteredCount.wrappingAdd(1, ordering: .relaxed)
                if kept == 0 {
                    advance(message.pointee.partition, to: message.pointee.offset + 1, pending: false)
                } else {
                    filteredBehindCalls.append(message)
                }
            case .deadLetterCrashed:
                let count = crashCount(message)
                deadLetter([message], reason: .crashed, error: DeadLetterReason.crashedError(times: count), attempts: count)
            case .deadLetterInvalidText:
                deadLetter([message], reason: .invalidUTF8, error: DeadLetterReason.invalidTextError, attempts: 0)
            case .deadLetterRecordAge:
                deadLetter([message], reason: .recordAge,
                           error: DeadLetterReason.recordAgeError(message, maxSeconds: function.trigger.maxRecordAgeSeconds ?? 0), attempts: 0)
            case .invoke, .invokeAlone:
                batch[kept] = message
                kept += 1
            }
        }
        if kept > 0 { invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept])) }
    }

    /// Calls the function with `ready` (fresh messages of partitions not held, in order) and
    /// settles, holds or isolates them by the outcome.
    private func invoke(_ ready: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        // A batch holding a message that crashed the host before is delivered one message at a
        // time, so the next crash points at the culprit alone.
        if ready.count > 1, ready.contains(where: { crashCount($0) > 0 }) {
            for index in ready.indices where !progress.isHeld(ready[index].pointee.partition) {
                deliverFresh(UnsafeMutableBufferPointer(rebasing: ready[index...index]))
            }
            return
        }
        let outcome = attempt(UnsafeBufferPointer(ready))
        guard outcome.failure != nil || !outcome.failedItems.isEmpty else {
            for message in ready {
                advance(message.pointee.partition, to: message.pointee.offset + 1, pending: outcome.pending)
                forgetCrashes(message)
            }
            return
        }
        // Walk in order: each partition advances up to its first failed message; its failed
        // messages are held for a retry; messages that succeeded after one are done but the
        // offset waits for the failed ones.
        var failedByPartition: [Int32: [UnsafeMutablePointer<rd_kafka_message_t>]] = [:]
        for (index, message) in ready.enumerated() {
            let partition = message.pointee.partition
            if outcome.failed(index) {
                failedByPartition[partition, default: []].append(message)
            } else if failedByPartition[partition] == nil {
                advance(partition, to: message.pointee.offset + 1, pending: outcome.pending)
                forgetCrashes(message)
            }
        }
        for (partition, failed) in failedByPartition.sorted(by: { $0.key < $1.key }) {
            // ONE: later messages of the fetch are fetched again after the seek. MANY: the whole
            // batch was handled, so the partition resumes after its last message in it.
            let last = function.trigger.cardinality == .one ? failed[0] : ready.last { $0.pointee.partition == partition }!
            failed.forEach { retainedThisFetch.insert($0) }
            let error = outcome.reason(for: ready.firstIndex(of: failed[0])!)
            failedFirstTime(partition: partition, messages: failed, error: error, resumeOffset: last.pointee.offset + 1)
        }
    }

    /// The first failure of `messages` (of one partition): hold them for a retry, or dead-letter
    /// them at once when the policy allows no retry.
    private func failedFirstTime(partition: Int32, messages: [UnsafeMutablePointer<rd_kafka_message_t>], error: String, resumeOffset: Int64) {
        let held = HeldMessages(messages: messages, failures: 1, lastError: error, due: 0, resumeOffset: resumeOffset)
        progress.hold(partition, held)
        pause(partition)
        scheduleNextAttempt(partition, held)
    }

    /// After a failed attempt: log it, and either schedule a retry or dead-letter the messages.
    private func scheduleNextAttempt(_ partition: Int32, _ held: HeldMessages) {
        switch failures.decide(afterFailures: held.failures, messages: describe(held.messages), error: held.lastError, waiting: "the partition") {
        case .retry(let delay):
            held.due = monotonicNanoseconds() + UInt64(delay * 1e9)
        case .deadLetter:
            held.deadLetterReason = .failed
            sendHeldToDeadLetters(partition, held)
        }
    }

    /// Gives held partitions whose time has come their next attempt.
    private func attemptDueHeldPartitions() {
        for partition in progress.dueHeld(now: monotonicNanoseconds()) {
            if stopRequested.load(ordering: .relaxed) { return }
            guard let held = progress.held(partition) else { continue }
            if held.deadLetterReason != nil {
                sendHeldToDeadLetters(partition, held)
                continue
            }
            let messages = held.messages
            invoker.statistics.recordRetry()
            let outcome: InvocationOutcome = messages.withUnsafeBufferPointer { attempt($0) }
            var stillFailed: [UnsafeMutablePointer<rd_kafka_message_t>] = []
            for (index, message) in messages.enumerated() {
                if outcome.failed(index) {
                    stillFailed.append(message)
                } else {
                    forgetCrashes(message)
                    rd_kafka_message_destroy(message)
                }
            }
            if stillFailed.isEmpty {
                held.messages = []
                settle(partition, pending: outcome.pending)
            } else {
                held.messages = stillFailed
                held.failures += 1
                held.lastError = outcome.reason(for: messages.firstIndex(of: stillFailed[0])!)
                scheduleNextAttempt(partition, held)
            }
        }
    }

    /// Dead-letters a held partition's messages; settles it when that worked, else keeps trying.
    private func sendHeldToDeadLetters(_ partition: Int32, _ held: HeldMessages) {
        let reason = held.deadLetterReason ?? .failed
        if let failure = deadLetters.send(held.messages, reason: reason, error: held.lastError, attempts: held.failures) {
            held.due = monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9)
            failures.deadLetterFailed(messages: describe(held.messages), failure: failure)
            return
        }
        failures.deadLettered(messages: describe(held.messages), reason: reason, attempts: held.failures)
        held.messages.forEach(forgetCrashes)
        held.destroyMessages()
        settle(partition, pending: false)
    }

    /// Dead-letters messages that cannot be delivered at all, right away. When the send fails,
    /// their partition holds at them until it succeeds.
    private func deadLetter(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>], reason: DeadLetterReason, error: String, attempts: Int) {
        let partition = messages[0].pointee.partition
        let offset = messages[0].pointee.offset
        failures.refused(messages: describe(messages), error: error)
        if let failure = deadLetters.send(messages, reason: reason, error: error, attempts: attempts) {
            let held = HeldMessages(messages: messages, failures: attempts, lastError: error,
                                    due: monotonicNanoseconds() + UInt64(FailurePolicy.deadLetterRetrySeconds * 1e9), resumeOffset: offset + 1)
            held.deadLetterReason = reason
            messages.forEach { retainedThisFetch.insert($0) }
            progress.hold(partition, held)
            pause(partition)
            failures.deadLetterFailed(messages: describe(messages), failure: failure)
            return
        }
        messages.forEach(forgetCrashes)
        advance(partition, to: offset + 1, pending: false)
    }

    private func describe(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>]) -> String {
        FailurePolicy.describe(topic: function.trigger.topic, messages.map { ($0.pointee.partition, $0.pointee.offset) })
    }

    /// Everything of `partition` before `offset` is settled (pending: not durable until a flush).
    @inline(__always)
    private func advance(_ partition: Int32, to offset: Int64, pending: Bool) {
        settledCount.wrappingAdd(1, ordering: .relaxed)
        progress.advance(partition, to: offset, pending: pending)
        if let settlement, !pending { settlement.recordSettled(partition: partition, settled: offset) }
    }

    /// A held partition's messages are settled: store past them, seek to where the partition
    /// left off and let it flow again.
    private func settle(_ partition: Int32, pending: Bool) {
        guard let held = progress.release(partition) else { return }
        held.destroyMessages()
        advance(partition, to: held.resumeOffset, pending: pending)
        withPartitionList([(partition, held.resumeOffset)]) { list in
            // Resume first: librdkafka 2.0.2's resume does not wake the fetching broker thread
            // (it would fetch again only within a second), the seek does.
            _ = rd_kafka_resume_partitions(consumer, list)
            if let error = rd_kafka_seek_partitions(consumer, list, 5_000) {
                logger.warning("Seeking partition \(partition) to \(held.resumeOffset) failed: \(String(cString: rd_kafka_error_string(error)))")
                rd_kafka_error_destroy(error)
            }
        }
    }

    private func pause(_ partition: Int32) {
        withPartitionList([(partition, -1)]) { list in
            _ = rd_kafka_pause_partitions(consumer, list)
        }
    }

    // MARK: - Invoking

    /// Calls the function once with `messages` from the consuming thread.
    private func attempt(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> InvocationOutcome {
        let outcome = invoker.attempt(messages)
        if outcome.pending && flushFunction == nil && !warnedAboutMissingFlush {
            warnedAboutMissingFlush = true
            logger.error("Function '\(function.name)' returned SF_PENDING but exports no \(function.entryPoint)_flush: its records are never committed and will be delivered again after a restart")
        }
        return outcome
    }

    private func forgetCrashes(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        crashes?.forget(message)
    }

    /// What becomes of a fresh message, whoever calls the function: settled without a call when
    /// it matches none of the trigger's filters; dead-lettered without a call when it crashed
    /// the host too often or is not text for a string function; called alone when it crashed
    /// the host before; else called.
    @inline(__always)
    private func disposition(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> InvocationLane.Disposition {
        if let filter, !filter.matches(message) { return .filteredOut }
        if let maxRecordAgeMs, RecordAge.isOlder(message, thanMs: maxRecordAgeMs) { return .deadLetterRecordAge }
        let crashes = crashCount(message)
        if crashes >= maxCrashesPerMessage { return .deadLetterCrashed }
        if function.trigger.dataType == .string, let payload = message.pointee.payload,
           !isValidUTF8(payload.assumingMemoryBound(to: UInt8.self), count: message.pointee.len) {
            return .deadLetterInvalidText
        }
        return crashes > 0 ? .invokeAlone : .invoke
    }

    @inline(__always)
    private func crashCount(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Int {
        crashes?.count(partition: message.pointee.partition, offset: message.pointee.offset) ?? 0
    }

    // MARK: - Flushing and offsets

    private func flushIfDue() {
        guard flushFunction != nil, progress.hasPending,
              monotonicNanoseconds() - lastFlush >= UInt64(function.flushIntervalSeconds * 1e9) else { return }
        flush(reason: "interval")
    }

    /// Asks the function to make its pending records durable; on success they can be committed.
    func flush(reason: String) {
        lastFlush = monotonicNanoseconds()
        guard let flushFunction, progress.hasPending else { return }
        context.begin(invocationID: Invoker.nextInvocationID())
        // Under the function-timeout watchdog like any invocation (no messages: a crash in the
        // flush is not pinned on any).
        journal?.begin(UnsafeBufferPointer(start: nil, count: 0), startedAtMs: wallClockMilliseconds())
        let result = flushFunction(context.pointer)
        journal?.end()
        if result == SF_OK {
            progress.pendingBecameDurable()
            if let settlement { progress.offsetsToStore.forEach { settlement.recordSettled(partition: $0.partition, settled: $0.offset) } }
            storeOffsets()
            logger.debug("Flushed '\(function.name)' (\(reason))")
        } else {
            logger.error("Function '\(function.name)': \(function.entryPoint)_flush failed (\(context.lastLoggedError ?? "returned \(result)")) at \(reason); its pending records stay uncommitted and are delivered again if the host stops before a flush succeeds")
        }
    }

    func storeOffsets() {
        let offsets: [(partition: Int32, offset: Int64)]
        if let dispatcher {
            offsets = dispatcher.takeOffsetsToStore()
        } else {
            offsets = progress.takeOffsetsToStore()
        }
        if !offsets.isEmpty { operations.stored(offsets) }
        for entry in offsets { committer.settled(entry.partition, upTo: entry.offset) }
        committer.commitIfDue(consumer)
    }

    func withPartitionList<R>(_ entries: [(partition: Int32, offset: Int64)], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> R) -> R {
        RDKafkaTopicPartitionList(topic: function.trigger.topic, entries).withListPointer(body)
    }

    /// Asks the cluster for metadata through this consumer: true when a broker answered within
    /// `timeoutMs`. Safe from any thread while the listener runs.
    func probeCluster(timeoutMs: Int32) -> Bool {
        handleLock.withLock { open in
            guard open, let consumer else { return false }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let result = rd_kafka_metadata(consumer, 0, nil, &metadata, timeoutMs)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return result == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Commits what is stored, leaves the group and frees the consumer.
    private func close() {
        guard let consumer else { return }
        handleLock.withLock { $0 = false }
        storeOffsets()
        let commitError = committer.commitNow(consumer)
        if let commitError {
            logger.warning("Final commit of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(commitError))); the settlement journal keeps what was settled for the next start")
        }
        let closed = rd_kafka_consumer_close(consumer)
        if closed != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Leaving the consumer group of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(closed)))")
        }
        progress.resetAll()
        let filtered = filteredCount.load(ordering: .relaxed)
        if filtered > 0 { logger.info("'\(function.name)' left out \(filtered) message(s) that matched none of its filters (settled without a call)") }
        // Everything settled is committed: a clean stop leaves nothing to recover.
        if commitError == nil && !revokeCommitFailed { settlement?.remove() }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(consumer)
        self.consumer = nil
        self.queue = nil
    }

    // MARK: - Rebalance and errors (called by librdkafka on the consuming thread)

    fileprivate func rebalance(_ error: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(consumer)) == "COOPERATIVE"
        let numbers = RDKafkaTopicPartitionList.partitions(of: partitions)
        operations.rebalanced(assigned: error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, partitions: numbers)
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            numbers.forEach { progress.reset($0) }
            assigned.formUnion(numbers)
            for partition in numbers where Int(partition) < nextToDispatch.count { nextToDispatch[Int(partition)] = -1 }
            if let partitions { committer.assigned(partitions, consumer: consumer) }
            logger.info("'\(function.name)' was assigned partitions \(numbers) of \(function.trigger.topic)")
            if cooperative {
                if let error = rd_kafka_incremental_assign(consumer, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(consumer, partitions)
            }
            // The lanes are full, or the operator paused the function: the new partitions wait with the others.
            if pausedForBackpressure || operations.state != .running, let partitions { _ = rd_kafka_pause_partitions(consumer, partitions) }
        default:
            // Revoked: nothing is in flight (this runs between fetches). Make pending records
            // durable, store and commit what is settled so the next owner starts right after
            // it, then let the partitions go (held messages are delivered again by their new owner).
            dispatcher?.quiesce(Set(numbers))
            flush(reason: "partitions revoked")
            storeOffsets()
            if let commitError = committer.commitNow(consumer, only: Set(numbers)) {
                revokeCommitFailed = true
                logger.warning("Committing revoked partitions of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(commitError)))")
            }
            committer.revoked(numbers)
            if let partitions { _ = rd_kafka_resume_partitions(consumer, partitions) }
            numbers.forEach { progress.reset($0) }
            dispatcher?.forget(Set(numbers))
            numbers.forEach { resumeAt.removeValue(forKey: $0) }
            assigned.subtract(numbers)
            logger.info("'\(function.name)' gave up partitions \(numbers) of \(function.trigger.topic)")
            if cooperative {
                if let error = rd_kafka_incremental_unassign(consumer, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(consumer, nil)
            }
        }
    }

    fileprivate func commitAnswered(_ error: rd_kafka_resp_err_t) {
        committer.commitAnswered(error)
    }

    fileprivate func clientError(_ code: rd_kafka_resp_err_t, _ reason: String) {
        lastClientError.withLock { $0 = "\(reason) (\(String(cString: rd_kafka_err2name(code))))" }
        // librdkafka logs the same event through its log (RDKafkaLog): said once, there. A fatal
        // error is the exception: the consumer cannot go on.
        if code == RD_KAFKA_RESP_ERR__FATAL {
            logger.critical("Kafka client of '\(function.name)' hit a fatal error: \(reason)")
        } else {
            logger.debug("Kafka client of '\(function.name)': \(reason) (\(String(cString: rd_kafka_err2name(code))))")
        }
    }

    private func reportConsumeError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let text = String(cString: rd_kafka_message_errstr(message))
        logger.warning("Consuming \(function.trigger.topic) for '\(function.name)': \(text)")
    }

}

private func listener(_ opaque: UnsafeMutableRawPointer?) -> TriggerListener? {
    opaque.map { Unmanaged<TriggerListener>.fromOpaque($0).takeUnretainedValue() }
}

private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { _, error, partitions, opaque in
    listener(opaque)?.rebalance(error, partitions)
}

private let offsetCommitCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { _, error, _, opaque in
    listener(opaque)?.commitAnswered(error)
}

private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, code, reason, opaque in
    listener(opaque)?.clientError(rd_kafka_resp_err_t(code), reason.map { String(cString: $0) } ?? "")
}
