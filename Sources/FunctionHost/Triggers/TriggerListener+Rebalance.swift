import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Called by librdkafka on the consuming thread: assignments, revocations, commit answers and
/// client errors.
extension TriggerListener {
    // MARK: - Rebalance and errors (called by librdkafka on the consuming thread)

    func rebalance(_ error: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = consumer.rebalanceProtocol == "COOPERATIVE"
        let list = partitions.map(RDKafkaTopicPartitionList.init(borrowing:))
        let numbers = list?.partitions ?? []
        operations.rebalanced(assigned: error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, partitions: numbers)
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            numbers.forEach { holds.reset($0) }
            ledger.forget(numbers)
            assigned.formUnion(numbers)
            for partition in numbers where Int(partition) < nextToDispatch.count { nextToDispatch[Int(partition)] = -1 }
            // startFrom a time: partitions without a committed offset are placed first, so the
            // committer commits that place as where they start.
            if let list {
                placeByTime(list)
                committer.assigned(list, consumer: consumer)
            }
            logger.info("'\(function.name)' was assigned partitions \(numbers) of \(function.trigger.topic)")
            if let list {
                if cooperative { consumer.incrementalAssign(list) } else { consumer.assign(list) }
            } else if !cooperative {
                consumer.unassign()
            }
            // The lanes are full, or the operator paused the function: the new partitions wait with the others.
            if pausedForBackpressure || pausedForOutputs || operations.state != .running, let list { consumer.pause(list) }
        default:
            // Revoked: nothing is in flight (this runs between fetches). Make pending records
            // durable, store and commit what is settled so the next owner starts right after
            // it, then let the partitions go (held messages are delivered again by their new owner).
            dispatcher?.quiesce(Set(numbers))
            settleAcknowledgedOutputs(waitingForAll: true)
            flush(reason: "partitions revoked")
            storeOffsets()
            if let commitError = commitSettledNow(only: Set(numbers)) {
                revokeCommitFailed = true
                logger.warning("Committing revoked partitions of '\(function.name)' failed: \(commitError.reason)")
            }
            committer.revoked(numbers)
            if let list { consumer.resume(list) }
            numbers.forEach { holds.reset($0) }
            ledger.forget(numbers)
            numbers.forEach { resumeAt.removeValue(forKey: $0) }
            numbers.forEach { schemaRegistryWaits.removeValue(forKey: $0) }
            numbers.forEach { skipBefore.removeValue(forKey: $0) }
            assigned.subtract(numbers)
            logger.info("'\(function.name)' gave up partitions \(numbers) of \(function.trigger.topic)")
            if cooperative {
                if let list { consumer.incrementalUnassign(list) }
            } else {
                consumer.unassign()
            }
        }
    }

    func commitAnswered(_ error: rd_kafka_resp_err_t) {
        committer.commitAnswered(error)
    }

    func clientError(_ code: rd_kafka_resp_err_t, _ reason: String) {
        lastClientError.withLock { $0 = "\(reason) (\(String(cString: rd_kafka_err2name(code))))" }
        // librdkafka logs the same event through its log (RDKafkaLog): said once, there. A fatal
        // error is the exception: the consumer cannot go on.
        if code == RD_KAFKA_RESP_ERR__FATAL {
            logger.critical("Kafka client of '\(function.name)' hit a fatal error: \(reason)")
        } else {
            logger.debug("Kafka client of '\(function.name)': \(reason) (\(String(cString: rd_kafka_err2name(code))))")
        }
    }

    func reportConsumeError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let text = String(cString: rd_kafka_message_errstr(message))
        logger.warning("Consuming \(function.trigger.topic) for '\(function.name)': \(text)")
    }
}
