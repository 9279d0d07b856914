import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Unique invocation ids across the host process.
private let invocationCounter = Atomic<UInt64>(0)

/// One function's consumer: a librdkafka consumer group member on its own thread (never on
/// Swift's cooperative pool) that fetches what is there, calls the function through its call
/// interface, and stores an offset only once every earlier message of its partition succeeded.
///
/// A failed message holds its partition: the partition is paused, later messages of it are left
/// for later, and after a backoff it is sought back to the failed offset and resumed. Other
/// partitions keep flowing, and the consumer keeps polling, so the group never times it out.
final class TriggerListener: @unchecked Sendable {
    let function: FunctionConfiguration
    private let library: FunctionLibrary
    private let options: KafkaOptions
    private let logger: Logger
    private let callInterface: CallInterface
    private let context: InvocationContext
    private let outputs: [OutputHandle]
    private let events: EventBuffer
    private let fetched: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private let eligible: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private let fetchCapacity: Int
    private let backoff = RetryBackoff()
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var progress = PartitionProgress()
    private var consumer: OpaquePointer!
    private var queue: OpaquePointer!
    /// The C strings of the trigger's topic, for partition lists.
    private let topicName: UnsafeMutablePointer<CChar>

    /// Events fetched at once for a ONE function (each still gets its own call).
    static let fetchSizeForOne = 512

    /// Creates the consumer and subscribes it; nothing is consumed until ``start()``.
    /// - Throws: ``KafkaError`` when librdkafka refuses the configuration.
    init(function: FunctionConfiguration, library: FunctionLibrary, options: KafkaOptions,
         producers: ProducerPool, logger: Logger) throws {
        self.function = function
        self.library = library
        self.options = options
        self.logger = logger
        callInterface = try CallInterface(
            entryPoint: library.entryPoint,
            parameters: CallInterface.parameters(cardinality: function.trigger.cardinality, outputCount: function.outputs.count))
        context = InvocationContext(functionName: function.name, logger: logger)
        outputs = try function.outputs.map { OutputHandle(binding: $0, producer: try producers.producer(for: $0.connection)) }
        fetchCapacity = function.trigger.cardinality == .many ? options.maxBatchSize : Self.fetchSizeForOne
        events = EventBuffer(capacity: fetchCapacity)
        fetched = .allocate(capacity: fetchCapacity)
        eligible = .allocate(capacity: fetchCapacity)
        topicName = strdup(function.trigger.topic)

        // The slots that never change: output handles, then the context.
        let firstOutput = function.trigger.cardinality == .one ? 1 : 2
        for (index, output) in outputs.enumerated() { callInterface.setPointer(firstOutput + index, output.pointer) }
        callInterface.setPointer(firstOutput + outputs.count, context.pointer)

        var properties: [(String, String)] = [
            ("group.id", function.trigger.consumerGroup),
            ("client.id", "swiftfunc-\(function.name)"),
            // Offsets are stored by the host after success and committed by librdkafka.
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ]
        properties += options.consumerProperties
        properties += function.trigger.connection.librdkafkaProperties
        properties += options.librdkafka.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let configuration = try KafkaClient.makeConfiguration(properties, origin: "consumer of \(function.name)")
        rd_kafka_conf_set_opaque(configuration, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(configuration, rebalanceCallback)
        rd_kafka_conf_set_error_cb(configuration, errorCallback)
        consumer = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: configuration)
        rd_kafka_poll_set_consumer(consumer)
        queue = rd_kafka_queue_get_consumer(consumer)
        let topics = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(topics, topicName, crdkafka_partition_unassigned())
        let result = rd_kafka_subscribe(consumer, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            close()
            throw KafkaError(result, while: "subscribing to '\(function.trigger.topic)'")
        }
    }

    deinit {
        fetched.deallocate()
        eligible.deallocate()
        free(topicName)
    }

