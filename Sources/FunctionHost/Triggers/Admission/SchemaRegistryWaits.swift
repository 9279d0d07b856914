import CRdKafka
import Logging

/// While the schema registry cannot be asked about a message, its partition waits at that
/// message (``HoldReasons/schemaRegistry``: nothing is dead-lettered for it, the other partitions
/// go on) and asks again after ``Backoff/schemaRegistry`` (1 s, 2, 4 ... up to 30 s). Once the
/// registry answers, the partition continues at the message, which is fetched and admitted
/// again like any other (decoded, matched against the filters, or dead-lettered as the answer
/// says). The same for every ordering. Consuming thread only.
final class SchemaRegistryWaits {
    /// A partition waiting at a message: the message, to ask about again, and when.
    private final class Wait {
        var message: RDKafkaMessages
        var due: UInt64
        /// Questions that found the registry unavailable since the first.
        var waits = 0

        init(message: consuming RDKafkaMessages, due: UInt64) {
            self.message = message
            self.due = due
        }
    }

    private var waits: [Int32: Wait] = [:]
    private let decoder: RecordDecoder?
    private let control: PartitionControl
    private let functionName: String
    private let logger: Logger

    init(decoder: RecordDecoder?, control: PartitionControl, functionName: String, logger: Logger) {
        self.decoder = decoder
        self.control = control
        self.functionName = functionName
        self.logger = logger
    }

    var isEmpty: Bool { waits.isEmpty }

    /// `message`'s partition waits at it (taken out of the fetch, to ask about again).
    func wait(at message: consuming RDKafkaMessage) {
        let pointer = message.pointer
        let partition = pointer.pointee.partition
        let offset = pointer.pointee.offset
        let reason = Admission.schemaFailure(pointer, decoder: decoder)
        var kept = RDKafkaMessages(reservingCapacity: 1)
        kept.append(message)
        let delay = Backoff.schemaRegistry.delay(afterFailures: 1)
        waits[partition] = Wait(message: kept, due: monotonicNanoseconds() + delay.nanoseconds)
        control.hold(partition, .schemaRegistry)
        control.continueAt(partition, offset)
        logger.warning("'\(functionName)': partition \(partition) waits at offset \(offset) for the schema registry: \(reason); asking again in \(FailurePolicy.seconds(delay.seconds))", metadata: InvocationLogFields.place(partition: partition, offset: offset))
    }

    /// Asks the registry again for the partitions whose wait is over; a partition it answers
    /// for continues at the message it stopped at.
    func askAgainWhenDue() {
        guard !waits.isEmpty, let decoder else { return }
        let now = monotonicNanoseconds()
        for (partition, wait) in waits where wait.due <= now {
            guard let message = wait.message.first else { continue }
            let offset = message.pointee.offset
            if case .registryUnavailable(let text) = decoder.check(message) {
                wait.waits += 1
                let delay = Backoff.schemaRegistry.delay(afterFailures: wait.waits + 1)
                wait.due = now + delay.nanoseconds
                logger.warning("'\(functionName)': partition \(partition) still waits at offset \(offset) for the schema registry (\(wait.waits + 1) tries): \(text); asking again in \(FailurePolicy.seconds(delay.seconds))", metadata: InvocationLogFields.place(partition: partition, offset: offset))
                continue
            }
            waits.removeValue(forKey: partition)
            logger.info("'\(functionName)': the schema registry answered; partition \(partition) goes on at offset \(offset)", metadata: InvocationLogFields.place(partition: partition, offset: offset))
            control.release(partition, .schemaRegistry)
        }
    }

    /// Nanoseconds until the next partition asks again.
    func timeUntilNextQuestion(now: UInt64) -> UInt64? {
        waits.values.map { $0.due > now ? $0.due - now : 0 }.min()
    }

    /// `partitions` are given up: their waits end.
    func forget(_ partitions: some Sequence<Int32>) {
        guard !waits.isEmpty else { return }
        for partition in partitions { waits.removeValue(forKey: partition) }
    }
}
