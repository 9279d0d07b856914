import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Unique invocation ids across the host process, handed out in blocks (``Invoker/takeInvocationID()``).
private let invocationCounter = Atomic<UInt64>(0)

/// Everything one thread needs to call a function: its libffi call interface, event storage,
/// context and output handles. Each holds per-call state, so every thread that calls the
/// function has its own Invoker (the listener's consuming thread, or each concurrency lane).
final class Invoker {
    let context: InvocationContext
    private let function: FunctionConfiguration
    private let logger: Logger
    private let callInterface: CallInterface
    private let outputs: [OutputHandle]
    private let events: EventBuffer
    /// ABI version 1 libraries get every event's headers, and so do documents (an eventFormat's
    /// JSON holds them); version 2 events leave them unparsed until the function asks.
    private let fillsHeaders: Bool
    /// A trigger that reads schema-framed records: decodes them into the events (and tells why
    /// one does not decode, on this invoker's thread).
    let decoder: RecordDecoder?
    /// For a trigger with an `eventFormat`: turns the events into the platform's JSON document.
    private let documents: EventDocumentBuilder?
    /// Where the messages being invoked are recorded, so a crash can be pinned on them.
    let journal: InvocationJournal?
    /// ``journal``'s stores around each call (no reference taken per call).
    private let journalRecorder: InvocationJournal.Recorder?
    /// What this invoker did, for the metrics endpoint (written by the calling thread only).
    let statistics: InvocationStatistics
    /// The spans of a function that traces (Tracing/); nil: nothing is traced, nothing is spent.
    let tracing: InvocationTracing?
    private let journalRanges: UnsafeMutablePointer<InvocationJournal.Range>
    /// Where the outputs' records of the next call are tracked.
    private var deliveries: InvocationDeliveries
    /// Trackers of invocations settled since, ready for reuse.
    private var spareDeliveries: [InvocationDeliveries] = []
    /// ``deliveries`` was returned in an outcome: it belongs to the caller once sealed.
    private var deliveriesHandedOut = false
    /// exactlyOnce: the outputs stage their records (``OutputHandle/staged``); a successful call
    /// releases them into the open transaction without waiting, a failed one drops them.
    private let transactional: Bool
    /// Whether each call is logged ("Executed ..."): the logger's level is fixed for its life,
    /// and asking it copies its handler (a retain and a release per call).
    private let logsInvocations: Bool
    /// The rest of this invoker's block of invocation ids: a call takes one without touching
    /// the process-wide counter.
    private var reservedIDs: (next: UInt64, left: UInt64) = (0, 0)
    private static let invocationIDBlock: UInt64 = 4096
    /// Times the calls (the CPU's counter where the kernel trusts it: ``CallClock``).
    private let clock = CallClock.process

    convenience init(function: FunctionConfiguration, library: FunctionLibrary, capacity: Int, producers: ProducerPool,
                     journal: InvocationJournal?, tracer: FunctionTracer? = nil, logger: Logger) throws {
        try self.init(function: function, library: library, capacity: capacity,
                      outputs: function.outputs.map { try OutputHandle(binding: $0, producer: try producers.producer(for: $0.connection, settings: $0.producer)) },
                      journal: journal, tracer: tracer, logger: logger)
    }

