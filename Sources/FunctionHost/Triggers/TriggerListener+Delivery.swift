import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Ordering `partition`: what the consuming thread does with fresh messages: each one's
/// disposition (invoke, filter out, dead-letter at once), the call, and its outcome.
extension TriggerListener {
    // MARK: - Delivering

    /// Delivers messages fetched just now (one for ONE, a batch for MANY), all of partitions
    /// that are not held. Messages that crashed the host before are isolated first.
    /// The caller made room among the unacknowledged outputs first (``roomForOutputs(messages:)``).
    func deliverFresh(_ batch: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        var kept = 0
        // Filtered-out messages behind one that is called are settled only once that call is
        // (their partition is not held after it): a stored offset never passes a failure.
        var filteredBehindCalls: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        defer {
            for message in filteredBehindCalls where !holds.isHeld(message.pointee.partition)
                && !ledger.isSettled(message.pointee.partition, offset: message.pointee.offset) {
                advance(message.pointee.partition, to: message.pointee.offset + 1, pending: false)
            }
        }
        // Messages that cannot be delivered are dead-lettered in order: the messages gathered for
        // the call before one are invoked first, so its offset is never stored before theirs are
        // settled (and after a failure there, its held partition refetches it later).
        for message in batch where !holds.isHeld(message.pointee.partition) {
            let disposition = disposition(message)
            switch disposition {
            case .deadLetterCrashed, .deadLetterInvalidText, .deadLetterRecordAge, .deadLetterSchemaNotFound, .deadLetterUndecodable, .waitForSchemaRegistry:
                if kept > 0 {
                    invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept]))
                    kept = 0
                    if holds.isHeld(message.pointee.partition) { continue }
                }
            case .filteredOut, .beforeStartFrom, .invoke, .invokeAlone:
                break
            }
            switch disposition {
            case .filteredOut, .beforeStartFrom:
                if disposition == .beforeStartFrom { countSkipped() } else { filteredCount.wrappingAdd(1, ordering: .relaxed) }
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
            case .deadLetterSchemaNotFound, .deadLetterUndecodable:
                deadLetter([message], reason: disposition == .deadLetterSchemaNotFound ? .schemaNotFound : .deserializationError,
                           error: schemaFailure(message), attempts: 0)
            case .waitForSchemaRegistry:
                holdForSchemaRegistry(message)
            case .invoke, .invokeAlone:
                batch[kept] = message
                kept += 1
            }
        }
        if kept > 0 { invoke(UnsafeMutableBufferPointer(rebasing: batch[0..<kept])) }
    }

    /// Calls the function with `ready` (fresh messages of partitions not held, in order) and
    /// settles, holds or isolates them by the outcome.
    func invoke(_ ready: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>) {
        // A batch holding a message that crashed the host before is delivered one message at a
        // time, so the next crash points at the culprit alone.
        if ready.count > 1, ready.contains(where: { crashCount($0) > 0 }) {
            for index in ready.indices where !holds.isHeld(ready[index].pointee.partition) {
                deliverFresh(UnsafeMutableBufferPointer(rebasing: ready[index...index]))
            }
            return
        }
        let outcome = attempt(UnsafeBufferPointer(ready), deferringOutputs: awaiting != nil)
        guard outcome.failure != nil || !outcome.failedItems.isEmpty else {
            // With output bindings: settled once its records are acknowledged, in turn (the
            // thread goes on with the next messages meanwhile; the calls of one fetch share one
            // group of trackers).
            if let awaiting, let inFlight = outcome.outputsInFlight {
                makeRoomForOutputs(messages: ready.count)
                awaiting.append(inFlight, pending: outcome.pending, messages: UnsafeBufferPointer(ready), from: fetched)
                return
            }
            // One advance (and one settlement-journal write) per run of a partition's messages:
            // a fetch holds each partition's messages in order, in runs.
            guard let first = ready.first else { return }
            var run = (partition: first.pointee.partition, last: first.pointee.offset, count: 0)
            for message in ready {
                let partition = message.pointee.partition
                if partition != run.partition {
                    advance(run.partition, to: run.last + 1, pending: outcome.pending, messages: run.count)
                    run = (partition, message.pointee.offset, 0)
                }
                run.last = message.pointee.offset
                run.count += 1
                forgetCrashes(message)
            }
            advance(run.partition, to: run.last + 1, pending: outcome.pending, messages: run.count)
            return
        }
        // Earlier invocations still waiting for their outputs settle first, so a partition held
        // here resumes after everything it called (a failed delivery may hold one right now).
        if let inFlight = outcome.outputsInFlight, awaiting?.open !== inFlight {
            // This failed call's own group (no other call joined it): waited for and recycled.
            invoker.sealDeliveries()
            _ = invoker.settle(inFlight)
        }
        settleAcknowledgedOutputs(waitingForAll: true)
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
            let error = outcome.reason(for: ready.firstIndex(of: failed[0])!)
            // Taken out of the fetch: the held partition owns them from now on.
            var taken = fetched.take(failed)
            if let held = holds.held(partition) {
                // Held just now by an earlier invocation's failed delivery: these join its messages.
                taken.removeAll { held.messages.append($0) }
                held.resumeOffset = max(held.resumeOffset, last.pointee.offset + 1)
            } else {
                failedFirstTime(partition: partition, messages: taken, error: error, resumeOffset: last.pointee.offset + 1)
            }
        }
    }

    // MARK: - Invoking

    /// Calls the function once with `messages` from the consuming thread.
    func attempt(_ messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>>, deferringOutputs: Bool = false) -> InvocationOutcome {
        let outcome = invoker.attempt(messages, deferringOutputs: deferringOutputs)
        if outcome.pending && flushFunction == nil && !warnedAboutMissingFlush {
            warnedAboutMissingFlush = true
            logger.error("Function '\(function.name)' returned SF_PENDING but exports no \(function.entryPoint)_flush: its records are never committed and will be delivered again after a restart")
        }
        return outcome
    }

    func forgetCrashes(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        crashes?.forget(message)
    }

    /// What becomes of a fresh message, whoever calls the function: settled without a call when
    /// it comes before the trigger's `startFrom` time on a partition still skipping, or when
    /// it matches none of the trigger's filters; dead-lettered without a call when it crashed
    /// the host too often, is not text for a string function, or does not decode with its
    /// schema; kept back while the schema registry cannot be asked; called alone when it crashed
    /// the host before; else called.
    @inline(__always)
    func disposition(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> InvocationLane.Disposition {
        if isBeforeStartFrom(message) { return .beforeStartFrom }
        // A schema trigger's value and key patterns match the decoded record, the JSON the
        // function gets: then it is checked before its filters (the check keeps what it decoded
        // for the call). One that does not decode cannot be matched: it goes where its check says.
        var checkedBeforeFilters = false
        if let filter {
            if let schemaCheck, filter.readsKeyOrValue {
                if let notNow = schemaDisposition(schemaCheck.check(message)) { return notNow }
                checkedBeforeFilters = true
                if !filter.matches(message, decodedBy: schemaCheck) { return .filteredOut }
            } else if !filter.matches(message) {
                return .filteredOut
            }
        }
        if let maxRecordAgeMs, RecordAge.isOlder(message, thanMs: maxRecordAgeMs) { return .deadLetterRecordAge }
        let crashes = crashCount(message)
        if crashes >= maxCrashesPerMessage { return .deadLetterCrashed }
        if let schemaCheck {
            // The function gets the decoded record (JSON), not these bytes: no UTF-8 check of them.
            if !checkedBeforeFilters, let notNow = schemaDisposition(schemaCheck.check(message)) { return notNow }
            return crashes > 0 ? .invokeAlone : .invoke
        }
        if function.trigger.dataType == .string, let payload = message.pointee.payload,
           !isValidUTF8(payload.assumingMemoryBound(to: UInt8.self), count: message.pointee.len) {
            return .deadLetterInvalidText
        }
        return crashes > 0 ? .invokeAlone : .invoke
    }

    /// Where a schema check sends a message that cannot be called now; nil: it decodes.
    @inline(__always)
    func schemaDisposition(_ check: RecordDecoder.Check) -> InvocationLane.Disposition? {
        switch check {
        case .decodable: nil
        case .undecodable(let reason, _): reason == .schemaNotFound ? .deadLetterSchemaNotFound : .deadLetterUndecodable
        case .registryUnavailable: .waitForSchemaRegistry
        }
    }

    @inline(__always)
    func crashCount(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Int {
        crashes?.count(partition: message.pointee.partition, offset: message.pointee.offset) ?? 0
    }
}