    /// Starts consuming on a dedicated thread.
    func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "swiftfunc-\(function.name)"
        thread.start()
    }

    /// Finishes the invocation in progress, commits, leaves the group and returns.
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        context.cancel()
        rd_kafka_queue_yield(queue)
        finished.wait()
    }

    // MARK: - The consuming thread

    private func run() {
        while !stopRequested.load(ordering: .relaxed) {
            releaseDueRetries()
            let count = fetch(timeoutMs: pollTimeoutMs())
            guard count > 0 else { continue }
            if function.trigger.cardinality == .one {
                processOneByOne(count)
            } else {
                processBatch(count)
            }
            for index in 0..<count { rd_kafka_message_destroy(fetched[index]) }
            storeOffsets()
        }
        close()
    }

    /// Takes what is already fetched without waiting; waits (up to `timeoutMs`) only when
    /// nothing is there, and then only for the first message.
    private func fetch(timeoutMs: Int32) -> Int {
        var count = rd_kafka_consume_batch_queue(queue, 0, fetched, fetchCapacity)
        if count == 0 {
            count = rd_kafka_consume_batch_queue(queue, Int32(timeoutMs), fetched, 1)
            if count == 1 && fetchCapacity > 1 {
                count += max(0, rd_kafka_consume_batch_queue(queue, 0, fetched + 1, fetchCapacity - 1))
            }
        }
        return max(0, count)
    }

    private func pollTimeoutMs() -> Int32 {
        let interval = UInt64(options.subscriberIntervalInSeconds) * 1_000_000_000
        let wait = progress.timeUntilNextRetry(now: monotonicNanoseconds()).map { min($0, interval) } ?? interval
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
            if progress.isHeld(message.pointee.partition) { continue }
            eligible[eligibleCount] = message
            eligibleCount += 1
        }
        return eligibleCount
    }

    private func processOneByOne(_ count: Int) {
        let eligibleCount = collectEligible(count)
        for index in 0..<eligibleCount {
            if stopRequested.load(ordering: .relaxed) { return }
            let message = eligible[index]
            let partition = message.pointee.partition
            let offset = message.pointee.offset
            // A failure earlier in this fetch holds the partition: leave its later messages.
            if progress.isHeld(partition) { continue }
            if let problem = invalidText(message) {
                fail(partition: partition, offset: offset, reason: problem)
                continue
            }
            events.reset(for: UnsafeBufferPointer(start: eligible + index, count: 1))
            events.fill(0, from: message)
            callInterface.setPointer(0, events.events)
            let started = monotonicNanoseconds()
            let outcome = invoke()
            let elapsed = monotonicNanoseconds() - started
            if let failure = outcome.failure {
                logInvocation(outcome: "Failed", detail: "partition=\(partition) offset=\(offset)", elapsed: elapsed)
                fail(partition: partition, offset: offset, reason: failure)
            } else {
                logInvocation(outcome: "Succeeded", detail: "partition=\(partition) offset=\(offset)", elapsed: elapsed)
                progress.succeeded(partition, offset: offset)
            }
        }
    }

    private func processBatch(_ count: Int) {
        var eligibleCount = collectEligible(count)
        // A string function never sees text that is not UTF-8: the first invalid message of a
        // partition holds it, and the partition's later messages wait with it.
        if function.trigger.dataType == .string {
            var kept = 0
            for index in 0..<eligibleCount {
                let message = eligible[index]
                if progress.isHeld(message.pointee.partition) { continue }
                if let problem = invalidText(message) {
                    fail(partition: message.pointee.partition, offset: message.pointee.offset, reason: problem)
                    continue
                }
                eligible[kept] = message
                kept += 1
            }
            eligibleCount = kept
        }
        guard eligibleCount > 0 else { return }
        let batch = UnsafeBufferPointer(start: eligible, count: eligibleCount)
        events.reset(for: batch)
        for index in 0..<eligibleCount { events.fill(index, from: eligible[index]) }
        callInterface.setPointer(0, events.events)
        callInterface.setCount(1, eligibleCount)
        let started = monotonicNanoseconds()
        let outcome = invoke()
        let elapsed = monotonicNanoseconds() - started

        var failedItems: [Int: String] = [:]
        for item in context.failedItems where item.index >= 0 && item.index < eligibleCount {
            failedItems[item.index] = failedItems[item.index] ?? item.reason
        }
        let outcomeName = outcome.failure != nil ? "Failed" : failedItems.isEmpty ? "Succeeded" : "PartiallyFailed"
        if logger.logLevel <= .info {
            logInvocation(outcome: outcomeName, detail: "\(eligibleCount) events \(describeRanges(batch))", elapsed: elapsed)
        }
        // Walk the batch in order: a partition advances up to its first failed item, which holds it.
        for index in 0..<eligibleCount {
            let message = eligible[index]
            let partition = message.pointee.partition
            if progress.isHeld(partition) { continue }
            if let failure = outcome.failure {
                fail(partition: partition, offset: message.pointee.offset, reason: failure)
            } else if let reason = failedItems[index] {
                fail(partition: partition, offset: message.pointee.offset, reason: "item \(index) failed: \(reason)")
            } else {
                progress.succeeded(partition, offset: message.pointee.offset)
            }
        }
    }

    private struct Outcome {
        var failure: String?
    }

    /// Calls the entry point, then waits for every record it sent without waiting itself.
    @inline(__always)
    private func invoke() -> Outcome {
        context.begin(invocationID: invocationCounter.wrappingAdd(1, ordering: .relaxed).newValue)
        let result = callInterface.call()
        var failures: [String] = []
        for output in outputs {
            failures += output.invocationTracker.waitForAll().failures
        }
        if result != SF_OK {
            let reason = context.lastLoggedError ?? "the function returned \(result)"
            return Outcome(failure: reason + (failures.isEmpty ? "" : "; " + failures.joined(separator: "; ")))
        }
        if !failures.isEmpty {
            return Outcome(failure: "output not delivered: " + failures.joined(separator: "; "))
        }
        return Outcome(failure: nil)
    }

    private func invalidText(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String? {
        guard function.trigger.dataType == .string, let payload = message.pointee.payload else { return nil }
        if isValidUTF8(payload.assumingMemoryBound(to: UInt8.self), count: message.pointee.len) { return nil }
        return "the value is not valid UTF-8 and the function's dataType is string (use dataType binary to receive raw bytes); the function was not called"
    }

    /// Holds the partition at the failed message and schedules its next delivery.
    private func fail(partition: Int32, offset: Int64, reason: String) {
        let (failures, delay) = progress.hold(partition, at: offset, now: monotonicNanoseconds(), backoff: backoff)
        logger.error(
            "Function '\(function.name)' failed at topic \(function.trigger.topic) partition \(partition) offset \(offset): \(reason). The partition holds at this message and delivers it again in \(formatSeconds(delay)) (failure \(failures) in a row); nothing after it is committed until it succeeds.",
            metadata: ["partition": "\(partition)", "offset": "\(offset)"])
        withPartitionList([(partition, offset)]) { list in
            _ = rd_kafka_pause_partitions(consumer, list)
        }
    }

    /// Seeks held partitions whose time has come back to the failed message and resumes them.
    private func releaseDueRetries() {
        let due = progress.dueRetries(now: monotonicNanoseconds())
        guard !due.isEmpty else { return }
        withPartitionList(due) { list in
            if let error = rd_kafka_seek_partitions(consumer, list, 5_000) {
                logger.warning("Seeking back to a failed message failed: \(String(cString: rd_kafka_error_string(error)))")
                rd_kafka_error_destroy(error)
            }
            _ = rd_kafka_resume_partitions(consumer, list)
        }
        for (partition, _) in due { progress.release(partition) }
    }

    private func storeOffsets() {
        let offsets = progress.takeOffsetsToStore()
        guard !offsets.isEmpty else { return }
        withPartitionList(offsets) { list in
            let result = rd_kafka_offsets_store(consumer, list)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                // A partition revoked meanwhile cannot be stored for; its new owner starts at the last commit.
                logger.debug("Storing offsets: \(String(cString: rd_kafka_err2str(result)))")
            }
        }
    }

    private func withPartitionList<R>(_ entries: [(partition: Int32, offset: Int64)], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> R) -> R {
        let list = rd_kafka_topic_partition_list_new(Int32(entries.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for entry in entries {
            rd_kafka_topic_partition_list_add(list, topicName, entry.partition).pointee.offset = entry.offset
        }
        return body(list)
    }

    /// Commits what is stored, leaves the group and frees the consumer.
    private func close() {
        guard let consumer else { return }
        storeOffsets()
        let commit = rd_kafka_commit(consumer, nil, 0)
        if commit != RD_KAFKA_RESP_ERR_NO_ERROR && commit != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.warning("Final commit of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(commit)))")
        }
        let closed = rd_kafka_consumer_close(consumer)
        if closed != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Leaving the consumer group of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(closed)))")
        }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(consumer)
        self.consumer = nil
        self.queue = nil
    }

    // MARK: - Rebalance and errors (called by librdkafka on the consuming thread)

    fileprivate func rebalance(_ error: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(consumer)) == "COOPERATIVE"
        let assigned = partitionNumbers(partitions)
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            assigned.forEach { progress.reset($0) }
            logger.info("'\(function.name)' was assigned partitions \(assigned) of \(function.trigger.topic)")
            if cooperative {
                if let error = rd_kafka_incremental_assign(consumer, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(consumer, partitions)
            }
        default:
            // Revoked: nothing is in flight (this runs between fetches); store and commit what
            // succeeded so the next owner starts right after it, then let the partitions go.
            storeOffsets()
            let commit = rd_kafka_commit(consumer, nil, 0)
            if commit != RD_KAFKA_RESP_ERR_NO_ERROR && commit != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.warning("Committing revoked partitions of '\(function.name)' failed: \(String(cString: rd_kafka_err2str(commit)))")
            }
            if let partitions { _ = rd_kafka_resume_partitions(consumer, partitions) }
            assigned.forEach { progress.reset($0) }
            logger.info("'\(function.name)' gave up partitions \(assigned) of \(function.trigger.topic)")
            if cooperative {
                if let error = rd_kafka_incremental_unassign(consumer, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(consumer, nil)
            }
        }
    }

    fileprivate func clientError(_ code: rd_kafka_resp_err_t, _ reason: String) {
        logger.warning("Kafka client of '\(function.name)': \(reason) (\(String(cString: rd_kafka_err2name(code))))")
    }

    private func reportConsumeError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let text = String(cString: rd_kafka_message_errstr(message))
        logger.warning("Consuming \(function.trigger.topic) for '\(function.name)': \(text)")
    }

    // MARK: - Log lines

    private func logInvocation(outcome: String, detail: String, elapsed: UInt64) {
        guard logger.logLevel <= .info else { return }
        logger.info("Executed '\(function.name)' \(detail) (\(outcome), \(formatMilliseconds(elapsed)))")
    }

    /// "partition=0 offsets=5-9 partition=1 offsets=3-3", in the order partitions appear.
    private func describeRanges(_ batch: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) -> String {
        var ranges: [(partition: Int32, first: Int64, last: Int64)] = []
        for message in batch {
            let partition = message.pointee.partition
            if let index = ranges.firstIndex(where: { $0.partition == partition }) {
                ranges[index].last = message.pointee.offset
            } else {
                ranges.append((partition, message.pointee.offset, message.pointee.offset))
            }
        }
        return ranges.map { "partition=\($0.partition) offsets=\($0.first)-\($0.last)" }.joined(separator: " ")
    }

    private func partitionNumbers(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [Int32] {
        guard let list, let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { elements[$0].partition }.sorted()
    }
}

private func formatMilliseconds(_ nanoseconds: UInt64) -> String {
    let milliseconds = Double(nanoseconds) / 1_000_000
    return milliseconds < 10 ? "\((milliseconds * 1000).rounded() / 1000) ms" : "\(Int(milliseconds.rounded())) ms"
}

private func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}

private func listener(_ opaque: UnsafeMutableRawPointer?) -> TriggerListener? {
    opaque.map { Unmanaged<TriggerListener>.fromOpaque($0).takeUnretainedValue() }
}

private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { _, error, partitions, opaque in
    listener(opaque)?.rebalance(error, partitions)
}

private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, code, reason, opaque in
    listener(opaque)?.clientError(rd_kafka_resp_err_t(code), reason.map { String(cString: $0) } ?? "")
}