    /// - Parameters:
    ///   - outputs: one handle per output binding, in order (an operator's invocation captures
    ///     what they send).
    ///   - tracer: the function's tracer when it traces (decided at load: a call without one
    ///     checks one nil, and parses, allocates and reads no clock for tracing).
    init(function: FunctionConfiguration, library: FunctionLibrary, capacity: Int, outputs: [OutputHandle],
         journal: InvocationJournal?, tracer: FunctionTracer? = nil, logger: Logger) throws {
        transactional = outputs.contains { $0.staged != nil }
        self.function = function
        self.logger = logger
        logsInvocations = logger.logLevel <= .info
        self.journal = journal
        journalRecorder = journal?.recorder
        // With an eventFormat the entry point gets one document, whatever the cardinality.
        let callShape = function.trigger.eventFormat == .native ? function.trigger.cardinality : .one
        callInterface = try CallInterface(
            entryPoint: library.entryPoint,
            parameters: CallInterface.parameters(cardinality: callShape, outputCount: function.outputs.count))
        documents = function.trigger.eventFormat == .native ? nil : EventDocumentBuilder(
            format: function.trigger.eventFormat, cardinality: function.trigger.cardinality,
            dataType: function.trigger.dataType, bootstrapServers: function.trigger.connection.brokerList)
        context = InvocationContext(functionName: function.name, abiVersion: library.abiVersion, logger: logger)
        fillsHeaders = library.abiVersion.fillsHeaders || function.trigger.eventFormat != .native
        self.outputs = outputs
        deliveries = InvocationDeliveries(outputCount: outputs.count)
        for (index, output) in outputs.enumerated() { output.tracker = deliveries.trackers[index] }
        statistics = InvocationStatistics(outputTopics: function.outputs.map(\.topic))
        decoder = RecordDecoder.make(for: function.trigger.schemas, dataType: function.trigger.dataType)
        events = EventBuffer(capacity: capacity, decoder: decoder)
        journalRanges = .allocate(capacity: InvocationJournal.maximumRanges)
        // The slots that never change: output handles, then the context.
        let firstOutput = callShape == .one ? 1 : 2
        for (index, output) in outputs.enumerated() { callInterface.setPointer(firstOutput + index, output.pointer) }
        callInterface.setPointer(firstOutput + outputs.count, context.pointer)
        tracing = tracer.map { InvocationTracing(tracer: $0, function: function) }
        if let tracing {
            context.currentTrace = tracing.current
            for output in outputs { output.trace = tracing.current }
        }
    }

    deinit {
        journalRanges.deallocate()
    }

