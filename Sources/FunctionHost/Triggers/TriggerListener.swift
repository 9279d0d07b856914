import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// The optional `ENTRY_flush` export of a function that returns SF_PENDING.
typealias FlushFunction = @convention(c) (UnsafePointer<sf_context>?) -> Int32

/// One function's consumer: a librdkafka consumer group member on its own thread (never on
/// Swift's cooperative pool) that wires the stages of the data path, in order:
/// fetch (``RDKafkaFetchBuffer``) → admit (``Admission``: call, skip or refuse each message) →
/// attempt (the ``Invoker``; failures through the ``AttemptEngine``, held by ``PartitionRetries``
/// for ordering partition, or in a lane of the ``ConcurrentDispatcher``) → settle
/// (``Settlement``: the offset ledger, awaiting outputs, the journals) → commit. Every reason a
/// partition stops flowing is told to ``PartitionControl``, the one owner of pausing, resuming
/// and seeking.
final class TriggerListener: @unchecked Sendable {
    /// Where the host keeps what must survive a crash of the process (journals, crash counts);
    /// nil when the host runs without a supervisor.
    struct CrashProtection {
        var directory: URL
        var maxCrashesPerMessage: Int
    }

    let function: FunctionConfiguration
    let options: KafkaOptions
    let logger: Logger
    /// Calls the function from the consuming thread (ordering `partition`).
    let invoker: Invoker
    var context: InvocationContext { invoker.context }
    let deadLetters: DeadLetterWriter
    /// Owns the messages of the current fetch (and the ones carried over from the previous one).
    let fetched: RDKafkaFetchBuffer
    let eligible: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    let fetchCapacity: Int
    let stopRequested = Atomic<Bool>(false)
    /// Messages settled by the lanes, for the health report (the consuming thread's are
    /// counted by ``Settlement``).
    let settledByLanes = Atomic<Int>(0)
    /// The last error librdkafka reported for this consumer, for the health report.
    let lastClientError = Mutex<String?>(nil)
    let finished = DispatchSemaphore(value: 0)
    /// The consuming thread's in-flight journal (ordering `partition`).
    let journal: InvocationJournal?
    let crashes: CrashLedger?
    /// Set once in `init` (the callbacks need `self` first), with the stages built on it.
    private(set) var consumer: RDKafkaConsumer!
    private(set) var control: PartitionControl!
    private(set) var settlement: Settlement!
    private(set) var retries: PartitionRetries!
    private(set) var schemaWaits: SchemaRegistryWaits!
    private(set) var placement: StartPlacement!
    private(set) var delivery: InOrderDelivery!
    let admission: Admission
    /// Ordering `key` or `unordered`: the lanes that call the function; nil for `partition`,
    /// where the consuming thread calls it.
    var dispatcher: ConcurrentDispatcher?
    /// Per partition, the offset after the last message handed to a lane (-1: none yet).
    var nextToDispatch: [Int64] = []
    /// Counters, owned partitions and operator requests for the operations endpoint (Operations/).
    let operations = ListenerOperations()
    /// The function's tracer when it traces (Tracing/), nil otherwise.
    let tracer: FunctionTracer?

    /// Events fetched at once for a ONE function (each still gets its own call).
    static let fetchSizeForOne = 512

