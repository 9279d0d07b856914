import CRdKafka
import Foundation
import Logging

/// exactlyOnce: one function's transactional producer. A transaction is always open; the
/// records of successful invocations go into it (``OutputHandle/releaseStaged()``), and
/// ``commit(_:consumer:)`` adds the consumed offsets with the consumer group's metadata (KIP-447:
/// the group's generation fences a member that lost its partitions) and commits both at once.
final class TransactionalOutputs {
    enum Outcome {
        case committed
        /// The transaction was aborted: its records are discarded (a read_committed reader never
        /// sees them) and its offsets were not committed; the partitions must go back to the
        /// group's committed offsets.
        case aborted(KafkaError)
        /// The producer cannot go on (fenced by a newer instance with the same transactional id).
        case fatal(KafkaError)
    }

    let producer: KafkaProducer
    let transactionalID: String

    /// Registers the transactional id (fencing an earlier incarnation and aborting what it left
    /// open) and begins the first transaction.
    /// - Parameter instance: tells this host's worker apart from other hosts of the same app, and
    ///   is the same after a restart, so the restarted worker fences its crashed predecessor.
    init(function: FunctionConfiguration, options: KafkaOptions, instance: String) throws {
        transactionalID = "swiftfunc-\(function.trigger.consumerGroup)-\(function.name)-\(instance)"
        var settings = function.outputs.first?.producer ?? ProducerSettings()
        settings.enableIdempotence = true
        producer = try KafkaProducer(connection: function.trigger.connection, settings: settings, options: options,
                                     transactionalID: transactionalID)
        do {
            try producer.client.initTransactions(timeoutMs: 30_000)
            try producer.client.beginTransaction()
        } catch {
            _ = producer.shutdown(timeoutMs: 0)
            throw error
        }
    }

    /// Commits the open transaction with `offsets` (of the trigger's topic) and begins the next.
    func commit(_ offsets: RDKafkaTopicPartitionList, consumer: RDKafkaConsumer) -> Outcome {
        do {
            if !offsets.isEmpty {
                try consumer.withGroupMetadata { metadata throws(KafkaError) in
                    try producer.client.sendOffsetsToTransaction(offsets, groupMetadata: metadata, timeoutMs: 30_000)
                }
            }
            do {
                try producer.client.commitTransaction(timeoutMs: 60_000)
            } catch where error.isRetriable && !error.requiresAbort {
                // librdkafka: a commit that timed out may be called again.
                try producer.client.commitTransaction(timeoutMs: 60_000)
            }
        } catch {
            if error.isFatal { return .fatal(error) }
            return abort(because: error)
        }
        do {
            try producer.client.beginTransaction()
        } catch {
            return .fatal(error)
        }
        return .committed
    }

    /// Aborts the open transaction and begins the next.
    func abort(because reason: KafkaError) -> Outcome {
        do {
            try producer.client.abortTransaction(timeoutMs: 30_000)
            try producer.client.beginTransaction()
        } catch {
            return .fatal(error)
        }
        return .aborted(reason)
    }

    /// Aborts what is open (a stop without a commit) and closes the producer.
    func close() {
        try? producer.client.abortTransaction(timeoutMs: 5_000)
        _ = producer.shutdown(timeoutMs: 5_000)
    }
}

extension TransactionalOutputs {
    /// A worker whose transactional producer was fenced or broke exits with this status: the
    /// supervisor starts it again (it is not a configuration error).
    static let fatalExitStatus: Int32 = 75

    /// What a broken transactional producer does to the process (told the function and the
    /// error): the worker exits (the supervisor starts a new one); a test process replaces it.
    nonisolated(unsafe) static var onFatalError: (String) -> Void = { _ in exit(fatalExitStatus) }

    /// Tells this worker's transactional producer apart from other hosts' (the host name) and
    /// keeps it across restarts (the state folder), so a restarted worker fences its predecessor.
    static func instanceID(stateDirectory: URL?) -> String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(cString: name)
        let place = stateDirectory?.standardizedFileURL.path ?? "pid-\(getpid())"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in place.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "\(host)-\(String(hash, radix: 16))"
    }
}