    /// A fresh invocation id for the context (the flush call uses one too).
    static func nextInvocationID() -> UInt64 {
        invocationCounter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// A fresh invocation id from this invoker's block, reserving the next block when it runs
    /// out: unique across the process, one shared atomic per 4096 calls instead of per call.
    @inline(__always)
    private func takeInvocationID() -> UInt64 {
        if reservedIDs.left == 0 {
            let end = invocationCounter.wrappingAdd(Self.invocationIDBlock, ordering: .relaxed).newValue
            reservedIDs = (end - Self.invocationIDBlock + 1, Self.invocationIDBlock)
        }
        defer { reservedIDs = (reservedIDs.next + 1, reservedIDs.left - 1) }
        return reservedIDs.next
    }

    /// Calls the function once with `messages` (one event for ONE, a batch for MANY), then waits
    /// for every record it sent without waiting itself, unless `deferringOutputs`: then an
    /// invocation that succeeded returns at once with its unacknowledged records in
    /// ``InvocationOutcome/outputsInFlight``, for the caller to settle with ``settle(_:)``.
    func attempt(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, deferringOutputs: Bool = false) -> InvocationOutcome {
        events.fill(messages, withHeaders: fillsHeaders)
        return call(events.events, count: messages.count, journaled: messages, deferringOutputs: deferringOutputs)
    }

    /// The calls since the last seal have all returned their trackers: later calls get fresh ones
    /// (the sealed group is settled with ``settle(_:)``).
    func sealDeliveries() {
        guard deliveriesHandedOut else { return }
        deliveriesHandedOut = false
        deliveries = spareDeliveries.popLast() ?? InvocationDeliveries(outputCount: outputs.count)
        for (index, output) in outputs.enumerated() { output.tracker = deliveries.trackers[index] }
    }

    /// Waits for the records of an invocation that returned them in flight, counts them for the
    /// metrics, and returns why any was not delivered (empty: all were). Called on the thread that
    /// calls the function (the statistics have one writer).
    func settle(_ inFlight: InvocationDeliveries) -> [String] {
        let failures = finish(inFlight, awaited: false)
        spareDeliveries.append(inFlight)
        return failures
    }

    /// exactlyOnce, once the transaction is committed or aborted: counts the records released
    /// into it for the metrics and returns the failures (none after a commit).
    func collectTransactionOutputs() -> [String] {
        finish(deliveries, awaited: true)
    }

    /// Waits for `tracked`'s records (and takes the counts of the ones sent with a delivery
    /// pointer, when `awaited`) and counts them for the metrics; returns the failures.
    private func finish(_ tracked: InvocationDeliveries, awaited: Bool) -> [String] {
        var failures: [String] = []
        tracked.finish { index, delivery in
            let waited = awaited ? outputs[index].takeAwaited() : (delivered: 0, failed: 0)
            if !delivery.failures.isEmpty { failures += delivery.failures }
            statistics.recordOutput(index, delivered: delivery.delivered + waited.delivered, failed: delivery.failures.count + waited.failed)
        }
        return failures
    }

    /// Calls the function once with events built elsewhere (an operator's synthetic events:
    /// `POST /admin/functions/NAME`, `swiftfunc invoke`); nothing is journaled.
    func attempt(events: UnsafeMutablePointer<sf_event_v1>, count: Int) -> InvocationOutcome {
        call(events, count: count, journaled: nil)
    }

    private func call(_ events: UnsafeMutablePointer<sf_event_v1>, count: Int,
                      journaled messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>?,
                      deferringOutputs: Bool = false) -> InvocationOutcome {
        if let documents {
            callInterface.setPointer(0, documents.build(events, count: count))
        } else {
            callInterface.setPointer(0, events)
            if function.trigger.cardinality == .many { callInterface.setCount(1, count) }
        }
        if let journalRecorder, let messages { journalRecorder.begin(UnsafeBufferPointer(start: journalRanges, count: describeForJournal(messages)), startedAtMs: wallClockMilliseconds()) }
        context.begin(invocationID: takeInvocationID(), events: events, count: count, messages: messages?.baseAddress)
        if let tracing { tracing.begin(events, count: count, headers: context.headers) }
        let logging = logsInvocations
        let timing = logging || InvocationStatistics.timesInvocations.load(ordering: .relaxed)
        let started = timing ? clock.now() : 0
        statistics.callStarted()
        let result = callInterface.call()
        statistics.callEnded()
        journalRecorder?.end()
        var outcome = InvocationOutcome()
        var deliveryFailures: [String] = []
        // Records librdkafka refused to queue fail the invocation at once, whatever the function did.
        // (Most functions have no outputs: the loop is not even entered, which spares retaining
        // the array per call.)
        if !outputs.isEmpty {
            for (index, output) in outputs.enumerated() {
                let refused = output.takeRefused()
                if let reason = refused.reason {
                    deliveryFailures.append(reason)
                    statistics.recordOutput(index, delivered: 0, failed: refused.count)
                }
            }
        }
        if transactional {
            // The transaction's commit flushes the records (counted then, ``collectTransactionOutputs()``).
            if (result == SF_OK || result == SF_PENDING) && context.failedItems.isEmpty {
                for output in outputs {
                    if let refusal = output.releaseStaged() { deliveryFailures.append(refusal) }
                }
            } else {
                outputs.forEach { $0.discardStaged() }
                // Which records belong to which item is not known: the whole batch is tried again.
                if let item = context.failedItems.first, result == SF_OK || result == SF_PENDING {
                    outcome.failure = "item \(item.index) failed: \(item.reason) (with exactlyOnce a batch's outputs are one unit: the whole batch is tried again)"
                }
            }
        } else if deferringOutputs && !outputs.isEmpty {
            // Settled later, once its records are acknowledged. Later calls join the same trackers
            // until the caller seals them (``sealDeliveries()``): a group of invocations is waited
            // for, and settled, at once. A failed call does not wait either: its records are in
            // the group, whose settlement waits for them.
            outcome.outputsInFlight = deliveries
            deliveriesHandedOut = true
            for (index, output) in outputs.enumerated() {
                let waited = output.takeAwaited()
                if waited.delivered + waited.failed > 0 { statistics.recordOutput(index, delivered: waited.delivered, failed: waited.failed) }
            }
        } else if !outputs.isEmpty {
            deliveryFailures += finish(deliveries, awaited: true)
        }
        let elapsed = timing ? clock.nanoseconds(from: started, to: clock.now()) : 0

        if result != SF_OK && result != SF_PENDING {
            let reason = context.lastLoggedError ?? "the function returned \(result)"
            outcome.failure = reason + (deliveryFailures.isEmpty ? "" : "; output not delivered: " + deliveryFailures.joined(separator: "; "))
        } else if !deliveryFailures.isEmpty {
            outcome.failure = "output not delivered: " + deliveryFailures.joined(separator: "; ")
        }
        for item in context.failedItems where item.index >= 0 && item.index < count {
            outcome.failedItems[item.index] = outcome.failedItems[item.index] ?? item.reason
        }
        outcome.pending = result == SF_PENDING
        let kind: InvocationStatistics.Outcome = outcome.failure != nil ? .failed
            : !outcome.failedItems.isEmpty ? .partiallyFailed : outcome.pending ? .pending : .succeeded
        statistics.recordInvocation(kind, nanoseconds: timing ? elapsed : nil,
                                    batchSize: function.trigger.cardinality == .many ? count : nil)
        if logging {
            let detail = function.trigger.cardinality == .one
                ? "partition=\(events[0].partition) offset=\(events[0].offset)"
                : "\(count) events \(describeRanges(UnsafeBufferPointer(start: events, count: count)))"
            var metadata = InvocationLogFields.metadata(outcome: kind.logName, nanoseconds: elapsed,
                                                        partition: events[0].partition, offset: events[0].offset,
                                                        invocation: context.pointer.pointee.invocation_id)
            if let tracing { metadata.merge(tracing.current.logFields) { $1 } }
            logger.info("Executed '\(function.name)' \(detail) (\(kind.logName), \(formatMilliseconds(elapsed)))", metadata: metadata)
        }
        if let tracing { tracing.end(outcome, count: count, functionFailed: result != SF_OK && result != SF_PENDING) }
        return outcome
    }

    /// Writes the partition ranges of `messages` into `journalRanges`; returns how many.
    private func describeForJournal(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> Int {
        var count = 0
        // A batch holds each partition's messages in runs: the current run's range is checked
        // before the others are searched.
        var current = -1
        for message in messages {
            let partition = message.pointee.partition
            let offset = message.pointee.offset
            let known = current >= 0 && journalRanges[current].partition == partition
                ? current : (0..<count).first(where: { journalRanges[$0].partition == partition })
            if let index = known {
                current = index
                journalRanges[index].first = min(journalRanges[index].first, offset)
                journalRanges[index].last = max(journalRanges[index].last, offset)
            } else if count < InvocationJournal.maximumRanges {
                journalRanges[count] = InvocationJournal.Range(partition: partition, first: offset, last: offset)
                current = count
                count += 1
            }
        }
        return count
    }

    /// "partition=0 offsets=5-9 partition=1 offsets=3-3", in the order partitions appear.
    private func describeRanges(_ batch: UnsafeBufferPointer<sf_event_v1>) -> String {
        var ranges: [(partition: Int32, first: Int64, last: Int64)] = []
        for event in batch {
            let partition = event.partition
            if let index = ranges.firstIndex(where: { $0.partition == partition }) {
                ranges[index].last = event.offset
            } else {
                ranges.append((partition, event.offset, event.offset))
            }
        }
        return ranges.map { "partition=\($0.partition) offsets=\($0.first)-\($0.last)" }.joined(separator: " ")
    }
}

private func formatMilliseconds(_ nanoseconds: UInt64) -> String {
    let milliseconds = Double(nanoseconds) / 1_000_000
    return milliseconds < 10 ? "\((milliseconds * 1000).rounded() / 1000) ms" : "\(Int(milliseconds.rounded())) ms"
}