    /// Creates the consumer and subscribes it; nothing is consumed until ``start()``.
    /// - Throws: ``KafkaError`` when librdkafka refuses the configuration.
    /// - Parameter drainTimeoutSeconds: how long a revocation or a stop waits for invocations in
    ///   progress (the host's shutdownTimeout); past it they are given up and delivered again later.
    init(function: FunctionConfiguration, library: FunctionLibrary, options: KafkaOptions, retry: RetryPolicy,
         producers: ProducerPool, crashProtection: CrashProtection?, drainTimeoutSeconds: Double = 30,
         tracer: FunctionTracer? = nil, logger: Logger) throws {
        self.tracer = tracer
        self.function = function
        self.options = options
        self.logger = logger
        let startWithoutCommit = StartWithoutCommit(trigger: function.trigger, options: options)
        let flushFunction = library.flushFunction.map { unsafeBitCast($0, to: FlushFunction.self) }
        deadLetters = try DeadLetterWriter(function: function, producers: producers)
        let failures = FailurePolicy(retry: retry, functionName: function.name, deadLetterTopic: function.deadLetterTopic, logger: logger)
        fetchCapacity = function.trigger.cardinality == .many ? options.maxBatchSize : Self.fetchSizeForOne
        // Room for a fetch plus the messages carried over from the previous one.
        fetched = RDKafkaFetchBuffer(capacity: 2 * fetchCapacity)
        eligible = .allocate(capacity: 2 * fetchCapacity)
        let awaiting = function.outputs.isEmpty || function.trigger.ordering != .partition
            || function.trigger.processingGuarantee == .exactlyOnce ? nil : AwaitingOutputs(
            invocationCapacity: 4096, messageCapacity: max(16_384, 4 * fetchCapacity),
            maxRecords: options.maxUnacknowledgedOutputRecords, maxBytes: options.maxUnacknowledgedOutputBytes)
        let subject = SettlementJournal.Subject(consumerGroup: function.trigger.consumerGroup, topic: function.trigger.topic)
        let exactlyOnce = function.trigger.processingGuarantee == .exactlyOnce
        let journals = try CrashProtectionJournals(crashProtection, function: function, subject: subject, exactlyOnce: exactlyOnce, logger: logger)
        journal = journals.invocations
        crashes = journals.crashes
        let settlementJournal = journals.settlement, maxCrashesPerMessage = journals.maxCrashesPerMessage
        // The lanes' settlements are journaled by the ledger as they move an offset; the
        // consuming thread's (ordering partition) by Settlement, which knows what is pending.
        // (The recorder stores through the journal's mapping; the committer keeps the journal.)
        let settlementRecorder = settlementJournal?.recorder
        let ledger = OffsetLedger { partition, offset in settlementRecorder?.recordSettled(partition: partition, settled: offset) }
        let committer = OffsetCommitter(topic: function.trigger.topic, functionName: function.name, journal: settlementJournal,
                                        intervalMs: options.autoCommitIntervalMs, startWithoutCommit: startWithoutCommit, logger: logger)
        let transaction: TransactionalOutputs?
        if exactlyOnce {
            let outputs = try TransactionalOutputs(function: function, options: options,
                                                   instance: TransactionalOutputs.instanceID(stateDirectory: crashProtection?.directory))
            transaction = outputs
            invoker = try Invoker(function: function, library: library, capacity: fetchCapacity,
                                  outputs: function.outputs.map { try OutputHandle(binding: $0, producer: outputs.producer, staging: true) },
                                  journal: journal, tracer: tracer, logger: logger)
        } else {
            transaction = nil
            invoker = try Invoker(function: function, library: library, capacity: fetchCapacity, producers: producers,
                                  journal: journal, tracer: tracer, logger: logger)
        }
        admission = Admission(function: function, decoder: invoker.decoder, crashes: crashes, maxCrashesPerMessage: maxCrashesPerMessage, logger: logger)

        let properties = ConsumerProperties.of(function, options: options, startWithoutCommit: startWithoutCommit)
        RDKafkaLog.register(clientID: "swiftfunc-\(function.name)", logger: logger)
        let consumer = try RDKafkaConsumer(
            properties: properties, origin: "consumer of \(function.name)", opaque: Unmanaged.passUnretained(self).toOpaque(),
            callbacks: .init(rebalance: rebalanceCallback, error: errorCallback, offsetCommit: offsetCommitCallback))
        self.consumer = consumer
        let control = PartitionControl(consumer: consumer, topic: function.trigger.topic, logger: logger)
        self.control = control
        let settlement = Settlement(function: function, control: control, invoker: invoker, consumer: consumer, operations: operations,
                                    ledger: ledger, committer: committer, journal: settlementJournal, awaiting: awaiting,
                                    transaction: transaction, crashes: crashes, flushFunction: flushFunction, logger: logger)
        self.settlement = settlement
        let engine = AttemptEngine(calls: invoker, failures: failures, deadLetters: deadLetters, function: function, waiting: "the partition")
        retries = PartitionRetries(engine: engine, control: control, settlement: settlement, crashes: crashes)
        schemaWaits = SchemaRegistryWaits(decoder: invoker.decoder, control: control, functionName: function.name, logger: logger)
        placement = StartPlacement(consumer: consumer, startWithoutCommit: startWithoutCommit, function: function, logger: logger)
        delivery = InOrderDelivery(function: function, invoker: invoker, admission: admission, control: control, settlement: settlement,
                                   retries: retries, schemaWaits: schemaWaits, fetched: fetched, crashes: crashes,
                                   hasFlush: flushFunction != nil, logger: logger)
        do {
            try consumer.subscribe(function.trigger.topic)
        } catch {
            close()
            throw error
        }
        if function.trigger.ordering != .partition {
            dispatcher = try ConcurrentDispatcher(
                function: function, library: library, options: options, retry: retry, producers: producers,
                deadLetters: deadLetters, admission: admission, crashes: crashes, journalDirectory: crashProtection?.directory,
                ledger: ledger, drainTimeoutSeconds: drainTimeoutSeconds, tracer: tracer, logger: logger,
                onSettled: { [unowned self] in settledByLanes.wrappingAdd(1, ordering: .relaxed) },
                onRoom: { consumer.wake() })
        }
    }

    /// Messages settled so far (any thread may ask).
    var settledCount: Int {
        (settlement?.settledInOrder.load(ordering: .relaxed) ?? 0) &+ settledByLanes.load(ordering: .relaxed)
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
