import CRdKafka
import Foundation
import Logging
import Synchronization

/// While the schema registry cannot be asked about a message, its partition waits at that
/// message (nothing is dead-lettered for it) and asks again, 1 s later, then 2, 4 ... up to 30 s;
/// the other partitions go on.
extension TriggerListener {
    /// How long a partition waits before asking the registry again, after `waits` failed questions.
    static func schemaRegistryBackoffSeconds(afterWaits waits: Int) -> Double {
        min(30, Double(1 << min(waits, 5)))
    }

    /// Why `message` cannot be decoded (the `swiftfunc.dlq.error` of its dead letter): what its
    /// check said, which ran just before on this thread.
    func schemaFailure(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String {
        if let said = schemaCheck?.lastFailure { return said }
        switch schemaCheck?.check(message) {
        case .undecodable(_, let text)?, .registryUnavailable(let text)?: return text
        case .decodable?, nil: return "decoded on a second look"
        }
    }

    // MARK: Ordering partition: the partition is held at the message

    /// Holds `message`'s partition at it (taken out of the fetch) until the registry answers.
    func holdForSchemaRegistry(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let partition = message.pointee.partition
        let reason = schemaFailure(message)
        let held = HeldMessages(messages: fetched.take([message]), failures: 0, lastError: reason,
                                due: monotonicNanoseconds() + UInt64(Self.schemaRegistryBackoffSeconds(afterWaits: 0) * 1e9),
                                resumeOffset: message.pointee.offset + 1)
        held.waitingForSchemaRegistry = true
        holds.hold(partition, held)
        pause(partition)
        logger.warning("'\(function.name)': partition \(partition) waits at offset \(message.pointee.offset) for the schema registry: \(reason); asking again in 1 s")
    }

    /// Asks the registry again for a held partition waiting on it. True when the partition may
    /// go on to call the function; otherwise it waits longer, or its message was dead-lettered.
    func askSchemaRegistryAgain(_ partition: Int32, _ held: HeldMessages) -> Bool {
        guard held.waitingForSchemaRegistry, let first = held.messages.first, let schemaCheck else { return true }
        switch schemaCheck.check(first) {
        case .decodable:
            held.waitingForSchemaRegistry = false
            held.failures = 0
            logger.info("'\(function.name)': the schema registry answered; partition \(partition) goes on at offset \(first.pointee.offset)")
            // Its filters could not be asked before the record was decoded: they are now.
            if let filter, filter.readsKeyOrValue, !filter.matches(first, decodedBy: schemaCheck) {
                filteredCount.wrappingAdd(1, ordering: .relaxed)
                settle(partition, pending: false)
                return false
            }
            return true
        case .undecodable(let reason, let text):
            held.waitingForSchemaRegistry = false
            held.failures = 0
            held.deadLetterReason = reason
            held.lastError = text
            failures.refused(messages: describe(held.messages.pointers), error: text)
            sendHeldToDeadLetters(partition, held)
            return false
        case .registryUnavailable(let text):
            held.failures += 1
            held.lastError = text
            let delay = Self.schemaRegistryBackoffSeconds(afterWaits: held.failures)
            held.due = monotonicNanoseconds() + UInt64(delay * 1e9)
            logger.warning("'\(function.name)': partition \(partition) still waits at offset \(first.pointee.offset) for the schema registry (\(held.failures + 1) tries): \(text); asking again in \(Int(delay)) s")
            return false
        }
    }

    // MARK: Ordering key or unordered: the partition is paused at the message

    /// Pauses `message`'s partition (slot `index` of the fetch) until the registry answers; the
    /// message is kept to ask about, and fetched again when the partition goes on.
    func waitForSchemaRegistry(_ message: UnsafeMutablePointer<rd_kafka_message_t>, at index: Int) {
        let partition = message.pointee.partition
        let reason = schemaFailure(message)
        var kept = RDKafkaMessages(reservingCapacity: 1)
        kept.append(fetched.take(at: index))
        schemaRegistryWaits[partition] = SchemaRegistryWait(
            message: kept, due: monotonicNanoseconds() + UInt64(Self.schemaRegistryBackoffSeconds(afterWaits: 0) * 1e9))
        pause(partition)
        logger.warning("'\(function.name)': partition \(partition) waits at offset \(message.pointee.offset) for the schema registry: \(reason); asking again in 1 s")
    }

    /// Asks the registry again for the partitions whose wait is over; a partition it answers for
    /// continues at the message it stopped at (which is then checked like any other).
    func askSchemaRegistryAgainForWaitingPartitions() {
        guard !schemaRegistryWaits.isEmpty, let schemaCheck else { return }
        let now = monotonicNanoseconds()
        for (partition, wait) in schemaRegistryWaits where wait.due <= now {
            guard let message = wait.message.first else { continue }
            let offset = message.pointee.offset
            if case .registryUnavailable(let text) = schemaCheck.check(message) {
                wait.waits += 1
                let delay = Self.schemaRegistryBackoffSeconds(afterWaits: wait.waits)
                wait.due = now + UInt64(delay * 1e9)
                logger.warning("'\(function.name)': partition \(partition) still waits at offset \(offset) for the schema registry (\(wait.waits + 1) tries): \(text); asking again in \(Int(delay)) s")
                continue
            }
            schemaRegistryWaits.removeValue(forKey: partition)
            logger.info("'\(function.name)': the schema registry answered; partition \(partition) goes on at offset \(offset)")
            guard assigned.contains(partition) else { continue }
            let list = partitionList([(partition, offset)])
            if !pausedForBackpressure { consumer.resume(list) }
            do {
                try consumer.seek(list, timeoutMs: 5_000)
            } catch {
                logger.warning("Seeking partition \(partition) to \(offset) failed: \(error.reason)")
            }
        }
    }
}

/// A partition (ordering key or unordered) paused at a message the schema registry could not be
/// asked about: the message, to ask about again, and when.
final class SchemaRegistryWait {
    var message: RDKafkaMessages
    var due: UInt64
    /// Questions that found the registry unavailable since the first.
    var waits = 0

    init(message: consuming RDKafkaMessages, due: UInt64) {
        self.message = message
        self.due = due
    }
}
