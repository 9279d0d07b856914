import CRdKafka
import FunctionABI
import Foundation
import Logging
import Synchronization

/// Called by librdkafka on the consuming thread: assignments, revocations, commit answers and
/// client errors; and the ends of the loop: the rewind after an aborted transaction, and closing.
extension TriggerListener {
    // MARK: - Rebalance and errors (called by librdkafka on the consuming thread)

    func rebalance(_ error: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = consumer.rebalanceProtocol == "COOPERATIVE"
        let list = partitions.map(RDKafkaTopicPartitionList.init(borrowing:))
        let numbers = list?.partitions ?? []
        operations.rebalanced(assigned: error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, partitions: numbers)
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            retries.reset(numbers)
            settlement.forget(numbers)
            for partition in numbers where Int(partition) < nextToDispatch.count { nextToDispatch[Int(partition)] = -1 }
            // startFrom a time: partitions without a committed offset are placed first, so the
            // committer commits that place as where they start.
            if let list {
                placement.placeByTime(list, admission: admission)
                settlement.committer.assigned(list, consumer: consumer)
            }
            logger.info("'\(function.name)' was assigned partitions \(numbers) of \(function.trigger.topic)")
            // The lanes are full, or the operator paused the function: the new partitions wait with the others.
            control.assign(list, cooperative: cooperative)
            // librdkafka below 2.2: from now on there is something to fetch (not before: see FetcherWakeup).
            consumer.fetcherWakeup?.armed = true
        default:
            // Revoked: nothing is in flight (this runs between fetches). Make pending records
            // durable, store and commit what is settled so the next owner starts right after
            // it, then let the partitions go (held messages are delivered again by their new owner).
            // Under incremental assignment (cooperative-sticky, the consumer protocol) only these
            // partitions are drained, committed and forgotten: the others keep their lanes,
            // retries and waiting outputs, and flow on once this returns.
            let revoked = Set(numbers)
            dispatcher?.quiesce(revoked)
            settlement.settleOutputs(of: revoked)
            retries.adopt(settlement.takeDeliveryFailures())
            settlement.flush(reason: "partitions revoked")
            settlement.storeOffsets()
            if consumer.assignmentLost {
                // Fenced or timed out: the group gave them away already; a commit would be refused.
                logger.info("'\(function.name)' lost partitions \(numbers) of \(function.trigger.topic) (fenced or its session expired): their next owner starts at the last commit")
            } else if let commitError = settlement.commitSettledNow(only: revoked) {
                settlement.revokeCommitFailed = true
                logger.warning("Committing revoked partitions of '\(function.name)' failed: \(commitError.reason)")
            }
            settlement.committer.revoked(numbers)
            retries.reset(numbers)
            settlement.forget(numbers)
            schemaWaits.forget(numbers)
            admission.stopSkipping(numbers)
            control.revoke(list, cooperative: cooperative)
            logger.info("'\(function.name)' gave up partitions \(numbers) of \(function.trigger.topic)")
        }
        // Read at the top of the next round, not here: librdkafka answers the question on its own
        // thread, which need not serve it while it waits for this callback (a leaving consumer's).
        operations.membershipReadAt = 0
    }

    func commitAnswered(_ error: rd_kafka_resp_err_t) {
        settlement.committer.commitAnswered(error)
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

    // MARK: - After an aborted transaction

    /// Between fetches: every assigned partition goes back to the group's committed offset (where
    /// none is committed, to where ``StartWithoutCommit`` says: the trigger's startFrom, else the
    /// reset policy), dropping what was fetched and held.
    func rewindToCommitted() {
        settlement.rewound()
        fetched.releaseAll()
        let partitions = control.assigned.map { $0 }
        retries.reset(partitions)
        settlement.forget(partitions)
        schemaWaits.forget(partitions)
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(topic: function.trigger.topic, partitions.map { ($0, crdkafka_offset_invalid()) })
        do {
            try consumer.committed(list, timeoutMs: 10_000)
        } catch {
            logger.warning("'\(function.name)': reading the committed offsets after an abort failed (\(error.reason)); partitions restart where the reset policy says")
        }
        admission.stopSkipping(partitions)
        let committed = list.elements.filter { $0.offset >= 0 }.map { (partition: $0.partition, offset: $0.offset) }
        let starts = placement.placeWithoutCommit(list.elements.filter { $0.offset < 0 }.map(\.partition), admission: admission)
        control.reposition(committed + starts)
    }

    // MARK: - Closing

    /// Asks the cluster for metadata through this consumer: true when a broker answered within
    /// `timeoutMs`. Safe from any thread while the listener runs.
    func probeCluster(timeoutMs: Int32) -> Bool {
        consumer?.probeMetadata(timeoutMs: timeoutMs) ?? false
    }

    /// Commits what is stored, leaves the group and frees the consumer.
    func close() {
        guard let consumer, consumer.isOpen else { return }
        var commitError: KafkaError?
        if let settlement {
            settlement.storeOffsets()
            commitError = settlement.commitSettledNow()
            if let commitError {
                logger.warning("Final commit of '\(function.name)' failed: \(commitError.reason); the settlement journal keeps what was settled for the next start")
            }
        }
        do {
            try consumer.close()
        } catch {
            logger.warning("Leaving the consumer group of '\(function.name)' failed: \(error.reason)")
        }
        guard let settlement else { return }
        // After leaving: the revocation while leaving commits in the transaction too.
        settlement.transaction?.close()
        retries.resetAll()
        settlement.ledger.forgetAll()
        let filtered = admission.filteredCount.load(ordering: .relaxed)
        if filtered > 0 { logger.info("'\(function.name)' left out \(filtered) message(s) that matched none of its filters (settled without a call)") }
        let skipped = admission.skippedCount.load(ordering: .relaxed)
        if skipped > 0 { logger.info("'\(function.name)' skipped \(skipped) message(s) from before its startFrom time (settled without a call)") }
        // Everything settled is committed: a clean stop leaves nothing to recover.
        if commitError == nil && !settlement.revokeCommitFailed { settlement.journal?.remove() }
    }
}
