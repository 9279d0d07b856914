import CRdKafka

/// librdkafka below 2.2: the fetch-queue stall's remedy, sent by the consumer itself.
///
/// Once a consumer's local queue holds `queued.min.messages`, 2.0.2's fetching broker thread
/// stops fetching and looks again only at its next wake-up, up to a second later
/// (bench/STALL.md). Any request queued on that thread wakes it. The host used to get one every
/// 50 ms from `topic.metadata.refresh.interval.ms=50`, but librdkafka applies that periodic
/// refresh to the consumer group too: when its answer arrives while a group leader waits for the
/// partition assignor's metadata (join state wait-metadata, right after the JoinGroup answer),
/// librdkafka 2.0.2 takes it for "subscription updated from metadata change" and joins again,
/// and the embedded broker then waits out most of a session timeout (at 3 of 16 starts of
/// `make run`, one or two functions assigned 9 s after the others; BENCHMARKS.md "Start-up").
///
/// Here the consuming thread asks for the metadata of its own topics instead
/// (`rd_kafka_metadata`, which librdkafka never applies to the group), once the consumer has an
/// assignment, at most every ``interval``: while it takes messages (the queue may have stopped
/// the fetcher; woken while the host still drains it, the fetcher refills in time, as the
/// periodic refresh did), and when a fetch finds the queue empty and is about to wait. A wake-up
/// sent at an empty queue lets the wait be as long as the caller asks (the woken fetcher sees the
/// empty queue and fetches); otherwise the wait is cut short to when the next may go, so a
/// stall costs no more than with the 50 ms refresh. Busy, that is the refresh's twenty small
/// requests a second; idle, one per poll timeout. Consuming thread only.
final class FetcherWakeup {
    /// As often as the metadata refresh it replaces (bench/STALL.md: 50 ms kept ONE at 0.95-1.13x raw).
    static let interval: UInt64 = 50_000_000

    /// Whether the running librdkafka needs it (below 2.2, which has `fetch.queue.backoff.ms`).
    static func isNeeded(version: Int32 = rd_kafka_version()) -> Bool {
        version < LibrdkafkaVersion.fetchQueueBackoff
    }

    /// Set once the group gave this consumer partitions: before that nothing is fetched.
    var armed = false
    /// Wake-ups sent (for tests).
    private(set) var sent = 0
    private var lastSent: UInt64 = 0
    /// The last wake-up went out when the queue was empty: the fetcher has fetched since.
    private var sentAtEmptyQueue = false

    /// Called after a fetch took messages from the queue.
    func afterTaking(_ handle: OpaquePointer, now: UInt64 = monotonicNanoseconds()) {
        guard armed, now &- lastSent >= Self.interval else { return }
        send(handle, now: now)
        sentAtEmptyQueue = false
    }

    /// Called before a fetch waits up to `timeoutMs` on an empty queue: wakes the fetching broker
    /// thread when due, and returns how long the fetch may wait.
    func beforeWaiting(_ handle: OpaquePointer, timeoutMs: Int32, now: UInt64 = monotonicNanoseconds()) -> Int32 {
        guard armed else { return timeoutMs }
        if now &- lastSent >= Self.interval {
            send(handle, now: now)
            sentAtEmptyQueue = true
            return timeoutMs
        }
        if sentAtEmptyQueue { return timeoutMs }
        return min(timeoutMs, Int32(clamping: (lastSent &+ Self.interval &- now + 999_999) / 1_000_000))
    }

    private func send(_ handle: OpaquePointer, now: UInt64) {
        lastSent = now
        sent += 1
        // Timeout 0: the request is queued on a broker thread (which is what wakes it) and this
        // thread does not wait for the answer; librdkafka drops it when it comes.
        var metadata: UnsafePointer<rd_kafka_metadata>?
        _ = rd_kafka_metadata(handle, 0, nil, &metadata, 0)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
    }
}
