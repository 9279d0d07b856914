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
    let options: KafkaOptions
    let failures: FailurePolicy
    let logger: Logger
    /// Calls the function from the consuming thread (ordering `partition`).
    let invoker: Invoker
    var context: InvocationContext { invoker.context }
    let flushFunction: FlushFunction?
    let deadLetters: DeadLetterWriter
    /// Owns the messages of the current fetch (and the ones carried over from the previous one).
    let fetched: RDKafkaFetchBuffer
    let eligible: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    let fetchCapacity: Int
    let stopRequested = Atomic<Bool>(false)
    /// Messages settled (succeeded, dead-lettered or filtered out), for the health report: in
    /// order by the consuming thread, its only writer (a load and a store: no locked
    /// instruction per message), and by the lanes.
    let settledInOrder = Atomic<Int>(0)
    let settledByLanes = Atomic<Int>(0)
    /// Messages that matched none of the trigger's `filters`: settled without a call.
    let filteredCount = Atomic<Int>(0)
    let filter: MessageFilter?
    /// The trigger's `maxRecordAge` in milliseconds; nil: any age.
    let maxRecordAgeMs: Int64?
    /// Where a partition without a committed offset starts (`startFrom`, else `autoOffsetReset`).
    let startWithoutCommit: StartWithoutCommit
    /// `startFrom` a time: per partition placed at its beginning (the cluster named no offset for
    /// the time), the time its records are skipped before (settled without a call) until the
    /// first one at or after it. Set at assignment, dropped on revoke (consuming thread only).
    var skipBefore: [Int32: Int64] = [:]
    /// Messages skipped because they came before the trigger's `startFrom` time.
    let skippedCount = Atomic<Int>(0)
    /// The last error librdkafka reported for this consumer, for the health report.
    let lastClientError = Mutex<String?>(nil)
    let finished = DispatchSemaphore(value: 0)
    /// Failed partitions (ordering `partition`) and their held messages.
    var holds = HeldPartitions()
    /// Where each partition's offsets stand, for every ordering (the lanes settle into it too).
    let ledger: OffsetLedger
    /// Partitions this member owns right now. A fetch can hold messages taken from the queue
    /// before a revocation was served in the same call; those are dropped (their new owner
    /// starts from the committed offset), never processed by a member that gave them up.
    var assigned = PartitionSet()
    var lastFlush = monotonicNanoseconds()
    var warnedAboutMissingFlush = false
    /// A revoke's commit failed: what it carried stays in the settlement journal after a stop.
    var revokeCommitFailed = false
    /// The consuming thread's in-flight journal (ordering `partition`).
    let journal: InvocationJournal?
    /// How far each partition is settled, kept across a crash.
    let settlement: SettlementJournal?
    let committer: OffsetCommitter
    let crashes: CrashLedger?
    let maxCrashesPerMessage: Int
    /// Set once in `init` (the callbacks need `self` first).
    private(set) var consumer: RDKafkaConsumer!
    /// Ordering `key` or `unordered`: the lanes that call the function; nil for `partition`,
    /// where the consuming thread calls it.
    var dispatcher: ConcurrentDispatcher?
    /// Per partition, the offset after the last message handed to a lane (-1: none yet).
    var nextToDispatch: [Int64] = []
    /// The lanes were full: every assigned partition is paused until they have room again.
    var pausedForBackpressure = false
    /// While paused for backpressure: per partition, the first message that was fetched but not
    /// handed to a lane, where consumption continues.
    var resumeAt: [Int32: Int64] = [:]
    /// Ordering `partition` with output bindings: invocations settled once their records are
    /// acknowledged, while the thread goes on (nil without outputs, or with lanes).
    let awaiting: AwaitingOutputs?
    /// The unacknowledged outputs are at their bound: every assigned partition is paused until
    /// there is room again (``roomForOutputs(messages:)``).
    var pausedForOutputs = false
    /// processingGuarantee exactlyOnce: the transaction the outputs and offsets are committed in.
    let transaction: TransactionalOutputs?
    /// An aborted transaction sends the partitions back to the committed offsets before the next fetch.
    var rewindAfterAbort = false
    /// Counters, owned partitions and operator requests for the operations endpoint (Operations/).
    let operations = ListenerOperations()
    /// A trigger that decodes schema-framed records: the consuming thread's decoder (its
    /// invoker's), which checks each message decodes before anything is called (``disposition(_:)``).
    var schemaCheck: RecordDecoder? { invoker.decoder }
    /// Ordering key or unordered: partitions waiting for the schema registry, each at the first
    /// message it could not check (ordering partition holds such a partition instead).
    var schemaRegistryWaits: [Int32: SchemaRegistryWait] = [:]

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
        startWithoutCommit = StartWithoutCommit(trigger: function.trigger, options: options)
        flushFunction = library.flushFunction.map { unsafeBitCast($0, to: FlushFunction.self) }
        deadLetters = try DeadLetterWriter(function: function, producers: producers)
        failures = FailurePolicy(retry: retry, functionName: function.name, deadLetterTopic: function.deadLetterTopic, logger: logger)
        fetchCapacity = function.trigger.cardinality == .many ? options.maxBatchSize : Self.fetchSizeForOne
        // Room for a fetch plus the messages carried over from the previous one.
        fetched = RDKafkaFetchBuffer(capacity: 2 * fetchCapacity)
        eligible = .allocate(capacity: 2 * fetchCapacity)
        awaiting = function.outputs.isEmpty || function.trigger.ordering != .partition
            || function.trigger.processingGuarantee == .exactlyOnce ? nil : AwaitingOutputs(
            invocationCapacity: 4096, messageCapacity: max(16_384, 4 * fetchCapacity),
            maxRecords: options.maxUnacknowledgedOutputRecords, maxBytes: options.maxUnacknowledgedOutputBytes)
        let subject = SettlementJournal.Subject(consumerGroup: function.trigger.consumerGroup, topic: function.trigger.topic)
        let exactlyOnce = function.trigger.processingGuarantee == .exactlyOnce
        if exactlyOnce && flushFunction != nil {
            throw ConfigurationError(file: function.file, field: "\(function.trigger.path).processingGuarantee",
                "exactlyOnce commits a message's offset with its outputs as soon as the call returns, but the library exports \(function.entryPoint)_flush (SF_PENDING: durable only after a later flush). Use atLeastOnce, or drop the flush export")
        }
        if let crashProtection {
            journal = try InvocationJournal(directory: crashProtection.directory, function: function.name, subject: subject)
            // exactlyOnce: nothing settled may be committed outside a transaction, so nothing is
            // recovered from a journal after a crash (the aborted transaction is consumed again).
            settlement = exactlyOnce ? nil : try SettlementJournal(directory: crashProtection.directory, function: function.name, subject: subject)
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
        // The lanes' settlements are journaled by the ledger as they move an offset; the
        // consuming thread's (ordering partition) by `record`, which knows what is pending.
        let settlementJournal = settlement
        ledger = OffsetLedger { partition, offset in settlementJournal?.recordSettled(partition: partition, settled: offset) }
        committer = OffsetCommitter(topic: function.trigger.topic, functionName: function.name, journal: settlement,
                                    intervalMs: options.autoCommitIntervalMs, startWithoutCommit: startWithoutCommit, logger: logger)
        if exactlyOnce {
            let transaction = try TransactionalOutputs(function: function, options: options,
                                                       instance: TransactionalOutputs.instanceID(stateDirectory: crashProtection?.directory))
            self.transaction = transaction
            invoker = try Invoker(function: function, library: library, capacity: fetchCapacity,
                                  outputs: function.outputs.map { try OutputHandle(binding: $0, producer: transaction.producer, staging: true) },
                                  journal: journal, logger: logger)
        } else {
            transaction = nil
            invoker = try Invoker(function: function, library: library, capacity: fetchCapacity, producers: producers,
                                  journal: journal, logger: logger)
        }
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
        // The trigger's startFrom over host.json's autoOffsetReset (extensions.kafka.librdkafka still last).
        properties.append(("auto.offset.reset", startWithoutCommit.autoOffsetReset))
        properties += MockClusterDetection.consumerProperties(for: function.trigger.connection)
        properties += function.trigger.connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        RDKafkaLog.register(clientID: "swiftfunc-\(function.name)", logger: logger)
        consumer = try RDKafkaConsumer(
            properties: properties, origin: "consumer of \(function.name)", opaque: Unmanaged.passUnretained(self).toOpaque(),
            callbacks: .init(rebalance: rebalanceCallback, error: errorCallback, offsetCommit: offsetCommitCallback))
        do {
            try consumer.subscribe(function.trigger.topic)
        } catch {
            close()
            throw error
        }
        if function.trigger.ordering != .partition {
            dispatcher = try ConcurrentDispatcher(
                function: function, library: library, options: options, retry: retry, producers: producers,
                deadLetters: deadLetters, crashes: crashes, journalDirectory: crashProtection?.directory,
                ledger: ledger, drainTimeoutSeconds: drainTimeoutSeconds, logger: logger,
                onSettled: { [unowned self] in settledByLanes.wrappingAdd(1, ordering: .relaxed) },
                onRoom: { [unowned self] in consumer?.wake() })
        }
    }

    /// Messages settled so far (any thread may ask).
    var settledCount: Int {
        settledInOrder.load(ordering: .relaxed) &+ settledByLanes.load(ordering: .relaxed)
    }

    /// Every journal of the function's invocations (the consuming thread's and its lanes').
    var journals: [InvocationJournal] {
        (journal.map { [$0] } ?? []) + (dispatcher?.journals ?? [])
    }

    deinit {
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
        consumer.wake()
    }

    /// Waits until the consuming thread has committed and left the group, up to `timeout` seconds.
    /// - Returns: false when it did not finish in time.
    func waitUntilStopped(timeout: Double) -> Bool {
        finished.wait(timeout: .now() + timeout) == .success
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
